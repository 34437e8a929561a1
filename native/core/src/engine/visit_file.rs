//! The visits on disk: the arrays of a project's `Visits`, written by a seal beside the pieces
//! and named by the same manifest (`segment`), so that after a restart the first web query maps
//! them instead of deriving every visit again, and they are the page cache's pages, not the
//! process's. The manifest also keeps the persons links moved after the visits were derived,
//! whose visits are derived again (with the rows past the file) when they are next asked for. A
//! file that is missing or fails its checksum is left out and the visits derived again.
//!
//! Layout: `MAGIC`, then each array of `Visits` from a page of its own, in the order `write` lists
//! them (an array of zeros is not written: its layout says offset 0, see `segment::PieceWriter`).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::col::{as_bytes, Col, Piece, Pod};
use super::segment::{checksum, PieceWriter};
use super::visits::Visits;

const MAGIC: &[u8; 8] = b"RXVIS001";
const ARRAYS: usize = 13;

/// A visits file, as the manifest names it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VisitFile {
    pub file: String,
    /// The rows the visits cover: the project's first `rows`.
    pub rows: usize,
    pub visits: usize,
    pub views: usize,
    /// (offset, bytes) of each array.
    pub layout: Vec<(u64, usize)>,
    pub bytes: u64,
    pub crc: u32,
}

/// A project's saved visits: the file, how much of `Project::moved_persons` they had seen, and
/// when they were written.
#[derive(Clone, Debug)]
pub struct Saved {
    pub meta: VisitFile,
    pub seen: usize,
    pub at: Instant,
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Write `visits` to `dir/name` (synced: the manifest that names it is written after it); the
/// file, and the same visits (with their dimension keys) mapped from it.
pub fn write(dir: &Path, name: &str, visits: &Visits) -> io::Result<(VisitFile, Visits)> {
    let mut w = PieceWriter::create(&dir.join(name), MAGIC)?;
    let v = visits;
    for bytes in [
        as_bytes(&v.order),
        as_bytes(&v.bounds),
        as_bytes(&v.person),
        as_bytes(&v.first_ts),
        as_bytes(&v.last_ts),
        as_bytes(&v.first_row),
        as_bytes(&v.entry_row),
        as_bytes(&v.exit_row),
        as_bytes(&v.bounce),
        as_bytes(&v.pv_bounds),
        as_bytes(&v.pv_pos),
        as_bytes(&v.pv_path),
        as_bytes(&v.pv_time),
    ] {
        w.column(bytes)?;
    }
    let (layout, bytes, crc) = w.finish()?;
    let meta = VisitFile { file: name.to_string(), rows: v.len, visits: v.count(), views: v.pv_pos.len(), layout, bytes, crc };
    let mut mapped = map(dir, &meta, v.revision)?;
    mapped.moved = v.moved;
    *mapped.keys.lock().unwrap() = v.keys.lock().unwrap().clone();
    Ok((meta, mapped))
}

/// The visits `meta` names, mapped (checksummed first), as of `revision` and having seen none of
/// the moved persons; an error when the file is missing, damaged or disagrees with itself.
pub fn read(dir: &Path, meta: &VisitFile, revision: u64) -> io::Result<Visits> {
    if meta.layout.len() != ARRAYS || checksum(&dir.join(&meta.file), meta.bytes)? != meta.crc {
        return Err(bad("a visits file fails its checksum"));
    }
    map(dir, meta, revision)
}

/// The arrays of the file `meta` names, mapped as they are.
fn map(dir: &Path, meta: &VisitFile, revision: u64) -> io::Result<Visits> {
    let file = Arc::new(File::open(dir.join(&meta.file))?);
    fn map<T: Pod>(file: &Arc<File>, (offset, bytes): (u64, usize), len: usize) -> io::Result<Col<T>> {
        if len * std::mem::size_of::<T>() > bytes {
            return Err(bad("a visits file cut short"));
        }
        let piece = Piece { file: (offset != 0).then(|| file.clone()), offset, bytes };
        Col::mapped(vec![piece], len, &[])
    }
    let (n, views) = (meta.visits, meta.views);
    let visits = Visits {
        len: meta.rows,
        revision,
        moved: 0,
        order: map(&file, meta.layout[0], meta.rows)?,
        bounds: map(&file, meta.layout[1], n + 1)?,
        person: map(&file, meta.layout[2], n)?,
        first_ts: map(&file, meta.layout[3], n)?,
        last_ts: map(&file, meta.layout[4], n)?,
        first_row: map(&file, meta.layout[5], n)?,
        entry_row: map(&file, meta.layout[6], n)?,
        exit_row: map(&file, meta.layout[7], n)?,
        bounce: map(&file, meta.layout[8], n)?,
        pv_bounds: map(&file, meta.layout[9], n + 1)?,
        pv_pos: map(&file, meta.layout[10], views)?,
        pv_path: map(&file, meta.layout[11], views)?,
        pv_time: map(&file, meta.layout[12], views)?,
        keys: Default::default(),
    };
    let last = |c: &Col<u32>| c.last().copied().unwrap_or(0) as usize;
    if last(&visits.bounds) != meta.rows || last(&visits.pv_bounds) != views {
        return Err(bad("a visits file that disagrees with itself"));
    }
    Ok(visits)
}
