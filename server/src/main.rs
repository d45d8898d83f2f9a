//! `eddy-server`: the native dev/test sync server (placeholder member of the workspace).
//!
//! Issue #3 builds the real server here; until then the binary only says so, so that the
//! workspace layout, CI and the core's protocol types are in place for it.

fn main() {
    eprintln!("eddy-server: not built yet (see issue #3)");
    std::process::exit(2);
}
