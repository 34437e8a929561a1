//! A column: one contiguous array the scan kernels read as a plain slice, whose sealed part may
//! live in segment files (memory-mapped, so its pages are the page cache's, not the process's)
//! and whose newest rows live in memory after it.
//!
//! A mapped column reserves one anonymous region and maps each segment's page-aligned slice of
//! the column over its start, in order (`MAP_FIXED`, private): the rows of every segment and
//! then the rows appended since sit at consecutive addresses. Appends write past the mapped
//! pages into anonymous ones (a partly filled last segment page is copied on write). Segment
//! files are never written in place (a new one is written and renamed), so a mapped page never
//! changes under a reader.

use std::fs::File;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::sync::Arc;

pub const PAGE: usize = 4096;

/// Plain values a column holds: any bit pattern is valid and they have no destructor.
///
/// # Safety
/// Implement only for types where every byte pattern is a valid value.
pub unsafe trait Pod: Copy + Default + Send + Sync + 'static {}
unsafe impl Pod for u8 {}
unsafe impl Pod for u16 {}
unsafe impl Pod for u32 {}
unsafe impl Pod for i64 {}
unsafe impl Pod for u64 {}
unsafe impl Pod for f64 {}

/// One page-aligned slice of a segment file: `bytes` from `offset`, whole pages of the file.
/// Without a file it is `bytes` of zeros: the region's own untouched pages, which read as zero
/// and take neither disk nor memory (a column with no value in a segment).
#[derive(Clone)]
pub struct Piece {
    pub file: Option<Arc<File>>,
    pub offset: u64,
    pub bytes: usize,
}

pub struct Col<T: Pod> {
    /// The slice as it stands (kept beside `repr` so reading it needs no branch).
    ptr: *const T,
    len: usize,
    repr: Repr<T>,
}

// The pointer is into memory `repr` owns.
unsafe impl<T: Pod> Send for Col<T> {}
unsafe impl<T: Pod> Sync for Col<T> {}

enum Repr<T: Pod> {
    Owned(Vec<T>),
    Mapped(Mapped<T>),
}

struct Mapped<T> {
    base: *mut T,
    len: usize,
    /// Elements the region holds.
    cap: usize,
    /// The file slices mapped at the region's start, how many bytes of it they cover, and how
    /// many of those are a file's.
    pieces: Vec<Piece>,
    covered: usize,
    mapped_bytes: usize,
    /// Elements that came from the pieces; appends write after them (a page holding any later
    /// element may have been copied on write).
    from_pieces: usize,
}

// The region is owned by the column alone; the mapped files are read-only to everyone.
unsafe impl<T: Send> Send for Mapped<T> {}
unsafe impl<T: Sync> Sync for Mapped<T> {}

fn round_up(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

fn reserve(bytes: usize) -> *mut u8 {
    // SAFETY: a fresh private anonymous mapping; the kernel picks the address.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert!(ptr != libc::MAP_FAILED, "cannot reserve {bytes} bytes of address space");
    ptr as *mut u8
}

/// Map `pieces` in order at the start of the region `base`; returns the bytes they cover.
fn map_pieces(base: *mut u8, pieces: &[Piece]) -> std::io::Result<usize> {
    let mut at = 0;
    for piece in pieces {
        let Some(file) = piece.file.as_ref().filter(|_| piece.bytes > 0) else {
            at += piece.bytes;
            continue;
        };
        debug_assert!(piece.bytes % PAGE == 0 && piece.offset as usize % PAGE == 0);
        // SAFETY: the target lies inside the region this column reserved and owns.
        let ptr = unsafe {
            libc::mmap(
                base.add(at) as *mut libc::c_void,
                piece.bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                file.as_raw_fd(),
                piece.offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        at += piece.bytes;
    }
    Ok(at)
}

impl<T: Pod> Mapped<T> {
    /// A region of at least `cap` elements with `pieces` mapped at its start and, after the
    /// `len_from_pieces` elements they hold, `rest` copied in.
    fn new(pieces: Vec<Piece>, len_from_pieces: usize, rest: &[T], cap: usize) -> std::io::Result<Self> {
        let size = std::mem::size_of::<T>();
        let mapped: usize = pieces.iter().map(|p| p.bytes).sum();
        let len = len_from_pieces + rest.len();
        let cap_bytes = round_up((cap.max(len) * size).max(mapped + PAGE));
        let base = reserve(cap_bytes);
        let covered = match map_pieces(base, &pieces) {
            Ok(n) => n,
            Err(e) => {
                // SAFETY: the region reserved just above.
                unsafe { libc::munmap(base as *mut libc::c_void, cap_bytes) };
                return Err(e);
            }
        };
        let base = base as *mut T;
        // SAFETY: `len` elements fit in the region; `rest` does not overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(rest.as_ptr(), base.add(len_from_pieces), rest.len());
        }
        let mapped_bytes = pieces.iter().filter(|p| p.file.is_some()).map(|p| p.bytes).sum();
        Ok(Mapped {
            base,
            len,
            cap: cap_bytes / size,
            pieces,
            covered,
            mapped_bytes,
            from_pieces: len_from_pieces,
        })
    }

    fn as_slice(&self) -> &[T] {
        // SAFETY: `len` initialised elements from `base` (mapped file bytes or copied values).
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }

    /// The same pieces in a region of `cap` elements, the elements past the pieces' whole
    /// unwritten pages copied over.
    fn moved(&self, cap: usize) -> Self {
        let size = std::mem::size_of::<T>();
        // Whole pages before the first appended element were never written: map them again.
        let keep_bytes = self.from_pieces * size / PAGE * PAGE;
        let from_pieces = keep_bytes / size;
        let mut pieces = Vec::new();
        let mut left = keep_bytes;
        for piece in &self.pieces {
            if left == 0 {
                break;
            }
            let bytes = piece.bytes.min(left);
            pieces.push(Piece { bytes, ..piece.clone() });
            left -= bytes;
        }
        Mapped::new(pieces, from_pieces, &self.as_slice()[from_pieces..], cap)
            .expect("re-mapping a segment that is already mapped")
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        let bytes = self.cap * std::mem::size_of::<T>();
        // SAFETY: the region this column reserved; nothing borrows it past the column's life.
        unsafe { libc::munmap(self.base as *mut libc::c_void, bytes) };
    }
}

impl<T: Pod> Col<T> {
    fn of(repr: Repr<T>) -> Self {
        let mut col = Col { ptr: std::ptr::null(), len: 0, repr };
        col.refresh();
        col
    }

    fn refresh(&mut self) {
        let (ptr, len) = match &self.repr {
            Repr::Owned(v) => (v.as_ptr(), v.len()),
            Repr::Mapped(m) => (m.base as *const T, m.len),
        };
        self.ptr = ptr;
        self.len = len;
    }

    pub fn new() -> Self {
        Col::of(Repr::Owned(Vec::new()))
    }

    /// A column whose first `rows` elements are the `pieces` of segment files (in order, each
    /// whole pages; the last may hold fewer elements than its pages), then `rest`.
    pub fn mapped(pieces: Vec<Piece>, rows: usize, rest: &[T]) -> std::io::Result<Self> {
        let cap = (rows + rest.len()).max(1024) * 5 / 4;
        Ok(Col::of(Repr::Mapped(Mapped::new(pieces, rows, rest, cap)?)))
    }

    pub fn push(&mut self, value: T) {
        match &mut self.repr {
            Repr::Owned(v) => v.push(value),
            Repr::Mapped(m) => {
                if m.len == m.cap {
                    *m = m.moved(m.cap * 2);
                }
                // SAFETY: `len < cap`, inside the region.
                unsafe { m.base.add(m.len).write(value) };
                m.len += 1;
            }
        }
        self.refresh();
    }

    pub fn extend_from_slice(&mut self, values: &[T]) {
        match &mut self.repr {
            Repr::Owned(v) => v.extend_from_slice(values),
            Repr::Mapped(m) => {
                for &value in values {
                    if m.len == m.cap {
                        *m = m.moved(m.cap * 2);
                    }
                    // SAFETY: `len < cap`, inside the region.
                    unsafe { m.base.add(m.len).write(value) };
                    m.len += 1;
                }
            }
        }
        self.refresh();
    }

    /// Replace the last element.
    pub fn set_last(&mut self, value: T) {
        assert!(self.len > 0, "set_last of an empty column");
        match &mut self.repr {
            Repr::Owned(v) => *v.last_mut().expect("not empty") = value,
            // SAFETY: `len - 1 < cap`, inside the region; its pages are private (copied on write).
            Repr::Mapped(m) => unsafe { m.base.add(m.len - 1).write(value) },
        }
    }

    /// Bytes held in the process's own memory (mapped segment pages not counted; a mapped
    /// column counts the pages past its segments it has room for as touched or not).
    pub fn owned_bytes(&self) -> usize {
        match &self.repr {
            Repr::Owned(v) => v.capacity() * std::mem::size_of::<T>(),
            Repr::Mapped(m) => (m.len * std::mem::size_of::<T>()).saturating_sub(m.covered),
        }
    }

    /// Bytes of segment files mapped.
    pub fn mapped_bytes(&self) -> usize {
        match &self.repr {
            Repr::Owned(_) => 0,
            Repr::Mapped(m) => m.mapped_bytes,
        }
    }
}

impl<T: Pod> Extend<T> for Col<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for value in iter {
            self.push(value);
        }
    }
}

impl<T: Pod> Default for Col<T> {
    fn default() -> Self {
        Col::new()
    }
}

impl<T: Pod> Deref for Col<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr`/`len` describe `repr`'s initialised elements (refreshed on every change).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Pod> Clone for Col<T> {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Owned(v) => Col::of(Repr::Owned(v.clone())),
            Repr::Mapped(m) => Col::of(Repr::Mapped(m.moved(m.cap))),
        }
    }
}

impl<T: Pod> From<Vec<T>> for Col<T> {
    fn from(v: Vec<T>) -> Self {
        Col::of(Repr::Owned(v))
    }
}

impl<T: Pod> FromIterator<T> for Col<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Col::of(Repr::Owned(iter.into_iter().collect()))
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Col<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Pod + PartialEq> PartialEq for Col<T> {
    fn eq(&self, other: &Col<T>) -> bool {
        **self == **other
    }
}

impl<T: Pod + PartialEq> PartialEq<Vec<T>> for Col<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == **other
    }
}

/// A read-only mapping of part of a segment file (its pages are the page cache's).
pub struct Mapping {
    ptr: *const u8,
    len: usize,
}

// The mapping is read-only and segment files are never written in place.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `len` bytes of `file` from `offset` (a page boundary); `populate` reads them all in now.
    pub fn new(file: &File, offset: u64, len: usize, populate: bool) -> std::io::Result<Mapping> {
        if len == 0 {
            return Ok(Mapping { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len });
        }
        // SAFETY: a fresh read-only mapping; the kernel picks the address.
        let ptr = unsafe {
            let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, flags, file.as_raw_fd(), offset as libc::off_t)
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr: ptr as *const u8, len })
    }
    pub fn bytes(&self) -> &[u8] {
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

/// Dictionary codes per row, at the narrowest width the largest code allows: a byte per row
/// while every code is below 256, two below 65,536, four past that. A push that needs a wider
/// width widens the whole column (copied into memory: a mapped column's pieces were written at
/// the old width and are written again at the new one by the next seal, see `segment`).
#[derive(Clone)]
pub enum Codes {
    U8(Col<u8>),
    U16(Col<u16>),
    U32(Col<u32>),
}

/// `$body` with `$c` bound to the column's slice at its own width (one loop per width, so each
/// compiles to plain loads of that width).
#[macro_export]
macro_rules! by_width {
    ($codes:expr, $c:ident => $body:expr) => {
        match $codes {
            $crate::engine::col::Codes::U8($c) => $body,
            $crate::engine::col::Codes::U16($c) => $body,
            $crate::engine::col::Codes::U32($c) => $body,
        }
    };
}

impl Default for Codes {
    fn default() -> Self {
        Codes::U8(Col::new())
    }
}

impl Codes {
    #[inline]
    pub fn get(&self, row: usize) -> u32 {
        match self {
            Codes::U8(v) => u32::from(v[row]),
            Codes::U16(v) => u32::from(v[row]),
            Codes::U32(v) => v[row],
        }
    }

    pub fn len(&self) -> usize {
        by_width!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per row.
    pub fn width(&self) -> usize {
        match self {
            Codes::U8(_) => 1,
            Codes::U16(_) => 2,
            Codes::U32(_) => 4,
        }
    }

    /// The width codes below `bound` need.
    pub fn width_for(bound: usize) -> usize {
        if bound <= 1 << 8 {
            1
        } else if bound <= 1 << 16 {
            2
        } else {
            4
        }
    }

    /// The same codes at `width` bytes per row (at least the present one), in memory.
    fn widened(&self, width: usize) -> Codes {
        let wide: Vec<u32> = (0..self.len()).map(|r| self.get(r)).collect();
        Codes::of_width(width, &wide)
    }

    /// `codes` at `width` bytes per row (each must fit).
    pub fn of_width(width: usize, codes: &[u32]) -> Codes {
        match width {
            1 => Codes::U8(codes.iter().map(|&c| c as u8).collect()),
            2 => Codes::U16(codes.iter().map(|&c| c as u16).collect()),
            _ => Codes::U32(codes.to_vec().into()),
        }
    }

    /// Append `codes`, all below `bound`, widening first when they need it.
    pub fn extend(&mut self, codes: &[u32], bound: usize) {
        let width = Codes::width_for(bound);
        if width > self.width() {
            *self = self.widened(width);
        }
        match self {
            Codes::U8(v) => codes.iter().for_each(|&c| v.push(c as u8)),
            Codes::U16(v) => codes.iter().for_each(|&c| v.push(c as u16)),
            Codes::U32(v) => v.extend_from_slice(codes),
        }
    }

    pub fn push(&mut self, code: u32) {
        self.extend(&[code], code as usize + 1);
    }

    /// The bytes of `rows`, as written to a segment.
    pub fn range_bytes(&self, rows: std::ops::Range<usize>) -> &[u8] {
        by_width!(self, v => as_bytes(&v[rows]))
    }

    /// A column of `width` bytes per row whose first `rows` are the `pieces` (see `Col::mapped`).
    pub fn mapped(width: usize, pieces: Vec<Piece>, rows: usize) -> std::io::Result<Codes> {
        Ok(match width {
            1 => Codes::U8(Col::mapped(pieces, rows, &[])?),
            2 => Codes::U16(Col::mapped(pieces, rows, &[])?),
            _ => Codes::U32(Col::mapped(pieces, rows, &[])?),
        })
    }

    /// The same codes held in memory.
    pub fn to_owned(&self) -> Codes {
        by_width!(self, v => v.to_vec().into())
    }

    pub fn owned_bytes(&self) -> usize {
        by_width!(self, v => v.owned_bytes())
    }

    pub fn mapped_bytes(&self) -> usize {
        by_width!(self, v => v.mapped_bytes())
    }
}

impl From<Vec<u8>> for Codes {
    fn from(v: Vec<u8>) -> Self {
        Codes::U8(v.into())
    }
}

impl From<Vec<u16>> for Codes {
    fn from(v: Vec<u16>) -> Self {
        Codes::U16(v.into())
    }
}

impl From<Vec<u32>> for Codes {
    fn from(v: Vec<u32>) -> Self {
        Codes::U32(v.into())
    }
}

impl FromIterator<u32> for Codes {
    /// At the narrowest width the codes allow.
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let codes: Vec<u32> = iter.into_iter().collect();
        let bound = codes.iter().max().map_or(0, |&m| m as usize + 1);
        Codes::of_width(Codes::width_for(bound), &codes)
    }
}

impl std::fmt::Debug for Codes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries((0..self.len()).map(|r| self.get(r))).finish()
    }
}

impl PartialEq<Vec<u32>> for Codes {
    fn eq(&self, other: &Vec<u32>) -> bool {
        self.len() == other.len() && other.iter().enumerate().all(|(r, &c)| self.get(r) == c)
    }
}

/// The bytes of a slice of plain values, as written to a segment.
pub fn as_bytes<T: Pod>(values: &[T]) -> &[u8] {
    // SAFETY: `Pod` values have no padding-sensitive invariants; reading their bytes is sound.
    unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file holding `chunks`, each padded with zeros to whole pages; the pieces of each.
    fn file_of(chunks: &[&[u32]]) -> Vec<Piece> {
        let mut file = tempfile_in();
        let mut offset = 0u64;
        let mut out = Vec::new();
        for chunk in chunks {
            let bytes = as_bytes(chunk);
            file.write_all(bytes).unwrap();
            let padded = round_up(bytes.len());
            file.write_all(&vec![0; padded - bytes.len()]).unwrap();
            out.push((offset, padded));
            offset += padded as u64;
        }
        let file = Arc::new(file);
        out.into_iter()
            .map(|(offset, bytes)| Piece { file: Some(file.clone()), offset, bytes })
            .collect()
    }

    fn tempfile_in() -> File {
        let path = std::env::temp_dir().join(format!(
            "reactor-col-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn pieces_and_appends_read_as_one_slice_through_growth_and_clones() {
        let a: Vec<u32> = (0..1024).collect();
        let b: Vec<u32> = (1024..1500).collect();
        let pieces = file_of(&[&a, &b]);
        let mut col = Col::mapped(pieces, 1500, &[1500, 1501]).unwrap();
        let mut want: Vec<u32> = (0..1502).collect();
        assert_eq!(col, want);
        assert_eq!(col.mapped_bytes(), 2 * PAGE);
        let copy = col.clone();
        for v in 1502..10_000 {
            col.push(v);
            want.push(v);
        }
        assert_eq!(col, want);
        assert_eq!(copy.len(), 1502);
        assert_eq!(copy[1501], 1501);
        let again = col.clone();
        assert_eq!(again, want);
    }

    #[test]
    fn a_piece_without_a_file_reads_as_zeros_and_maps_nothing() {
        let a: Vec<u32> = (1..=1024).collect();
        let c: Vec<u32> = (5000..5100).collect();
        let mut pieces = file_of(&[&a, &c]);
        pieces.insert(1, Piece { file: None, offset: 0, bytes: 2 * PAGE });
        let mut col = Col::mapped(pieces, 1024 + 2048 + 100, &[7]).unwrap();
        let mut want = a.clone();
        want.extend(std::iter::repeat(0).take(2048));
        want.extend(&c);
        want.push(7);
        assert_eq!(col, want);
        assert_eq!(col.mapped_bytes(), 2 * PAGE);
        assert_eq!(col.owned_bytes(), 0);
        for v in 0..5000 {
            col.push(v);
            want.push(v);
        }
        assert_eq!(col, want);
        assert_eq!(col.clone(), want);
    }

    #[test]
    fn owned_columns_behave_like_vectors() {
        let mut col: Col<i64> = vec![1, 2].into();
        col.push(3);
        col.extend_from_slice(&[4]);
        assert_eq!(col, vec![1, 2, 3, 4]);
        assert_eq!(col.iter().sum::<i64>(), 10);
    }
}
