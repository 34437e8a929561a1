//! Calendar retention: one cohort per person, the period of
//! their first cohort row; period k counts the persons of a cohort with a return row in
//! period cohort + k ("on", not "on or after"). Period 0 is the cohort itself (100 %).

use super::{run_end, FxHashMap};

/// Columnar retention rows, sorted by (person, period).
pub struct RetentionInput<'a> {
    /// Dense person id.
    pub person: &'a [u32],
    /// Calendar period index of the row in the query timezone (see `timebucket::period_index`).
    pub period: &'a [i32],
    /// Bit 0: cohort event (already range-checked). Bit 1: return event.
    pub flags: &'a [u8],
}

pub const COHORT: u8 = 1;
pub const RETURN: u8 = 2;

/// Per cohort period (ascending): (cohort size, returned) with `returned.len() == periods`,
/// `returned[0]` = size and `returned[k]` = persons of the cohort with at least one return
/// row whose period is exactly cohort + k. Persons without a cohort row are ignored.
pub fn retention(input: &RetentionInput, periods: usize) -> Vec<(i32, u64, Vec<u64>)> {
    let n = input.person.len();
    assert!(
        input.period.len() == n && input.flags.len() == n,
        "retention: column lengths differ"
    );
    // One table row per cohort: [size, returned[1], …, returned[periods-1]].
    let width = periods.max(1);
    let mut table: Vec<u64> = Vec::new();
    let mut cohorts: Vec<i32> = Vec::new();
    let mut slot_of: FxHashMap<i32, usize> = FxHashMap::default();
    let mut last: Option<(i32, usize)> = None;
    // stamp[k] == seq: this person already counted as returning in period k.
    let mut stamp: Vec<u32> = vec![0; periods];
    let mut seq: u32 = 0;

    let mut i = 0;
    while i < n {
        let end = run_end(input.person, i);
        let first = (i..end).find(|&r| input.flags[r] & COHORT != 0);
        let Some(first) = first else {
            i = end;
            continue;
        };
        let c = input.period[first];
        let slot = match last {
            Some((lc, ls)) if lc == c => ls,
            _ => {
                let s = *slot_of.entry(c).or_insert_with(|| {
                    cohorts.push(c);
                    table.resize(table.len() + width, 0);
                    cohorts.len() - 1
                });
                last = Some((c, s));
                s
            }
        };
        let row = &mut table[slot * width..(slot + 1) * width];
        row[0] += 1;
        seq = seq.wrapping_add(1);
        if seq == 0 {
            stamp.fill(0);
            seq = 1;
        }
        for r in i..end {
            if input.flags[r] & RETURN == 0 {
                continue;
            }
            let k = input.period[r] as i64 - c as i64;
            if k >= 1 && (k as u64) < periods as u64 {
                let k = k as usize;
                if stamp[k] != seq {
                    stamp[k] = seq;
                    row[k] += 1;
                }
            }
        }
        i = end;
    }

    let mut out: Vec<(i32, u64, Vec<u64>)> = cohorts
        .iter()
        .enumerate()
        .map(|(s, &c)| {
            let row = &table[s * width..(s + 1) * width];
            (c, row[0], row[..periods].to_vec())
        })
        .collect();
    out.sort_unstable_by_key(|r| r.0);
    out
}

/// The same answer as [`retention`] for rows in any order: per-person state lives in dense
/// arrays indexed by person id (`person < n_persons`), so nothing is sorted. A person's cohort
/// is their earliest cohort period (their first cohort row, as periods follow time).
pub fn retention_by_person(
    input: &RetentionInput,
    n_persons: usize,
    periods: usize,
) -> Vec<(i32, u64, Vec<u64>)> {
    let n = input.person.len();
    assert!(
        input.period.len() == n && input.flags.len() == n,
        "retention: column lengths differ"
    );
    assert!(periods <= 128, "retention: at most 128 periods");
    let mut cohort = vec![i32::MAX; n_persons];
    for r in 0..n {
        if input.flags[r] & COHORT != 0 {
            let p = input.person[r] as usize;
            cohort[p] = cohort[p].min(input.period[r]);
        }
    }
    let mut returned = vec![0u128; n_persons];
    for r in 0..n {
        if input.flags[r] & RETURN != 0 {
            let p = input.person[r] as usize;
            let c = cohort[p];
            if c != i32::MAX {
                let k = input.period[r] as i64 - c as i64;
                if k >= 1 && (k as usize) < periods {
                    returned[p] |= 1u128 << k;
                }
            }
        }
    }
    let mut by_cohort: std::collections::BTreeMap<i32, Vec<u64>> =
        std::collections::BTreeMap::new();
    for p in 0..n_persons {
        let c = cohort[p];
        if c == i32::MAX {
            continue;
        }
        let row = by_cohort
            .entry(c)
            .or_insert_with(|| vec![0; periods.max(1)]);
        row[0] += 1;
        let mut bits = returned[p];
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            row[k] += 1;
            bits &= bits - 1;
        }
    }
    by_cohort
        .into_iter()
        .map(|(c, mut row)| {
            let size = row[0];
            row.truncate(periods);
            (c, size, row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testutil::Rng;
    use std::collections::{BTreeMap, BTreeSet};

    fn run(rows: &[(u32, i32, u8)], periods: usize) -> Vec<(i32, u64, Vec<u64>)> {
        let person: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let period: Vec<i32> = rows.iter().map(|r| r.1).collect();
        let flags: Vec<u8> = rows.iter().map(|r| r.2).collect();
        retention(
            &RetentionInput {
                person: &person,
                period: &period,
                flags: &flags,
            },
            periods,
        )
    }

    #[test]
    fn basic() {
        let rows = [
            // person 0: cohort 10, returns in 10 (ignored), 11, 11, 13
            (0, 10, COHORT),
            (0, 10, RETURN),
            (0, 11, RETURN),
            (0, 11, RETURN | COHORT),
            (0, 13, RETURN),
            // person 1: return before cohort (ignored), cohort 11, return 12
            (1, 9, RETURN),
            (1, 11, COHORT),
            (1, 12, RETURN),
            // person 2: no cohort row
            (2, 10, RETURN),
            // person 3: cohort 10, return at +5 (beyond periods)
            (3, 10, COHORT | RETURN),
            (3, 15, RETURN),
        ];
        let out = run(&rows, 4);
        assert_eq!(
            out,
            vec![(10, 2, vec![2, 1, 0, 1]), (11, 1, vec![1, 1, 0, 0])]
        );
        assert_eq!(run(&rows, 1), vec![(10, 2, vec![2]), (11, 1, vec![1])]);
        assert_eq!(run(&rows, 0), vec![(10, 2, vec![]), (11, 1, vec![])]);
        assert_eq!(run(&[], 3), vec![]);
    }

    fn reference(rows: &[(u32, i32, u8)], periods: usize) -> Vec<(i32, u64, Vec<u64>)> {
        let mut by_person: BTreeMap<u32, Vec<(i32, u8)>> = BTreeMap::new();
        for r in rows {
            by_person.entry(r.0).or_default().push((r.1, r.2));
        }
        let mut cohorts: BTreeMap<i32, (u64, Vec<u64>)> = BTreeMap::new();
        for ev in by_person.values() {
            let Some(c) = ev.iter().find(|e| e.1 & COHORT != 0).map(|e| e.0) else {
                continue;
            };
            let returned: BTreeSet<i32> = ev
                .iter()
                .filter(|e| e.1 & RETURN != 0)
                .map(|e| e.0)
                .collect();
            let entry = cohorts.entry(c).or_insert_with(|| (0, vec![0; periods]));
            entry.0 += 1;
            for k in 0..periods {
                if k == 0 || returned.contains(&(c + k as i32)) {
                    entry.1[k] += 1;
                }
            }
        }
        cohorts.into_iter().map(|(c, (s, r))| (c, s, r)).collect()
    }

    #[test]
    fn matches_brute_force_on_random_inputs() {
        let mut rng = Rng::new(3);
        for iter in 0..3000 {
            let mut rows = Vec::new();
            for p in 0..rng.range(0, 8) as u32 {
                let mut per: Vec<i32> = (0..rng.range(0, 7))
                    .map(|_| rng.range(-3, 8) as i32)
                    .collect();
                per.sort();
                for x in per {
                    rows.push((p, x, rng.below(4) as u8));
                }
            }
            let periods = rng.range(0, 6) as usize;
            assert_eq!(
                run(&rows, periods),
                reference(&rows, periods),
                "iter {iter} {rows:?}"
            );
        }
    }

    #[test]
    fn by_person_matches_the_sorted_kernel() {
        let mut rng = crate::query::testutil::Rng::new(77);
        for _ in 0..300 {
            let n = rng.range(0, 60) as usize;
            let persons = rng.range(1, 8) as u32;
            let mut rows: Vec<(u32, i32, u8)> = (0..n)
                .map(|_| {
                    (
                        rng.below(persons as u64) as u32,
                        rng.range(0, 9) as i32,
                        rng.range(0, 3) as u8,
                    )
                })
                .collect();
            rows.sort();
            let person: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let period: Vec<i32> = rows.iter().map(|r| r.1).collect();
            let flags: Vec<u8> = rows.iter().map(|r| r.2).collect();
            let periods = rng.range(1, 6) as usize;
            let input = RetentionInput {
                person: &person,
                period: &period,
                flags: &flags,
            };
            let sorted = retention(&input, periods);
            // Shuffle: the dense kernel must not care about order.
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let person2: Vec<u32> = order.iter().map(|&i| person[i]).collect();
            let period2: Vec<i32> = order.iter().map(|&i| period[i]).collect();
            let flags2: Vec<u8> = order.iter().map(|&i| flags[i]).collect();
            let dense = retention_by_person(
                &RetentionInput {
                    person: &person2,
                    period: &period2,
                    flags: &flags2,
                },
                persons as usize,
                periods,
            );
            assert_eq!(sorted, dense);
        }
    }
}
