//! Each row's raw properties JSON. Queries never scan it: a property is extracted from it once
//! into a column of codes (`table::PropColumn`, saved beside the segments by `prop_file`), and
//! erasure reads it to compact a project. So the sealed rows' JSON is kept compressed: zstd
//! frames of `FRAME_ROWS` rows inside the segment pieces, mapped read-only (the page cache's
//! pages) and decompressed a frame at a time when read. The rows appended since are kept in
//! memory as they came.
//!
//! A frame is `[u32 length of each row][the rows' bytes]`, compressed; a piece holds its frames
//! one after another and an index of `(rows, compressed bytes)` pairs.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// Rows per frame: small enough that reading a few rows decompresses little, large enough
/// for zstd to find the repeats between rows.
pub const FRAME_ROWS: usize = 4096;
const LEVEL: i32 = 3;

/// A read-only mapping of part of a piece file.
struct Mapping {
    ptr: *const u8,
    len: usize,
}

// The mapping is read-only and segment files are never written in place.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: &File, offset: u64, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Ok(Mapping { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len });
        }
        // SAFETY: a fresh read-only mapping; the kernel picks the address.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), offset as libc::off_t)
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: ptr as *const u8, len })
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes mapped by `new` (none when empty), unmapped only on drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping made by `new`.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
    }
}

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
    /// The frame's rows: their ends and bytes.
    fn open(&self) -> (Vec<usize>, Vec<u8>) {
        let compressed = &self.blob.bytes()[self.at..self.at + self.bytes];
        // Frames were checksummed with their piece when it was opened or written.
        let raw = zstd::stream::decode_all(compressed).expect("a checksummed frame decompresses");
        let head = 4 * self.rows;
        let mut ends = Vec::with_capacity(self.rows);
        let mut end = head;
        for word in raw[..head].chunks_exact(4) {
            end += u32::from_le_bytes(word.try_into().unwrap()) as usize;
            ends.push(end);
        }
        (ends, raw)
    }
}

#[derive(Clone, Default)]
pub struct Props {
    frames: Vec<Frame>,
    sealed: usize,
    /// The rows past the frames: `tail[tail_end[i-1]..tail_end[i]]`.
    tail: Vec<u8>,
    tail_end: Vec<usize>,
}

impl Props {
    pub fn new() -> Self {
        Props::default()
    }

    pub fn len(&self) -> usize {
        self.sealed + self.tail_end.len()
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
        let mut row = range.start;
        let first = self.frames.partition_point(|f| f.first_row + f.rows <= row);
        for frame in &self.frames[first..] {
            if row >= range.end {
                return;
            }
            let (ends, raw) = frame.open();
            let to = range.end.min(frame.first_row + frame.rows);
            for r in row..to {
                let k = r - frame.first_row;
                let start = if k == 0 { 4 * frame.rows } else { ends[k - 1] };
                visit(r, &raw[start..ends[k]]);
            }
            row = to;
        }
        for r in row.max(self.sealed)..range.end {
            let k = r - self.sealed;
            let start = if k == 0 { 0 } else { self.tail_end[k - 1] };
            visit(r, &self.tail[start..self.tail_end[k]]);
        }
    }

    /// The rows from `from` in stretches to read on every core: whole frames where they are
    /// sealed, `block` rows at a time past them.
    pub fn stretches(&self, from: usize, block: usize) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = Vec::new();
        let mut row = from;
        for frame in &self.frames {
            let end = frame.first_row + frame.rows;
            if end <= row {
                continue;
            }
            // Frames go to one stretch up to `block` rows.
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
        self.frames.iter().map(|f| f.bytes).sum()
    }

    /// The rows of `range` compressed into frames: the frames one after another, and the index
    /// of `(rows, bytes)` pairs. Frames are compressed on every core.
    pub fn encode(&self, range: Range<usize>) -> (Vec<u8>, Vec<u32>) {
        use rayon::prelude::*;
        let mut raws = Vec::new();
        let mut start = range.start;
        while start < range.end {
            let end = (start + FRAME_ROWS).min(range.end);
            let mut lengths = Vec::with_capacity(4 * (end - start));
            let mut bytes = Vec::new();
            self.for_each(start..end, |_, json| {
                lengths.extend_from_slice(&(json.len() as u32).to_le_bytes());
                bytes.extend_from_slice(json);
            });
            lengths.extend_from_slice(&bytes);
            raws.push((end - start, lengths));
            start = end;
        }
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

    /// Props whose first rows are the frames of pieces: each piece's blob `(offset, bytes)` in
    /// its file with its index.
    pub fn mapped(pieces: &[(Arc<File>, (u64, usize), Vec<u32>)]) -> io::Result<Props> {
        let mut props = Props::new();
        for (file, (offset, bytes), index) in pieces {
            let blob = Arc::new(Mapping::new(file, *offset, *bytes)?);
            let mut at = 0;
            for pair in index.chunks_exact(2) {
                let (rows, size) = (pair[0] as usize, pair[1] as usize);
                if rows == 0 || at + size > *bytes {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "a properties frame out of bounds"));
                }
                props.frames.push(Frame { blob: blob.clone(), at, bytes: size, first_row: props.sealed, rows });
                props.sealed += rows;
                at += size;
            }
        }
        Ok(props)
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

    /// The rows written as pieces of `cuts` rows each (in one file), mapped, then `more` pushed.
    fn through_pieces(all: &[Vec<u8>], cuts: &[usize], more: usize) -> Props {
        let held = Props::from_rows(all.iter().map(|r| r.as_slice()));
        let path = std::env::temp_dir().join(format!("reactor-props-{}-{:?}", std::process::id(), std::thread::current().id()));
        let mut file = File::create(&path).unwrap();
        let mut layout = Vec::new();
        let (mut at, mut row) = (0u64, 0);
        for &cut in cuts {
            let (blob, index) = held.encode(row..row + cut);
            let padded = blob.len().div_ceil(4096) * 4096;
            file.write_all(&blob).unwrap();
            file.write_all(&vec![0; padded - blob.len()]).unwrap();
            layout.push(((at, padded), index));
            at += padded as u64;
            row += cut;
        }
        drop(file);
        let file = Arc::new(File::open(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        let pieces: Vec<_> = layout.into_iter().map(|(blob, index)| (file.clone(), blob, index)).collect();
        let mut props = Props::mapped(&pieces).unwrap();
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
}
