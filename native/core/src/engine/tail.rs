//! Where each tail of PostgreSQL stands: the highest seq read, and the seqs below it that were
//! not there yet. A seq is taken when a row is inserted but becomes visible only at commit, so
//! a later read can show a higher seq before a lower one; the lower one is remembered as missing
//! and asked for again until it appears or is old enough to have been rolled back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a missing seq is asked for. Ingest transactions are short; a seq still missing
/// after this belonged to a rolled-back transaction (or a skipped duplicate).
pub const MISSING_FOR: Duration = Duration::from_secs(60);
/// At most this many missing seqs are remembered (a huge jump is a restart of the sequence).
const MAX_MISSING: usize = 200_000;

#[derive(Default, Debug)]
pub struct Tail {
    pub max: i64,
    pub missing: BTreeMap<i64, Instant>,
}

impl Tail {
    pub fn position(&mut self, now: Instant) -> (i64, Vec<i64>) {
        self.missing
            .retain(|_, seen| now.duration_since(*seen) < MISSING_FOR);
        (self.max, self.missing.keys().copied().collect())
    }

    /// Record one seq that was read (ascending within one read).
    pub fn saw(&mut self, seq: i64, now: Instant) {
        if seq > self.max {
            let gap = seq - self.max - 1;
            if self.max > 0 && gap > 0 && (self.missing.len() as i64 + gap) <= MAX_MISSING as i64 {
                for s in self.max + 1..seq {
                    self.missing.insert(s, now);
                }
            }
            self.max = seq;
        } else {
            self.missing.remove(&seq);
        }
    }
}

/// The leading `seq` of a COPY text line.
pub fn leading_seq(line: &[u8]) -> Option<i64> {
    let end = line.iter().position(|&b| b == b'\t').unwrap_or(line.len());
    std::str::from_utf8(&line[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_commits_are_remembered_and_found() {
        let now = Instant::now();
        let mut tail = Tail::default();
        for s in [1, 2, 5] {
            tail.saw(s, now);
        }
        assert_eq!(tail.position(now), (5, vec![3, 4]));
        tail.saw(4, now);
        assert_eq!(tail.position(now), (5, vec![3]));
        assert_eq!(tail.position(now + MISSING_FOR), (5, vec![]));
    }

    #[test]
    fn the_first_read_does_not_invent_gaps_below_it() {
        let now = Instant::now();
        let mut tail = Tail::default();
        tail.saw(1000, now);
        assert_eq!(tail.position(now), (1000, vec![]));
    }

    #[test]
    fn leading_seq_parses() {
        assert_eq!(leading_seq(b"42\tp\tx"), Some(42));
        assert_eq!(leading_seq(b"x\t"), None);
    }
}
