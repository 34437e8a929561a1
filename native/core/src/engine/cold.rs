//! Cold columns: what every row has but no scan reads. The rows' properties JSON (`Props`) is
//! read only when a property is first extracted into a column of codes (`table::PropColumn`,
//! saved beside the segments by `prop_file`) and when erasure compacts a project; the rows'
//! seqs (`Seqs`) only to order the newest rows of one instant and to forget rows by seq. So their
//! sealed rows are kept compressed: zstd frames of `FRAME_ROWS` rows inside the segment pieces,
//! mapped read-only (the page cache's pages) and decompressed a frame at a time when read. The
//! rows appended since are kept in memory as they came.
//!
//! A piece holds a column's frames one after another and an index of `(rows, compressed bytes)`
//! pairs. A properties frame is `[u32 length of each row][the rows' bytes]`; a seqs frame is
//! each row's seq less the one before (the first less 0), as little-endian i64s.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use super::col::Mapping;

/// Rows per frame: small enough that reading a few rows decompresses little, large enough
/// for zstd to find the repeats between rows.
pub const FRAME_ROWS: usize = 4096;
const LEVEL: i32 = 3;

#[derive(Clone)]
struct Frame {
    blob: Arc<Mapping>,
    /// Where the compressed frame lies in the blob.
    at: usize,
    bytes: usize,
    first_row: usize,
    rows: usize,
}

impl Frame {
    fn raw(&self) -> Vec<u8> {
        let compressed = &self.blob.bytes()[self.at..self.at + self.bytes];
        // Frames were checksummed with their piece when it was opened or written.
        zstd::stream::decode_all(compressed).expect("a checksummed frame decompresses")
    }
}

/// The sealed rows of a cold column: frames in row order.
#[derive(Clone, Default)]
struct Frames {
    frames: Vec<Frame>,
    rows: usize,
}

impl Frames {
    /// The frames of pieces: each piece's blob `(offset, bytes)` in its file with its index.
    fn mapped(pieces: &[(Arc<File>, (u64, usize), Vec<u32>)]) -> io::Result<Frames> {
        let mut out = Frames::default();
        for (file, (offset, bytes), index) in pieces {
            let blob = Arc::new(Mapping::new(file, *offset, *bytes, false)?);
            let mut at = 0;
            for pair in index.chunks_exact(2) {
                let (rows, size) = (pair[0] as usize, pair[1] as usize);
                if rows == 0 || at + size > *bytes {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "a cold column's frame out of bounds"));
                }
                out.frames.push(Frame { blob: blob.clone(), at, bytes: size, first_row: out.rows, rows });
                out.rows += rows;
                at += size;
            }
        }
        Ok(out)
    }

    /// The frames holding rows from `row` on.
    fn from(&self, row: usize) -> &[Frame] {
        &self.frames[self.frames.partition_point(|f| f.first_row + f.rows <= row)..]
    }

    /// Call `on` with each frame holding rows of `range`, in order, and the rows of `range` it
    /// holds; returns the first row of `range` past the frames (where the in-memory rows start).
    fn each(&self, range: &Range<usize>, mut on: impl FnMut(&Frame, Range<usize>)) -> usize {
        let mut row = range.start;
        for frame in self.from(row) {
            if row >= range.end {
                break;
            }
            let to = range.end.min(frame.first_row + frame.rows);
            on(frame, row..to);
            row = to;
        }
        row.max(self.rows)
    }

    fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.bytes).sum()
    }
}

/// Raw frames (their rows and bytes) compressed on every core: the frames one after another,
/// and the index of `(rows, bytes)` pairs.
fn compress(raws: Vec<(usize, Vec<u8>)>) -> (Vec<u8>, Vec<u32>) {
    use rayon::prelude::*;
    let frames: Vec<(usize, Vec<u8>)> = raws
        .into_par_iter()
        .map(|(rows, raw)| (rows, zstd::bulk::compress(&raw, LEVEL).expect("compressing in memory")))
        .collect();
    let mut blob = Vec::new();
    let mut index = Vec::with_capacity(2 * frames.len());
    for (rows, frame) in frames {
        index.extend([rows as u32, frame.len() as u32]);
        blob.extend_from_slice(&frame);
    }
    (blob, index)
}

/// `range` cut into frames of `FRAME_ROWS` rows.
fn frame_ranges(range: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    range.clone().step_by(FRAME_ROWS).map(move |start| start..(start + FRAME_ROWS).min(range.end))
}

#[derive(Clone, Default)]
pub struct Props {
    sealed: Frames,
    /// The rows past the frames: `tail[tail_end[i-1]..tail_end[i]]`.
    tail: Vec<u8>,
    tail_end: Vec<usize>,
}

impl Props {
    pub fn new() -> Self {
        Props::default()
    }

    pub fn len(&self) -> usize {
        self.sealed.rows + self.tail_end.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, json: &[u8]) {
        self.tail.extend_from_slice(json);
        self.tail_end.push(self.tail.len());
    }

    /// Rows read into memory, nothing mapped (what erasure rebuilds).
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = &'a [u8]>) -> Props {
        let mut props = Props::new();
        for row in rows {
            props.push(row);
        }
        props
    }

    /// Call `visit` with each row of `range`, in order, and its JSON.
    pub fn for_each(&self, range: Range<usize>, mut visit: impl FnMut(usize, &[u8])) {
        let past = self.sealed.each(&range, |frame, rows| {
            let raw = frame.raw();
            let mut start = 4 * frame.rows;
            for (k, word) in raw[..4 * frame.rows].chunks_exact(4).enumerate() {
                let (r, end) = (frame.first_row + k, start + u32::from_le_bytes(word.try_into().unwrap()) as usize);
                if r >= rows.end {
                    break;
                }
                if r >= rows.start {
                    visit(r, &raw[start..end]);
                }
                start = end;
            }
        });
        for r in past..range.end {
            let k = r - self.sealed.rows;
            let start = if k == 0 { 0 } else { self.tail_end[k - 1] };
            visit(r, &self.tail[start..self.tail_end[k]]);
        }
    }

    /// The rows from `from` in stretches to read on every core: whole frames where they are
    /// sealed (up to `block` rows together), `block` rows at a time past them.
    pub fn stretches(&self, from: usize, block: usize) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = Vec::new();
        let mut row = from;
        for frame in self.sealed.from(from) {
            let end = frame.first_row + frame.rows;
            match out.last_mut() {
                Some(last) if last.end == row && end - last.start <= block => last.end = end,
                _ => out.push(row..end),
            }
            row = end;
        }
        while row < self.len() {
            let end = (row + block).min(self.len());
            out.push(row..end);
            row = end;
        }
        out
    }

    /// Bytes held in the process's memory.
    pub fn owned_bytes(&self) -> usize {
        self.tail.capacity() + self.tail_end.capacity() * std::mem::size_of::<usize>()
    }

    /// Compressed bytes mapped from segment files.
    pub fn mapped_bytes(&self) -> usize {
        self.sealed.bytes()
    }

    /// The rows of `range` compressed into frames (see `compress`).
    pub fn encode(&self, range: Range<usize>) -> (Vec<u8>, Vec<u32>) {
        let raws = frame_ranges(range)
            .map(|rows| {
                let mut lengths = Vec::with_capacity(4 * rows.len());
                let mut bytes = Vec::new();
                self.for_each(rows.clone(), |_, json| {
                    lengths.extend_from_slice(&(json.len() as u32).to_le_bytes());
                    bytes.extend_from_slice(json);
                });
                lengths.extend_from_slice(&bytes);
                (rows.len(), lengths)
            })
            .collect();
        compress(raws)
    }

    /// Props whose first rows are the frames of pieces (see `Frames::mapped`).
    pub fn mapped(pieces: &[(Arc<File>, (u64, usize), Vec<u32>)]) -> io::Result<Props> {
        Ok(Props { sealed: Frames::mapped(pieces)?, ..Props::default() })
    }
}

#[derive(Clone, Default)]
pub struct Seqs {
    sealed: Frames,
    tail: Vec<i64>,
}

impl Seqs {
    pub fn new() -> Self {
        Seqs::default()
    }

    pub fn len(&self) -> usize {
        self.sealed.rows + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, seq: i64) {
        self.tail.push(seq);
    }

    /// Call `visit` with each row of `range`, in order, and its seq.
    pub fn for_each(&self, range: Range<usize>, mut visit: impl FnMut(usize, i64)) {
        let past = self.sealed.each(&range, |frame, rows| {
            let mut seq = 0i64;
            for (k, word) in frame.raw().chunks_exact(8).enumerate() {
                seq = seq.wrapping_add(i64::from_le_bytes(word.try_into().unwrap()));
                let r = frame.first_row + k;
                if r >= rows.end {
                    break;
                }
                if r >= rows.start {
                    visit(r, seq);
                }
            }
        });
        for r in past..range.end {
            visit(r, self.tail[r - self.sealed.rows]);
        }
    }

    /// The seq of each of `rows` (ascending), decompressing only the frames that hold them.
    pub fn of_rows(&self, rows: &[usize]) -> Vec<i64> {
        debug_assert!(rows.windows(2).all(|w| w[0] < w[1]));
        let mut out = Vec::with_capacity(rows.len());
        let mut at = 0;
        while at < rows.len() {
            let frame = self.sealed.from(rows[at]).first().filter(|f| f.first_row <= rows[at]);
            let end = frame.map_or(rows[at] + 1, |f| f.first_row + f.rows);
            let upto = at + rows[at..].partition_point(|&r| r < end);
            let (wanted, mut next) = (&rows[at..upto], 0);
            self.for_each(rows[at]..end, |row, seq| {
                if wanted.get(next) == Some(&row) {
                    out.push(seq);
                    next += 1;
                }
            });
            at = upto;
        }
        out
    }

    pub fn owned_bytes(&self) -> usize {
        self.tail.capacity() * 8
    }

    pub fn to_vec(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(0..self.len(), |_, seq| out.push(seq));
        out
    }

    pub fn mapped_bytes(&self) -> usize {
        self.sealed.bytes()
    }

    /// The rows of `range` compressed into frames (see `compress`).
    pub fn encode(&self, range: Range<usize>) -> (Vec<u8>, Vec<u32>) {
        let raws = frame_ranges(range)
            .map(|rows| {
                let mut raw = Vec::with_capacity(8 * rows.len());
                let mut before = 0i64;
                self.for_each(rows.clone(), |_, seq| {
                    raw.extend_from_slice(&seq.wrapping_sub(before).to_le_bytes());
                    before = seq;
                });
                (rows.len(), raw)
            })
            .collect();
        compress(raws)
    }

    /// Seqs whose first rows are the frames of pieces (see `Frames::mapped`).
    pub fn mapped(pieces: &[(Arc<File>, (u64, usize), Vec<u32>)]) -> io::Result<Seqs> {
        Ok(Seqs { sealed: Frames::mapped(pieces)?, ..Seqs::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rows(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| match i % 4 {
                0 => b"{}".to_vec(),
                1 => format!("{{\"plan\":\"p{}\",\"n\":{i}}}", i % 3).into_bytes(),
                2 => Vec::new(),
                _ => format!("{{\"s\":\"{}\"}}", "x".repeat(i % 50)).into_bytes(),
            })
            .collect()
    }

    fn collect(props: &Props, range: Range<usize>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut next = range.start;
        props.for_each(range, |row, json| {
            assert_eq!(row, next);
            next += 1;
            out.push(json.to_vec());
        });
        out
    }

    /// Encoded pieces written one after another to a file: where each lies, with its index.
    fn in_a_file(encoded: Vec<(Vec<u8>, Vec<u32>)>) -> Vec<(Arc<File>, (u64, usize), Vec<u32>)> {
        let path = std::env::temp_dir().join(format!("reactor-cold-{}-{:?}", std::process::id(), std::thread::current().id()));
        let mut file = File::create(&path).unwrap();
        let mut layout = Vec::new();
        let mut at = 0u64;
        for (blob, index) in encoded {
            let padded = blob.len().div_ceil(4096) * 4096;
            file.write_all(&blob).unwrap();
            file.write_all(&vec![0; padded - blob.len()]).unwrap();
            layout.push(((at, padded), index));
            at += padded as u64;
        }
        drop(file);
        let file = Arc::new(File::open(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        layout.into_iter().map(|(blob, index)| (file.clone(), blob, index)).collect()
    }

    /// Start offsets of pieces of `cuts` rows each.
    fn pieces(cuts: &[usize]) -> Vec<Range<usize>> {
        let mut row = 0;
        cuts.iter().map(|&cut| { row += cut; row - cut..row }).collect()
    }

    /// The rows written as pieces of `cuts` rows each (in one file), mapped, then `more` pushed.
    fn through_pieces(all: &[Vec<u8>], cuts: &[usize], more: usize) -> Props {
        let held = Props::from_rows(all.iter().map(|r| r.as_slice()));
        let pieces = pieces(cuts);
        let row = pieces.last().map_or(0, |r| r.end);
        let mut props = Props::mapped(&in_a_file(pieces.into_iter().map(|r| held.encode(r)).collect())).unwrap();
        for r in &all[row..row + more] {
            props.push(r);
        }
        props
    }

    #[test]
    fn rows_read_back_the_same_from_frames_and_the_tail() {
        let all = rows(3 * FRAME_ROWS + 500);
        let props = through_pieces(&all, &[FRAME_ROWS + 7, 2 * FRAME_ROWS - 7], 500);
        assert_eq!(props.len(), all.len());
        assert_eq!(collect(&props, 0..all.len()), all);
        for range in [0..1, FRAME_ROWS - 1..FRAME_ROWS + 9, 3 * FRAME_ROWS - 3..3 * FRAME_ROWS + 4, 7..7] {
            assert_eq!(collect(&props, range.clone()), all[range].to_vec());
        }
        assert!(props.mapped_bytes() * 4 < all.iter().map(|r| r.len()).sum::<usize>());
        // Re-encoding rows that sit in frames and in the tail gives the same rows.
        let again = through_pieces(&collect(&props, 0..all.len()), &[all.len()], 0);
        assert_eq!(collect(&again, 0..all.len()), all);
    }

    #[test]
    fn stretches_cover_every_row_once_in_order() {
        let all = rows(5 * FRAME_ROWS + 10);
        let props = through_pieces(&all, &[FRAME_ROWS, 3 * FRAME_ROWS + 5], FRAME_ROWS + 5);
        for from in [0, 1, FRAME_ROWS, 4 * FRAME_ROWS + 5, all.len()] {
            let stretches = props.stretches(from, 2 * FRAME_ROWS);
            let mut next = from;
            for s in &stretches {
                assert_eq!(s.start, next);
                assert!(s.end > s.start && s.len() <= 2 * FRAME_ROWS);
                next = s.end;
            }
            assert_eq!(next, all.len());
        }
    }

    #[test]
    fn seqs_read_back_the_same_from_frames_and_the_tail() {
        // Mostly rising, with late rows, gaps and the extremes.
        let all: Vec<i64> = (0..3 * FRAME_ROWS as i64 + 300)
            .map(|i| match i % 97 {
                0 => i - 5000,
                1 => i64::MAX - i,
                2 => i64::MIN + i,
                _ => 3 * i + 1_000_000_000_000,
            })
            .collect();
        let mut held = Seqs::new();
        all.iter().for_each(|&s| held.push(s));
        let cuts = pieces(&[FRAME_ROWS + 3, 2 * FRAME_ROWS - 3]);
        let mut seqs = Seqs::mapped(&in_a_file(cuts.into_iter().map(|r| held.encode(r)).collect())).unwrap();
        all[3 * FRAME_ROWS..].iter().for_each(|&s| seqs.push(s));
        assert_eq!(seqs.len(), all.len());
        let mut back = Vec::new();
        seqs.for_each(0..all.len(), |row, seq| {
            assert_eq!(row, back.len());
            back.push(seq);
        });
        assert_eq!(back, all);
        let rows = [0, 5, FRAME_ROWS - 1, FRAME_ROWS, FRAME_ROWS + 3, 3 * FRAME_ROWS - 1, 3 * FRAME_ROWS, all.len() - 1];
        assert_eq!(seqs.of_rows(&rows), rows.iter().map(|&r| all[r]).collect::<Vec<_>>());
        assert!(seqs.mapped_bytes() < 3 * FRAME_ROWS * 8 / 4);
    }
}
