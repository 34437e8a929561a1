//! Sets of small integers (person codes) as bitmaps, one per slot (a bucket, or a single set),
//! all of one width: what counting distinct persons per bucket and marking persons use.

pub struct Bitsets {
    words: usize,
    bits: Vec<u64>,
}

impl Bitsets {
    /// The words a bitmap of members `0..members` takes.
    pub fn words(members: usize) -> usize {
        members.div_ceil(64).max(1)
    }

    /// `slots` empty sets of members `0..members`.
    pub fn new(slots: usize, members: usize) -> Self {
        let words = Self::words(members);
        Bitsets { words, bits: vec![0; slots * words] }
    }

    #[inline(always)]
    pub fn insert(&mut self, slot: usize, member: usize) {
        self.bits[slot * self.words + member / 64] |= 1 << (member % 64);
    }

    #[inline(always)]
    pub fn contains(&self, slot: usize, member: usize) -> bool {
        self.bits[slot * self.words + member / 64] & (1 << (member % 64)) != 0
    }

    /// Each slot's members of both (the sets of two stretches of rows joined).
    pub fn union(mut self, other: Bitsets) -> Bitsets {
        self.bits.iter_mut().zip(other.bits).for_each(|(a, b)| *a |= b);
        self
    }

    /// How many members each slot holds.
    pub fn counts(&self) -> Vec<u64> {
        self.bits.chunks(self.words).map(|c| c.iter().map(|w| u64::from(w.count_ones())).sum()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_per_slot_counted_once_and_joined() {
        let mut a = Bitsets::new(2, 130);
        a.insert(0, 3);
        a.insert(0, 3);
        a.insert(1, 129);
        let mut b = Bitsets::new(2, 130);
        b.insert(0, 64);
        b.insert(1, 129);
        let both = a.union(b);
        assert_eq!(both.counts(), vec![2, 1]);
        assert!(both.contains(0, 64) && both.contains(1, 129) && !both.contains(1, 3));
        assert_eq!(Bitsets::new(3, 0).counts(), vec![0, 0, 0]);
    }
}
