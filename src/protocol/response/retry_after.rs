//! The `retry-after` header (ref §2.1, §6.3): delta seconds or an HTTP-date, as a floor for the
//! retry delay, capped at one hour.

use std::time::{Duration, UNIX_EPOCH};

/// `retry-after` values are capped at one hour (as the TS client does).
pub const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// Parse `retry-after`: delta seconds (`120`, `1.5`) or an HTTP-date; `None` when neither.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Some(ms) = parse_seconds_ms(value) {
        return Some(ms.min(MAX_RETRY_AFTER_MS));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    let wait = at_ms.saturating_sub(u128::from(now_ms));
    Some(u64::try_from(wait).unwrap_or(u64::MAX).min(MAX_RETRY_AFTER_MS))
}

/// `<digits>[.<digits>]` seconds as milliseconds, rounded up, saturating.
fn parse_seconds_ms(value: &str) -> Option<u64> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (value.contains('.') && frac.is_empty()) {
        return None;
    }
    let mut ms = int.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    ms = ms.saturating_mul(1000);
    let mut frac_ms = 0u64;
    let mut scale = 100u64;
    let mut round_up = false;
    for b in frac.bytes() {
        let d = u64::from(b - b'0');
        if scale > 0 {
            frac_ms += d * scale;
            scale /= 10;
        } else if d > 0 {
            round_up = true;
        }
    }
    Some(ms.saturating_add(frac_ms).saturating_add(u64::from(round_up)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

    fn p(v: &str) -> Option<u64> {
        parse_retry_after(v, NOW)
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(p("5"), Some(5_000));
        assert_eq!(p(" 10 "), Some(10_000));
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("007"), Some(7_000));
        assert_eq!(p("1.5"), Some(1_500));
        assert_eq!(p("0.0001"), Some(1));
        assert_eq!(p("2.0009"), Some(2_001));
        assert_eq!(p("3600"), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(p("3601"), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(p("99999999999999999999999"), Some(MAX_RETRY_AFTER_MS));
    }

    #[test]
    fn http_dates() {
        assert_eq!(p("Tue, 14 Nov 2023 22:13:50 GMT"), Some(30_000));
        assert_eq!(p("Tue, 14 Nov 2023 22:13:20 GMT"), Some(0));
        assert_eq!(p("Tue, 14 Nov 2023 22:12:50 GMT"), Some(0));
        assert_eq!(p("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(p("Fri, 01 Jan 2100 00:00:00 GMT"), Some(MAX_RETRY_AFTER_MS));
        // The obsolete forms HTTP still requires recipients to accept.
        assert_eq!(p("Tuesday, 14-Nov-23 22:13:50 GMT"), Some(30_000));
        assert_eq!(p("Tue Nov 14 22:13:50 2023"), Some(30_000));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:01 GMT", 0), Some(1_000));
    }

    #[test]
    fn garbage_is_none() {
        for garbage in [
            "",
            "soon",
            "-1",
            "+5",
            "1.",
            ".5",
            "1e3",
            "5 s",
            "0x10",
            "Tue, 99 Nov 2023",
        ] {
            assert_eq!(p(garbage), None, "{garbage:?}");
        }
    }
}
