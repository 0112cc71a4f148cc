//! [`Timestamp`]: a point in time, and its RFC 3339 text as the API takes it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

use crate::json::digits::{six_digits, write_digits};

/// A point in time, kept as nanoseconds since the Unix epoch and sent as RFC 3339 in UTC
/// with microseconds (`2026-11-21T09:30:00.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(crate::model::clock::now_nanos())
    }

    /// Nanoseconds since the Unix epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// The timestamp from nanoseconds since the Unix epoch.
    pub fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }
}

impl From<SystemTime> for Timestamp {
    /// Times before 1970 (a badly set clock) are clamped to the epoch.
    fn from(time: SystemTime) -> Timestamp {
        let nanos = time
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_nanos() as u64)
            .unwrap_or(0);
        Timestamp(nanos)
    }
}

/// RFC 3339 text up to the fraction, `YYYY-MM-DDTHH:MM:SS.`: the same for every timestamp
/// within one second.
pub(crate) type SecondText = [u8; 20];

impl Timestamp {
    /// The RFC 3339 text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written digit by digit because the
    /// export thread formats two of these per span.
    pub(crate) fn rfc3339(self) -> [u8; 27] {
        self.rfc3339_in(&self.second_text())
    }

    /// Whole seconds since the Unix epoch.
    pub(crate) fn second(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// The text of the second this timestamp falls in.
    pub(crate) fn second_text(self) -> SecondText {
        let seconds = self.second();
        let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
        let second_of_day = seconds % 86_400;
        // Every field fits its zeros (the year is clamped), which pad it.
        let mut text = *b"0000-00-00T00:00:00.";
        write_digits(&mut text[0..4], year.clamp(0, 9999) as u64);
        write_digits(&mut text[5..7], u64::from(month));
        write_digits(&mut text[8..10], u64::from(day));
        write_digits(&mut text[11..13], second_of_day / 3600);
        write_digits(&mut text[14..16], second_of_day / 60 % 60);
        write_digits(&mut text[17..19], second_of_day % 60);
        text
    }

    /// The RFC 3339 text, given the text of its second (`second_text`, which a caller
    /// formatting many timestamps of the same second keeps): only the microseconds are left
    /// to write.
    pub(crate) fn rfc3339_in(self, second: &SecondText) -> [u8; 27] {
        let mut text = [b'Z'; 27];
        text[..second.len()].copy_from_slice(second);
        text[20..26].copy_from_slice(&six_digits((self.0 % 1_000_000_000 / 1_000) as u32));
        text
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.rfc3339();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Year, month and day of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`), so formatting needs no date library.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_nanos(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        // 2000-02-29T12:34:56.789012Z, a leap day.
        let nanos = 951_827_696_789_012_345;
        assert_eq!(
            Timestamp::from_nanos(nanos).to_string(),
            "2000-02-29T12:34:56.789012Z"
        );
        // 2026-11-21T23:59:59Z
        let nanos = 1_795_305_599_000_000_000;
        assert_eq!(
            Timestamp::from_nanos(nanos).to_string(),
            "2026-11-21T23:59:59.000000Z"
        );
    }
}
