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
pub mod prop_file;
pub mod cold;
pub mod segment;
pub mod table;
pub mod tail;
pub mod visit_file;
pub mod visits;

pub use error::{Code, QueryError};
pub use exec::{execute, Answer};
pub use plan::{Limits, Plan};
pub use table::Store;

/// Have every thread allocate from one heap. glibc gives threads heaps of their own, and gives a
/// thread heap's free top back to the system only when it shrinks past a threshold (never on
/// `malloc_trim`), so the scan threads' working memory would stay resident after every query.
/// Called once, first thing in the engine's process.
pub fn keep_one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's settings.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Give the heap's free pages back to the system: a query's working memory (selections, per-person
/// state, sorted rows) is freed when it answers but kept by the allocator, and would otherwise stay
/// resident between queries. The engine process calls this once queries go quiet.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
