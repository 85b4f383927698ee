//! Typing one value: ISO 8601 times, durations with fractions, addresses with ports, and the
//! split of a line into values (space-separated, double quotes around values with spaces).

use std::net::IpAddr;
use std::ops::Range;

/// Why a value does not type; the reader turns it into a reject reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Not the shape the field has.
    Invalid(&'static str),
    /// The shape, but too large (or, for times, outside the readable range).
    OutOfRange(&'static str),
}

/// Splits a line into value spans, at most `limit` of them; the count of values goes on past
/// the limit. A value that opens with `"` runs to the next unescaped `"`. Returns the number
/// of values, or `None` when a quote is never closed.
pub(crate) fn split_values(
    line: &[u8],
    spans: &mut Vec<Range<usize>>,
    limit: usize,
) -> Option<usize> {
    spans.clear();
    let mut n_values = 0;
    let mut pos = 0;
    while pos < line.len() {
        if line[pos] == b' ' {
            pos += 1;
            continue;
        }
        let start = pos;
        if line[pos] == b'"' {
            pos += 1;
            loop {
                match line.get(pos)? {
                    b'\\' => pos += 2,
                    b'"' => break,
                    _ => pos += 1,
                }
            }
            pos += 1;
            // A closing quote ends the value only at a space or the line's end.
            if line.get(pos).is_some_and(|&byte| byte != b' ') {
                return None;
            }
        } else {
            while pos < line.len() && line[pos] != b' ' {
                pos += 1;
            }
        }
        if spans.len() < limit {
            spans.push(start..pos);
        }
        n_values += 1;
    }
    Some(n_values)
}

/// Unix seconds of an ISO 8601 UTC time, `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`.
pub(crate) fn parse_time(text: &str) -> Result<i64, Fault> {
    const SHAPE: Fault = Fault::Invalid("not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)");
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if fraction.is_some_and(|digits| {
        digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit())
    }) {
        return Err(SHAPE);
    }
    let bytes = whole.as_bytes();
    if bytes.len() != 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(SHAPE);
    }
    let number = |range: Range<usize>| -> Result<i64, Fault> {
        let digits = &whole[range];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SHAPE);
        }
        digits.parse().map_err(|_| SHAPE)
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !flowatlas_time::is_date(year, month, day) || hour > 23 || minute > 59 || second > 60 {
        return Err(Fault::Invalid("not a date and time of the calendar"));
    }
    Ok(flowatlas_time::days_from_civil(year, month, day) * 86_400
        + hour * 3_600
        + minute * 60
        + second)
}

/// Microseconds of a non-negative decimal duration in units of `unit_us` microseconds
/// (1,000,000 for seconds, 1,000 for milliseconds); digits below a microsecond are dropped.
pub(crate) fn parse_duration_us(text: &str, unit_us: u64) -> Result<u64, Fault> {
    const SHAPE: Fault = Fault::Invalid("not a non-negative decimal number");
    const RANGE: Fault = Fault::OutOfRange("longer than a day");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(SHAPE);
    }
    // A handshake or connection of more than a day is no measurement of a network.
    const MAX_US: u64 = 86_400_000_000;
    let whole = whole
        .trim_start_matches('0')
        .parse::<u64>()
        .or_else(|error| match error.kind() {
            std::num::IntErrorKind::Empty => Ok(0),
            _ => Err(RANGE),
        })?;
    let mut us = whole.checked_mul(unit_us).ok_or(RANGE)?;
    let mut place = unit_us;
    for digit in fraction.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        us += u64::from(digit - b'0') * place;
    }
    if us > MAX_US {
        return Err(RANGE);
    }
    Ok(us)
}

/// A non-negative integer.
pub(crate) fn parse_count(text: &str) -> Result<i64, Fault> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fault::Invalid("not a non-negative integer"));
    }
    text.parse()
        .map_err(|_| Fault::OutOfRange("larger than a 64-bit integer"))
}

/// A port, 0–65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, Fault> {
    match parse_count(text)? {
        port @ 0..=65_535 => Ok(port as u16),
        _ => Err(Fault::OutOfRange("above 65535")),
    }
}

/// An IPv4 or IPv6 address.
pub(crate) fn parse_ip(text: &str) -> Result<IpAddr, Fault> {
    text.parse()
        .map_err(|_| Fault::Invalid("not an IPv4 or IPv6 address"))
}

/// `address:port`: `192.0.2.1:443`, `[2001:db8::1]:443`, or `2001:db8::1:443` (the last
/// colon separates the port, as AWS's Athena table for these logs reads it).
pub(crate) fn parse_address_port(text: &str) -> Result<(IpAddr, u16), Fault> {
    let Some((address, port)) = text.rsplit_once(':') else {
        return Err(Fault::Invalid("not address:port"));
    };
    let address = address
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(address);
    Ok((parse_ip(address)?, parse_port(port)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2018-12-20T02:59:40"), Ok(1_545_274_780));
        assert_eq!(parse_time("2023-10-04T17:33:29.574474Z"), Ok(1_696_440_809));
        assert_eq!(parse_time("2024-02-29T23:59:59Z"), Ok(1_709_251_199));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-10-04 17:33:29",
            "2023-10-04T17:33:29.Z",
            "1696440809",
            "２023-10-04T17:33:29Z",
            "",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("0.012", 1_000_000), Ok(12_000));
        assert_eq!(parse_duration_us("2", 1_000), Ok(2_000));
        assert_eq!(parse_duration_us("2.5", 1_000), Ok(2_500));
        assert_eq!(parse_duration_us("0.0000009", 1_000_000), Ok(0));
        assert_eq!(parse_duration_us("000", 1_000), Ok(0));
        assert!(matches!(
            parse_duration_us("99999999999999999999", 1),
            Err(Fault::OutOfRange(_))
        ));
        assert!(matches!(
            parse_duration_us("86401", 1_000_000),
            Err(Fault::OutOfRange(_))
        ));
        for bad in ["-1", ".5", "1.", "1e3", "", "0x10"] {
            assert!(
                matches!(parse_duration_us(bad, 1_000), Err(Fault::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn addresses_with_ports() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(parse_address_port("[2001:db8::1]:443"), Ok((v6, 443)));
        assert_eq!(parse_address_port("2001:db8::1:443"), Ok((v6, 443)));
        assert_eq!(
            parse_address_port("192.0.2.1:51341"),
            Ok(("192.0.2.1".parse().unwrap(), 51341))
        );
        assert!(parse_address_port("192.0.2.1").is_err());
        assert!(parse_address_port("192.0.2.1:70000").is_err());
    }

    #[test]
    fn values_split_at_spaces_outside_quotes() {
        let mut spans = Vec::new();
        let line = br#"a "b c" "d \" e" -"#;
        assert_eq!(split_values(line, &mut spans, 10), Some(4));
        let values: Vec<&[u8]> = spans.iter().map(|span| &line[span.clone()]).collect();
        assert_eq!(values, [&b"a"[..], br#""b c""#, br#""d \" e""#, b"-"]);
        assert_eq!(split_values(b"a b c", &mut spans, 2), Some(3));
        assert_eq!(spans.len(), 2);
        assert_eq!(split_values(br#"a "open"#, &mut spans, 10), None);
        assert_eq!(split_values(br#""a"b"#, &mut spans, 10), None);
    }
}
