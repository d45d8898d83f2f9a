//! Shared by the property/fuzz suites: how many cases each property runs.

/// `EDDY_FUZZ_CASES` if set (CI sets 2000; raise it locally for a longer hunt), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("EDDY_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
