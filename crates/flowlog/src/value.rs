//! Typing one token of a record by its field's kind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// An IPv4 address as its 32 bits: an aligned integer, where an `IpAddr` in an enum sits at
    /// an odd offset that makes copies of the value stall.
    V4(u32),
    V6(Ipv6Addr),
    /// One of a closed set's words: the catalogue's own string, so reading it back needs
    /// neither the line nor a UTF-8 check.
    Word(&'static str),
    Text,
}

/// Types a token for a field of `kind`. `-` is absent for every kind. Times later than
/// `latest` (Unix seconds) are out of range, as are times before [`EARLIEST_TIME`].
#[inline(always)]
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
        Kind::Ip => parse_ip(token).map(|ip| match ip {
            IpAddr::V4(v4) => Typed::V4(v4.to_bits()),
            IpAddr::V6(v6) => Typed::V6(v6),
        }),
        Kind::Choice(words) => words
            .iter()
            .find(|word| word.as_bytes() == token)
            .map(|&word| Typed::Word(word))
            .ok_or(Reason::InvalidValue),
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
fn parse_int(bytes: &[u8]) -> Result<i64, Reason> {
    match leading_int(bytes) {
        Some((int, len)) if len == bytes.len() => Ok(int),
        _ if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) => Err(Reason::OutOfRange),
        _ => Err(Reason::InvalidNumber),
    }
}

/// The integer [`parse_int`] reads at the start of `bytes`, where a separator or the end of
/// `bytes` ends it, and its length in bytes.
#[inline(always)]
fn leading_int(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut int: u64 = 0;
    let mut len = 0;
    // 19 digits fit in u64 without overflow; after a 19th, a digit fails the end check below.
    for &byte in bytes.iter().take(19) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        int = int * 10 + u64::from(digit);
        len += 1;
    }
    if len == 0 || !ends_token(bytes, len) {
        return None;
    }
    Some((i64::try_from(int).ok()?, len))
}

/// Parses an address, with a fast path for dotted-quad IPv4 (the bulk of real logs).
#[inline(always)]
fn parse_ip(token: &[u8]) -> Result<IpAddr, Reason> {
    if let Some((v4, len)) = leading_ipv4(token)
        && len == token.len()
    {
        return Ok(IpAddr::V4(v4));
    }
    std::str::from_utf8(token)
        .ok()
        .and_then(|text| text.parse::<IpAddr>().ok())
        .ok_or(Reason::InvalidAddress)
}

/// Strict dotted quad at the start of `bytes`, ended by a separator or the end of `bytes`: four
/// decimal octets of 1-3 digits, no leading zeros, each at most 255; and its length. `None` for
/// anything else, which then goes to the standard parser (and fails there, or is IPv6).
#[inline(always)]
fn leading_ipv4(bytes: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut octet_idx = 0;
    let mut value: u16 = 0;
    let mut n_digits = 0;
    let mut len = 0;
    for &byte in bytes {
        if is_separator(byte) {
            break;
        }
        len += 1;
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
    Some((Ipv4Addr::from(octets), len))
}

/// Types the token at the start of `bytes` and says how long it is: exactly what
/// [`type_token`] says of that token, `None` where it fails. Integers, times and dotted quads,
/// most of a line, are typed as their end is found, in one pass over their bytes; other
/// values are found first, then typed.
#[inline(always)]
pub(crate) fn type_leading(kind: Kind, bytes: &[u8], latest: i64) -> Option<(Typed, usize)> {
    let scanned = match kind {
        Kind::Int { max } => leading_int(bytes)
            .filter(|&(int, _)| int <= max)
            .map(|(int, len)| (Typed::Int(int), len)),
        Kind::Timestamp => leading_int(bytes).and_then(|(int, len)| {
            time_in_window(as_seconds(int), latest)
                .ok()
                .map(|typed| (typed, len))
        }),
        Kind::Ip => leading_ipv4(bytes).map(|(v4, len)| (Typed::V4(v4.to_bits()), len)),
        Kind::Choice(_) | Kind::Text => None,
    };
    scanned.or_else(|| {
        let len = find_separator(bytes).unwrap_or(bytes.len());
        let typed = type_token(kind, &bytes[..len], latest).ok()?;
        Some((typed, len))
    })
}

/// Whether a token that starts `bytes` ends after `len` bytes.
#[inline(always)]
fn ends_token(bytes: &[u8], len: usize) -> bool {
    bytes.get(len).is_none_or(|&byte| is_separator(byte))
}

/// The first separator in `bytes`, eight bytes at a time: values are short, but there are
/// many of them on every line.
#[inline(always)]
pub(crate) fn find_separator(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // High bit set in each byte <= b' ' (exact for the lowest such byte, which is all
        // that is used: no borrow reaches it from below).
        let flagged = word.wrapping_sub(ONES * u64::from(b' ' + 1)) & !word & HIGH_BITS;
        if flagged != 0 {
            return Some(offset + (flagged.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&byte| is_separator(byte))
        .map(|idx| offset + idx)
}

/// Spaces and tabs separate values. Every other control byte is taken as a separator too: none
/// is valid inside a value, and one comparison per byte is what keeps splitting cheap.
#[inline(always)]
pub(crate) fn is_separator(byte: u8) -> bool {
    byte <= b' '
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::record::Slot;

    const KINDS: &[Kind] = &[
        Kind::Int { max: 255 },
        Kind::Int { max: 65_535 },
        Kind::Int { max: i64::MAX },
        Kind::Timestamp,
        Kind::Ip,
        Kind::Choice(crate::field::ACTION_VALUES),
        Kind::Choice(crate::field::LOG_STATUS_VALUES),
        Kind::Text,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// A token typed where it starts is typed as the token alone is, and found to end where
        /// the token ends: whatever follows it, for every kind.
        #[test]
        fn leading_token_is_typed_as_the_token_alone(
            bytes in proptest::collection::vec(
                proptest::sample::select(&b"0123456789.:-abcdefACEOKRJTz \t\x00\x7f\xc3\xa9\xff"[..]),
                1..28,
            ),
            latest in prop_oneof![Just(i64::MAX), Just(1_500_000_000i64)],
        ) {
            prop_assume!(!is_separator(bytes[0]));
            let len = find_separator(&bytes).unwrap_or(bytes.len());
            for &kind in KINDS {
                let alone = type_token(kind, &bytes[..len], latest)
                    .ok()
                    .map(|typed| (Slot::of(typed, 0..len), len));
                let leading = type_leading(kind, &bytes, latest)
                    .map(|(typed, len)| (Slot::of(typed, 0..len), len));
                prop_assert_eq!(leading, alone, "{:?} {:?}", kind, String::from_utf8_lossy(&bytes));
            }
        }
    }

    #[test]
    fn leading_values_end_at_their_separator() {
        for (bytes, kind, len) in [
            (&b"443 80"[..], Kind::Int { max: 65_535 }, 3),
            (b"1.2.3.4\t5", Kind::Ip, 7),
            (b"1418530010123", Kind::Timestamp, 13),
            (b"2001:db8::1 x", Kind::Ip, 11),
            (b"- 1", Kind::Ip, 1),
            (
                b"NODATA\x00",
                Kind::Choice(crate::field::LOG_STATUS_VALUES),
                6,
            ),
            ("\u{e9}t\u{e9} x".as_bytes(), Kind::Text, 5),
            (b"9223372036854775807", Kind::Int { max: i64::MAX }, 19),
        ] {
            assert_eq!(
                type_leading(kind, bytes, i64::MAX).map(|(_, len)| len),
                Some(len)
            );
        }
        for (bytes, kind) in [
            (&b"65536 1"[..], Kind::Int { max: 65_535 }),
            (b"9223372036854775808", Kind::Int { max: i64::MAX }),
            (b"12345678901234567890", Kind::Int { max: i64::MAX }),
            (b"1.2.3.4a", Kind::Ip),
            (b"01.2.3.4", Kind::Ip),
            (b"ab\xe2\x82 x", Kind::Text),
            (b"accept", Kind::Choice(crate::field::ACTION_VALUES)),
        ] {
            assert!(type_leading(kind, bytes, i64::MAX).is_none(), "{bytes:?}");
        }
    }

    #[test]
    fn separators_are_found_like_a_byte_scan() {
        let samples: [&[u8]; 7] = [
            b"",
            b"abc",
            b"abcdefgh ijk",
            b"abcdefghijklmnop\tq",
            b"\xff\xa1\x80 x",
            b"12345678",
            b"\x7f\x21\x20\x00abcdefg",
        ];
        for sample in samples {
            for start in 0..=sample.len() {
                let slice = &sample[start..];
                let expected = slice.iter().position(|&byte| is_separator(byte));
                assert_eq!(find_separator(slice), expected, "{slice:?}");
            }
        }
    }

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
            let fast = leading_ipv4(text.as_bytes())
                .filter(|&(_, len)| len == text.len())
                .map(|(v4, _)| v4);
            assert_eq!(fast, std, "{text}");
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
