//! Trends aggregates per (bucket, group) key.
//!
//! Keys are mapped to dense slots: directly by `key - min` when the key span is small
//! (the usual case: the caller combines a bucket index and a group code), otherwise through
//! one hash lookup per row. Values are `f64` with NaN standing for null / non-numeric
//! (ClickHouse `accurateCastOrNull`), which value measures skip.

use super::bitsets::Bitsets;
use super::FxHashMap;
use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// Rows per key.
    Count,
    /// Distinct persons per key.
    UniqueUsers,
    /// Sum of non-NaN values; `Some(0.0)` when there are none.
    Sum,
    /// Mean of non-NaN values; `None` when there are none.
    Avg,
    Min,
    Max,
    /// Exact interpolated percentile, p in 0..=1 (PostgreSQL `percentile_cont`,
    /// ClickHouse `quantileExactInclusive`): p90 of 1..=10 is 9.1.
    Percentile(f64),
}

/// One entry per distinct key present in `key`, sorted by key. `person` is read only for
/// `UniqueUsers` and `value` only for value measures; either may be empty otherwise.
pub fn aggregate(
    key: &[u64],
    person: &[u32],
    value: &[f64],
    m: &Measure,
) -> Vec<(u64, Option<f64>)> {
    let n = key.len();
    match m {
        Measure::Count => {}
        Measure::UniqueUsers => assert_eq!(person.len(), n, "aggregate: person length"),
        _ => assert_eq!(value.len(), n, "aggregate: value length"),
    }
    if n == 0 {
        return Vec::new();
    }
    let (min, max) = key
        .iter()
        .fold((u64::MAX, 0u64), |(lo, hi), &k| (lo.min(k), hi.max(k)));
    let span = max - min;
    let dense_limit = (2 * n as u64).max(1 << 16);
    if span < dense_limit {
        let nslots = span as usize + 1;
        let res = kernel(n, nslots, |r| (key[r] - min) as usize, person, value, m);
        res.into_iter()
            .enumerate()
            .filter_map(|(s, v)| v.map(|v| (min + s as u64, v)))
            .collect()
    } else {
        // Sparse keys: number them in key order, then one lookup per row.
        let mut slot_of: FxHashMap<u64, u32> = FxHashMap::default();
        let mut keys: Vec<u64> = Vec::new();
        let mut last: Option<(u64, u32)> = None;
        let mut row_slot: Vec<u32> = Vec::with_capacity(n);
        for &k in key {
            let s = match last {
                Some((lk, ls)) if lk == k => ls,
                _ => {
                    let s = *slot_of.entry(k).or_insert_with(|| {
                        keys.push(k);
                        keys.len() as u32 - 1
                    });
                    last = Some((k, s));
                    s
                }
            };
            row_slot.push(s);
        }
        drop(slot_of);
        // Renumber slots in key order.
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_unstable_by_key(|&s| keys[s as usize]);
        let mut rank = vec![0u32; keys.len()];
        for (i, &s) in order.iter().enumerate() {
            rank[s as usize] = i as u32;
        }
        for s in &mut row_slot {
            *s = rank[*s as usize];
        }
        keys.sort_unstable();
        let res = kernel(n, keys.len(), |r| row_slot[r] as usize, person, value, m);
        res.into_iter()
            .zip(keys)
            .filter_map(|(v, k)| v.map(|v| (k, v)))
            .collect()
    }
}

/// Per slot: `None` = no row had this slot; `Some(result)` otherwise.
fn kernel<F: Fn(usize) -> usize>(
    n: usize,
    nslots: usize,
    slot: F,
    person: &[u32],
    value: &[f64],
    m: &Measure,
) -> Vec<Option<Option<f64>>> {
    let mut rows = vec![0u64; nslots];
    for r in 0..n {
        rows[slot(r)] += 1;
    }
    let present = |s: usize, v: Option<f64>| if rows[s] > 0 { Some(v) } else { None };
    match *m {
        Measure::Count => (0..nslots)
            .map(|s| present(s, Some(rows[s] as f64)))
            .collect(),
        Measure::UniqueUsers => {
            let u = unique(n, nslots, &slot, person);
            (0..nslots).map(|s| present(s, Some(u[s] as f64))).collect()
        }
        Measure::Sum | Measure::Avg => {
            let mut sum = vec![0f64; nslots];
            let mut cnt = vec![0u64; nslots];
            for (r, &v) in value.iter().enumerate() {
                if !v.is_nan() {
                    let s = slot(r);
                    sum[s] += v;
                    cnt[s] += 1;
                }
            }
            let avg = matches!(m, Measure::Avg);
            (0..nslots)
                .map(|s| {
                    let v = if !avg {
                        Some(sum[s])
                    } else if cnt[s] > 0 {
                        Some(sum[s] / cnt[s] as f64)
                    } else {
                        None
                    };
                    present(s, v)
                })
                .collect()
        }
        Measure::Min | Measure::Max => {
            let is_min = matches!(m, Measure::Min);
            let init = if is_min {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
            let mut acc = vec![init; nslots];
            let mut seen = vec![false; nslots];
            for (r, &v) in value.iter().enumerate() {
                if !v.is_nan() {
                    let s = slot(r);
                    acc[s] = if is_min { acc[s].min(v) } else { acc[s].max(v) };
                    seen[s] = true;
                }
            }
            (0..nslots)
                .map(|s| present(s, seen[s].then_some(acc[s])))
                .collect()
        }
        Measure::Percentile(p) => {
            // Bucket the non-NaN values by slot into one flat buffer (counting sort).
            let mut start = vec![0usize; nslots + 1];
            for (r, v) in value.iter().enumerate() {
                if !v.is_nan() {
                    start[slot(r) + 1] += 1;
                }
            }
            for s in 0..nslots {
                start[s + 1] += start[s];
            }
            let mut fill = start.clone();
            let mut buf = vec![0f64; start[nslots]];
            for (r, &v) in value.iter().enumerate() {
                if !v.is_nan() {
                    let s = slot(r);
                    buf[fill[s]] = v;
                    fill[s] += 1;
                }
            }
            (0..nslots)
                .map(|s| present(s, percentile(&mut buf[start[s]..start[s + 1]], p)))
                .collect()
        }
    }
}

/// Exact interpolated percentile of non-NaN values (reorders `v`). p is clamped to 0..=1;
/// a NaN p or no values gives `None`.
pub fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() || p.is_nan() {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let h = p * (v.len() - 1) as f64;
    let lo = (h.floor() as usize).min(v.len() - 1);
    let frac = h - lo as f64;
    let cmp = |a: &f64, b: &f64| a.total_cmp(b);
    let (_, &mut x_lo, upper) = v.select_nth_unstable_by(lo, cmp);
    if frac == 0.0 || upper.is_empty() {
        return Some(x_lo);
    }
    let x_hi = *upper.iter().min_by(|a, b| cmp(a, b)).unwrap();
    if x_hi.total_cmp(&x_lo) == Ordering::Equal {
        return Some(x_lo);
    }
    Some(x_lo + frac * (x_hi - x_lo))
}

/// Distinct persons per slot.
/// Rows from which distinct persons are counted with a bitmap per slot, when the bitmaps take at
/// most `BITMAP_MAX_WORDS` words (8 MiB).
const BITMAP_MIN_ROWS: usize = 4096;
const BITMAP_MAX_WORDS: usize = 1 << 20;

fn unique<F: Fn(usize) -> usize>(n: usize, nslots: usize, slot: &F, person: &[u32]) -> Vec<u64> {
    let mut uniq = vec![0u64; nslots];
    // stamp[s] == run: the current person was already counted in slot s.
    let mut stamp = vec![0u64; nslots];
    let mut run: u64 = 0;
    let mut count_rows = |rows: &mut dyn Iterator<Item = usize>| {
        let mut prev: Option<u32> = None;
        for r in rows {
            let p = person[r];
            if prev != Some(p) {
                prev = Some(p);
                run += 1;
            }
            let s = slot(r);
            if stamp[s] != run {
                stamp[s] = run;
                uniq[s] += 1;
            }
        }
    };
    let max_person = person.iter().copied().max().unwrap_or(0) as usize;
    if n >= BITMAP_MIN_ROWS && nslots.saturating_mul(Bitsets::words(max_person + 1)) <= BITMAP_MAX_WORDS {
        // One bit per (slot, person): a row sets one, in a table small enough to stay in cache.
        let mut bits = Bitsets::new(nslots, max_person + 1);
        for (r, &p) in person.iter().enumerate() {
            bits.insert(slot(r), p as usize);
        }
        return bits.counts();
    }
    if person.windows(2).all(|w| w[0] <= w[1]) {
        // Rows already grouped by person (the engine's usual (person, ts) order).
        count_rows(&mut (0..n));
        return uniq;
    }
    if max_person <= 2 * n + (1 << 20) {
        // Dense person ids: counting sort of row indices by person, then the same scan.
        let mut start = vec![0u32; max_person + 2];
        for &p in person {
            start[p as usize + 1] += 1;
        }
        for i in 0..=max_person {
            start[i + 1] += start[i];
        }
        let mut order = vec![0u32; n];
        for (r, &p) in person.iter().enumerate() {
            let f = &mut start[p as usize];
            order[*f as usize] = r as u32;
            *f += 1;
        }
        drop(start);
        count_rows(&mut order.iter().map(|&r| r as usize));
        return uniq;
    }
    // Sparse person ids: sort (slot, person) pairs.
    let mut pairs: Vec<u64> = (0..n)
        .map(|r| ((slot(r) as u64) << 32) | person[r] as u64)
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    for pr in pairs {
        uniq[(pr >> 32) as usize] += 1;
    }
    uniq
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testutil::Rng;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn doc_examples() {
        let vals: Vec<f64> = (1..=10).map(|x| x as f64).collect();
        let keys = vec![0u64; 10];
        let p90 = aggregate(&keys, &[], &vals, &Measure::Percentile(0.9));
        assert_eq!(p90.len(), 1);
        assert!((p90[0].1.unwrap() - 9.1).abs() < 1e-12);
        let avg = aggregate(&[5, 5, 5], &[], &[1.0, 2.0, f64::NAN], &Measure::Avg);
        assert_eq!(avg, vec![(5, Some(1.5))]);
        // Nothing numeric: avg/min/max/percentile are null, sum is 0.
        let nan = [f64::NAN, f64::NAN];
        for (m, want) in [
            (Measure::Avg, None),
            (Measure::Min, None),
            (Measure::Max, None),
            (Measure::Percentile(0.5), None),
            (Measure::Sum, Some(0.0)),
            (Measure::Count, Some(2.0)),
        ] {
            assert_eq!(aggregate(&[1, 1], &[], &nan, &m), vec![(1, want)], "{m:?}");
        }
        // Median of an even count interpolates; p0/p1 are min/max.
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(
            aggregate(&[0; 4], &[], &v, &Measure::Percentile(0.5)),
            vec![(0, Some(2.5))]
        );
        assert_eq!(
            aggregate(&[0; 4], &[], &v, &Measure::Percentile(0.0)),
            vec![(0, Some(1.0))]
        );
        assert_eq!(
            aggregate(&[0; 4], &[], &v, &Measure::Percentile(1.0)),
            vec![(0, Some(4.0))]
        );
    }

    #[test]
    fn unique_users_by_bitmap_equal_the_other_modes() {
        // Enough rows for the bitmaps; the same rows in sorted and scattered person order.
        let n = 5000usize;
        let key: Vec<u64> = (0..n).map(|r| (r % 7) as u64).collect();
        let person: Vec<u32> = (0..n).map(|r| ((r * 7919) % 1300) as u32).collect();
        let by_bitmap = aggregate(&key, &person, &[], &Measure::UniqueUsers);
        let mut want = std::collections::BTreeMap::<u64, std::collections::HashSet<u32>>::new();
        for (k, p) in key.iter().zip(&person) {
            want.entry(*k).or_default().insert(*p);
        }
        let want: Vec<(u64, Option<f64>)> = want.into_iter().map(|(k, s)| (k, Some(s.len() as f64))).collect();
        assert_eq!(by_bitmap, want);
        // Past the bitmap budget (huge person ids): the sparse path answers the same.
        let far: Vec<u32> = person.iter().map(|p| p * 1_000_000).collect();
        assert_eq!(aggregate(&key, &far, &[], &Measure::UniqueUsers), want);
    }

    #[test]
    fn unique_users_in_all_three_modes() {
        // sorted persons
        let out = aggregate(&[1, 2, 1, 1], &[0, 0, 0, 3], &[], &Measure::UniqueUsers);
        assert_eq!(out, vec![(1, Some(2.0)), (2, Some(1.0))]);
        // unsorted dense persons
        let out = aggregate(&[1, 2, 1, 1], &[3, 0, 0, 3], &[], &Measure::UniqueUsers);
        assert_eq!(out, vec![(1, Some(2.0)), (2, Some(1.0))]);
        // unsorted sparse persons, sparse keys
        let out = aggregate(
            &[1 << 40, 2, 1 << 40, 1 << 40],
            &[u32::MAX, 0, 0, u32::MAX],
            &[],
            &Measure::UniqueUsers,
        );
        assert_eq!(out, vec![(2, Some(1.0)), (1 << 40, Some(2.0))]);
    }

    fn reference(
        key: &[u64],
        person: &[u32],
        value: &[f64],
        m: &Measure,
    ) -> Vec<(u64, Option<f64>)> {
        let mut by: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (r, &k) in key.iter().enumerate() {
            by.entry(k).or_default().push(r);
        }
        by.into_iter()
            .map(|(k, rows)| {
                let vals: Vec<f64> = rows
                    .iter()
                    .map(|&r| value.get(r).copied().unwrap_or(0.0))
                    .filter(|v| !v.is_nan())
                    .collect();
                let res = match *m {
                    Measure::Count => Some(rows.len() as f64),
                    Measure::UniqueUsers => Some(
                        rows.iter()
                            .map(|&r| person[r])
                            .collect::<BTreeSet<_>>()
                            .len() as f64,
                    ),
                    Measure::Sum => Some(vals.iter().fold(0.0, |a, b| a + b)),
                    Measure::Avg => (!vals.is_empty())
                        .then(|| vals.iter().fold(0.0, |a, b| a + b) / vals.len() as f64),
                    Measure::Min => vals.iter().copied().reduce(f64::min),
                    Measure::Max => vals.iter().copied().reduce(f64::max),
                    Measure::Percentile(p) => {
                        let mut s = vals.clone();
                        s.sort_by(|a, b| a.total_cmp(b));
                        if s.is_empty() {
                            None
                        } else {
                            let h = p * (s.len() - 1) as f64;
                            let lo = h.floor() as usize;
                            let hi = (lo + 1).min(s.len() - 1);
                            let f = h - lo as f64;
                            Some(if f == 0.0 || s[lo] == s[hi] {
                                s[lo]
                            } else {
                                s[lo] + f * (s[hi] - s[lo])
                            })
                        }
                    }
                };
                (k, res)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_on_random_inputs() {
        let mut rng = Rng::new(5);
        for iter in 0..3000 {
            let n = rng.range(0, 40) as usize;
            let sparse_keys = rng.chance(1, 4);
            let key: Vec<u64> = (0..n)
                .map(|_| {
                    let k = rng.below(6);
                    if sparse_keys {
                        k << 45
                    } else {
                        1000 + k
                    }
                })
                .collect();
            let mut person: Vec<u32> = (0..n)
                .map(|_| {
                    let p = rng.below(5) as u32;
                    if rng.chance(1, 20) {
                        u32::MAX - p
                    } else {
                        p
                    }
                })
                .collect();
            if rng.chance(1, 2) {
                person.sort();
            }
            let value: Vec<f64> = (0..n)
                .map(|_| match rng.below(6) {
                    0 => f64::NAN,
                    1 => rng.range(-3, 3) as f64,
                    _ => rng.range(-1000, 1000) as f64 / 7.0,
                })
                .collect();
            let measures = [
                Measure::Count,
                Measure::UniqueUsers,
                Measure::Sum,
                Measure::Avg,
                Measure::Min,
                Measure::Max,
                Measure::Percentile(rng.below(101) as f64 / 100.0),
                Measure::Percentile(0.5),
            ];
            for m in &measures {
                let got = aggregate(&key, &person, &value, m);
                let want = reference(&key, &person, &value, m);
                assert_eq!(got, want, "iter {iter} {m:?}");
            }
        }
    }
}
