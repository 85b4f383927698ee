//! Typing one token of a record by its field's kind.

use std::net::{IpAddr, Ipv4Addr};

use crate::field::Kind;
use crate::reject::Reason;

/// Values at or above this are milliseconds (10^11 seconds is past the year 5000).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Times before this (2014-01-01T00:00:00Z) are out of range: no flow log was written earlier
/// (AWS's own documented example records are from December 2014), and a `start` of 0 or a
/// year-2100 time is a fault, not traffic, that would make partitions no one can query.
pub const EARLIEST_TIME: i64 = 1_388_534_400;

/// A token typed by kind. Text stays where it is: the caller keeps its position.
pub(crate) enum Typed {
    Absent,
    Int(i64),
    Ip(IpAddr),
    Text,
}

/// Types a token for a field of `kind`. `-` is absent for every kind. Times later than
/// `latest` (Unix seconds) are out of range, as are times before [`EARLIEST_TIME`].
#[inline]
pub(crate) fn type_token(kind: Kind, token: &[u8], latest: i64) -> Result<Typed, Reason> {
    if token == b"-" {
        return Ok(Typed::Absent);
    }
    match kind {
        Kind::Int { max } => {
            let int = parse_int(token)?;
            if int > max {
                return Err(Reason::OutOfRange);
            }
            Ok(Typed::Int(int))
        }
        Kind::Timestamp => time_in_window(as_seconds(parse_int(token)?), latest),
        Kind::Ip => parse_ip(token).map(Typed::Ip),
        Kind::Choice(words) => match words.iter().any(|word| word.as_bytes() == token) {
            true => Ok(Typed::Text),
            false => Err(Reason::InvalidValue),
        },
        // The ASCII check is inlined and covers nearly every real value.
        Kind::Text if token.is_ascii() || std::str::from_utf8(token).is_ok() => Ok(Typed::Text),
        Kind::Text => Err(Reason::InvalidUtf8),
    }
}

/// Checks an integer that arrived already typed (Parquet) against its field's kind.
pub(crate) fn check_int(kind: Kind, int: i64, latest: i64) -> Result<Typed, Reason> {
    match kind {
        Kind::Int { max } if (0..=max).contains(&int) => Ok(Typed::Int(int)),
        Kind::Int { .. } => Err(Reason::OutOfRange),
        Kind::Timestamp => time_in_window(as_seconds(int), latest),
        Kind::Ip | Kind::Choice(_) | Kind::Text => Err(Reason::InvalidValue),
    }
}

/// Seconds of a time that may be in milliseconds.
fn as_seconds(int: i64) -> i64 {
    if int >= MILLIS_THRESHOLD {
        int / 1000
    } else {
        int
    }
}

fn time_in_window(seconds: i64, latest: i64) -> Result<Typed, Reason> {
    if (EARLIEST_TIME..=latest).contains(&seconds) {
        Ok(Typed::Int(seconds))
    } else {
        Err(Reason::OutOfRange)
    }
}

/// Why a time value is out of range, for the reject's detail; `None` when it is not a time
/// outside the window (a number too long for any time, say).
pub(crate) fn time_fault(value: &str, latest: i64) -> Option<String> {
    let seconds = as_seconds(parse_int(value.as_bytes()).ok()?);
    if seconds < EARLIEST_TIME {
        Some("before 2014-01-01, earlier than any flow log".into())
    } else if seconds > latest {
        Some(format!(
            "later than {latest}, more than a day after the object's delivery or the run's clock"
        ))
    } else {
        None
    }
}

/// A non-negative decimal integer with no sign, no spaces and no leading `+`.
#[inline]
fn parse_int(bytes: &[u8]) -> Result<i64, Reason> {
    if bytes.is_empty() || bytes.len() > 19 {
        return Err(
            if bytes.iter().all(u8::is_ascii_digit) && !bytes.is_empty() {
                Reason::OutOfRange
            } else {
                Reason::InvalidNumber
            },
        );
    }
    let mut int: u64 = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(Reason::InvalidNumber);
        }
        // 19 digits fit in u64 without overflow.
        int = int * 10 + u64::from(digit);
    }
    i64::try_from(int).map_err(|_| Reason::OutOfRange)
}

/// Parses an address, with a fast path for dotted-quad IPv4 (the bulk of real logs).
#[inline]
fn parse_ip(token: &[u8]) -> Result<IpAddr, Reason> {
    if let Some(v4) = parse_ipv4(token) {
        return Ok(IpAddr::V4(v4));
    }
    std::str::from_utf8(token)
        .ok()
        .and_then(|text| text.parse::<IpAddr>().ok())
        .ok_or(Reason::InvalidAddress)
}

/// Strict dotted quad: four decimal octets of 1-3 digits, no leading zeros, each at most 255.
/// Returns `None` for anything else, which then goes to the standard parser (and fails there).
#[inline]
fn parse_ipv4(bytes: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut octet_idx = 0;
    let mut value: u16 = 0;
    let mut n_digits = 0;
    for &byte in bytes {
        if byte == b'.' {
            if n_digits == 0 || octet_idx == 3 {
                return None;
            }
            octets[octet_idx] = value as u8;
            octet_idx += 1;
            value = 0;
            n_digits = 0;
            continue;
        }
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 || n_digits == 3 || (n_digits == 1 && value == 0) {
            return None;
        }
        value = value * 10 + u16::from(digit);
        if value > 255 {
            return None;
        }
        n_digits += 1;
    }
    if octet_idx != 3 || n_digits == 0 {
        return None;
    }
    octets[3] = value as u8;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_fast_path_agrees_with_std() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "1.2.3.4",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4a",
            "1234.1.1.1",
            "",
            "::1",
        ] {
            let std = text.parse::<Ipv4Addr>().ok();
            assert_eq!(parse_ipv4(text.as_bytes()), std, "{text}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"0"), Ok(0));
        assert_eq!(parse_int(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int(b"9223372036854775808"), Err(Reason::OutOfRange));
        assert_eq!(parse_int(b"99999999999999999999"), Err(Reason::OutOfRange));
        assert_eq!(parse_int(b"-1"), Err(Reason::InvalidNumber));
        assert_eq!(parse_int(b"+1"), Err(Reason::InvalidNumber));
        assert_eq!(parse_int(b"1e3"), Err(Reason::InvalidNumber));
        assert_eq!(parse_int(b""), Err(Reason::InvalidNumber));
    }

    #[test]
    fn timestamps_in_milliseconds_become_seconds() {
        let seconds = |token: &str| match type_token(Kind::Timestamp, token.as_bytes(), i64::MAX) {
            Ok(Typed::Int(int)) => int,
            _ => panic!("not a timestamp: {token}"),
        };
        assert_eq!(seconds("1418530010"), 1_418_530_010);
        assert_eq!(seconds("1418530010123"), 1_418_530_010);
        assert!(matches!(
            check_int(Kind::Timestamp, 1_418_530_010_999, i64::MAX),
            Ok(Typed::Int(1_418_530_010))
        ));
        assert_eq!(
            check_int(Kind::Timestamp, -5, i64::MAX).err(),
            Some(Reason::OutOfRange)
        );
    }

    #[test]
    fn times_outside_the_window_are_out_of_range() {
        let latest = 1_780_401_600;
        for token in ["0", "1388534399", "1780401601", "4102444800", "99999999999"] {
            assert!(
                matches!(
                    type_token(Kind::Timestamp, token.as_bytes(), latest),
                    Err(Reason::OutOfRange)
                ),
                "{token}"
            );
        }
        assert!(matches!(
            type_token(Kind::Timestamp, b"1780401600", latest),
            Ok(Typed::Int(1_780_401_600))
        ));
        assert!(matches!(
            check_int(Kind::Timestamp, 0, latest),
            Err(Reason::OutOfRange)
        ));
        assert!(time_fault("0", latest).unwrap().contains("before 2014"));
        assert!(
            time_fault("4102444800", latest)
                .unwrap()
                .contains("later than")
        );
    }
}
