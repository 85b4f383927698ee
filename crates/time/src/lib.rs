//! The one UTC calendar of flowatlas. Partition names, event ids, ISO times in JSON and on the
//! page, and times read from load-balancer logs and command lines all convert through these
//! functions, so a date is never computed two ways (the proleptic Gregorian calendar, by
//! Howard Hinnant's day-count algorithms; no leap seconds, as Unix time has none).
#![deny(missing_docs)]

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Year, month and day (UTC) of a Unix time.
pub fn utc_ymd(seconds: i64) -> (i64, i64, i64) {
    let days = seconds.div_euclid(DAY) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a date; the inverse of [`utc_ymd`]. The date is not checked (see
/// [`days_in_month`]).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Days of a month, so that `2026-02-31` is refused rather than read as a day in March.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// True for a real date of the calendar.
pub fn is_date(year: i64, month: i64, day: i64) -> bool {
    (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day)
}

/// `YYYY-MM-DD` of a Unix time.
pub fn utc_date(seconds: i64) -> String {
    let (year, month, day) = utc_ymd(seconds);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Midnight of a `YYYY-MM-DD` date as written (four, two and two digits; a real date), else
/// `None`.
pub fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    is_date(year, month, day).then(|| days_from_civil(year, month, day) * DAY)
}

/// `2026-06-01T14:30:00Z`.
pub fn iso_time(seconds: i64) -> String {
    let of_day = seconds.rem_euclid(DAY);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        utc_date(seconds),
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_are_inverses_across_eras_and_leap_days() {
        for days in (-800_000..800_000).step_by(97) {
            let (year, month, day) = utc_ymd(days * DAY);
            assert!(is_date(year, month, day), "{days}: {year}-{month}-{day}");
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(iso_time(1_780_324_200), "2026-06-01T14:30:00Z");
    }

    #[test]
    fn only_real_dates_written_whole_parse() {
        assert_eq!(parse_date("2026-06-01"), Some(1_780_272_000));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400));
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-6-01",
            "2026-06-01T00",
            "+026-06-01",
            "2026/06/01",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
