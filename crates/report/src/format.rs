//! Text for the page: HTML escaping, UTC times, byte counts and percentages.

use std::borrow::Cow;

/// `text` safe inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// `2026-06-01 14:20 UTC`.
pub fn date_time(seconds: i64) -> String {
    format!(
        "{} {} UTC",
        flowatlas_time::utc_date(seconds),
        clock(seconds, false)
    )
}

/// `14:20`, or `06-01 14:20` with the date.
pub fn clock(seconds: i64, with_date: bool) -> String {
    let of_day = seconds.rem_euclid(86_400);
    let time = format!("{:02}:{:02}", of_day / 3_600, of_day % 3_600 / 60);
    if with_date {
        let (_, month, day) = flowatlas_time::utc_ymd(seconds);
        format!("{month:02}-{day:02} {time}")
    } else {
        time
    }
}

/// `1.2 GB`: decimal units, three significant digits at most.
pub fn bytes(count: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = count;
    let mut unit = 0;
    while value.abs() >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 || value.abs() >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else if value.abs() >= 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// `12.3%`.
pub fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(escape("AS1 Albion"), "AS1 Albion");
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn times_are_utc() {
        // 2026-06-01T14:20:00Z.
        let time = 1_780_323_600;
        assert_eq!(date_time(time), "2026-06-01 14:20 UTC");
        assert_eq!(clock(time, true), "06-01 14:20");
    }

    #[test]
    fn bytes_take_three_digits() {
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(bytes(1_234.0), "1.23 kB");
        assert_eq!(bytes(56_700_000.0), "56.7 MB");
        assert_eq!(bytes(123_000_000_000.0), "123 GB");
    }
}
