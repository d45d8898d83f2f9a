//! Dates and timestamps in Postgres text form (`DateStyle=ISO`, `TimeZone=UTC`).
//!
//! Input is what users write to Postgres (`2024-01-02T03:04:05.5Z`, `2024-01-02 03:04:05+02:00`,
//! `2024-01-02` for midnight, `... UTC`, `infinity`, `-infinity`, `epoch`); output is
//! what Postgres prints: `2024-01-02 01:04:05.5+00` for timestamptz (always converted to UTC),
//! `2024-01-02 03:04:05.5` for timestamp, `2024-01-02` for date. Canonical text of the same
//! type orders like the values themselves (years 0001-9999), which `where` comparisons use.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(s: &str, len: usize) -> Option<i64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn split_date(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.splitn(3, '-');
    let y = num(it.next()?, 4)?;
    let m = num(it.next()?, 2)?;
    let d = num(it.next()?, 2)?;
    if y < 1 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (for `DEFAULT now()`).
pub fn now_iso() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_micros()
    )
}

/// Special input words every date/time type accepts: `infinity`, `-infinity` (printed as such)
/// and `epoch` (1970-01-01 00:00:00).
fn special(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some("infinity"),
        "-infinity" => Some("-infinity"),
        "epoch" => Some("epoch"),
        _ => None,
    }
}

/// A date (`YYYY-MM-DD`, or a timestamp whose time and zone are ignored, as Postgres does),
/// `infinity`, `-infinity` or `epoch`, in Postgres output form.
pub fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    match special(s) {
        Some("epoch") => return Some("1970-01-01".into()),
        Some(w) => return Some(w.into()),
        None => {}
    }
    let ts = parse_timestamp(s, false)?;
    Some(ts.get(..10)?.to_string())
}

/// Parse a timestamp; `with_tz` converts to UTC and appends `+00` (`timestamp` ignores a zone,
/// as Postgres does). Accepted: `YYYY-MM-DD` (midnight), then `T` or spaces, `HH:MM[:SS[.f]]`,
/// then optionally spaces and a zone: `Z`, `UTC`, `GMT`, `±HH`, `±HHMM`, `±HH:MM`; or one of
/// `infinity`, `-infinity`, `epoch`.
pub fn parse_timestamp(s: &str, with_tz: bool) -> Option<String> {
    let s = s.trim();
    match special(s) {
        Some("epoch") => {
            return Some(
                if with_tz {
                    "1970-01-01 00:00:00+00"
                } else {
                    "1970-01-01 00:00:00"
                }
                .into(),
            )
        }
        Some(w) => return Some(w.into()),
        None => {}
    }
    if s.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let (y, mo, d) = split_date(date)?;
    let rest = match rest.strip_prefix(['T', 't']) {
        Some(r) => r,
        None if rest.is_empty() || rest.starts_with(' ') => rest.trim_start(),
        None => return None,
    };
    // The clock is the leading run of digits, ':' and '.'; the rest (after spaces) is the zone.
    let clock_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(clock_len);
    let zone_secs = parse_zone(zone.trim_start())?;
    let (h, mi, sec, frac) = if clock.is_empty() {
        (0, 0, 0, "")
    } else {
        let (hms, frac) = match clock.split_once('.') {
            Some((a, f)) => (a, f),
            None => (clock, ""),
        };
        if frac.len() > 6
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (clock.contains('.') && frac.is_empty())
        {
            return None;
        }
        let mut parts = hms.split(':');
        let h = num(parts.next()?, 2)?;
        let mi = num(parts.next()?, 2)?;
        let sec = match parts.next() {
            Some(p) => num(p, 2)?,
            None if frac.is_empty() => 0,
            None => return None,
        };
        if parts.next().is_some() || h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        (h, mi, sec, frac)
    };
    let mut total = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
    if with_tz {
        total -= zone_secs;
    }
    let days = total.div_euclid(86_400);
    let secs = total.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if with_tz {
        out.push_str("+00");
    }
    Some(out)
}

/// Nothing, `Z`, `UTC`, `GMT`, `+HH`, `+HH:MM`, `+HHMM` (or `-`) → offset in seconds east of UTC.
fn parse_zone(z: &str) -> Option<i64> {
    if z.is_empty()
        || ["z", "utc", "gmt", "zulu", "ut"]
            .iter()
            .any(|n| z.eq_ignore_ascii_case(n))
    {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = z.get(1..).filter(|b| b.is_ascii())?;
    let (h, m) = match body.len() {
        2 => (num(body, 2)?, 0),
        4 => (num(&body[..2], 2)?, num(&body[2..], 2)?),
        5 if body.as_bytes().get(2) == Some(&b':') => (num(&body[..2], 2)?, num(&body[3..], 2)?),
        _ => return None,
    };
    if h > 15 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamptz_is_converted_to_utc() {
        let p = |s| parse_timestamp(s, true);
        assert_eq!(p("2024-01-02T03:04:05Z").unwrap(), "2024-01-02 03:04:05+00");
        assert_eq!(
            p("2024-01-02 03:04:05.120+02:00").unwrap(),
            "2024-01-02 01:04:05.12+00"
        );
        assert_eq!(p("2024-01-01T00:30:00-0100").unwrap(), "2024-01-01 01:30:00+00");
        assert_eq!(p("2024-03-01T00:30:00+01").unwrap(), "2024-02-29 23:30:00+00");
        assert_eq!(p("2024-01-02T03:04").unwrap(), "2024-01-02 03:04:00+00");
        assert_eq!(p("2024-01-01").unwrap(), "2024-01-01 00:00:00+00");
        assert_eq!(p(" 2024-01-01 00:00:00 UTC ").unwrap(), "2024-01-01 00:00:00+00");
        assert_eq!(p("2024-01-01 00:00:00 utc").unwrap(), "2024-01-01 00:00:00+00");
        assert_eq!(p("2024-01-01 00:00:00 +05:30").unwrap(), "2023-12-31 18:30:00+00");
        assert_eq!(p("2024-01-01 UTC").unwrap(), "2024-01-01 00:00:00+00");
        assert_eq!(p("2024-01-01T10:00:00Z").unwrap(), "2024-01-01 10:00:00+00");
        assert_eq!(p("Infinity").unwrap(), "infinity");
        assert_eq!(p("-infinity").unwrap(), "-infinity");
        assert_eq!(p("epoch").unwrap(), "1970-01-01 00:00:00+00");
        assert_eq!(
            parse_timestamp("2024-01-01 10:00+02", false).unwrap(),
            "2024-01-01 10:00:00"
        );
        assert_eq!(parse_timestamp("infinity", false).unwrap(), "infinity");
        for bad in [
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "x",
            "2024-01-01 00:00:00 PST",
            "2024-01-01X",
            "infinityx",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00.1234567Z",
            "2024-01-01T00:00:00+99",
            "2024-01-01T00:00:00.Z",
            "２０２４-01-01T00:00",
            "2024-01-01T00:00:00+aé1",
            "2024-01-01T00:00:00+éé",
            "2024-01-01Té0:00:00",
            "2024-01-01T00:00:00.é",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn now_is_a_valid_timestamp() {
        let n = now_iso();
        assert!(parse_timestamp(&n, true).is_some(), "{n}");
        assert!(parse_date(&n[..10]).is_some());
    }

    #[test]
    fn timestamp_and_date() {
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.5", false).unwrap(),
            "2024-01-02 03:04:05.5"
        );
        assert_eq!(parse_date("2024-02-29").unwrap(), "2024-02-29");
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-02-29 23:00:00-05").unwrap(), "2024-02-29");
        assert_eq!(parse_date("-Infinity").unwrap(), "-infinity");
        assert_eq!(parse_date("2024-02-29x"), None);
        assert_eq!(civil_from_days(days_from_civil(1999, 12, 31)), (1999, 12, 31));
    }
}
