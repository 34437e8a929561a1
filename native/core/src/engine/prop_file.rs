//! A property column on disk: the codes a project's property (or a hot column's property
//! fallback) was extracted to, for its first `rows` rows, and their labels, so that a restart does
//! not parse every row's JSON again for the properties queries ask about. Written by a seal beside
//! the pieces and named by the same manifest (`segment`), so the rows it describes are exactly
//! the pieces' rows; a file that is missing or fails its checksum is left out and the column is
//! extracted again when asked for.
//!
//! Layout: `MAGIC`, the code width (1, 2 or 4) as a u32, the rows as a u64, the label count as a
//! u32, the codes (little-endian), then every label after code 0 as a u32 length and its bytes.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::table::{label_num, Codes, Interner, PropColumn};

const MAGIC: &[u8; 8] = b"RXPROP01";

/// A property column's file, as the manifest names it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PropFile {
    /// The project's cache key of the column (a property's name, or a hot column's fallback).
    pub key: String,
    pub file: String,
    pub rows: usize,
    pub bytes: u64,
    pub crc: u32,
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// The bytes of a column's file.
pub fn encode(column: &PropColumn) -> Vec<u8> {
    let text = &column.text;
    let (width, codes) = (text.width() as u32, text.range_bytes(0..text.len()));
    let labels = &column.labels;
    let mut out = Vec::with_capacity(24 + codes.len() + labels.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(column.text.len() as u64).to_le_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_le_bytes());
    out.extend_from_slice(codes);
    for code in 1..labels.len() as u32 {
        let text = labels.resolve(code);
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// The column a file's bytes hold.
pub fn decode(bytes: &[u8]) -> io::Result<PropColumn> {
    let mut at = 0usize;
    let mut take = |n: usize| -> io::Result<&[u8]> {
        let slice = bytes.get(at..at + n).ok_or_else(|| bad("a property file cut short"))?;
        at += n;
        Ok(slice)
    };
    if take(8)? != MAGIC {
        return Err(bad("not a property file"));
    }
    let width = u32::from_le_bytes(take(4)?.try_into().unwrap());
    let rows = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
    let raw = take(rows.checked_mul(width as usize).ok_or_else(|| bad("rows"))?)?;
    let text = match width {
        1 => Codes::U8(raw.to_vec().into()),
        2 => Codes::U16(raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
        4 => Codes::U32(raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()),
        _ => return Err(bad("a property file of another code width")),
    };
    let mut labels = Interner::new();
    for _ in 1..count {
        let len = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
        let text = std::str::from_utf8(take(len)?).map_err(|_| bad("a label that is not UTF-8"))?;
        labels.push_unindexed(text);
    }
    labels.reindex();
    let fits = crate::by_width!(&text, v => v.iter().all(|&c| (c as usize) < count.max(1)));
    if !fits || at != bytes.len() {
        return Err(bad("a property file that disagrees with itself"));
    }
    let label_num = (0..labels.len() as u32).map(|c| label_num(labels.resolve(c))).collect();
    Ok(PropColumn { text, labels: Arc::new(labels), label_num })
}

/// Write `column` to `dir/name` (synced: the manifest that names it is written after it).
pub fn write(dir: &Path, name: &str, key: &str, column: &PropColumn) -> io::Result<PropFile> {
    let bytes = encode(column);
    let mut file = fs::OpenOptions::new().create(true).truncate(true).write(true).open(dir.join(name))?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(PropFile {
        key: key.to_string(),
        file: name.to_string(),
        rows: column.text.len(),
        bytes: bytes.len() as u64,
        crc: crc32fast::hash(&bytes),
    })
}

/// The column `meta` names, or an error when its file is missing or damaged.
pub fn read(dir: &Path, meta: &PropFile) -> io::Result<PropColumn> {
    let bytes = fs::read(dir.join(&meta.file))?;
    if bytes.len() as u64 != meta.bytes || crc32fast::hash(&bytes) != meta.crc {
        return Err(bad("a property file fails its checksum"));
    }
    let column = decode(&bytes)?;
    if column.text.len() != meta.rows {
        return Err(bad("a property file of other rows"));
    }
    Ok(column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[Option<&str>], wide: bool) -> PropColumn {
        let mut labels = Interner::new();
        let codes: Vec<u32> = values.iter().map(|v| v.map_or(0, |t| labels.intern(t))).collect();
        let text = Codes::of_width(if wide { 4 } else { 1 }, &codes);
        let label_num = (0..labels.len() as u32).map(|c| label_num(labels.resolve(c))).collect();
        PropColumn { text, labels: Arc::new(labels), label_num }
    }

    fn same(a: &PropColumn, b: &PropColumn) {
        assert_eq!(a.text.len(), b.text.len());
        for row in 0..a.text.len() {
            assert_eq!(a.labels.resolve(a.text.get(row)), b.labels.resolve(b.text.get(row)));
            assert_eq!(a.text.get(row), b.text.get(row));
            assert_eq!(a.num(row).to_bits(), b.num(row).to_bits());
        }
        assert_eq!(a.labels.len(), b.labels.len());
        for code in 0..a.labels.len() as u32 {
            let text = a.labels.resolve(code);
            assert_eq!(a.labels.get(text), b.labels.get(text), "lookup of {text:?}");
        }
    }

    #[test]
    fn a_column_reads_back_as_it_was_written() {
        let values = [Some("pro"), None, Some(""), Some("12.5"), Some("pro"), Some("é \"x\""), Some(""), None];
        for wide in [false, true] {
            let written = column(&values, wide);
            same(&decode(&encode(&written)).unwrap(), &written);
        }
        let empty = column(&[], false);
        same(&decode(&encode(&empty)).unwrap(), &empty);
    }

    #[test]
    fn a_damaged_or_cut_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("reactor-prop-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let written = column(&[Some("a"), Some("b"), None], false);
        let meta = write(&dir, "p.prop", "plan", &written).unwrap();
        same(&read(&dir, &meta).unwrap(), &written);
        let mut bytes = fs::read(dir.join("p.prop")).unwrap();
        bytes[24] ^= 1;
        fs::write(dir.join("p.prop"), &bytes).unwrap();
        assert!(read(&dir, &meta).is_err());
        let good = encode(&written);
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong = good.clone();
        wrong[24] = 9; // a code past the labels
        assert!(decode(&wrong).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
