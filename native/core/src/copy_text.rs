//! PostgreSQL `COPY … FROM STDIN` text format: one line per row, columns separated by tabs,
//! `\N` for NULL, and backslash escapes for the bytes that would break the framing.

/// Appends one row column by column; columns after the first are preceded by a tab.
pub struct RowWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> RowWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        RowWriter { out, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push(b'\t');
        }
        self.first = false;
    }

    /// A text column, NULL when `None`.
    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.sep();
        match value {
            Some(v) => push_escaped(self.out, v),
            None => self.out.extend_from_slice(b"\\N"),
        }
        self
    }

    /// A column whose bytes are already safe (digits, a formatted timestamp).
    pub fn with_raw(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.sep();
        write(self.out);
        self
    }

    /// Ends the row with a newline.
    pub fn finish(&mut self) {
        self.out.push(b'\n');
    }
}

/// Appends `s` with COPY text escapes. NUL cannot be represented in a PostgreSQL text value
/// at all; validation refuses it upstream, and here it is dropped rather than corrupting the stream.
pub fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0b => b"\\v",
            0x0c => b"\\f",
            0 => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A PostgreSQL `text[]` literal (`{"a","b\"c"}`) of `items`, for a query parameter cast with
/// `::text[]`: one string for PostgreSQL to split, where a list parameter would be converted
/// element by element on the Python side. Every element is quoted, so braces, commas, spaces and
/// the word NULL stay text; only `"` and `\` need a backslash.
pub fn text_array(items: &[String]) -> String {
    let mut out = String::with_capacity(2 + items.iter().map(|s| s.len() + 3).sum::<usize>());
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Decodes one COPY text line (without its newline) back into columns; the inverse of
/// [`RowWriter`]. Used by tests and tools, not on the ingest path.
pub fn decode_row(line: &str) -> Vec<Option<String>> {
    line.split('\t')
        .map(|col| {
            if col == "\\N" {
                return None;
            }
            let mut s = String::with_capacity(col.len());
            let mut chars = col.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    s.push(c);
                    continue;
                }
                match chars.next() {
                    Some('t') => s.push('\t'),
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('b') => s.push('\x08'),
                    Some('v') => s.push('\x0b'),
                    Some('f') => s.push('\x0c'),
                    Some(other) => s.push(other),
                    None => s.push('\\'),
                }
            }
            Some(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_array_quotes_every_element() {
        let items: Vec<String> = [
            "a",
            "",
            "NULL",
            "x,y",
            "{b}",
            "q\"uote",
            "back\\slash",
            " sp ",
            "é😀",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            text_array(&items),
            r#"{"a","","NULL","x,y","{b}","q\"uote","back\\slash"," sp ","é😀"}"#
        );
        assert_eq!(text_array(&[]), "{}");
    }

    fn row(cols: &[Option<&str>]) -> String {
        let mut out = Vec::new();
        let mut w = RowWriter::new(&mut out);
        for c in cols {
            w.text(*c);
        }
        w.finish();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_row_and_null() {
        assert_eq!(row(&[Some("a"), None, Some("c")]), "a\t\\N\tc\n");
        assert_eq!(row(&[Some("")]), "\n");
    }

    #[test]
    fn escapes_framing_bytes() {
        assert_eq!(row(&[Some("a\tb")]), "a\\tb\n");
        assert_eq!(row(&[Some("l1\nl2\r\n")]), "l1\\nl2\\r\\n\n");
        assert_eq!(row(&[Some("C:\\path")]), "C:\\\\path\n");
        // A literal backslash-N must not read back as NULL.
        assert_eq!(row(&[Some("\\N")]), "\\\\N\n");
    }

    #[test]
    fn round_trips_awkward_text() {
        let cols = [
            Some("tab\there"),
            None,
            Some("new\nline and \r return"),
            Some("back\\slash \\N \\t"),
            Some("unicode ✓ café 日本 🚀"),
            Some("{\"k\":\"v\\n\"}"),
            Some("\x08\x0b\x0c"),
            Some(""),
        ];
        let line = row(&cols);
        assert_eq!(line.matches('\n').count(), 1, "exactly one line terminator");
        let back = decode_row(line.strip_suffix('\n').unwrap());
        let want: Vec<Option<String>> = cols.iter().map(|c| c.map(str::to_string)).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn nul_is_dropped() {
        assert_eq!(row(&[Some("a\0b")]), "ab\n");
    }

    #[test]
    fn raw_columns() {
        let mut out = Vec::new();
        RowWriter::new(&mut out)
            .text(Some("x"))
            .with_raw(|o| o.extend_from_slice(b"42"))
            .finish();
        assert_eq!(out, b"x\t42\n");
    }
}
