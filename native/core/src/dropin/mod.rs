//! Drop-in capture: the bodies PostHog's and Segment's SDKs send, turned into the `/batch`
//! JSON body the validator reads (as `proto_wire` does for gRPC), so every source shares one
//! validator, one set of limits and one privacy path. Python never builds an object per event.
//!
//! A translation reads each event one level deep (its fields, its properties) and copies every
//! deeper value as the raw text it arrived as. The request's key (PostHog `api_key` / `token`,
//! Segment `writeKey`) comes back beside the body; it is never written into an event.

mod posthog;
mod segment;
mod write;

pub use posthog::posthog;
pub use segment::{segment, SegmentCall};

/// A drop-in body as the native `/batch` body, and the project key found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub body: Vec<u8>,
    pub key: Option<String>,
}

#[cfg(test)]
mod tests;

/// The body as text, after a UTF-8 byte-order mark if any.
fn utf8(body: &[u8]) -> Result<&str, crate::reject::RequestError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    std::str::from_utf8(body).map_err(|e| crate::reject::RequestError::InvalidJson {
        detail: format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
    })
}
