//! The query engine's columnar store: every project's events held once, in memory, as columns.
//!
//! `table` keeps the columns and the identity map (anonymous id → user), `load` appends rows
//! streamed out of PostgreSQL (COPY text), `filter` compiles query filters to row predicates,
//! `exec` runs a validated plan with the scan kernels of `crate::query`.

pub mod erase;
pub mod exec;
pub mod filter;
pub mod load;
pub mod plan;
pub mod table;
pub mod tail;

pub use exec::execute;
pub use table::Store;
