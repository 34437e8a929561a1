//! User paths, PostHog rules: a person's rows split into
//! sessions at idle gaps of at least `session_gap_us`; within a session consecutive rows
//! with the same item collapse to the last of the run (whose anchor flag the collapsed step
//! keeps). `After` takes up to `depth` items from the session's first anchor (included);
//! `Before` the last `depth` items up to and including it. Sessions without an anchor
//! contribute nothing. A path's count is the number of person-sessions that produced it.

use super::FxHashMap;

/// Columnar path rows, sorted by (person, ts).
pub struct PathInput<'a> {
    /// Dense person id.
    pub person: &'a [u32],
    /// Event time, µs since the epoch.
    pub ts: &'a [i64],
    /// Path item code (URL, screen or event name).
    pub item: &'a [u32],
    /// The row is the start point (`After`) or end point (`Before`).
    pub anchor: &'a [bool],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Paths starting at the first `start_event` of the session.
    After,
    /// Paths ending at the first `end_event` of the session.
    Before,
}

/// Every distinct path with its count of person-sessions, sorted by count descending, then
/// path ascending. `depth == 0` yields nothing.
pub fn paths(
    input: &PathInput,
    dir: Direction,
    depth: usize,
    session_gap_us: i64,
) -> Vec<(Vec<u32>, u64)> {
    let n = input.person.len();
    assert!(
        input.ts.len() == n && input.item.len() == n && input.anchor.len() == n,
        "paths: column lengths differ"
    );
    if depth == 0 || n == 0 {
        return Vec::new();
    }
    let mut counts: FxHashMap<Box<[u32]>, u64> = FxHashMap::default();
    // The current session, collapsed.
    let mut items: Vec<u32> = Vec::new();
    let mut anchors: Vec<bool> = Vec::new();

    let mut flush = |items: &mut Vec<u32>, anchors: &mut Vec<bool>| {
        if let Some(a) = anchors.iter().position(|&x| x) {
            let path = match dir {
                Direction::After => &items[a..items.len().min(a + depth)],
                Direction::Before => &items[(a + 1).saturating_sub(depth)..=a],
            };
            if let Some(c) = counts.get_mut(path) {
                *c += 1;
            } else {
                counts.insert(path.into(), 1);
            }
        }
        items.clear();
        anchors.clear();
    };

    for r in 0..n {
        if r > 0
            && (input.person[r] != input.person[r - 1]
                || input.ts[r].saturating_sub(input.ts[r - 1]) >= session_gap_us)
        {
            flush(&mut items, &mut anchors);
        }
        let it = input.item[r];
        if items.last() == Some(&it) {
            *anchors.last_mut().unwrap() = input.anchor[r];
        } else {
            items.push(it);
            anchors.push(input.anchor[r]);
        }
    }
    flush(&mut items, &mut anchors);

    let mut out: Vec<(Vec<u32>, u64)> =
        counts.into_iter().map(|(k, v)| (k.into_vec(), v)).collect();
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testutil::Rng;
    use std::collections::BTreeMap;

    const GAP: i64 = 30 * 60 * 1_000_000;

    fn run(rows: &[(u32, i64, u32, bool)], dir: Direction, depth: usize) -> Vec<(Vec<u32>, u64)> {
        let person: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let ts: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let item: Vec<u32> = rows.iter().map(|r| r.2).collect();
        let anchor: Vec<bool> = rows.iter().map(|r| r.3).collect();
        paths(
            &PathInput {
                person: &person,
                ts: &ts,
                item: &item,
                anchor: &anchor,
            },
            dir,
            depth,
            GAP,
        )
    }

    #[test]
    fn sessions_collapse_and_anchors() {
        let (home, gift, basket, pay) = (1, 2, 3, 4);
        let m = 60 * 1_000_000;
        let rows = [
            // person 0, session 1: Home Home Gift Basket Pay
            (0, 0, home, true),
            (0, m, home, true),
            (0, 2 * m, gift, false),
            (0, 3 * m, basket, false),
            (0, 4 * m, pay, false),
            // exactly 30 min later: new session: Home Gift
            (0, 34 * m, home, true),
            (0, 35 * m, gift, false),
            // person 1: Gift Home Gift (anchor at the second step)
            (1, 0, gift, false),
            (1, m, home, true),
            (1, 2 * m, gift, false),
            // person 2: no anchor
            (2, 0, gift, false),
        ];
        let after = run(&rows, Direction::After, 3);
        assert_eq!(
            after,
            vec![(vec![home, gift], 2), (vec![home, gift, basket], 1)]
        );
        let before = run(&rows, Direction::Before, 2);
        assert_eq!(before, vec![(vec![home], 2), (vec![gift, home], 1)]);
        assert_eq!(run(&rows, Direction::After, 0), vec![]);
    }

    #[test]
    fn collapsed_run_keeps_last_anchor_flag() {
        // A run whose last row is not an anchor is not an anchor.
        let rows = [
            (0, 0, 1, true),
            (0, 1, 1, false),
            (0, 2, 2, false),
            (0, 3, 1, true),
        ];
        assert_eq!(run(&rows, Direction::After, 5), vec![(vec![1], 1)]);
        assert_eq!(run(&rows, Direction::Before, 5), vec![(vec![1, 2, 1], 1)]);
    }

    fn reference(
        rows: &[(u32, i64, u32, bool)],
        dir: Direction,
        depth: usize,
    ) -> Vec<(Vec<u32>, u64)> {
        let mut sessions: Vec<Vec<(u32, bool)>> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if i == 0 || r.0 != rows[i - 1].0 || r.1 - rows[i - 1].1 >= GAP {
                sessions.push(Vec::new());
            }
            sessions.last_mut().unwrap().push((r.2, r.3));
        }
        let mut counts: BTreeMap<Vec<u32>, u64> = BTreeMap::new();
        for s in sessions {
            let mut c: Vec<(u32, bool)> = Vec::new();
            for (k, e) in s.iter().enumerate() {
                if k + 1 == s.len() || s[k + 1].0 != e.0 {
                    c.push(*e);
                }
            }
            let Some(a) = c.iter().position(|e| e.1) else {
                continue;
            };
            let items: Vec<u32> = c.iter().map(|e| e.0).collect();
            let path: Vec<u32> = match dir {
                Direction::After => items[a..].iter().take(depth).copied().collect(),
                Direction::Before => {
                    let upto = &items[..=a];
                    upto[upto.len().saturating_sub(depth)..].to_vec()
                }
            };
            if !path.is_empty() {
                *counts.entry(path).or_default() += 1;
            }
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    #[test]
    fn matches_brute_force_on_random_inputs() {
        let mut rng = Rng::new(11);
        for iter in 0..3000 {
            let mut rows = Vec::new();
            for p in 0..rng.range(0, 5) as u32 {
                let mut t = rng.range(0, GAP);
                for _ in 0..rng.range(0, 12) {
                    rows.push((p, t, rng.below(4) as u32, rng.chance(1, 4)));
                    t += match rng.below(4) {
                        0 => 0,
                        1 => GAP - 1,
                        2 => GAP,
                        _ => rng.range(0, 2 * GAP),
                    };
                }
            }
            let dir = if rng.chance(1, 2) {
                Direction::After
            } else {
                Direction::Before
            };
            let depth = rng.range(0, 5) as usize;
            assert_eq!(
                run(&rows, dir, depth),
                reference(&rows, dir, depth),
                "iter {iter}"
            );
        }
    }
}
