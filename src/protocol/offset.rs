//! Shape-log offsets: parse, format and order them (ref §4.1).
//!
//! An offset is `-1` (before everything), `now` (request-only: the current end of the log) or
//! `<tx>_<op>`, two non-negative decimals where `tx` is a 64-bit commit LSN and `op` the
//! position inside that transaction, or the literal `inf` (greater than any position, e.g. `0_inf`
//! is the end of the initial snapshot). Leading zeros are accepted (`0_02` = `0_2`) and the
//! canonical form drops them. Offsets are opaque tokens tied to their handle: a client compares
//! and echoes them, it never invents one.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::ErrorCode;

/// Why an offset string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetError {
    /// The string is not `-1`, `now` or `<tx>_<op>`.
    #[error("invalid offset {input:?}: expected -1, now or <tx>_<op>")]
    Invalid {
        /// The rejected text (truncated to 64 characters).
        input: String,
    },
    /// A part is a decimal that does not fit in 64 bits.
    #[error("offset {input:?} is out of range: each part must fit in 64 bits")]
    OutOfRange {
        /// The rejected text (truncated to 64 characters).
        input: String,
    },
}

impl ErrorCode for OffsetError {
    fn code(&self) -> &'static str {
        match self {
            OffsetError::Invalid { .. } => "EDDY_OFFSET_INVALID",
            OffsetError::OutOfRange { .. } => "EDDY_OFFSET_OUT_OF_RANGE",
        }
    }
    fn family(&self) -> &'static str {
        "ProtocolError"
    }
}

/// The operation part of a log offset: a position, or `inf` (after every position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpOffset {
    /// A position inside the transaction.
    At(u64),
    /// `inf`: after every position of this transaction.
    Inf,
}

/// A position in a shape log, `<tx>_<op>`. Totally ordered: by `tx`, then by `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogOffset {
    /// The transaction part: a commit LSN, or 0 for the initial snapshot's virtual range.
    pub tx: u64,
    /// The operation part.
    pub op: OpOffset,
}

impl LogOffset {
    /// `<tx>_<op>`.
    pub const fn new(tx: u64, op: u64) -> Self {
        LogOffset {
            tx,
            op: OpOffset::At(op),
        }
    }

    /// `<tx>_inf`.
    pub const fn tx_end(tx: u64) -> Self {
        LogOffset {
            tx,
            op: OpOffset::Inf,
        }
    }
}

impl fmt::Display for LogOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            OpOffset::At(op) => write!(f, "{}_{}", self.tx, op),
            OpOffset::Inf => write!(f, "{}_inf", self.tx),
        }
    }
}

/// An offset as sent in a request or received in `electric-offset`.
///
/// Ordering: `BeforeAll` is below every log offset. `Now` is a request-only alias whose
/// position the client cannot know, so it compares equal only to itself and is unordered
/// against everything else ([`PartialOrd`] returns `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offset {
    /// `-1`: start of the log (initial sync).
    BeforeAll,
    /// `now`: skip history, start at the current end of the log.
    Now,
    /// `<tx>_<op>`: a position returned by the server.
    Log(LogOffset),
}

impl Offset {
    /// `-1`.
    pub const BEFORE_ALL: Offset = Offset::BeforeAll;

    /// Parse the wire form; see the module docs for the grammar.
    pub fn parse(input: &str) -> Result<Offset, OffsetError> {
        match input {
            "-1" => return Ok(Offset::BeforeAll),
            "now" => return Ok(Offset::Now),
            _ => {}
        }
        let (tx, op) = input.split_once('_').ok_or_else(|| invalid(input))?;
        let tx = parse_u64(tx, input)?;
        let op = if op == "inf" {
            OpOffset::Inf
        } else {
            OpOffset::At(parse_u64(op, input)?)
        };
        Ok(Offset::Log(LogOffset { tx, op }))
    }

    /// The log position, if this is one.
    pub fn as_log(&self) -> Option<LogOffset> {
        match self {
            Offset::Log(l) => Some(*l),
            _ => None,
        }
    }

    /// True for `-1` and `now`, the offsets with which a request must not send a handle
    /// (the server ignores it) and must not be `live`.
    pub fn is_initial(&self) -> bool {
        matches!(self, Offset::BeforeAll | Offset::Now)
    }
}

fn truncated(input: &str) -> String {
    input.chars().take(64).collect()
}

fn invalid(input: &str) -> OffsetError {
    OffsetError::Invalid {
        input: truncated(input),
    }
}

/// Strict unsigned decimal: one or more ASCII digits, no sign, no spaces.
fn parse_u64(part: &str, whole: &str) -> Result<u64, OffsetError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(whole));
    }
    let digits = part.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    digits.parse::<u64>().map_err(|_| OffsetError::OutOfRange {
        input: truncated(whole),
    })
}

impl FromStr for Offset {
    type Err = OffsetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Offset::parse(s)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Offset::BeforeAll => f.write_str("-1"),
            Offset::Now => f.write_str("now"),
            Offset::Log(l) => l.fmt(f),
        }
    }
}

impl PartialOrd for Offset {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        use Offset::*;
        match (self, other) {
            (Now, Now) => Some(Ordering::Equal),
            (Now, _) | (_, Now) => None,
            (BeforeAll, BeforeAll) => Some(Ordering::Equal),
            (BeforeAll, Log(_)) => Some(Ordering::Less),
            (Log(_), BeforeAll) => Some(Ordering::Greater),
            (Log(a), Log(b)) => Some(a.cmp(b)),
        }
    }
}

impl From<LogOffset> for Offset {
    fn from(l: LogOffset) -> Self {
        Offset::Log(l)
    }
}

impl serde::Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Offset::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Offset {
        Offset::parse(s).unwrap()
    }

    #[test]
    fn special_forms() {
        assert_eq!(p("-1"), Offset::BeforeAll);
        assert_eq!(p("now"), Offset::Now);
        assert_eq!(p("-1").to_string(), "-1");
        assert_eq!(p("now").to_string(), "now");
        assert!(p("-1").is_initial() && p("now").is_initial() && !p("0_0").is_initial());
    }

    #[test]
    fn log_forms_round_trip() {
        for s in [
            "0_0",
            "0_inf",
            "26800584_4",
            "18446744073709551615_18446744073709551615",
        ] {
            assert_eq!(p(s).to_string(), s, "{s}");
        }
        assert_eq!(p("18446744073709551615_inf").as_log().unwrap().tx, u64::MAX);
    }

    #[test]
    fn tx_beyond_2_pow_53_is_exact() {
        let big = (1u64 << 53) + 1;
        assert_eq!(p(&format!("{big}_0")).as_log().unwrap().tx, big);
    }

    #[test]
    fn leading_zeros_are_accepted_and_canonicalised() {
        assert_eq!(p("0_02"), p("0_2"));
        assert_eq!(p("000123_007").to_string(), "123_7");
        assert_eq!(p("00_00"), p("0_0"));
    }

    #[test]
    fn invalid_forms_are_typed_errors() {
        for s in [
            "", "_", "1_", "_1", "1", "-2", "-1_0", "1_-1", "+1_0", "1_+0", " 1_0", "1_0 ", "1_0_0", "a_0",
            "0_INF", "0_Inf", "inf_0", "0x1_0", "1.0_0", "NOW", "1__0", "١_٠",
        ] {
            let e = Offset::parse(s).unwrap_err();
            assert_eq!(e.code(), "EDDY_OFFSET_INVALID", "{s:?}");
        }
    }

    #[test]
    fn overflow_is_out_of_range() {
        for s in [
            "18446744073709551616_0",
            "0_18446744073709551616",
            "99999999999999999999999_inf",
        ] {
            assert_eq!(
                Offset::parse(s).unwrap_err().code(),
                "EDDY_OFFSET_OUT_OF_RANGE",
                "{s}"
            );
        }
        // Leading zeros do not count towards the width.
        assert!(Offset::parse("000000000018446744073709551615_0").is_ok());
    }

    #[test]
    fn ordering() {
        let ordered = [
            "-1",
            "0_0",
            "0_1",
            "0_10",
            "0_inf",
            "1_0",
            "1_inf",
            "18446744073709551615_inf",
        ];
        for w in ordered.windows(2) {
            assert!(p(w[0]) < p(w[1]), "{} < {}", w[0], w[1]);
            assert!(p(w[1]) > p(w[0]));
        }
        assert!(p("0_2") == p("0_02"));
        assert_eq!(p("now").partial_cmp(&p("0_0")), None);
        assert_eq!(p("-1").partial_cmp(&p("now")), None);
        assert_eq!(p("now").partial_cmp(&p("now")), Some(Ordering::Equal));
        assert!(LogOffset::new(5, u64::MAX) < LogOffset::tx_end(5));
    }

    #[test]
    fn serde_round_trip() {
        let o: Offset = serde_json::from_str("\"12_inf\"").unwrap();
        assert_eq!(o, Offset::Log(LogOffset::tx_end(12)));
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"12_inf\"");
        assert!(serde_json::from_str::<Offset>("\"x\"").is_err());
    }
}
