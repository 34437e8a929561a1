//! Segments: the engine's columns on disk, so a restart maps them instead of reading every row
//! from PostgreSQL again. PostgreSQL stays the system of record; a segment is derived from it,
//! checksummed, and thrown away (the rows read again) when missing, corrupt or out of date.
//!
//! A directory holds piece files and one manifest. A piece holds a project's rows
//! `[first_row, first_row + rows)`: each column scans read as a plain little-endian array
//! starting on a page (so pieces map one after another into one column, see `col`; the event
//! and hot columns' codes at the width the piece's `widths` say; an array of zeros, such as a
//! hot column nothing in the piece sets, is not written and maps as zeros), the cold columns
//! (seqs and the properties' JSON) in compressed frames with their index (see `cold`), and the
//! strings and ids the project interned since the piece before. Every piece but a project's last
//! holds a multiple of `ALIGN` rows, so its arrays fill whole pages; a seal rewrites a short last
//! piece together with the rows that arrived since, and every piece once a code column widened.
//!
//! The manifest names every piece with its layout and checksum, each project's person map,
//! users and traits, and where the tails stood: it is written last, to a temporary file that is
//! synced and renamed, so a crash at any moment leaves either the old manifest or the new one,
//! and a piece no manifest names is never read. Forgetting rows (erasure, retention) removes the
//! manifest before anything else, so segments holding forgotten rows are never read again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::col::{as_bytes, Codes, Col, Mapping, Piece, Pod, PAGE};
use super::prop_file::{self, PropFile};
use super::visit_file::{self, VisitFile};
use super::cold::{Props, Seqs};
use super::table::{Interner, Project, Store, HOT_COLUMNS};
use super::tail::Tail;

/// Rows per page of the narrowest column (codes of a byte): a piece of a multiple of this many
/// rows fills whole pages in every column.
pub const ALIGN: usize = 4096;
/// Projects smaller than this are read into memory rather than mapped (by default: see
/// `Store::map_min_rows`).
pub const MAP_MIN_ROWS: usize = 16 * 1024;
const MANIFEST: &str = "manifest";
/// A saved property column is written again once this many rows (or an eighth of its rows) were
/// extracted past its file.
const SAVE_ROWS: usize = 64 * 1024;
/// Visits brought up to date in memory are saved (and mapped) again at most this often: each
/// save writes them whole.
const VISITS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
const MAGIC: &[u8; 8] = b"RXMAN001";
/// Where the cold columns (seqs, then properties: each an index and its frames) are in a piece's
/// layout: after `ts`, `event`, `distinct` and the hot columns; the strings and ids follow them.
const COLD: usize = 3 + HOT_COLUMNS.len();
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PieceMeta {
    pub file: String,
    pub first_row: usize,
    pub rows: usize,
    pub strings_from: u32,
    pub strings_to: u32,
    pub ids_from: u32,
    pub ids_to: u32,
    /// (offset, bytes) of each array: `ts`, `event`, `distinct`, the hot columns, the cold
    /// columns (see `COLD`), the strings and the ids.
    pub layout: Vec<(u64, usize)>,
    /// Bytes per row of the code columns (`event`, then the hot columns).
    pub widths: Vec<usize>,
    pub file_bytes: u64,
    pub crc: u32,
}

#[derive(Serialize, Deserialize, Default)]
struct TailPos {
    max: i64,
    missing: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
struct ProjectState {
    pieces: Vec<PieceMeta>,
    /// Property columns extracted from the pieces' rows (older manifests have none).
    #[serde(default)]
    props: Vec<PropFile>,
    /// The visits derived from the first rows, and the persons links moved after that.
    #[serde(default)]
    visits: Option<VisitFile>,
    #[serde(default)]
    visits_moved: Vec<u32>,
    person_of: Vec<u32>,
    users: Vec<u32>,
    traits: Vec<(u32, String)>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    version: u32,
    hot_columns: Vec<String>,
    generation: u64,
    /// What the caller says the segments are current up to (the last erasure recorded).
    mark: i64,
    tails: [TailPos; 3],
    projects: BTreeMap<String, ProjectState>,
}

/// What a seal wrote.
#[derive(Debug, Default, PartialEq)]
pub struct Sealed {
    pub pieces: usize,
    pub rows: usize,
    pub bytes: u64,
}

/// Segments in a directory: where the store was sealed last.
#[derive(Debug, Clone)]
pub struct Segments {
    pub dir: PathBuf,
    pub generation: u64,
    pub mark: i64,
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn pad_to_page(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

/// Writes a piece file (or another file of arrays, see `visit_file`), page-aligning each array,
/// checksumming everything.
pub(super) struct PieceWriter {
    out: BufWriter<File>,
    at: u64,
    crc: crc32fast::Hasher,
    layout: Vec<(u64, usize)>,
}

impl PieceWriter {
    pub(super) fn create(path: &Path, magic: &[u8; 8]) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
        let mut w = PieceWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            at: 0,
            crc: crc32fast::Hasher::new(),
            layout: Vec::new(),
        };
        w.raw(magic)?;
        w.pad(0)?;
        Ok(w)
    }
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.crc.update(bytes);
        self.at += bytes.len() as u64;
        Ok(())
    }
    /// Pad to the next page with `fill`.
    fn pad(&mut self, fill: u8) -> io::Result<()> {
        let to = pad_to_page(self.at as usize) as u64;
        let padding = vec![fill; (to - self.at) as usize];
        self.raw(&padding)
    }
    /// A column's array from the next page, zero-padded. An array of nothing but zeros is not
    /// written: its layout says offset 0 (where the header is, never an array) and the pages it
    /// would take, and it maps as zeros (see `col::Piece`).
    pub(super) fn column(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !bytes.is_empty() && bytes.iter().all(|&b| b == 0) {
            self.layout.push((0, pad_to_page(bytes.len())));
            return Ok(());
        }
        self.array(bytes, 0)
    }
    fn array(&mut self, bytes: &[u8], fill: u8) -> io::Result<()> {
        let start = self.at;
        self.raw(bytes)?;
        self.pad(fill)?;
        self.layout.push((start, (self.at - start) as usize));
        Ok(())
    }
    fn strings(&mut self, interner: &Interner, from: u32, to: u32) -> io::Result<()> {
        let mut blob = Vec::new();
        blob.extend_from_slice(&(to - from).to_le_bytes());
        for code in from..to {
            blob.extend_from_slice(&(interner.resolve(code).len() as u32).to_le_bytes());
        }
        for code in from..to {
            blob.extend_from_slice(interner.resolve(code).as_bytes());
        }
        self.array(&blob, 0)
    }
    pub(super) fn finish(mut self) -> io::Result<(Vec<(u64, usize)>, u64, u32)> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok((self.layout, self.at, self.crc.finalize()))
    }
}

/// The CRC-32 of a file of `bytes` bytes, read through a read-only mapping (its pages are the
/// page cache's, which the columns map next) in stretches summed on every core.
pub(super) fn checksum(path: &Path, bytes: u64) -> io::Result<u32> {
    use rayon::prelude::*;
    const STRETCH: usize = 16 << 20;
    let file = File::open(path)?;
    if file.metadata()?.len() != bytes {
        return Err(bad(format!("{} has the wrong size", path.display())));
    }
    let mapping = Mapping::new(&file, 0, bytes as usize, true)?;
    let parts: Vec<crc32fast::Hasher> = mapping
        .bytes()
        .par_chunks(STRETCH)
        .map(|stretch| {
            let mut crc = crc32fast::Hasher::new();
            crc.update(stretch);
            crc
        })
        .collect();
    let mut crc = crc32fast::Hasher::new();
    for part in &parts {
        crc.combine(part);
    }
    Ok(crc.finalize())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

impl Project {
    /// Rows held by the project's pieces.
    pub fn sealed_rows(&self) -> usize {
        self.pieces.last().map_or(0, |p| p.first_row + p.rows)
    }

    /// Write the rows (and strings and ids) not yet in a piece to new pieces, rewriting a short
    /// last piece with them (every piece, when a code column widened since they were written): a
    /// piece of whole `ALIGN`s of rows, then one of the rest.
    fn write_pieces(&mut self, dir: &Path, name: &str) -> io::Result<Vec<PieceMeta>> {
        let widths = self.code_widths();
        if self.pieces.iter().any(|p| p.widths != widths) {
            // A code column widened since: its pieces hold the narrower codes, so every piece
            // is written again.
            self.pieces.clear();
        }
        let short_last = self.pieces.last().is_some_and(|p| p.rows % ALIGN != 0 || p.rows == 0);
        let (first_row, strings_from, ids_from) = match self.pieces.last() {
            Some(last) if short_last => (last.first_row, last.strings_from, last.ids_from),
            Some(last) => (last.first_row + last.rows, last.strings_to, last.ids_to),
            None => (0, 1, 1),
        };
        let (strings_to, ids_to) = (self.strings.len() as u32, self.ids.len() as u32);
        let len = self.len();
        let unchanged = match self.pieces.last() {
            Some(last) => last.first_row + last.rows == len && last.strings_to == strings_to && last.ids_to == ids_to,
            None => len == 0 && strings_to == 1 && ids_to == 1,
        };
        if unchanged {
            return Ok(Vec::new());
        }
        let whole = (len - first_row) / ALIGN * ALIGN;
        let mut splits = Vec::new();
        if whole > 0 {
            splits.push(first_row..first_row + whole);
        }
        if first_row + whole < len || splits.is_empty() {
            splits.push(first_row + whole..len);
        }
        let mut written = Vec::new();
        let mut strings = (strings_from, ids_from);
        for (k, rows) in splits.into_iter().enumerate() {
            let file = format!("{name}-{k}.seg");
            let mut w = PieceWriter::create(&dir.join(&file), b"RXSEG001")?;
            w.column(as_bytes(&self.ts[rows.clone()]))?;
            w.column(self.event.range_bytes(rows.clone()))?;
            w.column(as_bytes(&self.distinct[rows.clone()]))?;
            for hot in &self.hot {
                w.column(hot.range_bytes(rows.clone()))?;
            }
            for (frames, index) in [self.seq.encode(rows.clone()), self.props.encode(rows.clone())] {
                w.array(as_bytes(&index), 0)?;
                w.array(&frames, 0)?;
            }
            w.strings(&self.strings, strings.0, strings_to)?;
            w.strings(&self.ids, strings.1, ids_to)?;
            let (layout, file_bytes, crc) = w.finish()?;
            written.push(PieceMeta {
                file,
                first_row: rows.start,
                rows: rows.len(),
                strings_from: strings.0,
                strings_to,
                ids_from: strings.1,
                ids_to,
                layout,
                widths: widths.clone(),
                file_bytes,
                crc,
            });
            strings = (strings_to, ids_to);
        }
        if short_last {
            self.pieces.pop();
        }
        self.pieces.extend(written.iter().cloned());
        Ok(written)
    }

    /// Save the property columns queries extracted (`prop_file`) whose file is missing or has
    /// fallen behind by an eighth of its rows (and at least `SAVE_ROWS`): the rows past a file are
    /// extracted again after a restart, so that bounds the work, while a column is not written
    /// again at every seal.
    fn save_prop_columns(&mut self, dir: &Path, name: &str) -> io::Result<()> {
        let mut cached: Vec<(String, Arc<super::table::PropColumn>)> =
            self.prop_cache.lock().unwrap().iter().map(|(k, c)| (k.clone(), c.clone())).collect();
        cached.sort_by(|a, b| a.0.cmp(&b.0));
        for (n, (key, column)) in cached.into_iter().enumerate() {
            if !self.prop_save_due(&key, &column) {
                continue;
            }
            let saved = self.prop_files.iter().position(|f| f.key == key);
            // The seal's generation is in `name`: no file the manifest in use names is overwritten.
            let file = format!("{name}-p{n}.prop");
            let meta = prop_file::write(dir, &file, &key, &column)?;
            match saved {
                Some(i) => self.prop_files[i] = meta,
                None => self.prop_files.push(meta),
            }
        }
        Ok(())
    }

    /// Whether the cached column `key` is to be saved by the next seal.
    fn prop_save_due(&self, key: &str, column: &super::table::PropColumn) -> bool {
        let rows = column.text.len();
        let due = match self.prop_files.iter().find(|f| f.key == key) {
            None => rows > 0,
            Some(saved) => rows >= saved.rows + SAVE_ROWS.max(saved.rows / 8),
        };
        due && rows <= self.len()
    }

    /// Save the visits when they were derived or brought up to date (by a web query) in memory,
    /// at most every `VISITS_EVERY`; then map them from the file, so they leave the process's
    /// memory.
    fn save_visits(&mut self, dir: &Path, name: &str) -> io::Result<()> {
        let Some(visits) = self.visits_save_due() else {
            return Ok(());
        };
        let (meta, mapped) = visit_file::write(dir, &format!("{name}-visits.vis"), &visits)?;
        *self.visits.lock().unwrap() = Some(Arc::new(mapped));
        self.visit_file = Some(visit_file::Saved { meta, seen: visits.moved, at: Instant::now() });
        Ok(())
    }

    /// The visits the next seal is to save (see `save_visits`).
    fn visits_save_due(&self) -> Option<Arc<super::visits::Visits>> {
        let visits = self.visits.lock().unwrap().clone()?;
        let in_memory = visits.order.mapped_bytes() == 0;
        let due = match &self.visit_file {
            _ if !in_memory || visits.revision != self.revision || visits.len > self.sealed_rows() => false,
            None => visits.count() > 0,
            Some(saved) => saved.at.elapsed() >= VISITS_EVERY,
        };
        due.then_some(visits)
    }

    /// The saved visits, when their file is whole, in place of deriving them: the persons moved
    /// after them are moved again, so the next web query derives those persons' visits again.
    fn load_visits(&mut self, dir: &Path, meta: Option<VisitFile>, moved: Vec<u32>) {
        let Some(meta) = meta.filter(|m| m.rows <= self.sealed_rows()) else {
            return;
        };
        if let Ok(visits) = visit_file::read(dir, &meta, self.revision) {
            self.moved_persons = moved;
            *self.visits.lock().unwrap() = Some(Arc::new(visits));
            self.visit_file = Some(visit_file::Saved { meta, seen: 0, at: Instant::now() });
        }
    }

    /// The saved property columns of `props` whose files are whole, into the column cache (the
    /// rows past each are extracted when it is next asked for); the others are dropped.
    fn load_prop_columns(&mut self, dir: &Path, props: Vec<PropFile>) {
        let mut cache = self.prop_cache.lock().unwrap();
        for meta in props {
            if meta.rows > self.sealed_rows() {
                continue;
            }
            if let Ok(column) = prop_file::read(dir, &meta) {
                cache.insert(meta.key.clone(), Arc::new(column));
                self.prop_files.push(meta);
            }
        }
    }

    /// Read the columns from the pieces (mapped, or copied when the project is small).
    fn map_columns(&mut self, dir: &Path, map_min_rows: usize) -> io::Result<()> {
        let files: Vec<Arc<File>> = self
            .pieces
            .iter()
            .map(|p| File::open(dir.join(&p.file)).map(Arc::new))
            .collect::<io::Result<_>>()?;
        let rows = self.sealed_rows();
        let map = rows >= map_min_rows;
        let column = |index: usize| -> Vec<Piece> {
            self.pieces
                .iter()
                .zip(&files)
                .map(|(p, f)| {
                    let (offset, bytes) = p.layout[index];
                    Piece { file: (offset != 0).then(|| f.clone()), offset, bytes }
                })
                .collect()
        };
        fn build<T: Pod>(pieces: Vec<Piece>, len: usize, map: bool) -> io::Result<Col<T>> {
            let col = Col::mapped(pieces, len, &[])?;
            Ok(if map { col } else { col.to_vec().into() })
        }
        fn build_codes(width: usize, pieces: Vec<Piece>, len: usize, map: bool) -> io::Result<Codes> {
            let col = Codes::mapped(width, pieces, len)?;
            Ok(if map { col } else { col.to_owned() })
        }
        // Every piece has the same widths (checked when opened, see `Store::open_projects`).
        let widths = self.pieces.first().map_or_else(|| self.code_widths(), |p| p.widths.clone());
        self.ts = build(column(0), rows, map)?;
        self.event = build_codes(widths[0], column(1), rows, map)?;
        self.distinct = build(column(2), rows, map)?;
        for i in 0..HOT_COLUMNS.len() {
            self.hot[i] = build_codes(widths[1 + i], column(3 + i), rows, map)?;
        }
        // The cold columns' frames, each after its index.
        let frames = |index: usize| {
            self.pieces
                .iter()
                .zip(&files)
                .map(|(p, f)| Ok((f.clone(), p.layout[index + 1], read_frame_index(f, p.layout[index], p.rows)?)))
                .collect::<io::Result<Vec<_>>>()
        };
        let seqs = Seqs::mapped(&frames(COLD)?)?;
        let props = Props::mapped(&frames(COLD + 2)?)?;
        self.seq = seqs;
        self.props = props;
        Ok(())
    }
}

/// A piece's index of a cold column's frames: `(rows, bytes)` pairs up to its `rows` rows.
fn read_frame_index(file: &File, (offset, bytes): (u64, usize), rows: usize) -> io::Result<Vec<u32>> {
    use std::os::unix::fs::FileExt;
    let mut raw = vec![0u8; bytes];
    file.read_exact_at(&mut raw, offset)?;
    let mut index = Vec::new();
    let mut covered = 0;
    for pair in raw.chunks_exact(8) {
        if covered == rows {
            break;
        }
        let n = u32::from_le_bytes(pair[..4].try_into().unwrap());
        index.extend([n, u32::from_le_bytes(pair[4..].try_into().unwrap())]);
        covered += n as usize;
    }
    if covered != rows {
        return Err(bad("a cold column's index that does not cover its piece"));
    }
    Ok(index)
}

/// The strings of a piece's blob (count, lengths, bytes).
fn read_strings(file: &File, (offset, bytes): (u64, usize), into: &mut Interner) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut blob = vec![0u8; bytes];
    file.read_exact_at(&mut blob, offset)?;
    let word = |at: usize| -> io::Result<usize> {
        blob.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
            .ok_or_else(|| bad("strings truncated"))
    };
    let count = word(0)?;
    let mut at = 4 + 4 * count;
    for i in 0..count {
        let len = word(4 + 4 * i)?;
        let text = blob.get(at..at + len).ok_or_else(|| bad("strings truncated"))?;
        into.push_unindexed(std::str::from_utf8(text).map_err(|_| bad("strings not UTF-8"))?);
        at += len;
    }
    Ok(())
}

impl Store {
    /// Write every project's rows not yet in a piece, then a new manifest; map the columns onto
    /// the pieces (their rows leave the process's memory). `mark` is kept for the caller.
    pub fn seal(&mut self, dir: &Path, mark: i64) -> io::Result<Sealed> {
        fs::create_dir_all(dir)?;
        let generation = self.segments.as_ref().map_or(0, |s| s.generation) + 1;
        let mut sealed = Sealed::default();
        let mut states = BTreeMap::new();
        let mut remap = Vec::new();
        let mut ids: Vec<&String> = self.projects.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for project_id in &ids {
            let project = self.projects.get_mut(project_id).expect("listed");
            let written = project.write_pieces(dir, &format!("{}-{generation}", hex(project_id)))?;
            for meta in &written {
                sealed.pieces += 1;
                sealed.rows += meta.rows;
                sealed.bytes += meta.file_bytes;
            }
            if !written.is_empty() {
                remap.push(project_id.clone());
            }
            if project.len() >= self.map_min_rows {
                project.save_prop_columns(dir, &format!("{}-{generation}", hex(project_id)))?;
                project.save_visits(dir, &format!("{}-{generation}", hex(project_id)))?;
            }
            let (visits, visits_moved) = match &project.visit_file {
                Some(saved) => (Some(saved.meta.clone()), project.moved_persons[saved.seen..].to_vec()),
                None => (None, Vec::new()),
            };
            states.insert(
                project_id.clone(),
                ProjectState {
                    pieces: project.pieces.clone(),
                    props: project.prop_files.clone(),
                    visits,
                    visits_moved,
                    person_of: project.person_of.clone(),
                    users: project.users.iter().copied().collect(),
                    traits: project.traits.iter().map(|(k, v)| (*k, v.clone())).collect(),
                },
            );
        }
        let now = Instant::now();
        let tails = [&mut self.tails.events, &mut self.tails.links, &mut self.tails.traits].map(|t| {
            let (max, missing) = t.position(now);
            TailPos { max, missing }
        });
        let manifest = Manifest {
            version: VERSION,
            hot_columns: HOT_COLUMNS.iter().map(|s| s.to_string()).collect(),
            generation,
            mark,
            tails,
            projects: states,
        };
        write_manifest(dir, &manifest)?;
        let remapped = !remap.is_empty();
        for project_id in remap {
            let project = self.projects.get_mut(&project_id).expect("listed");
            project.map_columns(dir, self.map_min_rows)?;
        }
        if remapped {
            // The columns just left the heap: give its free pages back to the system.
            super::release_free_memory();
        }
        self.segments = Some(Segments { dir: dir.to_path_buf(), generation, mark });
        remove_unnamed(dir, &manifest);
        Ok(sealed)
    }

    /// The store the segments in `dir` hold, or None when there are none. An error means they
    /// cannot be used (missing piece, checksum, another layout): the caller reads from scratch.
    pub fn open(dir: &Path, map_min_rows: usize) -> io::Result<Option<Store>> {
        let Some(manifest) = read_manifest(dir)? else {
            return Ok(None);
        };
        if manifest.version != VERSION || manifest.hot_columns != HOT_COLUMNS {
            return Err(bad("segments of another layout"));
        }
        let mut store = Store {
            map_min_rows,
            ..Store::default()
        };
        let now = Instant::now();
        let tails = [&mut store.tails.events, &mut store.tails.links, &mut store.tails.traits];
        for (tail, pos) in tails.into_iter().zip(manifest.tails.iter()) {
            *tail = Tail {
                max: pos.max,
                missing: pos.missing.iter().map(|&s| (s, now)).collect(),
            };
        }
        // Every piece's checksum on every core, while this thread reads the strings.
        let sums: Vec<(String, u64, u32)> = manifest
            .projects
            .values()
            .flat_map(|s| &s.pieces)
            .map(|p| (p.file.clone(), p.file_bytes, p.crc))
            .collect();
        store.segments = Some(Segments { dir: dir.to_path_buf(), generation: manifest.generation, mark: manifest.mark });
        let (summed, projects) = rayon::join(
            || {
                use rayon::prelude::*;
                sums.par_iter().try_for_each(|(file, bytes, crc)| {
                    if checksum(&dir.join(file), *bytes)? != *crc {
                        return Err(bad(format!("{file} fails its checksum")));
                    }
                    Ok(())
                })
            },
            || Store::open_projects(dir, manifest.projects, map_min_rows),
        );
        summed?;
        store.projects = projects?;
        Ok(Some(store))
    }

    /// Each project of the manifest: its strings and ids read back, its columns mapped.
    fn open_projects(
        dir: &Path,
        states: BTreeMap<String, ProjectState>,
        map_min_rows: usize,
    ) -> io::Result<HashMap<String, Project>> {
        let mut projects = HashMap::new();
        for (project_id, state) in states {
            let mut project = Project::default();
            let mut expected = (0usize, 1u32, 1u32);
            for piece in &state.pieces {
                let path = dir.join(&piece.file);
                if (piece.first_row, piece.strings_from, piece.ids_from) != expected
                    || piece.layout.len() != COLD + 6
                    || piece.widths != state.pieces[0].widths
                    || piece.widths.len() != 1 + HOT_COLUMNS.len()
                    || piece.widths.iter().any(|w| ![1, 2, 4].contains(w))
                    || piece.layout.iter().any(|&(o, b)| o % PAGE as u64 != 0 || o + b as u64 > piece.file_bytes)
                {
                    return Err(bad(format!("{} does not follow the piece before", piece.file)));
                }
                expected = (piece.first_row + piece.rows, piece.strings_to, piece.ids_to);
                let file = File::open(&path)?;
                read_strings(&file, piece.layout[COLD + 4], &mut project.strings)?;
                read_strings(&file, piece.layout[COLD + 5], &mut project.ids)?;
            }
            if project.strings.len() as u32 != expected.1
                || project.ids.len() as u32 != expected.2
                || state.person_of.len() != project.ids.len()
            {
                return Err(bad(format!("segments of {project_id} disagree with the manifest")));
            }
            project.strings.reindex();
            project.ids.reindex();
            project.pieces = state.pieces;
            project.load_prop_columns(dir, state.props);
            project.load_visits(dir, state.visits, state.visits_moved);
            project.person_of = state.person_of;
            project.users = state.users.into_iter().collect::<HashSet<u32>>();
            project.traits = state.traits.into_iter().collect::<HashMap<u32, String>>();
            project.map_columns(dir, map_min_rows)?;
            projects.insert(project_id, project);
        }
        Ok(projects)
    }

    /// Rows were forgotten: the segments hold them, so they must never be read again. The
    /// manifest goes first (durably); the project's pieces are written again by the next seal.
    pub fn segments_forget(&mut self, project_id: &str) -> io::Result<()> {
        if let Some(project) = self.projects.get_mut(project_id) {
            project.pieces.clear();
            project.prop_files.clear();
            project.visit_file = None;
        }
        if let Some(segments) = &self.segments {
            match fs::remove_file(segments.dir.join(MANIFEST)) {
                Ok(()) => sync_dir(&segments.dir)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Derived columns the next seal would save: property columns (see
    /// `Project::save_prop_columns`) and visits (`Project::save_visits`).
    pub fn unsaved_derived(&self) -> usize {
        self.projects
            .values()
            .filter(|p| p.len() >= self.map_min_rows)
            .map(|p| {
                let cache = p.prop_cache.lock().unwrap();
                let props = cache.iter().filter(|(key, column)| p.prop_save_due(key, column)).count();
                props + usize::from(p.visits_save_due().is_some())
            })
            .sum()
    }

    /// Rows held in memory and not yet in a piece.
    pub fn unsealed_rows(&self) -> usize {
        self.projects.values().map(|p| p.len() - p.sealed_rows().min(p.len())).sum()
    }
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> io::Result<()> {
    let json = serde_json::to_vec(manifest).map_err(|e| bad(e.to_string()))?;
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    {
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&tmp)?;
        file.write_all(MAGIC)?;
        file.write_all(&crc32fast::hash(&json).to_le_bytes())?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(MANIFEST))?;
    sync_dir(dir)
}

fn read_manifest(dir: &Path) -> io::Result<Option<Manifest>> {
    let bytes = match fs::read(dir.join(MANIFEST)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(bad("not a manifest"));
    }
    let crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if crc32fast::hash(&bytes[12..]) != crc {
        return Err(bad("the manifest fails its checksum"));
    }
    serde_json::from_slice(&bytes[12..]).map(Some).map_err(|e| bad(e.to_string()))
}

/// Remove piece and property files the manifest does not name (older generations, a seal cut short).
fn remove_unnamed(dir: &Path, manifest: &Manifest) {
    let named: HashSet<&str> = manifest
        .projects
        .values()
        .flat_map(|s| {
            let pieces = s.pieces.iter().map(|p| p.file.as_str());
            pieces.chain(s.props.iter().map(|p| p.file.as_str())).chain(s.visits.iter().map(|v| v.file.as_str()))
        })
        .collect();
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_segment_file(&name) && !named.contains(name.as_ref()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A piece, property column or visits file.
fn is_segment_file(name: &str) -> bool {
    [".seg", ".prop", ".vis"].iter().any(|ext| name.ends_with(ext))
}

/// Remove every segment file in `dir` (they cannot be used).
pub fn clear(dir: &Path) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_segment_file(&name) || name.starts_with(MANIFEST) {
            fs::remove_file(entry.path())?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::exec::testing::{answer, between, Rows, DAY, T0};
    use serde_json::json;

    /// A test's own directory, removed when the test ends (declared first, it is dropped last).
    struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl AsRef<Path> for TempDir {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tempdir(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("reactor-seg-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Rows of two projects with links, traits, hot columns, escaped and empty properties.
    fn rows(from: usize, to: usize) -> Rows {
        let mut r = Rows::new();
        for i in from..to {
            let who = format!("v{}", i % 700);
            let plan = ["free", "pro"][i % 2];
            let props = if i % 5 == 0 { json!({}) } else { json!({"plan": plan, "n": i, "s": "tab\there"}) };
            let path = format!("/p{}", i % 13);
            r = r.event_with(["view", "buy", "$pageview"][i % 3], T0 + i as i64 * 60, &who, &[("path", &path)], props);
            if i % 97 == 0 {
                r = r.link(&who, &format!("user{}", i % 31));
            }
            if i % 301 == 0 {
                r = r.traits(&format!("user{}", i % 31), json!({"tier": i % 3}));
            }
        }
        r.in_project("q").event("other", T0, "x", json!({"k": 1}))
    }

    fn resolved(p: &Project) -> Vec<String> {
        let seqs = p.seq.to_vec();
        let mut props = Vec::new();
        p.props.for_each(0..p.len(), |_, json| props.push(String::from_utf8_lossy(json).trim().to_string()));
        (0..p.len())
            .map(|r| {
                let hot: Vec<&str> = p.hot.iter().map(|h| p.strings.resolve(h.get(r))).collect();
                format!(
                    "{} {} {} {} {} {:?} {}",
                    seqs[r],
                    p.ts[r],
                    p.strings.resolve(p.event.get(r)),
                    p.ids.resolve(p.person_of[p.distinct[r] as usize]),
                    p.ids.resolve(p.distinct[r]),
                    hot,
                    props[r]
                )
            })
            .collect()
    }

    fn same(a: &Store, b: &Store) {
        assert_eq!(a.projects.len(), b.projects.len());
        for (id, p) in &a.projects {
            let q = &b.projects[id];
            assert_eq!(resolved(p), resolved(q), "{id}");
            assert_eq!(p.users, q.users);
            assert_eq!(p.traits, q.traits);
            let bodies = [
                json!({"kind": "aggregate", "time_range": between(T0, T0 + 30 * DAY), "measure": "unique_users", "group_by": [{"prop": "plan"}]}),
                json!({"kind": "breakdown", "time_range": between(T0, T0 + 30 * DAY), "prop": "path"}),
                json!({"kind": "web", "time_range": between(T0, T0 + 30 * DAY), "dimension": "page"}),
            ];
            for body in bodies {
                assert_eq!(answer(a, id, body.clone()), answer(b, id, body), "{id}");
            }
        }
        assert_eq!(a.tails.events.max, b.tails.events.max);
        assert_eq!(a.tails.links.max, b.tails.links.max);
    }

    #[test]
    fn sealed_stores_open_identical_across_appends_and_short_pieces() {
        let dir = tempdir("roundtrip");
        let mut store = rows(0, MAP_MIN_ROWS + 300).store();
        let sealed = store.seal(&dir, 7).unwrap();
        // "p": whole ALIGNs, then the rest; "q": one short piece.
        assert_eq!(sealed.pieces, 3);
        assert_eq!(store.projects["p"].seq.mapped_bytes() > 0, true);
        same(&store, &Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap());
        // More rows, links and a trait: the short last piece is written again with them.
        let mut opened = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        for s in [&mut store, &mut opened] {
            let r = rows(MAP_MIN_ROWS + 300, MAP_MIN_ROWS + 2 * ALIGN + 5).store();
            s.append_events(&copy_back(&r)).unwrap();
            s.append_links(b"999999\tp\tv3\tuser5\n").unwrap();
        }
        same(&store, &opened);
        store.seal(&dir, 8).unwrap();
        let pieces = &store.projects["p"].pieces;
        assert_eq!(pieces.len(), 3);
        assert!(pieces[..pieces.len() - 1].iter().all(|p| p.rows % ALIGN == 0 && p.rows > 0));
        let pieces = pieces.len() + store.projects["q"].pieces.len();
        let reopened = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        assert_eq!(reopened.segments.as_ref().unwrap().mark, 8);
        same(&store, &reopened);
        // The old generation's pieces are gone; the property columns and visits the queries
        // derived are saved beside them.
        let props = store.projects["p"].prop_files.len();
        assert!(props >= 2, "plan and the path fallback");
        let visits = usize::from(store.projects["p"].visit_file.is_some());
        let files = fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, pieces + props + visits + 1);
    }

    #[test]
    fn a_code_column_that_widens_is_written_again_at_its_new_width() {
        let dir = tempdir("widen");
        let mut store = rows(0, MAP_MIN_ROWS + 300).store();
        store.seal(&dir, 1).unwrap();
        assert_eq!(store.projects["p"].code_widths()[..3], [1, 1, 1]);
        let first = store.projects["p"].pieces[0].file.clone();
        // 70,000 new paths and event names: the event and path codes need four bytes.
        let mut more = Rows::new();
        for i in 0..70_000i64 {
            more = more.event_with(&format!("e{i}"), T0 + i, "w", &[("path", &format!("/new/{i}"))], json!({}));
        }
        let mut opened = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        for s in [&mut store, &mut opened] {
            s.append_events(&copy_back(&more.clone().store())).unwrap();
        }
        let path = crate::engine::table::hot_index("path").unwrap();
        assert_eq!((opened.projects["p"].event.width(), opened.projects["p"].hot[path].width()), (4, 4));
        same(&store, &opened);
        opened.seal(&dir, 2).unwrap();
        let p = &opened.projects["p"];
        assert!(p.pieces.iter().all(|piece| piece.widths == p.code_widths()));
        assert!(p.pieces[0].file != first, "every piece is written again");
        assert_eq!(p.sealed_rows(), p.len());
        same(&store, &Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap());
    }

    #[test]
    fn saved_visits_are_mapped_after_a_restart_and_brought_up_to_date() {
        let dir = tempdir("visits");
        let mut store = rows(0, MAP_MIN_ROWS + 300).store();
        let web = json!({"kind": "web", "time_range": between(T0, T0 + 30 * DAY), "dimension": "source"});
        assert_eq!(store.unsaved_derived(), 0);
        let before = answer(&store, "p", web.clone());
        assert!(store.unsaved_derived() >= 1, "the visits (and the duration column) are due");
        store.seal(&dir, 1).unwrap();
        assert_eq!(store.unsaved_derived(), 0);
        let saved = store.projects["p"].visit_file.clone().expect("saved").meta;
        assert_eq!(saved.rows, MAP_MIN_ROWS + 300);
        // Mapped in this process too, and its dimension keys kept.
        assert!(store.projects["p"].visits().order.mapped_bytes() > 0);
        assert_eq!(answer(&store, "p", web.clone()), before);

        let mut opened = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        let loaded = opened.projects["p"].visits.lock().unwrap().clone().expect("loaded at open");
        assert!(loaded.order.mapped_bytes() > 0 && loaded.order.owned_bytes() == 0);
        assert_eq!(answer(&opened, "p", web.clone()), before);
        same(&store, &opened);
        // Rows and a link after the file (the link moves a person whose visits it holds): the
        // next web query derives what changed, as an engine that never restarted does.
        for s in [&mut store, &mut opened] {
            let r = rows(MAP_MIN_ROWS + 300, MAP_MIN_ROWS + 900).store();
            s.append_events(&copy_back(&r)).unwrap();
            // v500 has no rows among the new ones: only the moved persons bring its visits up.
            s.append_links(b"999999\tp\tv500\tuser7\n").unwrap();
        }
        let fresh = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        assert!(fresh.projects["p"].visit_file.is_some());
        same(&store, &opened);
        // A link sealed after the visits were saved is moved again after the next restart.
        opened.seal(&dir, 2).unwrap();
        let again = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        same(&store, &again);
        // A damaged file is left out: the visits are derived again.
        let file = dir.join(&again.projects["p"].visit_file.as_ref().unwrap().meta.file);
        let mut bytes = fs::read(&file).unwrap();
        bytes[5000] ^= 1;
        fs::write(&file, bytes).unwrap();
        let damaged = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        assert!(damaged.projects["p"].visit_file.is_none());
        same(&store, &damaged);
    }

    #[test]
    fn saved_property_columns_are_used_after_a_restart_and_extended_with_new_rows() {
        let dir = tempdir("props");
        let mut store = rows(0, MAP_MIN_ROWS + 300).store();
        let plan = json!({"kind": "aggregate", "time_range": between(T0, T0 + 30 * DAY), "group_by": [{"prop": "plan"}]});
        assert_eq!(store.unsaved_derived(), 0);
        let before = answer(&store, "p", plan.clone());
        assert_eq!(store.unsaved_derived(), 1);
        store.seal(&dir, 1).unwrap();
        assert_eq!(store.unsaved_derived(), 0);
        let saved = store.projects["p"].prop_files.clone();
        assert_eq!(saved.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["plan"]);
        assert_eq!(saved[0].rows, MAP_MIN_ROWS + 300);

        let mut opened = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        let column = opened.projects["p"].prop_cache.lock().unwrap().get("plan").cloned().expect("loaded");
        assert_eq!(column.text.len(), MAP_MIN_ROWS + 300);
        assert_eq!(answer(&opened, "p", plan.clone()), before);
        // Rows past the file are extracted when the column is next asked for.
        for s in [&mut store, &mut opened] {
            let r = rows(MAP_MIN_ROWS + 300, MAP_MIN_ROWS + 900).store();
            s.append_events(&copy_back(&r)).unwrap();
        }
        assert_eq!(answer(&opened, "p", plan.clone()), answer(&store, "p", plan.clone()));
        // Too few new rows to write the column again; a file that fails its checksum is left out.
        opened.seal(&dir, 2).unwrap();
        assert_eq!(opened.projects["p"].prop_files, saved);
        let mut bytes = fs::read(dir.join(&saved[0].file)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        fs::write(dir.join(&saved[0].file), &bytes).unwrap();
        let damaged = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        assert!(damaged.projects["p"].prop_files.is_empty());
        assert!(damaged.projects["p"].prop_cache.lock().unwrap().is_empty());
        assert_eq!(answer(&damaged, "p", plan.clone()), answer(&store, "p", plan));
        // Forgetting rows forgets the saved columns with the pieces.
        opened.segments_forget("p").unwrap();
        assert!(opened.projects["p"].prop_files.is_empty());
    }

    /// Events of a store as the tail would read them again (to append the same rows elsewhere).
    fn copy_back(s: &Store) -> Vec<u8> {
        let mut out = String::new();
        let mut ids: Vec<&String> = s.projects.keys().collect();
        ids.sort();
        for id in ids {
            let p = &s.projects[id];
            let seqs = p.seq.to_vec();
            for r in 0..p.len() {
                out.push_str(&format!("{}\t{id}\t{}\t{}\t{}", seqs[r] + 100_000, p.strings.resolve(p.event.get(r)), p.ts[r], p.ids.resolve(p.distinct[r])));
                for h in &p.hot {
                    out.push('\t');
                    out.push_str(if h.get(r) == 0 { "\\N" } else { p.strings.resolve(h.get(r)) });
                }
                out.push('\t');
                out.push_str(&String::from_utf8_lossy(&p.row_props(r)).trim().replace('\\', "\\\\").replace('\t', "\\t"));
                out.push('\n');
            }
        }
        out.into_bytes()
    }

    #[test]
    fn a_corrupt_or_missing_piece_is_never_used() {
        let dir = tempdir("corrupt");
        let mut store = rows(0, 3000).store();
        store.seal(&dir, 0).unwrap();
        let piece = dir.join(&store.projects["p"].pieces[0].file);
        let mut bytes = fs::read(&piece).unwrap();
        let at = bytes.len() - 10;
        bytes[at] ^= 1;
        fs::write(&piece, &bytes).unwrap();
        assert!(Store::open(&dir, MAP_MIN_ROWS).is_err());
        fs::remove_file(&piece).unwrap();
        assert!(Store::open(&dir, MAP_MIN_ROWS).is_err());
        clear(&dir).unwrap();
        assert!(Store::open(&dir, MAP_MIN_ROWS).unwrap().is_none());
    }

    #[test]
    fn a_seal_cut_short_leaves_the_last_whole_one() {
        let dir = tempdir("cut");
        let mut store = rows(0, 2000).store();
        store.seal(&dir, 0).unwrap();
        // What a crash mid-seal leaves: a half-written piece and manifest.
        fs::write(dir.join("70-2-0.seg"), b"RXSEG001 half").unwrap();
        fs::write(dir.join("manifest.tmp"), b"RXMAN001 half").unwrap();
        same(&store, &Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap());
    }

    #[test]
    fn forgetting_rows_takes_the_manifest_away_until_the_next_seal() {
        let dir = tempdir("forget");
        let mut store = rows(0, 2000).store();
        store.seal(&dir, 0).unwrap();
        let erased = store.erase_person("p", &["v3"], &[]);
        assert!(erased.rows > 0);
        store.segments_forget("p").unwrap();
        assert!(Store::open(&dir, MAP_MIN_ROWS).unwrap().is_none());
        store.seal(&dir, 1).unwrap();
        let opened = Store::open(&dir, MAP_MIN_ROWS).unwrap().unwrap();
        same(&store, &opened);
        assert!(!opened.mentions("p", "v3\""));
        assert!(!resolved(&opened.projects["p"]).iter().any(|r| r.contains(" v3 ")));
    }
}
