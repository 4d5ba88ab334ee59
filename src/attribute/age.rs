//! The age of the data an answer rests on, against the capture's time or a
//! reference date: notes, never silent.

use super::*;

/// Days beyond which the data a provider or region answer rests on is called far from
/// the capture's time: address blocks change hands, and providers move ranges between
/// regions.
pub const DATA_AGE_WARN_DAYS: i64 = 180;

/// Days beyond which data is called stale by `lookup` and `data info`, measured to
/// their reference date (`--at`, else today by the clock), for every answer (ASN,
/// country, provider, region): providers publish their feeds weekly and ASN data
/// changes daily, so three months is already far behind.
pub const LOOKUP_AGE_WARN_DAYS: i64 = 90;

/// The day a data date (`YYYY-MM-DD`, or `YYYY-MM` taken as its first day) stands for,
/// as days since the Unix epoch.
pub fn data_day(date: &str) -> Option<i64> {
    let y: i32 = date.get(0..4)?.parse().ok()?;
    if date.get(4..5)? != "-" {
        return None;
    }
    let m: u8 = date.get(5..7)?.parse().ok()?;
    let d: u8 = match date.get(7..) {
        Some("") => 1,
        Some(rest) => rest.strip_prefix('-')?.get(..2)?.parse().ok()?,
        None => return None,
    };
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some(
        i64::from(date.to_julian_day())
            - i64::from(time::macros::date!(1970 - 01 - 01).to_julian_day()),
    )
}

/// `YYYY-MM-DD` of a day counted from the Unix epoch.
pub fn day_text(day: i64) -> String {
    let julian = i64::from(time::macros::date!(1970 - 01 - 01).to_julian_day()) + day;
    i32::try_from(julian)
        .ok()
        .and_then(|j| time::Date::from_julian_day(j).ok())
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|| "?".to_string())
}

impl Attribution {
    /// Notes, for the provider and region answers, when the data they rest on is more
    /// than [`DATA_AGE_WARN_DAYS`] from the capture's time (`capture_secs`, Unix).
    /// Depends on the data and the capture only: the same input, the same notes.
    pub fn note_data_age(&mut self, capture_secs: i64) {
        self.note_age(
            capture_secs.div_euclid(86_400),
            "the capture",
            DATA_AGE_WARN_DAYS,
            false,
        );
    }

    /// Notes, for every answer (ASN, country, provider, region), when the data it
    /// rests on is more than `max_days` from `day` (days since the Unix epoch), which
    /// `label` names (`2026-12-04 (today)`, `2026-01-01 (--at)`).
    pub fn note_data_age_at(&mut self, day: i64, label: &str, max_days: i64) {
        self.note_age(day, label, max_days, true);
    }

    fn note_age(&mut self, day: i64, label: &str, max_days: i64, databases: bool) {
        // source -> (date, gap in days, answers resting on it)
        let mut far: BTreeMap<String, (String, i64, Vec<&str>)> = BTreeMap::new();
        let dbs = [
            ("ASN", self.asn.source.as_ref()),
            ("country", self.country.source.as_ref()),
        ];
        let answers = [
            ("provider", self.provider.source.as_ref()),
            ("region", self.region.source.as_ref()),
        ];
        let dbs = if databases { &dbs[..] } else { &[] };
        for &(what, src) in dbs.iter().chain(answers.iter()) {
            let Some(src) = src else { continue };
            let Some(date) = src.date.as_deref() else {
                continue;
            };
            let Some(data) = data_day(date) else { continue };
            let gap = day - data;
            if gap.abs() > max_days {
                far.entry(src.source.clone())
                    .or_insert_with(|| (date.to_string(), gap, Vec::new()))
                    .2
                    .push(what);
            }
        }
        for (source, (date, gap, whats)) in far {
            let advice = if databases {
                format!(" (more than {max_days} days): address blocks change hands, so check against newer data (whohosts data update) or data of the time that matters (--data-dir with an archived data set, --no-bundled-feeds)")
            } else {
                ": address blocks change hands, so check against data of the capture's time (--data-dir with an archived data set, --no-bundled-feeds)".to_string()
            };
            std::sync::Arc::make_mut(&mut self.notes).push(format!(
                "the {} {} on {source} with data of {date}, about {} months {} {label}{advice}",
                whats.join(" and "),
                if whats.len() > 1 {
                    "answers rest"
                } else {
                    "answer rests"
                },
                gap.abs() / 30,
                if gap > 0 { "before" } else { "after" }
            ));
        }
    }
}

impl Attributions {
    /// Adds [`Attribution::note_data_age`] notes for a capture that began at
    /// `capture_secs` (Unix seconds).
    pub fn note_data_age(&mut self, capture_secs: i64) {
        // Equal notes (most addresses' answers rest on the same data) are one value.
        let mut sharing = Sharing::default();
        for a in self.by_ip.values_mut() {
            a.note_data_age(capture_secs);
            sharing.share_notes(a);
        }
    }
}
