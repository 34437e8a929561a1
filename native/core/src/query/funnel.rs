//! Funnels: how many persons reached at least step k.
//!
//! Sequential mode (PostHog-style): every in-range step-1 row starts an attempt, the window
//! is measured from that row and is inclusive, one row fills at most one step of an attempt
//! (ClickHouse `windowFunnel` 'strict_once'), out-of-order steps don't count, and a person
//! counts once, at the best level any attempt reached. Per person we keep, for each level,
//! the latest start of a chain that reached it (a later start dominates an earlier one), and
//! a row updates levels from the highest down so it cannot cascade: O(rows × set bits).
//!
//! Strict mode keeps one current attempt: any row that is not its next step ends it (the
//! level reached still counts), an in-range step-1 row starts a new one, and a row that is
//! both the next step and step 1 advances the attempt when within the window, else restarts.
//!
//! Rows of one person with equal `ts` are processed in ascending order of (lowest matched
//! step, step mask, input position); rows matching no step sort last. So A@t and B@t give
//! level 2 in any input order, and in strict mode a non-step row at the same instant as a
//! step row does not break it.

use super::run_end;
use std::collections::BTreeMap;

/// Group code of persons whose funnel rows carry no group value.
pub const NO_GROUP: u32 = u32::MAX;

/// Columnar funnel rows, sorted by (person, ts).
pub struct FunnelInput<'a> {
    /// Dense person id.
    pub person: &'a [u32],
    /// Event time, µs since the epoch.
    pub ts: &'a [i64],
    /// Bit i set = the row matches step i (bits at or above `n_steps` are ignored).
    pub steps: &'a [u32],
    /// Breakdown value code of the row, or [`NO_GROUP`].
    pub group: &'a [u32],
}

pub struct FunnelParams {
    /// Number of steps, 1..=32.
    pub n_steps: usize,
    /// Conversion window in µs, inclusive: a step counts if `ts - attempt_start <= window_us`.
    pub window_us: i64,
    /// Step 1 must satisfy `from_us <= ts < to_us`; later steps may fall anywhere.
    pub from_us: i64,
    pub to_us: i64,
    /// Strict order: any row between steps ends the attempt. The caller then passes all of
    /// the person's rows, including those with `steps == 0`.
    pub strict: bool,
}

/// Per group (sorted by code, [`NO_GROUP`] last), `counts[k]` = persons whose best level is
/// at least `k + 1`. Groups with no person are omitted; persons who never start an attempt
/// are not counted. A person's group is the group of their first row (in the processing
/// order above) that matches some step and carries a group value.
pub fn funnel(input: &FunnelInput, p: &FunnelParams) -> Vec<(u32, Vec<u64>)> {
    let n = input.person.len();
    assert!(
        input.ts.len() == n && input.steps.len() == n && input.group.len() == n,
        "funnel: column lengths differ"
    );
    assert!(
        (1..=32).contains(&p.n_steps),
        "funnel: n_steps must be 1..=32"
    );
    let full: u32 = if p.n_steps == 32 {
        u32::MAX
    } else {
        (1u32 << p.n_steps) - 1
    };

    let mut st = PersonState {
        input,
        p,
        full,
        start: [0; 32],
        reached: 0,
        level: 0,
        attempt_start: 0,
        best: 0,
        group: NO_GROUP,
    };
    let mut hist = GroupHist::new(p.n_steps);
    let mut ties: Vec<(u64, usize)> = Vec::new();

    let mut i = 0;
    while i < n {
        let end = run_end(input.person, i);
        st.reset();
        let mut k = i;
        while k < end {
            let t = input.ts[k];
            let mut e = k + 1;
            while e < end && input.ts[e] == t {
                e += 1;
            }
            if e - k == 1 {
                st.row(k);
            } else {
                ties.clear();
                for r in k..e {
                    let m = input.steps[r] & full;
                    if p.strict || m != 0 {
                        let key = ((m.trailing_zeros() as u64) << 32) | m as u64;
                        ties.push((key, r));
                    }
                }
                ties.sort_unstable();
                for &(_, r) in &ties {
                    st.row(r);
                }
            }
            if st.done() {
                break;
            }
            k = e;
        }
        let best = st.best_level();
        if best > 0 {
            hist.add(st.group, best);
        }
        i = end;
    }
    hist.finish()
}

struct PersonState<'i, 'a> {
    input: &'i FunnelInput<'a>,
    p: &'i FunnelParams,
    full: u32,
    /// Non-strict: `start[l]` = latest start of a chain that filled steps 0..=l; valid where
    /// bit l of `reached` is set.
    start: [i64; 32],
    reached: u32,
    /// Strict: current attempt's level (0 = none) and start.
    level: u32,
    attempt_start: i64,
    best: u32,
    group: u32,
}

impl PersonState<'_, '_> {
    #[inline]
    fn reset(&mut self) {
        self.reached = 0;
        self.level = 0;
        self.best = 0;
        self.group = NO_GROUP;
    }

    #[inline]
    fn best_level(&self) -> u32 {
        if self.p.strict {
            self.best
        } else {
            32 - self.reached.leading_zeros()
        }
    }

    /// Nothing later in this person's rows can change the result.
    #[inline]
    fn done(&self) -> bool {
        self.group != NO_GROUP && self.best_level() as usize == self.p.n_steps
    }

    #[inline]
    fn in_range(&self, t: i64) -> bool {
        self.p.from_us <= t && t < self.p.to_us
    }

    #[inline]
    fn row(&mut self, r: usize) {
        let m = self.input.steps[r] & self.full;
        let t = self.input.ts[r];
        if m != 0 && self.group == NO_GROUP {
            self.group = self.input.group[r];
        }
        if self.p.strict {
            let lv = self.level;
            if lv >= 1
                && (lv as usize) < self.p.n_steps
                && (m >> lv) & 1 == 1
                && t.saturating_sub(self.attempt_start) <= self.p.window_us
            {
                self.level = lv + 1;
            } else if m & 1 == 1 && self.in_range(t) {
                self.level = 1;
                self.attempt_start = t;
            } else {
                self.level = 0;
            }
            self.best = self.best.max(self.level);
            return;
        }
        if m == 0 {
            return;
        }
        // Bits i >= 1 of the row whose previous level is held by some chain; highest first,
        // reading start[i-1] before this row can overwrite it.
        let mut cand = m & (self.reached << 1);
        while cand != 0 {
            let i = 31 - cand.leading_zeros() as usize;
            cand &= !(1u32 << i);
            let s = self.start[i - 1];
            if t.saturating_sub(s) <= self.p.window_us {
                self.start[i] = s;
                self.reached |= 1 << i;
            }
        }
        if m & 1 == 1 && self.in_range(t) {
            self.start[0] = t;
            self.reached |= 1;
        }
    }
}

/// Histogram of best levels per group: dense by code for small codes, a map beyond.
struct GroupHist {
    n_steps: usize,
    dense_limit: u32,
    /// `dense[g * n_steps + (level - 1)]`
    dense: Vec<u64>,
    sparse: BTreeMap<u32, Vec<u64>>,
    none: Vec<u64>,
}

impl GroupHist {
    fn new(n_steps: usize) -> GroupHist {
        GroupHist {
            n_steps,
            // At most 2^20 dense counters (8 MiB); larger codes go to the map, per person.
            dense_limit: ((1usize << 20) / n_steps) as u32,
            dense: Vec::new(),
            sparse: BTreeMap::new(),
            none: vec![0; n_steps],
        }
    }

    #[inline]
    fn add(&mut self, group: u32, level: u32) {
        let l = level as usize - 1;
        if group == NO_GROUP {
            self.none[l] += 1;
        } else if group < self.dense_limit {
            let base = group as usize * self.n_steps;
            if self.dense.len() < base + self.n_steps {
                self.dense.resize(base + self.n_steps, 0);
            }
            self.dense[base + l] += 1;
        } else {
            self.sparse
                .entry(group)
                .or_insert_with(|| vec![0; self.n_steps])[l] += 1;
        }
    }

    fn finish(self) -> Vec<(u32, Vec<u64>)> {
        let mut out = Vec::new();
        let mut push = |g: u32, hist: &[u64]| {
            let mut counts = vec![0u64; hist.len()];
            let mut acc = 0;
            for k in (0..hist.len()).rev() {
                acc += hist[k];
                counts[k] = acc;
            }
            if acc > 0 {
                out.push((g, counts));
            }
        };
        for (g, hist) in self.dense.chunks_exact(self.n_steps).enumerate() {
            push(g as u32, hist);
        }
        for (g, hist) in &self.sparse {
            push(*g, hist);
        }
        push(NO_GROUP, &self.none);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testutil::Rng;

    fn run(
        rows: &[(u32, i64, u32, u32)],
        n_steps: usize,
        window: i64,
        from: i64,
        to: i64,
        strict: bool,
    ) -> Vec<(u32, Vec<u64>)> {
        let person: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let ts: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let steps: Vec<u32> = rows.iter().map(|r| r.2).collect();
        let group: Vec<u32> = rows.iter().map(|r| r.3).collect();
        funnel(
            &FunnelInput {
                person: &person,
                ts: &ts,
                steps: &steps,
                group: &group,
            },
            &FunnelParams {
                n_steps,
                window_us: window,
                from_us: from,
                to_us: to,
                strict,
            },
        )
    }

    /// Single-person, no-group convenience: rows of (ts, steps).
    fn level(rows: &[(i64, u32)], n_steps: usize, window: i64, strict: bool) -> u64 {
        let r: Vec<_> = rows.iter().map(|&(t, s)| (0, t, s, NO_GROUP)).collect();
        let out = run(&r, n_steps, window, i64::MIN, i64::MAX, strict);
        match out.as_slice() {
            [] => 0,
            [(NO_GROUP, c)] => c.iter().filter(|&&x| x > 0).count() as u64,
            other => panic!("unexpected {other:?}"),
        }
    }

    const A: u32 = 1;
    const B: u32 = 2;
    const C: u32 = 4;

    #[test]
    fn doc_examples() {
        // A@0, A@50, B@120, w=100 → 2 (the second A restarts the window).
        assert_eq!(level(&[(0, A), (50, A), (120, B)], 2, 100, false), 2);
        // Inclusive window: B at +100 → 2, at +101 → 1.
        assert_eq!(level(&[(0, A), (100, B)], 2, 100, false), 2);
        assert_eq!(level(&[(0, A), (101, B)], 2, 100, false), 1);
        // Out of order: B A C with steps A,B,C → 1.
        assert_eq!(level(&[(0, B), (1, A), (2, C)], 3, 100, false), 1);
        // One row fills one step: a single row matching steps 1 and 2 → 1; two such → 2.
        assert_eq!(level(&[(0, A | B)], 2, 100, false), 1);
        assert_eq!(level(&[(0, A | B), (5, A | B)], 2, 100, false), 2);
        // Equal timestamps are taken in step order, whatever the input order.
        assert_eq!(level(&[(7, B), (7, A)], 2, 100, false), 2);
        assert_eq!(level(&[(7, C), (7, B), (7, A)], 3, 0, false), 3);
        // Strict: A X A B → 2 (X ends the first attempt, the second A starts a new one).
        assert_eq!(level(&[(0, A), (1, 0), (2, A), (3, B)], 2, 100, true), 2);
        assert_eq!(level(&[(0, A), (1, 0), (3, B)], 2, 100, true), 1);
        // Strict: a row that is both the next step and step 1 advances within the window…
        assert_eq!(level(&[(0, A), (5, A | B), (6, C)], 3, 100, true), 3);
        // …and restarts outside it.
        assert_eq!(level(&[(0, A), (200, A | B), (201, B)], 3, 100, true), 2);
        // Strict: a non-step row at the same instant sorts after the step row.
        assert_eq!(level(&[(0, A), (4, 0), (4, B)], 2, 100, true), 2);
    }

    #[test]
    fn range_groups_and_unstarted_persons() {
        // person 0: starts in range, group 5 from its first step row carrying a group.
        // person 1: step 1 before the range → never starts → not counted.
        // person 2: starts, no group → NO_GROUP.
        // person 3: later steps past `to` still count.
        let rows = [
            (0, 10, A, NO_GROUP),
            (0, 11, 0, 9), // not a step row: ignored for the group
            (0, 12, B, 5),
            (0, 13, C, 6),
            (1, 5, A, 7),
            (1, 12, B, 7),
            (2, 10, A, NO_GROUP),
            (3, 19, A, 5),
            (3, 25, B, NO_GROUP),
        ];
        let out = run(&rows, 3, 100, 10, 20, false);
        assert_eq!(out, vec![(5, vec![2, 2, 1]), (NO_GROUP, vec![1, 0, 0])]);
    }

    #[test]
    fn sparse_group_codes() {
        let rows = [
            (0, 0, A, 3_000_000_000),
            (1, 0, A, 7),
            (2, 0, A, 3_000_000_000),
        ];
        let out = run(&rows, 2, 10, 0, 10, false);
        assert_eq!(out, vec![(7, vec![1, 0]), (3_000_000_000, vec![2, 0])]);
    }

    #[test]
    fn thirty_two_steps() {
        let rows: Vec<_> = (0..32)
            .map(|i| (0u32, i as i64, 1u32 << i, NO_GROUP))
            .collect();
        let out = run(&rows, 32, 1000, 0, 1, false);
        assert_eq!(out, vec![(NO_GROUP, vec![1; 32])]);
        let out = run(&rows, 32, 1000, 0, 1, true);
        assert_eq!(out, vec![(NO_GROUP, vec![1; 32])]);
    }

    /// Rows of one person in processing order.
    fn ordered(rows: &[(u32, i64, u32, u32)], full: u32, keep_zero: bool) -> Vec<(i64, u32, u32)> {
        let mut v: Vec<(i64, u32, u32, usize, u32)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.1, (r.2 & full).trailing_zeros(), r.2 & full, i, r.3))
            .filter(|r| keep_zero || r.2 != 0)
            .collect();
        v.sort();
        v.into_iter().map(|r| (r.0, r.2, r.4)).collect()
    }

    /// Brute force: enumerate every attempt (each in-range step-1 row) and match it greedily;
    /// strict mode simulates the single current attempt literally.
    fn reference(
        rows: &[(u32, i64, u32, u32)],
        n: usize,
        w: i64,
        from: i64,
        to: i64,
        strict: bool,
    ) -> Vec<(u32, Vec<u64>)> {
        let full: u32 = if n == 32 { u32::MAX } else { (1 << n) - 1 };
        let mut persons: BTreeMap<u32, Vec<(u32, i64, u32, u32)>> = BTreeMap::new();
        for r in rows {
            persons.entry(r.0).or_default().push(*r);
        }
        let mut groups: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for prow in persons.values() {
            let ev = ordered(prow, full, strict);
            let group = ev
                .iter()
                .find(|e| e.1 != 0 && e.2 != NO_GROUP)
                .map_or(NO_GROUP, |e| e.2);
            let mut best = 0usize;
            if strict {
                let (mut lv, mut s) = (0usize, 0i64);
                for &(t, m, _) in &ev {
                    if lv >= 1 && lv < n && m >> lv & 1 == 1 && t - s <= w {
                        lv += 1;
                    } else if m & 1 == 1 && from <= t && t < to {
                        lv = 1;
                        s = t;
                    } else {
                        lv = 0;
                    }
                    best = best.max(lv);
                }
            } else {
                for (a, &(t0, m0, _)) in ev.iter().enumerate() {
                    if m0 & 1 == 0 || t0 < from || t0 >= to {
                        continue;
                    }
                    let mut lv = 1;
                    for &(t, m, _) in &ev[a + 1..] {
                        if t - t0 > w || lv == n {
                            break;
                        }
                        if m >> lv & 1 == 1 {
                            lv += 1;
                        }
                    }
                    best = best.max(lv);
                }
            }
            if best > 0 {
                let c = groups.entry(group).or_insert_with(|| vec![0; n]);
                for x in c.iter_mut().take(best) {
                    *x += 1;
                }
            }
        }
        groups.into_iter().collect()
    }

    fn random_rows(rng: &mut Rng, n_steps: usize, strict: bool) -> Vec<(u32, i64, u32, u32)> {
        let mut rows = Vec::new();
        let persons = rng.range(0, 6) as u32;
        for p in 0..persons {
            let k = rng.range(0, 9) as usize;
            let mut ts: Vec<i64> = (0..k).map(|_| rng.range(0, 30)).collect();
            ts.sort();
            for t in ts {
                let mut m = 0u32;
                if !rng.chance(1, 4) {
                    for b in 0..n_steps.min(6) {
                        if rng.chance(1, 3) {
                            m |= 1 << b;
                        }
                    }
                    if n_steps == 32 && rng.chance(1, 4) {
                        m |= 1 << 31;
                    }
                }
                if !strict && m == 0 && rng.chance(1, 2) {
                    m = 1 << rng.below(n_steps as u64);
                }
                // Bits beyond n_steps must be ignored.
                if n_steps < 32 && rng.chance(1, 10) {
                    m |= 1 << 31;
                }
                let g = match rng.below(5) {
                    0 | 1 => NO_GROUP,
                    x => x as u32,
                };
                rows.push((p * 3, t, m, g));
            }
        }
        rows
    }

    #[test]
    fn matches_brute_force_on_random_inputs() {
        let mut rng = Rng::new(42);
        for iter in 0..6000 {
            let n_steps = [1, 2, 3, 4, 5, 32][rng.below(6) as usize];
            let strict = iter % 2 == 1;
            let rows = random_rows(&mut rng, n_steps, strict);
            let w = rng.range(-1, 12);
            let from = rng.range(-2, 20);
            let to = from + rng.range(0, 15);
            let got = run(&rows, n_steps, w, from, to, strict);
            let want = reference(&rows, n_steps, w, from, to, strict);
            assert_eq!(
                got, want,
                "iter {iter} n={n_steps} w={w} [{from},{to}) strict={strict} rows={rows:?}"
            );
        }
    }

    #[test]
    fn tie_order_does_not_matter() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let strict = rng.chance(1, 2);
            let mut rows = random_rows(&mut rng, 3, strict);
            // Make the group a function of the mask so identical rows are interchangeable.
            for r in &mut rows {
                r.3 = if r.2 & 7 == 0 { NO_GROUP } else { r.2 & 7 };
            }
            let a = run(&rows, 3, 5, 0, 20, strict);
            // Reverse every run of equal (person, ts).
            let mut i = 0;
            while i < rows.len() {
                let mut j = i + 1;
                while j < rows.len() && rows[j].0 == rows[i].0 && rows[j].1 == rows[i].1 {
                    j += 1;
                }
                rows[i..j].reverse();
                i = j;
            }
            assert_eq!(a, run(&rows, 3, 5, 0, 20, strict));
        }
    }
}
