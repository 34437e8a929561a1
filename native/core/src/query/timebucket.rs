//! Calendar buckets in a query timezone, DST-correct.
//!
//! A bucket is identified by the UTC instant (µs) at which it starts. Buckets are intervals
//! of instants, so a bucket start is always the first instant of its bucket:
//! - `Day`, `Week` (Monday) and `Month`: the start of the contiguous stretch of instants
//!   whose local time lies in the period containing `ts`: local midnight of the period's
//!   first day (the earliest one if midnight repeats), or the first valid instant after it
//!   when that midnight falls in a spring-forward gap. The New York fall-back day lasts
//!   90 000 s and the spring-forward day 82 800 s.
//! - `Hour`: within that stretch, the latest instant not after `ts` whose local time is the
//!   start of `ts`'s local hour (the stretch start if there is none). The repeated 01:00
//!   hour of a fall-back night is therefore two buckets, keyed by instant.
//!
//! Period indexes (`period_index`) are calendar numbers of the local period instead: local
//! days since 1970-01-01, Monday-weeks (week 0 is the one containing 1970-01-01, which
//! starts on Monday 1969-12-29), months since 1970-01, local hours since 1970-01-01 00:00.
//!
//! Instants outside chrono's range (about ±262 000 years) are treated as UTC.

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone};
pub use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    Hour,
    Day,
    /// Weeks start on Monday.
    Week,
    Month,
}

const US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * US;
const HOUR_US: i64 = 3_600 * US;
const DAY_US: i64 = 86_400 * US;

/// An IANA zone name ("Europe/Paris", "UTC"); `None` if unknown.
pub fn parse_tz(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// UTC µs instant of the start of the local calendar bucket containing `ts_us`.
pub fn bucket_start(ts_us: i64, tz: Tz, unit: Unit) -> i64 {
    bucket_start_opt(ts_us, tz, unit).unwrap_or_else(|| utc_bucket_start(ts_us, unit))
}

/// Start of the bucket after the one starting at `start` (itself a bucket start): the next local
/// midnight for a day even when the day has 23 or 25 hours.
pub fn next_bucket_start(start: i64, tz: Tz, unit: Unit) -> Option<i64> {
    bucket_end(start, tz, unit)
}

/// `bucket_start` for every row. Each bucket's `[start, end)` is computed once and reused
/// for every row falling in it (the previous row's bucket is tried first), so the cost is
/// a few time-zone lookups per distinct bucket plus a cheap check per row.
pub fn bucket_starts(ts: &[i64], tz: Tz, unit: Unit) -> Vec<i64> {
    cached(ts, tz, unit, |_, start| start)
}

/// Local calendar period number of `ts_us`: days since 1970-01-01, Monday-weeks (week 0
/// contains 1970-01-01), months since 1970-01, or local hours since 1970-01-01 00:00.
pub fn period_index(ts_us: i64, tz: Tz, unit: Unit) -> i32 {
    index_of_local(ts_us.saturating_add(offset_us(tz, ts_us)), unit)
}

/// `period_index` for every row, with the same per-bucket cache as `bucket_starts`.
pub fn period_indices(ts: &[i64], tz: Tz, unit: Unit) -> Vec<i32> {
    cached(ts, tz, unit, |t, _| period_index(t, tz, unit))
}

/// UTC µs of the first instant of period `index` (the inverse of `period_index`): local
/// midnight of its first day (of the hour for `Unit::Hour`), or the first valid instant of
/// the period if that local time does not exist.
pub fn period_start(index: i32, tz: Tz, unit: Unit) -> i64 {
    let local = match unit {
        Unit::Hour => (index as i64).saturating_mul(HOUR_US),
        Unit::Day => (index as i64).saturating_mul(DAY_US),
        Unit::Week => (index as i64 * 7 - 3).saturating_mul(DAY_US),
        Unit::Month => {
            let y = 1970i64 + (index as i64).div_euclid(12);
            let m = (index as i64).rem_euclid(12) as u32 + 1;
            match i32::try_from(y)
                .ok()
                .and_then(|y| NaiveDate::from_ymd_opt(y, m, 1))
            {
                Some(d) => days_since_epoch(d).saturating_mul(DAY_US),
                None if index < 0 => i64::MIN,
                None => i64::MAX,
            }
        }
    };
    first_instant(tz, local).unwrap_or(local)
}

// ---------------------------------------------------------------------------------------

/// UTC offset in µs at instant `ts_us` (0 outside chrono's range).
#[inline]
fn offset_us(tz: Tz, ts_us: i64) -> i64 {
    match DateTime::from_timestamp(ts_us.div_euclid(US), 0) {
        Some(dt) => {
            tz.offset_from_utc_datetime(&dt.naive_utc())
                .fix()
                .local_minus_utc() as i64
                * US
        }
        None => 0,
    }
}

fn naive(local_us: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(local_us).map(|d| d.naive_utc())
}

fn days_since_epoch(d: NaiveDate) -> i64 {
    d.num_days_from_ce() as i64 - 719_163
}

fn resolve(tz: Tz, local_us: i64) -> Option<LocalResult<i64>> {
    Some(
        tz.from_local_datetime(&naive(local_us)?)
            .map(|d| d.timestamp_micros()),
    )
}

/// Earliest instant with local time `local_us`, or the first valid instant after it when
/// it falls in a gap.
fn first_instant(tz: Tz, local_us: i64) -> Option<i64> {
    match resolve(tz, local_us)? {
        LocalResult::Single(x) => Some(x),
        LocalResult::Ambiguous(a, b) => Some(a.min(b)),
        LocalResult::None => first_valid_after(tz, local_us),
    }
}

/// First valid instant after a nonexistent local time: step by minutes to the first valid
/// local minute, then find the first valid second of the minute before (gaps end on whole
/// seconds). Gaps are at most a day long (Samoa skipped 2011-12-30).
fn first_valid_after(tz: Tz, local_us: i64) -> Option<i64> {
    let earliest = |l: i64| resolve(tz, l).and_then(|r| r.earliest());
    for m in 1..=(48 * 60) {
        let l = local_us.checked_add(m * MINUTE_US)?;
        if let Some(x) = earliest(l) {
            for s in 1..60 {
                if let Some(y) = earliest(l - MINUTE_US + s * US) {
                    return Some(y);
                }
            }
            return Some(x);
        }
    }
    None
}

/// Local naive µs of the start of the local period containing local time `local_us`.
fn local_period_start(local_us: i64, unit: Unit) -> Option<i64> {
    let d = local_us.div_euclid(DAY_US);
    match unit {
        Unit::Hour => local_us.checked_sub(local_us.rem_euclid(HOUR_US)),
        Unit::Day => d.checked_mul(DAY_US),
        Unit::Week => (d - (d + 3).rem_euclid(7)).checked_mul(DAY_US),
        Unit::Month => days_since_epoch(naive(local_us)?.date().with_day(1)?).checked_mul(DAY_US),
    }
}

/// Local naive µs of the start of the period after the one starting at `p`.
fn next_local_period_start(p: i64, unit: Unit) -> Option<i64> {
    match unit {
        Unit::Hour => p.checked_add(HOUR_US),
        Unit::Day => p.checked_add(DAY_US),
        Unit::Week => p.checked_add(7 * DAY_US),
        Unit::Month => {
            let d = naive(p)?.date();
            let (y, m) = if d.month() == 12 {
                (d.year() + 1, 1)
            } else {
                (d.year(), d.month() + 1)
            };
            days_since_epoch(NaiveDate::from_ymd_opt(y, m, 1)?).checked_mul(DAY_US)
        }
    }
}

fn index_of_local(local_us: i64, unit: Unit) -> i32 {
    let d = local_us.div_euclid(DAY_US);
    let idx = match unit {
        Unit::Hour => local_us.div_euclid(HOUR_US),
        Unit::Day => d,
        Unit::Week => (d + 3).div_euclid(7),
        Unit::Month => match naive(local_us) {
            Some(n) => (n.year() as i64 - 1970) * 12 + n.month0() as i64,
            None => d.div_euclid(31),
        },
    };
    idx.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Bucket start computed in UTC, for instants chrono cannot represent.
fn utc_bucket_start(ts_us: i64, unit: Unit) -> i64 {
    local_period_start(ts_us, unit).unwrap_or(ts_us)
}

fn bucket_start_opt(ts: i64, tz: Tz, unit: Unit) -> Option<i64> {
    let mut o = offset_us(tz, ts);
    let p = local_period_start(ts.checked_add(o)?, unit)?;
    let in_period = |local: i64| local_period_start(local, unit) == Some(p);
    // Walk back from `ts` one UTC-offset span at a time until the local period starts.
    let mut t = ts;
    for _ in 0..16 {
        // The instant whose local time is `p` at this span's offset (x <= t).
        let x = p.checked_sub(o)?;
        let span_start = if offset_us(tz, x) == o {
            // `p` is reached inside this span. An hour bucket starts at the latest such
            // instant; a day/week/month only if the period did not already run before it.
            if unit == Unit::Hour || offset_us(tz, x - 1) == o {
                return Some(x);
            }
            x
        } else {
            // An offset change inside (x, t]: local time was not yet `p` when it began.
            first_second_with_offset(tz, x, t, o)
        };
        let prev = span_start - 1;
        let prev_off = offset_us(tz, prev);
        if !in_period(prev.checked_add(prev_off)?) {
            return Some(span_start);
        }
        t = prev;
        o = prev_off;
    }
    Some(t)
}

/// First instant in `(lo, hi]` whose offset is `o`, given offset(lo) != o == offset(hi).
/// Offsets change on whole seconds.
fn first_second_with_offset(tz: Tz, lo: i64, hi: i64, o: i64) -> i64 {
    let (mut lo, mut hi) = (lo.div_euclid(US), hi.div_euclid(US));
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_us(tz, mid * US) == o {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi * US
}

/// Exclusive end of the bucket starting at `start`: every instant in `[start, end)` has
/// bucket start `start`.
fn bucket_end(start: i64, tz: Tz, unit: Unit) -> Option<i64> {
    let guess = if unit == Unit::Hour {
        start.checked_add(HOUR_US)?
    } else {
        let local = start.checked_add(offset_us(tz, start))?;
        let next = next_local_period_start(local_period_start(local, unit)?, unit)?;
        first_instant(tz, next)?
    };
    if guess <= start {
        return None;
    }
    if bucket_start_opt(guess - 1, tz, unit)? == start {
        return Some(guess);
    }
    // The bucket is shorter than the guess (an offset change inside it): bisect for the
    // first instant that belongs to another bucket.
    let (mut lo, mut hi) = (start, guess - 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if bucket_start_opt(mid, tz, unit)? == start {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// Known buckets kept for the rows of one call; enough for any realistic query range.
const MAX_CACHED_BUCKETS: usize = 1 << 14;

/// Per row `f(ts, bucket_start)`, computed once per bucket: the last bucket used is checked
/// first (sorted input), then the other buckets seen so far (sorted `[start, end)`
/// intervals, binary search), so rows in (person, ts) order cost a few time-zone lookups
/// per distinct bucket rather than per row.
fn cached<T: Copy>(ts: &[i64], tz: Tz, unit: Unit, f: impl Fn(i64, i64) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(ts.len());
    let mut known: Vec<(i64, i64, T)> = Vec::new();
    let mut cur: Option<(i64, i64, T)> = None;
    for &t in ts {
        if let Some((lo, hi, v)) = cur {
            if lo <= t && t < hi {
                out.push(v);
                continue;
            }
        }
        let i = known.partition_point(|e| e.0 <= t);
        if i > 0 && t < known[i - 1].1 {
            let e = known[i - 1];
            cur = Some(e);
            out.push(e.2);
            continue;
        }
        let start = bucket_start(t, tz, unit);
        let v = f(t, start);
        out.push(v);
        match bucket_end(start, tz, unit) {
            Some(end) if start <= t && t < end => {
                let e = (start, end, v);
                cur = Some(e);
                if known.len() < MAX_CACHED_BUCKETS {
                    // [start, end) holds t, which no known interval did: no overlap.
                    known.insert(known.partition_point(|k| k.0 < start), e);
                }
            }
            _ => cur = None,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testutil::Rng;
    use chrono::Timelike;

    fn tz(name: &str) -> Tz {
        parse_tz(name).unwrap()
    }

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    fn local_of(t: i64, z: Tz) -> NaiveDateTime {
        z.from_utc_datetime(&DateTime::from_timestamp_micros(t).unwrap().naive_utc())
            .naive_local()
    }

    #[test]
    fn parse() {
        assert!(parse_tz("America/New_York").is_some());
        assert!(parse_tz("UTC").is_some());
        assert!(parse_tz("Mars/Olympus").is_none());
        assert!(parse_tz("").is_none());
    }

    #[test]
    fn new_york_fall_back_and_spring_forward() {
        let ny = tz("America/New_York");
        // 2023-11-05: 02:00 EDT → 01:00 EST.
        let day = bucket_start(utc("2023-11-05T17:00:00Z"), ny, Unit::Day);
        assert_eq!(day, utc("2023-11-05T04:00:00Z"));
        let next = bucket_start(utc("2023-11-06T10:00:00Z"), ny, Unit::Day);
        assert_eq!(next - day, 90_000 * US);
        let i = period_index(utc("2023-11-05T17:00:00Z"), ny, Unit::Day);
        assert_eq!(
            period_start(i + 1, ny, Unit::Day) - period_start(i, ny, Unit::Day),
            90_000 * US
        );
        assert_eq!(period_start(i, ny, Unit::Day), day);
        // The repeated 01:00 local hour: two buckets, keyed by instant.
        let h1 = bucket_start(utc("2023-11-05T05:30:00Z"), ny, Unit::Hour);
        let h2 = bucket_start(utc("2023-11-05T06:30:00Z"), ny, Unit::Hour);
        assert_eq!(h1, utc("2023-11-05T05:00:00Z"));
        assert_eq!(h2, utc("2023-11-05T06:00:00Z"));
        assert_eq!(local_of(h1, ny).hour(), 1);
        assert_eq!(local_of(h2, ny).hour(), 1);
        // 2023-03-12: 02:00 EST → 03:00 EDT; the day lasts 23 h.
        let d = bucket_start(utc("2023-03-12T12:00:00Z"), ny, Unit::Day);
        let e = bucket_start(utc("2023-03-13T12:00:00Z"), ny, Unit::Day);
        assert_eq!(e - d, 82_800 * US);
        assert_eq!(
            bucket_start(utc("2023-03-12T07:10:00Z"), ny, Unit::Hour),
            utc("2023-03-12T07:00:00Z")
        );
        // Week (Monday) and month.
        assert_eq!(
            bucket_start(utc("2023-11-05T17:00:00Z"), ny, Unit::Week),
            utc("2023-10-30T04:00:00Z")
        );
        assert_eq!(
            bucket_start(utc("2023-11-05T17:00:00Z"), ny, Unit::Month),
            utc("2023-11-01T04:00:00Z")
        );
        assert_eq!(
            bucket_start(utc("2023-11-01T03:59:59Z"), ny, Unit::Month),
            utc("2023-10-01T04:00:00Z")
        );
    }

    #[test]
    fn fractional_offsets() {
        let k = tz("Asia/Kathmandu"); // +05:45
        let t = utc("2024-05-01T10:20:00Z"); // 16:05 local
        assert_eq!(bucket_start(t, k, Unit::Hour), utc("2024-05-01T10:15:00Z"));
        assert_eq!(bucket_start(t, k, Unit::Day), utc("2024-04-30T18:15:00Z"));
        let i = tz("Asia/Kolkata");
        assert_eq!(
            bucket_start(utc("2024-05-01T18:29:59Z"), i, Unit::Day),
            utc("2024-04-30T18:30:00Z")
        );
        assert_eq!(
            bucket_start(utc("2024-05-01T18:30:00Z"), i, Unit::Day),
            utc("2024-05-01T18:30:00Z")
        );
    }

    #[test]
    fn epoch_indexes() {
        let u = tz("UTC");
        assert_eq!(period_index(0, u, Unit::Day), 0);
        assert_eq!(period_index(-1, u, Unit::Day), -1);
        assert_eq!(period_index(0, u, Unit::Week), 0);
        assert_eq!(period_index(utc("1970-01-04T23:59:59Z"), u, Unit::Week), 0);
        assert_eq!(period_index(utc("1970-01-05T00:00:00Z"), u, Unit::Week), 1);
        assert_eq!(period_start(0, u, Unit::Week), utc("1969-12-29T00:00:00Z"));
        assert_eq!(
            period_index(utc("1971-02-01T00:00:00Z"), u, Unit::Month),
            13
        );
        assert_eq!(
            period_start(-1, u, Unit::Month),
            utc("1969-12-01T00:00:00Z")
        );
        assert_eq!(period_index(utc("1970-01-01T05:00:00Z"), u, Unit::Hour), 5);
        // New York local day 0 starts at 05:00Z.
        let ny = tz("America/New_York");
        assert_eq!(period_index(utc("1970-01-01T04:59:59Z"), ny, Unit::Day), -1);
        assert_eq!(period_start(0, ny, Unit::Day), utc("1970-01-01T05:00:00Z"));
        // Extreme indexes do not panic.
        for unit in [Unit::Hour, Unit::Day, Unit::Week, Unit::Month] {
            period_start(i32::MAX, ny, unit);
            period_start(i32::MIN, ny, unit);
            bucket_start(i64::MAX, ny, unit);
            bucket_start(i64::MIN, ny, unit);
            period_index(i64::MIN, ny, unit);
        }
    }

    #[test]
    fn nonexistent_midnight_uses_first_valid_instant() {
        // Zones that have sprung forward at 00:00: find such days and check the rule.
        let mut found = 0;
        for name in [
            "America/Santiago",
            "America/Havana",
            "Asia/Beirut",
            "America/Asuncion",
            "America/Sao_Paulo",
        ] {
            let z = tz(name);
            for day in 12_000..20_000i32 {
                let mid = day as i64 * DAY_US;
                if !matches!(resolve(z, mid), Some(LocalResult::None)) {
                    continue;
                }
                found += 1;
                let s = period_start(day, z, Unit::Day);
                let local = local_of(s, z);
                assert_eq!(days_since_epoch(local.date()), day as i64, "{name} {day}");
                assert!(local.time().hour() <= 1);
                // One second earlier is the previous local date.
                assert_eq!(days_since_epoch(local_of(s - US, z).date()), day as i64 - 1);
                assert_eq!(bucket_start(s + 3 * HOUR_US, z, Unit::Day), s);
                assert_eq!(bucket_start(s, z, Unit::Day), s);
            }
        }
        assert!(found > 10, "found {found}");
        // Samoa skipped 2011-12-30 entirely: its start is the start of 2011-12-31.
        let apia = tz("Pacific/Apia");
        let d30 = days_since_epoch(NaiveDate::from_ymd_opt(2011, 12, 30).unwrap()) as i32;
        assert_eq!(
            period_start(d30, apia, Unit::Day),
            period_start(d30 + 1, apia, Unit::Day)
        );
        let d29 = period_start(d30 - 1, apia, Unit::Day);
        assert_eq!(period_start(d30 + 1, apia, Unit::Day) - d29, DAY_US);
    }

    const ZONES: [&str; 15] = [
        "UTC",
        "America/New_York",
        "Europe/London",
        "Europe/Moscow",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/Santiago",
        "America/Havana",
        "Asia/Beirut",
        "America/Sao_Paulo",
        "Pacific/Chatham",
        "Pacific/Apia",
        "America/St_Johns",
        "Africa/Casablanca",
    ];

    /// Offset transitions of `z` between 2005 and 2025, found by scanning.
    fn transitions(z: Tz) -> Vec<i64> {
        let mut out = Vec::new();
        let (from, to) = (utc("2005-01-01T00:00:00Z"), utc("2025-01-01T00:00:00Z"));
        let step = 6 * HOUR_US;
        let mut t = from;
        while t < to {
            if offset_us(z, t) != offset_us(z, t + step) {
                let (mut lo, mut hi) = (t, t + step);
                while hi - lo > US {
                    let mid = lo + (hi - lo) / 2 / US * US;
                    if offset_us(z, mid) == offset_us(z, t) {
                        lo = mid
                    } else {
                        hi = mid
                    }
                }
                out.push(hi);
            }
            t += step;
        }
        out
    }

    /// Random instants, mostly within two days of an offset transition.
    fn samples(rng: &mut Rng, trans: &[i64], k: usize) -> Vec<i64> {
        (0..k)
            .map(|_| {
                if trans.is_empty() || rng.chance(1, 4) {
                    rng.range(utc("1980-01-01T00:00:00Z"), utc("2040-01-01T00:00:00Z"))
                } else {
                    let c = trans[rng.below(trans.len() as u64) as usize];
                    c + rng.range(-2 * DAY_US, 2 * DAY_US)
                }
            })
            .collect()
    }

    fn local_day(t: i64, z: Tz) -> i64 {
        (t + offset_us(z, t)).div_euclid(DAY_US)
    }

    fn local_hour(t: i64, z: Tz) -> i64 {
        (t + offset_us(z, t)).div_euclid(HOUR_US)
    }

    /// Earliest instant t ≤ ts such that every instant of [t, ts] has ts's local day.
    fn brute_day(ts: i64, z: Tz) -> i64 {
        let d = local_day(ts, z);
        let mut t = ts.div_euclid(MINUTE_US) * MINUTE_US;
        while local_day(t - MINUTE_US, z) == d {
            t -= MINUTE_US;
        }
        while local_day(t - US, z) == d {
            t -= US;
        }
        t
    }

    /// Latest instant t ≤ ts whose local time is the start of ts's local hour, such that
    /// [t, ts] all have that local hour; if there is none, the earliest such t.
    fn brute_hour(ts: i64, z: Tz) -> i64 {
        let h = local_hour(ts, z);
        let mut t = ts.div_euclid(MINUTE_US) * MINUTE_US;
        loop {
            if t + offset_us(z, t) == h * HOUR_US {
                return t;
            }
            if local_hour(t - MINUTE_US, z) != h {
                break;
            }
            t -= MINUTE_US;
        }
        while local_hour(t - US, z) == h {
            t -= US;
        }
        t
    }

    /// Week and month buckets are unions of whole day buckets: walk back day by day.
    fn brute_via_days(ts: i64, z: Tz, unit: Unit) -> i64 {
        let idx = period_index(ts, z, unit);
        let mut s = bucket_start(ts, z, Unit::Day);
        while period_index(s - 1, z, unit) == idx {
            s = bucket_start(s - 1, z, Unit::Day);
        }
        s
    }

    #[test]
    fn matches_brute_force_near_transitions() {
        let mut rng = Rng::new(99);
        for name in ZONES {
            let z = tz(name);
            let trans = transitions(z);
            for &t in &samples(&mut rng, &trans, 40) {
                assert_eq!(
                    bucket_start(t, z, Unit::Day),
                    brute_day(t, z),
                    "{name} day {t}"
                );
                assert_eq!(
                    bucket_start(t, z, Unit::Hour),
                    brute_hour(t, z),
                    "{name} hour {t}"
                );
                for unit in [Unit::Week, Unit::Month] {
                    let s = bucket_start(t, z, unit);
                    assert_eq!(s, brute_via_days(t, z, unit), "{name} {unit:?} {t}");
                }
                for unit in [Unit::Hour, Unit::Day, Unit::Week, Unit::Month] {
                    let s = bucket_start(t, z, unit);
                    assert!(s <= t);
                    assert_eq!(period_index(s, z, unit), period_index(t, z, unit));
                }
                let w = local_of(bucket_start(t, z, Unit::Week), z);
                assert_eq!(w.weekday(), chrono::Weekday::Mon, "{name} {t}");
                let m = local_of(bucket_start(t, z, Unit::Month), z);
                assert_eq!(m.day(), 1, "{name} {t}");
            }
        }
    }

    #[test]
    fn period_start_is_bucket_start_in_regular_zones() {
        let mut rng = Rng::new(5);
        for name in [
            "America/New_York",
            "Europe/London",
            "Asia/Kolkata",
            "America/Santiago",
            "America/Havana",
        ] {
            let z = tz(name);
            let trans = transitions(z);
            for &t in &samples(&mut rng, &trans, 60) {
                for unit in [Unit::Day, Unit::Week, Unit::Month] {
                    let s = bucket_start(t, z, unit);
                    assert_eq!(
                        s,
                        period_start(period_index(t, z, unit), z, unit),
                        "{name} {unit:?} {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn batch_matches_single() {
        let mut rng = Rng::new(123);
        for name in ZONES {
            let z = tz(name);
            let trans = transitions(z);
            for unit in [Unit::Hour, Unit::Day, Unit::Week, Unit::Month] {
                // Sorted runs that cross transitions, with duplicates.
                let mut ts = Vec::new();
                for &c in trans.iter().take(6) {
                    let mut t = c - 3 * DAY_US;
                    while t < c + 3 * DAY_US {
                        ts.push(t);
                        t += rng.range(0, 40 * MINUTE_US);
                    }
                }
                let mut unsorted = samples(&mut rng, &trans, 300);
                unsorted.extend_from_slice(&ts[..ts.len().min(100)]);
                for input in [&ts, &unsorted] {
                    let b = bucket_starts(input, z, unit);
                    let p = period_indices(input, z, unit);
                    for (k, &t) in input.iter().enumerate() {
                        assert_eq!(b[k], bucket_start(t, z, unit), "{name} {unit:?} {t}");
                        assert_eq!(p[k], period_index(t, z, unit), "{name} {unit:?} {t}");
                    }
                }
            }
        }
    }

    #[test]
    fn period_round_trip() {
        for name in ZONES {
            let z = tz(name);
            for unit in [Unit::Day, Unit::Week, Unit::Month, Unit::Hour] {
                let base = period_index(utc("2011-01-01T00:00:00Z"), z, unit);
                let span = if unit == Unit::Hour { 24 * 800 } else { 800 };
                let mut prev = i64::MIN;
                for i in (base..base + span).step_by(if unit == Unit::Hour { 7 } else { 1 }) {
                    let s = period_start(i, z, unit);
                    assert!(s >= prev, "{name} {unit:?} {i}");
                    prev = s;
                    let back = period_index(s, z, unit);
                    // A skipped period (Samoa's 2011-12-30, hours in a gap) maps forward.
                    assert!(
                        back == i || (back > i && period_start(back, z, unit) == s),
                        "{name} {unit:?} {i} {back}"
                    );
                }
            }
        }
    }

    #[test]
    fn next_bucket_start_crosses_a_25_hour_day() {
        let berlin = tz("Europe/Berlin");
        let oct25 = bucket_start(utc("2026-10-25T12:00:00Z"), berlin, Unit::Day);
        assert_eq!(oct25, utc("2026-10-24T22:00:00Z"));
        assert_eq!(
            next_bucket_start(oct25, berlin, Unit::Day),
            Some(utc("2026-10-25T23:00:00Z"))
        );
        let mar29 = bucket_start(utc("2026-03-29T12:00:00Z"), berlin, Unit::Day);
        assert_eq!(
            next_bucket_start(mar29, berlin, Unit::Day),
            Some(utc("2026-03-29T22:00:00Z"))
        );
        let hour = utc("2026-10-25T00:00:00Z");
        assert_eq!(
            next_bucket_start(hour, berlin, Unit::Hour),
            Some(utc("2026-10-25T01:00:00Z"))
        );
    }
}
