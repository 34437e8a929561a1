//! Reactor Analytics core: the ingest path from HTTP body to COPY rows, and the query engine,
//! in plain Rust.
//!
//! Ingest: `validate::parse_request` (one-pass lazy parse in `json`, per-event validation,
//! `enrich::normalise` into hot columns) → `encode::encode` (project and opt-out checks,
//! `copy_text` rows of `columns::EVENT_COLUMNS`). Rejections are the closed set in `reject`.
//! Queries: `engine::Plan::new` reads and validates a query body, `engine::execute` runs it over
//! the columns `engine` holds with the kernels of `query`; refusals are the closed set in
//! `engine::error`. No Python here; `native/py` only converts.

pub mod columns;
pub mod cookieless;
pub mod copy_text;
pub mod country;
mod country_table;
pub mod dropin;
pub mod encode;
pub mod engine;
pub mod enrich;
pub mod fingerprint;
pub mod geoip;
pub mod ip;
pub mod json;
pub mod proto_wire;
pub mod query;
pub mod reject;
pub mod time;
pub mod url;
pub mod useragent;
pub mod validate;

pub use columns::{EVENT_COLUMNS, HOT_COLUMNS};
pub use encode::{encode, encode_for, EncodedBatch, ErrorOccurrences, ProjectRules};
pub use reject::{Extra, RejectReason, RequestError};
pub use validate::{parse_request, Limits, ParsedRequest, RequestInfo, RequestKind};
