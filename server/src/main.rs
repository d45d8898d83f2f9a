//! `eddy-server` command line: parse flags, start the runtime, run the server.
//! See [`eddy_server::config`] for the flags and `server/README.md` for the protocol notes.

use eddy::ErrorCode;
use eddy_server::config::{Config, ConfigError};

fn main() {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(ConfigError::Help) => {
            println!("{}", eddy_server::config::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("eddy-server: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eddy-server: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(eddy_server::run(config)) {
        eprintln!("eddy-server: {e} [{}]", e.code());
        std::process::exit(1);
    }
}
