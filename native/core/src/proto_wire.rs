//! gRPC `Batch` straight off the wire: a serialized `BatchRequest`
//! (`proto/reactor/analytics/v1/analytics.proto`) becomes the JSON body of `POST /analytics/v1/batch`,
//! so both transports share one validator and Python never builds an object per event.
//!
//! Only the fields the proto names are read; unknown fields are skipped, as protobuf parsers do,
//! and a repeated scalar keeps its last value. Properties and context must each be one JSON value:
//! they are embedded as sent, so anything else could change the body's shape around them.

use serde_json::value::RawValue;

use crate::reject::RequestError;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

fn malformed(what: &str) -> RequestError {
    RequestError::InvalidRequest {
        detail: format!("malformed BatchRequest: {what}"),
    }
}

enum Value<'a> {
    Scalar,
    Bytes(&'a [u8]),
}

struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, RequestError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| malformed("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RequestError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or_else(|| malformed("field runs past the end"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next (field number, value), or None at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, RequestError> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match (key & 7) as u8 {
            VARINT => self.varint().map(|_| Value::Scalar)?,
            FIXED64 => self.take(8).map(|_| Value::Scalar)?,
            FIXED32 => self.take(4).map(|_| Value::Scalar)?,
            LEN => {
                let n =
                    usize::try_from(self.varint()?).map_err(|_| malformed("length too large"))?;
                Value::Bytes(self.take(n)?)
            }
            _ => return Err(malformed("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn text<'a>(value: Value<'a>, field: &str) -> Result<&'a str, RequestError> {
    match value {
        Value::Bytes(bytes) => {
            std::str::from_utf8(bytes).map_err(|_| malformed(&format!("{field} is not UTF-8")))
        }
        Value::Scalar => Err(malformed(&format!("{field} is not a string"))),
    }
}

fn bytes<'a>(value: Value<'a>, field: &str) -> Result<&'a [u8], RequestError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        Value::Scalar => Err(malformed(&format!("{field} is not bytes"))),
    }
}

fn put_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn put_str(out: &mut Vec<u8>, key: &str, value: &str) {
    put_key(out, key);
    serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
}

fn put_json(out: &mut Vec<u8>, key: &str, value: &[u8], index: usize) -> Result<(), RequestError> {
    let raw: &RawValue = serde_json::from_slice(value).map_err(|e| RequestError::InvalidJson {
        detail: format!("events[{index}].{key}: {e}"),
    })?;
    put_key(out, key);
    out.extend_from_slice(raw.get().as_bytes());
    Ok(())
}

/// One `Event` as the HTTP API's event object; empty fields are left out, except the name, so
/// an empty name is refused as it is over HTTP.
fn event(buf: &[u8], index: usize, out: &mut Vec<u8>) -> Result<(), RequestError> {
    const NAMES: [&str; 8] = [
        "",
        "event",
        "anonymous_id",
        "user_id",
        "properties",
        "context",
        "timestamp",
        "message_id",
    ];
    let mut strings: [&str; 8] = [""; 8];
    let mut json: [&[u8]; 8] = [&[]; 8];
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            4 | 5 => json[number as usize] = bytes(value, NAMES[number as usize])?,
            1..=7 => strings[number as usize] = text(value, NAMES[number as usize])?,
            _ => {}
        }
    }
    out.extend_from_slice(b"{\"event\":");
    serde_json::to_writer(&mut *out, strings[1]).expect("writing to a Vec cannot fail");
    for number in 2..8 {
        if matches!(number, 4 | 5) {
            if !json[number].is_empty() {
                put_json(out, NAMES[number], json[number], index)?;
            }
        } else if !strings[number].is_empty() {
            put_str(out, NAMES[number], strings[number]);
        }
    }
    out.push(b'}');
    Ok(())
}

/// The `/batch` JSON body of a serialized `BatchRequest`: `{"batch": [...], "sent_at", "project_id"}`.
pub fn batch_body(buf: &[u8]) -> Result<Vec<u8>, RequestError> {
    let mut out = Vec::with_capacity(buf.len() + buf.len() / 4 + 64);
    out.extend_from_slice(b"{\"batch\":[");
    let (mut project, mut sent_at, mut count) = ("", "", 0usize);
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => project = text(value, "project")?,
            2 => {
                if count > 0 {
                    out.push(b',');
                }
                event(bytes(value, "events")?, count, &mut out)?;
                count += 1;
            }
            3 => sent_at = text(value, "sent_at")?,
            _ => {}
        }
    }
    out.push(b']');
    if !sent_at.is_empty() {
        put_str(&mut out, "sent_at", sent_at);
    }
    if !project.is_empty() {
        put_str(&mut out, "project_id", project);
    }
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value as Json};

    fn key(number: u64, wire: u8, out: &mut Vec<u8>) {
        varint(number << 3 | u64::from(wire), out);
    }

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn len_field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        key(number, LEN, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    fn body(buf: &[u8]) -> Json {
        serde_json::from_slice(&batch_body(buf).expect("valid")).expect("JSON")
    }

    #[test]
    fn events_become_the_http_body_with_empty_fields_left_out() {
        let mut ev = Vec::new();
        len_field(1, b"signup \"quoted\"", &mut ev);
        len_field(2, b"anon-1", &mut ev);
        len_field(4, br#"{"plan": "pro", "n": 9007199254740993}"#, &mut ev);
        len_field(7, b"", &mut ev);
        key(9, VARINT, &mut ev); // unknown field
        varint(300, &mut ev);
        let mut req = Vec::new();
        len_field(1, b"web-prod", &mut req);
        len_field(2, &ev, &mut req);
        len_field(2, &[], &mut req);
        len_field(3, b"2026-11-22T10:00:00Z", &mut req);
        let raw = batch_body(&req).unwrap();
        assert!(
            std::str::from_utf8(&raw)
                .unwrap()
                .contains("9007199254740993"),
            "numbers stay as sent"
        );
        assert_eq!(
            body(&req),
            json!({"batch": [
                {"event": "signup \"quoted\"", "anonymous_id": "anon-1", "properties": {"plan": "pro", "n": 9007199254740993u64}},
                {"event": ""}
            ], "sent_at": "2026-11-22T10:00:00Z", "project_id": "web-prod"})
        );
    }

    #[test]
    fn an_empty_request_is_an_empty_batch() {
        assert_eq!(body(&[]), json!({"batch": []}));
    }

    #[test]
    fn properties_that_are_not_one_json_value_are_refused() {
        for bad in [&b"{not json"[..], b"{}, {\"event\": \"x\"}", b"1 2"] {
            let mut ev = Vec::new();
            len_field(1, b"e", &mut ev);
            len_field(4, bad, &mut ev);
            let mut req = Vec::new();
            len_field(2, &ev, &mut req);
            let err = batch_body(&req).unwrap_err();
            assert_eq!(err.code(), "analytics.invalid_json");
            assert!(err.message().contains("events[0].properties"));
        }
    }

    #[test]
    fn malformed_wire_data_is_an_invalid_request_never_a_panic() {
        let mut not_utf8 = Vec::new();
        len_field(1, &[0xff, 0xfe], &mut not_utf8);
        let mut scalar_event = Vec::new();
        key(2, VARINT, &mut scalar_event);
        varint(1, &mut scalar_event);
        let cases: Vec<Vec<u8>> = vec![
            vec![0x0a, 0x05, b'a'], // length past the end
            vec![0x0a],             // missing length
            vec![0xff; 11],         // endless varint
            vec![0x0b],             // wire type 3 (groups)
            not_utf8,
            scalar_event,
        ];
        for case in cases {
            assert_eq!(
                batch_body(&case).unwrap_err().code(),
                "analytics.invalid_request",
                "{case:?}"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..2000 {
            let buf: Vec<u8> = (0..len % 97)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            if let Ok(out) = batch_body(&buf) {
                serde_json::from_slice::<Json>(&out).expect("whatever is produced is JSON");
            }
        }
    }
}
