//! The query engine's columnar store: every project's events held once, in memory, as columns.
//!
//! `table` keeps the columns and the identity map (anonymous id → user), `load` appends rows
//! streamed out of PostgreSQL (COPY text), `plan` reads and validates a query body (the only
//! place that does), `filter` compiles its filters to row predicates, `exec` runs the plan with
//! the scan kernels of `crate::query`, one module per kind. `error` is the closed set of codes
//! a query is refused with.

pub mod col;
pub mod erase;
pub mod error;
pub mod exec;
pub mod filter;
pub mod load;
pub mod plan;
pub mod segment;
pub mod table;
pub mod tail;
pub mod visits;

pub use error::{Code, QueryError};
pub use exec::{execute, Answer};
pub use plan::{Limits, Plan};
pub use table::Store;
