//! Local calendar arithmetic in the customer's time zone: IANA zones, DST-safe local times, paydays.
//! Pure helpers for the retry policy and the case's step times.

use chrono::{
    DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike,
    Utc, Weekday,
};
use chrono_tz::Tz;

use super::campaign::Offset;

/// The customer's zone by IANA name; a missing or unknown name falls back to UTC, with the reason.
pub fn resolve_zone(name: Option<&str>) -> (Tz, Option<String>) {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => (
            Tz::UTC,
            Some("customer time zone unknown: using UTC".into()),
        ),
        Some(n) => match n.parse::<Tz>() {
            Ok(tz) => (tz, None),
            Err(_) => (
                Tz::UTC,
                Some(format!("time zone {n:?} is not an IANA zone: using UTC")),
            ),
        },
    }
}

/// A local wall-clock time as UTC; a time skipped by a DST jump moves forward to the next valid one.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

/// When a step runs: the first failure's local date-time, plus grace, plus whole local days (so a DST
/// change does not shift the hour), plus hours, plus time spent paused.
pub fn step_time(
    first_failure: DateTime<Utc>,
    tz: Tz,
    grace_hours: u32,
    offset: Offset,
    paused: Duration,
) -> DateTime<Utc> {
    let start =
        first_failure.with_timezone(&tz).naive_local() + Duration::hours(i64::from(grace_hours));
    let local =
        start + Days::new(u64::from(offset.days)) + Duration::hours(i64::from(offset.hours));
    local_to_utc(tz, local) + paused
}

/// A customer's daytime for messages: from 08:00 until 20:00 local time.
pub const QUIET_UNTIL: u32 = 8;
pub const QUIET_FROM: u32 = 20;
/// The local hour a message kept out of the night goes at.
const SEND_AT: u32 = 9;

/// Whether `at` is in the customer's daytime in `tz`.
pub fn is_daytime(at: DateTime<Utc>, tz: Tz) -> bool {
    (QUIET_UNTIL..QUIET_FROM).contains(&at.with_timezone(&tz).hour())
}

/// The next `SEND_AT` o'clock in `tz`: tomorrow's if `at` is in the evening, else today's.
pub fn next_daytime(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = at.with_timezone(&tz);
    let day = if local.hour() >= QUIET_FROM {
        local.date_naive() + Days::new(1)
    } else {
        local.date_naive()
    };
    local_to_utc(
        tz,
        day.and_time(NaiveTime::from_hms_opt(SEND_AT, 0, 0).expect("valid")),
    )
}

/// When a message planned for `at` goes: `at` in the daytime, else the next morning's send hour.
pub fn in_daytime(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    if is_daytime(at, tz) {
        at
    } else {
        next_daytime(at, tz)
    }
}

pub fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn last_business_day(year: i32, month: u32) -> NaiveDate {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    let mut d = first_next
        .expect("valid month")
        .pred_opt()
        .expect("not the first day ever");
    while is_weekend(d) {
        d = d.pred_opt().expect("dates go back");
    }
    d
}

fn is_payday(d: NaiveDate) -> bool {
    d.day() == 1 || d.day() == 15 || d == last_business_day(d.year(), d.month())
}

/// A payday, or the first business day after one that fell on a weekend (funds are there by then).
pub fn is_payday_or_just_after(date: NaiveDate) -> bool {
    if is_payday(date) {
        return true;
    }
    let mut d = date.pred_opt().expect("date in range");
    while is_weekend(d) {
        if is_payday(d) {
            return true;
        }
        d = d.pred_opt().expect("date in range");
    }
    false
}

/// The first likely payday on or after `date`: the 1st, the 15th or the month's last business day.
pub fn next_payday(date: NaiveDate) -> NaiveDate {
    let (y, m) = (date.year(), date.month());
    let this = [
        date.with_day(1),
        date.with_day(15),
        Some(last_business_day(y, m)),
    ];
    let next_first = date
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.with_day(1));
    this.into_iter()
        .chain([next_first])
        .flatten()
        .filter(|d| *d >= date)
        .min()
        .unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn local(t: DateTime<Utc>, tz: &str) -> chrono::DateTime<Tz> {
        t.with_timezone(&tz.parse::<Tz>().unwrap())
    }

    #[test]
    fn zones_resolve_or_fall_back_to_utc_with_a_reason() {
        assert_eq!(
            resolve_zone(Some("America/New_York")).0.name(),
            "America/New_York"
        );
        let (tz, why) = resolve_zone(Some("Mars/Olympus"));
        assert_eq!(tz, Tz::UTC);
        assert!(why.unwrap().contains("Mars/Olympus"));
        assert!(resolve_zone(None).1.unwrap().contains("unknown"));
        assert!(resolve_zone(Some("  ")).1.is_some());
    }

    #[test]
    fn step_times_keep_local_hour_across_dst() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        // 10:00 local on Fri 27 March (UTC+1); Paris moves to UTC+2 on Sunday 29 March.
        let first = utc(2026, 3, 27, 9, 0);
        let t = step_time(first, tz, 0, Offset::days(3), Duration::zero());
        assert_eq!(t, utc(2026, 3, 30, 8, 0));
        let with_grace = step_time(
            first,
            tz,
            2,
            Offset { days: 1, hours: 3 },
            Duration::hours(1),
        );
        assert_eq!(local(with_grace, "Europe/Paris").hour(), 16);
        // 02:30 does not exist on 29 March in Paris: it moves forward.
        let gap = local_to_utc(
            tz,
            NaiveDate::from_ymd_opt(2026, 3, 29)
                .unwrap()
                .and_hms_opt(2, 30, 0)
                .unwrap(),
        );
        assert_eq!(gap, utc(2026, 3, 29, 1, 0));
    }

    #[test]
    fn paydays() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(next_payday(d(3, 2)), d(3, 15));
        assert_eq!(next_payday(d(3, 15)), d(3, 15));
        assert_eq!(next_payday(d(3, 16)), d(3, 31), "last business day (Tue)");
        assert_eq!(
            next_payday(d(2, 28)),
            d(3, 1),
            "Feb 27 is the last business day; 28th is past it"
        );
        assert_eq!(
            next_payday(d(5, 30)),
            d(6, 1),
            "May 29 (Fri) is the last business day"
        );
        assert_eq!(next_payday(d(12, 31)), d(12, 31));
        assert!(is_payday_or_just_after(d(3, 2)), "Mon after Sun 1 March");
        assert!(!is_payday_or_just_after(d(3, 3)));
    }
}
