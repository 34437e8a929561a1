//! Columns per project. Strings (event names, hot-column values, property values) are interned
//! once per project; code 0 is "absent". Persons are distinct ids: an anonymous id linked to a
//! user resolves to the user's distinct id, retroactively, because resolution happens at query time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::col::Col;

pub use crate::columns::{hot_index, HOT_COLUMNS};

/// Strings numbered in the order first seen (code 0 is "", absent). The text of every string
/// sits in one buffer and the lookup table holds codes only, so a string costs its bytes and
/// about 16 more (ids run to millions per project).
#[derive(Clone)]
pub struct Interner {
    bytes: Vec<u8>,
    /// (start, length) of each code's text in `bytes`.
    spans: Vec<(u32, u32)>,
    /// Open addressing, linear probing: a code, or EMPTY, or GONE (a forgotten code's slot).
    table: Vec<u32>,
    /// Codes in the table (GONE slots included, so probing stays short).
    used: usize,
}

const EMPTY: u32 = u32::MAX;
const GONE: u32 = u32::MAX - 1;

fn hash(s: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(s.as_bytes());
    // FxHash's low bits are weak for short keys: fold the high ones in.
    let v = h.finish();
    v ^ (v >> 29)
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

impl Interner {
    pub fn new() -> Self {
        Interner {
            bytes: Vec::new(),
            spans: vec![(0, 0)],
            table: vec![EMPTY; 8],
            used: 0,
        }
    }

    fn text(&self, code: u32) -> &str {
        let (start, len) = self.spans[code as usize];
        // SAFETY: only whole `&str`s are copied into `bytes`, at these spans.
        unsafe { std::str::from_utf8_unchecked(&self.bytes[start as usize..(start + len) as usize]) }
    }

    /// The slot holding `s`, or the first free slot of its probe sequence.
    fn find(&self, s: &str) -> Result<usize, usize> {
        let mask = self.table.len() - 1;
        let mut at = hash(s) as usize & mask;
        loop {
            match self.table[at] {
                EMPTY => return Err(at),
                GONE => {}
                code if self.text(code) == s => return Ok(at),
                _ => {}
            }
            at = (at + 1) & mask;
        }
    }

    fn insert_code(&mut self, code: u32) {
        if (self.used + 1) * 2 > self.table.len() {
            let live: Vec<u32> = self.table.iter().copied().filter(|&c| c < GONE).collect();
            self.table = vec![EMPTY; (live.len() * 4).next_power_of_two().max(8)];
            self.used = 0;
            for c in live {
                self.insert_code(c);
            }
        }
        if let Err(slot) = self.find(self.text(code)) {
            self.table[slot] = code;
            self.used += 1;
        }
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(code) = self.get(s) {
            return code;
        }
        self.push_loaded(s);
        self.spans.len() as u32 - 1
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.find(s).ok().map(|slot| self.table[slot])
    }

    pub fn resolve(&self, code: u32) -> &str {
        self.text(code)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.len() <= 1
    }

    /// Append a string at the next code (as read back from a segment: a string already held
    /// keeps its first code for lookups).
    pub fn push_loaded(&mut self, s: &str) {
        assert!(self.bytes.len() + s.len() < u32::MAX as usize, "over 4 GiB of interned text");
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.spans.push((start, s.len() as u32));
        self.insert_code(self.spans.len() as u32 - 1);
    }

    /// Append a string known to differ from every one held (as read back from segments) without
    /// indexing it; `reindex` must follow before the interner is searched.
    pub fn push_unindexed(&mut self, s: &str) {
        assert!(self.bytes.len() + s.len() < u32::MAX as usize, "over 4 GiB of interned text");
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.spans.push((start, s.len() as u32));
    }

    /// Index every code at once (after `push_unindexed`): each text is distinct, so a code goes
    /// in the first free slot of its probe sequence with no comparison. The only repeated text
    /// is the empty one (an interned "" and forgotten codes read back alike): its first code is
    /// indexed, as interning them one by one would.
    pub fn reindex(&mut self) {
        self.table = vec![EMPTY; (self.spans.len() * 4).next_power_of_two().max(8)];
        self.used = 0;
        let mask = self.table.len() - 1;
        let mut empty_seen = false;
        for code in 1..self.spans.len() as u32 {
            let text = self.text(code);
            if text.is_empty() {
                if empty_seen {
                    continue;
                }
                empty_seen = true;
            }
            let mut at = hash(text) as usize & mask;
            while self.table[at] != EMPTY {
                at = (at + 1) & mask;
            }
            self.table[at] = code;
            self.used += 1;
        }
    }

    /// Drop a string: its code stays reserved (columns keep their meaning) but resolves to "",
    /// and its text is overwritten.
    pub fn forget(&mut self, code: u32) {
        if code == 0 || code as usize >= self.spans.len() {
            return;
        }
        if let Ok(slot) = self.find(self.text(code)) {
            if self.table[slot] == code {
                self.table[slot] = GONE;
            }
        }
        let (start, len) = self.spans[code as usize];
        self.bytes[start as usize..(start + len) as usize].fill(0);
        self.spans[code as usize] = (start, 0);
    }

    /// Whether any string held contains `needle` (used to prove erasure).
    pub fn mentions(&self, needle: &str) -> bool {
        (1..self.spans.len() as u32).any(|code| self.text(code).contains(needle))
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.capacity() + self.spans.capacity() * 8 + self.table.capacity() * 4
    }
}

/// A property extracted into a column on first use: its value as text (codes into `labels`,
/// 0 = absent); its value as a number is the label's (`label_num`, NaN when not numeric), the
/// same for a JSON number and a string spelling it.
#[derive(Clone)]
pub struct PropColumn {
    pub text: Codes,
    pub labels: Arc<Interner>,
    pub label_num: Vec<f64>,
}

impl PropColumn {
    /// The row's value as a number (NaN when absent or not numeric).
    pub fn num(&self, row: usize) -> f64 {
        self.label_num[self.text.get(row) as usize]
    }
}

pub use super::col::Codes;

/// A label's value as a number: a string's trimmed text parsed, NaN unless finite.
pub fn label_num(label: &str) -> f64 {
    label.trim().parse::<f64>().ok().filter(|f| f.is_finite()).unwrap_or(f64::NAN)
}

/// A user trait per person code.
pub struct TraitColumn {
    pub text: HashMap<u32, u32>,
    pub num: HashMap<u32, f64>,
    pub labels: Interner,
}

pub struct Project {
    pub seq: super::cold::Seqs,
    pub ts: Col<i64>,
    pub event: Codes,
    pub distinct: Col<u32>,
    pub hot: Vec<Codes>,
    /// Raw JSON of each row's properties.
    pub props: super::cold::Props,
    pub strings: Interner,
    /// Distinct ids (anonymous and user ids), and the person each resolves to.
    pub ids: Interner,
    pub person_of: Vec<u32>,
    /// Ids that are users (they sent an event as user_id); never linked to another user.
    pub users: std::collections::HashSet<u32>,
    /// Traits per user id code, raw JSON.
    pub traits: HashMap<u32, String>,
    pub prop_cache: Mutex<HashMap<String, Arc<PropColumn>>>,
    pub trait_cache: Mutex<HashMap<String, Arc<TraitColumn>>>,
    /// Bumped whenever rows are rewritten (erasure, retention), so what is derived from rows
    /// (`visits`) knows to derive it all again; appends are seen by the row count.
    pub revision: u64,
    /// The persons a link changed (their codes before and after), in the order links arrived:
    /// what is derived per person re-derives those.
    pub moved_persons: Vec<u32>,
    /// The visits of every person, derived on first use (see `visits`).
    pub visits: Mutex<Option<Arc<super::visits::Visits>>>,
    /// The segment pieces holding the first rows (see `segment`).
    pub pieces: Vec<super::segment::PieceMeta>,
    /// The property columns saved beside the pieces (see `prop_file`).
    pub prop_files: Vec<super::prop_file::PropFile>,
    /// The visits saved beside the pieces (see `visit_file`).
    pub visit_file: Option<super::visit_file::Saved>,
}

impl Default for Project {
    fn default() -> Self {
        Project {
            seq: super::cold::Seqs::new(),
            ts: Col::new(),
            event: Codes::default(),
            distinct: Col::new(),
            hot: (0..HOT_COLUMNS.len()).map(|_| Codes::default()).collect(),
            props: super::cold::Props::new(),
            strings: Interner::new(),
            ids: Interner::new(),
            person_of: vec![0],
            users: std::collections::HashSet::new(),
            traits: HashMap::new(),
            prop_cache: Mutex::new(HashMap::new()),
            trait_cache: Mutex::new(HashMap::new()),
            revision: 0,
            moved_persons: Vec::new(),
            visits: Mutex::new(None),
            pieces: Vec::new(),
            prop_files: Vec::new(),
            visit_file: None,
        }
    }
}

impl Project {
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn id_code(&mut self, id: &str) -> u32 {
        let code = self.ids.intern(id);
        if code as usize >= self.person_of.len() {
            self.person_of.push(code);
        }
        code
    }

    /// Apply one row of `identity_links`: `anonymous == user` marks a user (an id that sent an
    /// event as user_id), otherwise it links an anonymous id to a user. The rule PostgreSQL
    /// keeps when it stores them: the first link of an anonymous id wins, and a user is never
    /// linked to another user, whichever arrived first. A link read before its anonymous id
    /// became a user is undone when the user's row (or a link to it as a user) is read, so the
    /// persons never depend on the order in which the rows are read.
    pub fn link(&mut self, anonymous: &str, user: &str) {
        let a = self.id_code(anonymous);
        let u = self.id_code(user);
        self.moved_persons
            .extend([self.person_of[a as usize], self.person_of[u as usize], a, u]);
        // The user side of a link is a user: its $identify / $alias event was sent as user_id.
        self.users.insert(u);
        self.person_of[u as usize] = u;
        if a != u && self.person_of[a as usize] == a && !self.users.contains(&a) {
            self.person_of[a as usize] = u;
        }
    }

    /// Bytes per row of the code columns: `event`, then the hot columns.
    pub fn code_widths(&self) -> Vec<usize> {
        std::iter::once(&self.event).chain(&self.hot).map(Codes::width).collect()
    }

    /// One row's properties JSON (decompresses the frame holding it: for tests and single rows).
    pub fn row_props(&self, row: usize) -> Vec<u8> {
        let mut out = Vec::new();
        self.props.for_each(row..row + 1, |_, json| out.extend_from_slice(json));
        out
    }

    /// The column of one top-level property, extracted once, cached, and extended as rows arrive.
    pub fn prop_column(&self, name: &str) -> Arc<PropColumn> {
        self.extracted(name, None)
    }

    /// The property a hot column falls back to (filters and groups read it where the column is
    /// empty): extracted only for those rows, the others absent.
    pub fn hot_fallback(&self, column: usize) -> Arc<PropColumn> {
        self.extracted(HOT_COLUMNS[column], Some(column))
    }

    /// Blocks of rows are extracted on every core, each with labels of its own, then joined in
    /// order (so labels are numbered as one pass in row order would number them).
    fn extracted(&self, name: &str, hot: Option<usize>) -> Arc<PropColumn> {
        use rayon::prelude::*;
        const BLOCK: usize = 1 << 16;
        // A fallback is cached apart from the whole property (a name no property can have).
        let cache_key = match hot {
            Some(_) => format!("\0hot\0{name}"),
            None => name.to_string(),
        };
        let cached = self.prop_cache.lock().unwrap().get(&cache_key).cloned();
        let mut column = match cached {
            Some(col) if col.text.len() == self.len() => return col,
            Some(col) => (*col).clone(),
            None => PropColumn {
                text: Codes::default(),
                labels: Arc::new(Interner::new()),
                label_num: vec![f64::NAN],
            },
        };
        let key = Key::new(name);
        let hot = hot.map(|i| &self.hot[i]);
        let start = column.text.len();
        let blocks: Vec<(Vec<u32>, Interner)> = self
            .props
            .stretches(start, BLOCK)
            .into_par_iter()
            .map(|rows| {
                let mut local = Interner::new();
                let mut codes = Vec::with_capacity(rows.len());
                self.props.for_each(rows, |row, json| {
                    let skip = hot.is_some_and(|h| h.get(row) != 0);
                    codes.push(if skip { 0 } else { key.text(json).map_or(0, |t| local.intern(&t)) });
                });
                (codes, local)
            })
            .collect();
        let mut labels = (*column.labels).clone();
        let mut blocks: Vec<Vec<u32>> = blocks
            .into_iter()
            .map(|(mut codes, local)| {
                let global: Vec<u32> = (0..local.len() as u32)
                    .map(|c| if c == 0 { 0 } else { labels.intern(local.resolve(c)) })
                    .collect();
                codes.iter_mut().for_each(|c| *c = global[*c as usize]);
                codes
            })
            .collect();
        for codes in blocks.drain(..) {
            column.text.extend(&codes, labels.len());
        }
        for code in column.label_num.len()..labels.len() {
            column.label_num.push(label_num(labels.resolve(code as u32)));
        }
        column.labels = Arc::new(labels);
        let column = Arc::new(column);
        self.prop_cache.lock().unwrap().insert(cache_key, column.clone());
        column
    }

    /// One trait of every person with traits, extracted once per trait set.
    pub fn trait_column(&self, name: &str) -> Arc<TraitColumn> {
        if let Some(col) = self.trait_cache.lock().unwrap().get(name) {
            return col.clone();
        }
        let mut column = TraitColumn {
            text: HashMap::new(),
            num: HashMap::new(),
            labels: Interner::new(),
        };
        for (&user, json) in &self.traits {
            let (text, num) = extract(json.as_bytes(), name);
            if let Some(t) = text {
                let code = column.labels.intern(&t);
                column.text.insert(user, code);
            }
            if !num.is_nan() {
                column.num.insert(user, num);
            }
        }
        let column = Arc::new(column);
        self.trait_cache
            .lock()
            .unwrap()
            .insert(name.to_string(), column.clone());
        column
    }
}

/// A top-level key looked up in many JSON objects: the quoted spelling to look for first (a key
/// JSON spells without escapes must appear quoted in the text; most rows lack most keys, so
/// finding it missing saves parsing them).
pub struct Key<'n> {
    name: &'n str,
    quoted: Option<memchr::memmem::Finder<'static>>,
}

impl<'n> Key<'n> {
    pub fn new(name: &'n str) -> Self {
        let plain = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' ' | b'$'));
        let quoted = plain.then(|| memchr::memmem::Finder::new(format!("\"{name}\"").as_bytes()).into_owned());
        Key { name, quoted }
    }

    /// The key's value as text: strings as-is, numbers and booleans in JSON spelling, objects
    /// and arrays as JSON; None when absent or null. Only the top level is tokenised into
    /// borrowed slices.
    pub fn text(&self, json: &[u8]) -> Option<String> {
        use crate::json::{as_str, RawObject};
        if self.quoted.as_ref().is_some_and(|f| f.find(json).is_none()) {
            return None;
        }
        let object = serde_json::from_slice::<RawObject>(json).ok()?;
        let raw = object.get(self.name)?;
        let text = raw.get().trim();
        match text.as_bytes().first() {
            None | Some(b'n') => None,
            Some(b'"') => Some(as_str(raw).map(|c| c.into_owned()).unwrap_or_default()),
            Some(_) => Some(text.to_string()),
        }
    }
}

/// The value of top-level key `name` of a JSON object: as text (see `Key::text`) and as a number
/// (NaN when not numeric: a string's trimmed text or a JSON number, finite).
pub fn extract(json: &[u8], name: &str) -> (Option<String>, f64) {
    let text = Key::new(name).text(json);
    let num = text.as_deref().map_or(f64::NAN, label_num);
    (text, num)
}

#[derive(Default)]
pub struct Tails {
    pub events: super::tail::Tail,
    pub links: super::tail::Tail,
    pub traits: super::tail::Tail,
}

pub struct Store {
    pub projects: HashMap<String, Project>,
    pub tails: Tails,
    /// Where the store was last sealed to disk.
    pub segments: Option<super::segment::Segments>,
    /// Projects with fewer sealed rows are read into memory rather than mapped.
    pub map_min_rows: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            projects: HashMap::new(),
            tails: Tails::default(),
            segments: None,
            map_min_rows: super::segment::MAP_MIN_ROWS,
        }
    }
}

impl Project {
    /// (bytes of the row columns in the process's memory, bytes of them mapped from segments).
    pub fn column_bytes(&self) -> (usize, usize) {
        let owned = self.seq.owned_bytes()
            + self.ts.owned_bytes()
            + self.event.owned_bytes()
            + self.distinct.owned_bytes()
            + self.hot.iter().map(|h| h.owned_bytes()).sum::<usize>()
            + self.props.owned_bytes()
            + self.person_of.capacity() * 4;
        let mapped = self.seq.mapped_bytes()
            + self.ts.mapped_bytes()
            + self.event.mapped_bytes()
            + self.distinct.mapped_bytes()
            + self.hot.iter().map(|h| h.mapped_bytes()).sum::<usize>()
            + self.props.mapped_bytes();
        (owned, mapped)
    }
}

impl Store {
    /// Approximate bytes the columns hold in memory (not the interners), and bytes mapped from
    /// segment files.
    pub fn memory_bytes(&self) -> (usize, usize) {
        self.projects.values().map(Project::column_bytes).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_read_back_unindexed_then_reindexed_are_found_as_interned() {
        let mut held = Interner::new();
        for n in 0..3000 {
            held.intern(&format!("s-{n}"));
        }
        held.forget(7);
        let mut back = Interner::new();
        for code in 1..held.len() as u32 {
            back.push_unindexed(held.resolve(code));
        }
        back.reindex();
        for n in 0..3000 {
            let text = format!("s-{n}");
            assert_eq!(back.get(&text), held.get(&text), "{text}");
        }
        assert_eq!(back.get("s-6"), None);
        assert_eq!(back.get(""), Some(7));
        assert_eq!(back.intern("s-100"), 101);
        assert_eq!(back.intern("new"), 3001);
        assert_eq!(back.get("new"), Some(3001));
    }

    #[test]
    fn interned_strings_are_found_resolved_and_forgotten() {
        let mut i = Interner::new();
        let words: Vec<String> = (0..5000).map(|n| format!("id-{n}")).collect();
        for w in &words {
            i.intern(w);
        }
        assert_eq!(i.intern("id-42"), 43);
        assert_eq!(i.get(""), None);
        assert_eq!(i.intern(""), 5001);
        assert_eq!(i.get(""), Some(5001));
        assert_eq!(i.resolve(4999 + 1), "id-4999");
        i.forget(43);
        assert_eq!(i.resolve(43), "");
        assert_eq!(i.get("id-42"), None);
        i.forget(5000);
        assert!(!i.mentions("id-4999") && i.mentions("id-4998"));
        // Probing goes on past a forgotten slot; the string comes back with a new code.
        assert!(words
            .iter()
            .enumerate()
            .all(|(n, w)| n == 42 || n == 4999 || i.get(w) == Some(n as u32 + 1)));
        assert_eq!(i.intern("id-42"), 5002);
        let mut loaded = Interner::new();
        loaded.push_loaded("a");
        loaded.push_loaded("a");
        assert_eq!((loaded.get("a"), loaded.len()), (Some(1), 3));
    }

    #[test]
    fn codes_widen_as_labels_grow_and_keep_every_value() {
        let mut codes = Codes::default();
        codes.extend(&[0, 3, 255], 256);
        assert!(matches!(codes, Codes::U8(_)));
        codes.extend(&[256, 1], 257);
        assert!(matches!(codes, Codes::U16(_)));
        codes.extend(&[70_000], 70_001);
        assert!(matches!(codes, Codes::U32(_)));
        let read: Vec<u32> = (0..codes.len()).map(|r| codes.get(r)).collect();
        assert_eq!(read, vec![0, 3, 255, 256, 1, 70_000]);
        let mut wide = Codes::from(vec![7u8]);
        wide.extend(&[100_000], 100_001);
        assert_eq!((wide.get(0), wide.get(1)), (7, 100_000));
    }

    #[test]
    fn a_property_column_reads_the_same_at_any_width() {
        let mut store = crate::engine::exec::testing::Rows::new();
        for i in 0..300 {
            store = store.event("e", 1_767_571_200 + i, "x", serde_json::json!({"v": i, "few": i % 3}));
        }
        let store = store.store();
        let p = &store.projects["p"];
        let many = p.prop_column("v");
        assert!(matches!(many.text, Codes::U16(_)));
        assert_eq!(many.labels.resolve(many.text.get(299)), "299");
        assert_eq!(many.num(42), 42.0);
        let few = p.prop_column("few");
        assert!(matches!(few.text, Codes::U8(_)));
        assert_eq!(few.num(5), 2.0);
    }
}
