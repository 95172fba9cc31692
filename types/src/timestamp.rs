//! RFC 3339 timestamps as the contract wants them: parsed to UTC epoch
//! milliseconds (digits below the millisecond truncated) and written back as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`.

use std::fmt::Write as _;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

const MS_PER_HOUR: i64 = 3_600_000;

/// Parses an RFC 3339 timestamp (`T` separator, seconds and an offset are
/// required) into UTC epoch milliseconds.
///
/// # Examples
/// ```
/// use helixflow_types::timestamp::{parse_rfc3339, format_millis};
/// let ms = parse_rfc3339("2026-01-30T13:00:00.123456+01:00").unwrap();
/// assert_eq!(format_millis(ms), "2026-01-30T12:00:00.123Z");
/// ```
pub fn parse_rfc3339(text: &str) -> Result<Millis, &'static str> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err("too short for RFC 3339 (YYYY-MM-DDTHH:MM:SS and an offset)");
    }
    let year = digits(b, 0, 4).ok_or("year is not 4 digits")?;
    if b[4] != b'-' || b[7] != b'-' {
        return Err("date must be YYYY-MM-DD");
    }
    let month = digits(b, 5, 2).ok_or("month is not 2 digits")?;
    let day = digits(b, 8, 2).ok_or("day is not 2 digits")?;
    if b[10] != b'T' {
        return Err("date and time must be separated by `T`");
    }
    let hour = digits(b, 11, 2).ok_or("hour is not 2 digits")?;
    if b[13] != b':' || b[16] != b':' {
        return Err("time must be HH:MM:SS");
    }
    let minute = digits(b, 14, 2).ok_or("minute is not 2 digits")?;
    let second = digits(b, 17, 2).ok_or("second is not 2 digits")?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range for its month");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }
    let mut pos = 19;
    let mut millis = 0i64;
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err("fraction of a second has no digits");
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(pos) {
        Some(b'Z') | Some(b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let oh = digits(b, pos + 1, 2).ok_or("offset hour is not 2 digits")?;
            let om = digits(b, pos + 4, 2).ok_or("offset minute is not 2 digits")?;
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            let m = i64::from(oh * 60 + om);
            if sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return Err("missing or malformed offset (`Z` or `+HH:MM`)"),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    let utc = (secs - offset_minutes * 60) * 1000 + millis;
    if !(MIN_MILLIS..=MAX_MILLIS).contains(&utc) {
        return Err("outside years 0000-9999 once converted to UTC");
    }
    Ok(utc)
}

const MIN_MILLIS: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
const MAX_MILLIS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/// Writes `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_millis(ms: Millis) -> String {
    let mut s = String::with_capacity(24);
    write_millis(ms, &mut s);
    s
}

/// Appends `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ` to `out`.
pub fn write_millis(ms: Millis, out: &mut String) {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"
    );
}

/// A UTC calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

impl Day {
    /// The UTC day that contains `ms`.
    pub fn of(ms: Millis) -> Day {
        let (year, month, day) = civil_from_days(ms.div_euclid(86_400_000));
        Day {
            year,
            month: month as u32,
            day: day as u32,
        }
    }

    /// Parses `YYYY-MM-DD` (a real calendar day).
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
        ((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day)).then_some(
            Day {
                year: i64::from(year),
                month,
                day,
            },
        )
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The UTC hour that contains `ms`, as milliseconds.
pub fn hour_floor(ms: Millis) -> Millis {
    ms.div_euclid(MS_PER_HOUR) * MS_PER_HOUR
}

/// Writes an hour bucket as `YYYY-MM-DDTHH:00:00Z`.
pub fn format_hour(ms: Millis) -> String {
    let mut full = format_millis(hour_floor(ms));
    full.replace_range(13.., ":00:00Z");
    full
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil and its inverse.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_parse_and_contain_their_instants() {
        use super::Day;
        let d = Day::of(super::parse_rfc3339("2026-01-30T23:59:59.999Z").unwrap_or_default());
        assert_eq!(d.to_string(), "2026-01-30");
        assert_eq!(Day::parse("2026-01-30"), Some(d));
        assert_eq!(Day::of(-1).to_string(), "1969-12-31");
        assert_eq!(Day::parse("2026-02-29"), None);
        assert_eq!(Day::parse("2024-02-29").map(|d| d.day), Some(29));
        assert_eq!(Day::parse("2026-1-30"), None);
    }

    use super::*;

    #[test]
    fn round_trips_and_converts_offsets() {
        let cases = [
            ("2026-01-30T12:00:00.123Z", "2026-01-30T12:00:00.123Z"),
            ("2026-01-30T12:00:00Z", "2026-01-30T12:00:00.000Z"),
            ("2026-01-30T12:00:00.1Z", "2026-01-30T12:00:00.100Z"),
            ("2026-01-30T12:00:00.999999999Z", "2026-01-30T12:00:00.999Z"),
            ("2026-01-01T00:30:00-01:00", "2026-01-01T01:30:00.000Z"),
            ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000Z"),
            ("2024-02-29T23:59:59.5z", "2024-02-29T23:59:59.500Z"),
            ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
        ];
        for (input, want) in cases {
            let ms = parse_rfc3339(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(format_millis(ms), want, "{input}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "2026-01-30 12:00:00Z",
            "2026-01-30T12:00Z",
            "2026-01-30T12:00:00",
            "2026-02-30T12:00:00Z",
            "2025-02-29T12:00:00Z",
            "2026-13-01T12:00:00Z",
            "2026-01-30T24:00:00Z",
            "2026-01-30T12:00:00.Z",
            "2026-01-30T12:00:00+0100",
            "2026-01-30T12:00:00Zjunk",
            "yesterday",
            "",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn hours_truncate() {
        let ms = parse_rfc3339("2026-01-30T12:34:56.789Z").unwrap();
        assert_eq!(format_hour(ms), "2026-01-30T12:00:00Z");
        assert_eq!(format_hour(-1), "1969-12-31T23:00:00Z");
    }
}
