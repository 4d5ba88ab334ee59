//! Times and dates as whohosts reads them, on the `time` crate: one parser each for
//! RFC 3339 times, fixed UTC offsets and calendar dates, so that a case, a claimant
//! profile and the provider directory accept the same forms.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// Parses an RFC 3339 time as written in custody entries, to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Parses a fixed UTC offset: `+08:00`, `-05:30`, `+0800`, `Z` or `UTC`.
///
/// Named zones (`Asia/Shanghai`) are not accepted: a fixed offset is what the evidence
/// needs to state, and it avoids shipping a time-zone database whose version would
/// then have to be recorded too.
pub fn parse_offset(s: &str) -> Option<UtcOffset> {
    use time::macros::format_description;
    let s = s.trim();
    if ["z", "utc", "gmt"]
        .iter()
        .any(|z| s.eq_ignore_ascii_case(z))
    {
        return Some(UtcOffset::UTC);
    }
    // `UTC+8`, `GMT+08:00`: the offset after the name.
    let s = ["utc", "gmt"]
        .iter()
        .find_map(|p| {
            s.get(..3)
                .filter(|h| h.eq_ignore_ascii_case(p))
                .and_then(|_| s.get(3..))
        })
        .unwrap_or(s);
    // The forms ISO 8601 and RFC 3339 allow: ±HH:MM, ±HHMM, ±HH; and ±H.
    let forms = [
        format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
        format_description!("[offset_hour sign:mandatory][offset_minute]"),
        format_description!("[offset_hour sign:mandatory]"),
        format_description!("[offset_hour sign:mandatory padding:none]"),
    ];
    let offset = forms.iter().find_map(|f| UtcOffset::parse(s, f).ok())?;
    // Offsets in use run from -12:00 to +14:00.
    (offset.whole_hours().abs() <= 14 && offset.seconds_past_minute() == 0).then_some(offset)
}

/// A calendar date written `YYYY-MM-DD`, validated (`2026-02-31` is refused).
pub fn parse_date(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    (text.len() == 10)
        .then(|| Date::parse(text, &format).ok())
        .flatten()
}

/// One reading of the system clock, in UTC and in the case's time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Now {
    pub utc: String,
    pub local: String,
    /// Seconds since the Unix epoch, for comparisons.
    pub unix: i64,
    /// Compact UTC form for file names, e.g. `20261121T130000Z`.
    pub compact: String,
}

impl Now {
    /// Reads the system clock once.
    pub fn system(offset: UtcOffset) -> Now {
        Now::at(OffsetDateTime::now_utc(), offset)
    }

    pub fn at(t: OffsetDateTime, offset: UtcOffset) -> Now {
        // RFC 3339 with a fixed nine-digit fraction, so that times line up in the log.
        let utc_format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
        );
        let local_format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9][offset_hour sign:mandatory]:[offset_minute]"
        );
        let utc = t.to_offset(UtcOffset::UTC);
        Now {
            utc: utc
                .format(&utc_format)
                .unwrap_or_else(|_| utc.unix_timestamp().to_string()),
            local: utc
                .to_offset(offset)
                .format(&local_format)
                .unwrap_or_else(|_| utc.unix_timestamp().to_string()),
            unix: utc.unix_timestamp(),
            compact: format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                utc.year(),
                u8::from(utc.month()),
                utc.day(),
                utc.hour(),
                utc.minute(),
                utc.second()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_validated_not_only_shaped() {
        assert_eq!(
            parse_date("2026-02-28"),
            Date::from_calendar_date(2026, time::Month::February, 28).ok()
        );
        for bad in [
            "2026-02-31",
            "2026-13-01",
            "2026-2-01",
            "26-02-01",
            "2026-02-01T00",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn offsets_in_every_accepted_form() {
        for (text, h, m) in [
            ("+08:00", 8, 0),
            ("+0800", 8, 0),
            ("+8", 8, 0),
            ("-05:30", -5, -30),
            ("UTC+8", 8, 0),
        ] {
            assert_eq!(
                parse_offset(text),
                UtcOffset::from_hms(h, m, 0).ok(),
                "{text}"
            );
        }
        assert_eq!(parse_offset("Z"), Some(UtcOffset::UTC));
        assert_eq!(parse_offset("Asia/Shanghai"), None);
        assert_eq!(parse_offset("+15:00"), None);
    }

    #[test]
    fn rfc3339_to_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(parse_rfc3339("1970-01-01T08:00:10+08:00"), Some(10));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    proptest::proptest! {
        /// Every real date reads back from its `YYYY-MM-DD` form; nothing else does.
        #[test]
        fn dates_round_trip(julian in 1_721_426i32..5_373_484, junk in "[0-9-]{0,12}") {
            let d = Date::from_julian_day(julian).unwrap();
            let text = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            proptest::prop_assert_eq!(parse_date(&text), Some(d));
            if let Some(j) = parse_date(&junk) {
                proptest::prop_assert_eq!(
                    format!("{:04}-{:02}-{:02}", j.year(), u8::from(j.month()), j.day()),
                    junk
                );
            }
        }
    }
}
