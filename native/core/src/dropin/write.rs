//! Writing the native `/batch` body: JSON objects assembled from raw slices of the input.

use serde_json::value::RawValue;

use crate::json::RawObject;

/// One JSON object being written: `{"k":v,...}`.
pub struct Obj<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Obj<'b> {
    pub fn open(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        Obj { buf, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        string(self.buf, key);
        self.buf.push(b':');
    }

    /// A value that is already JSON text.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        string(self.buf, value);
        self
    }

    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        self.buf.extend_from_slice(value.to_string().as_bytes());
        self
    }

    /// A nested object written by `fill`.
    pub fn object(&mut self, key: &str, fill: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(key);
        let mut inner = Obj::open(self.buf);
        fill(&mut inner);
        inner.close();
        self
    }

    /// Every entry of `obj` whose key is not in `skip`, in order (duplicates kept: the last
    /// wins when the validator and `jsonb` read them).
    pub fn entries(&mut self, obj: &RawObject<'_>, skip: &[&str]) -> &mut Self {
        for (k, v) in &obj.0 {
            if !skip.contains(&k.as_ref()) {
                self.raw(k, v.get());
            }
        }
        self
    }

    pub fn close(self) {
        self.buf.push(b'}');
    }
}

/// A JSON string literal.
pub fn string(buf: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

/// An id as the validator takes it: a string as sent, a number as its text; anything else is
/// passed on raw for the validator to refuse with the field's name.
pub fn id(obj: &mut Obj<'_>, key: &str, raw: &RawValue) {
    match crate::json::kind(raw) {
        crate::json::Kind::Number => obj.str(key, raw.get()),
        _ => obj.raw(key, raw.get()),
    };
}
