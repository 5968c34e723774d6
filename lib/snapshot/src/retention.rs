//! The retention policy: which of an instance's anklume-made snapshots
//! `Prune` deletes. Pure: a list of snapshots and a clock in, names out.

use std::collections::HashSet;
use std::time::Duration;

use anklume_config::Retention;
use time::OffsetDateTime;

/// A snapshot as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dated {
    pub name: String,
    /// Creation time, unix seconds.
    pub created: i64,
}

/// Maps a unix time to the index of its hour, day, week or month.
type PeriodOf = fn(i64) -> i64;

/// The names to delete among `snapshots` (all of ONE instance, all made by
/// anklume) at time `now` (unix seconds).
///
/// Kept: the newest `keep_last`; for each of hourly/daily/weekly/monthly,
/// the newest snapshot of each of the last N periods that have one (as
/// restic's `--keep-hourly` & co.); anything younger than `min_age`.
pub fn to_delete(snapshots: &[Dated], retention: &Retention, now: i64) -> Vec<String> {
    let mut newest_first: Vec<&Dated> = snapshots.iter().collect();
    newest_first.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));

    let mut keep: HashSet<&str> = newest_first
        .iter()
        .take(retention.keep_last)
        .map(|s| s.name.as_str())
        .collect();
    let buckets: [(usize, PeriodOf); 4] = [
        (retention.hourly, |t| t.div_euclid(3600)),
        (retention.daily, |t| t.div_euclid(86_400)),
        (retention.weekly, iso_week),
        (retention.monthly, month),
    ];
    for (count, period_of) in buckets {
        let mut last_period = None;
        let mut kept = 0;
        for snapshot in &newest_first {
            if kept == count {
                break;
            }
            let period = period_of(snapshot.created);
            if last_period != Some(period) {
                keep.insert(&snapshot.name);
                last_period = Some(period);
                kept += 1;
            }
        }
    }
    let young = i64::try_from(retention.min_age.as_secs()).unwrap_or(i64::MAX);
    let mut doomed: Vec<String> = newest_first
        .iter()
        .filter(|s| !keep.contains(s.name.as_str()) && now.saturating_sub(s.created) >= young)
        .map(|s| s.name.clone())
        .collect();
    doomed.reverse(); // oldest first, the order they are deleted in
    doomed
}

/// ISO week number since the epoch, as one increasing integer.
fn iso_week(t: i64) -> i64 {
    match OffsetDateTime::from_unix_timestamp(t) {
        Ok(date) => {
            let (year, week, _) = date.to_iso_week_date();
            i64::from(year) * 53 + i64::from(week)
        }
        Err(_) => t.div_euclid(604_800),
    }
}

/// Calendar month (UTC) as one increasing integer.
fn month(t: i64) -> i64 {
    match OffsetDateTime::from_unix_timestamp(t) {
        Ok(date) => i64::from(date.year()) * 12 + i64::from(u8::from(date.month())),
        Err(_) => t.div_euclid(2_629_746),
    }
}

/// A retention that keeps nothing but what `min_age` protects.
pub fn keep_nothing(min_age: Duration) -> Retention {
    Retention {
        keep_last: 0,
        hourly: 0,
        daily: 0,
        weekly: 0,
        monthly: 0,
        min_age,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    /// 2026-11-26 12:00:00 UTC, a Thursday.
    const NOW: i64 = 1_795_694_400;

    fn snaps(ages: &[i64]) -> Vec<Dated> {
        ages.iter()
            .enumerate()
            .map(|(i, age)| Dated {
                name: format!("s{i}"),
                created: NOW - age,
            })
            .collect()
    }

    fn policy(
        keep_last: usize,
        hourly: usize,
        daily: usize,
        weekly: usize,
        monthly: usize,
    ) -> Retention {
        Retention {
            keep_last,
            hourly,
            daily,
            weekly,
            monthly,
            min_age: Duration::ZERO,
        }
    }

    #[test]
    fn keep_last_keeps_the_newest() {
        let s = snaps(&[10, 20, 30, 40]);
        assert_eq!(to_delete(&s, &policy(2, 0, 0, 0, 0), NOW), ["s3", "s2"]);
    }

    #[test]
    fn hourly_keeps_the_newest_of_each_hour() {
        // Two in the current hour, one an hour ago, two three hours ago.
        let s = snaps(&[60, 120, HOUR + 60, 3 * HOUR + 60, 3 * HOUR + 120]);
        assert_eq!(
            to_delete(&s, &policy(0, 2, 0, 0, 0), NOW),
            ["s4", "s3", "s1"]
        );
        assert_eq!(to_delete(&s, &policy(0, 3, 0, 0, 0), NOW), ["s4", "s1"]);
    }

    #[test]
    fn daily_weekly_monthly_buckets() {
        let s = snaps(&[
            HOUR,
            DAY + HOUR,
            2 * DAY + HOUR,
            9 * DAY,
            40 * DAY,
            41 * DAY,
        ]);
        assert_eq!(
            to_delete(&s, &policy(0, 0, 2, 0, 0), NOW),
            ["s5", "s4", "s3", "s2"]
        );
        // Weekly: this week (s0..s2 on Tue-Thu), last week+ (s3), 40 days (s4).
        assert_eq!(
            to_delete(&s, &policy(0, 0, 0, 3, 0), NOW),
            ["s5", "s2", "s1"]
        );
        assert_eq!(
            to_delete(&s, &policy(0, 0, 0, 0, 2), NOW),
            ["s5", "s3", "s2", "s1"]
        );
    }

    #[test]
    fn rules_add_up() {
        let s = snaps(&[60, 120, 180, DAY + 60]);
        assert_eq!(to_delete(&s, &policy(1, 0, 2, 0, 0), NOW), ["s2", "s1"]);
    }

    #[test]
    fn min_age_protects_young_snapshots() {
        let s = snaps(&[60, 2 * HOUR]);
        let mut retention = keep_nothing(Duration::from_secs(HOUR as u64));
        assert_eq!(to_delete(&s, &retention, NOW), ["s1"]);
        retention.min_age = Duration::ZERO;
        assert_eq!(to_delete(&s, &retention, NOW), ["s1", "s0"]);
    }

    #[test]
    fn default_policy_keeps_a_recent_burst() {
        let s = snaps(&[1, 2, 3]);
        assert!(to_delete(&s, &Retention::default(), NOW).is_empty());
    }
}
