//! `reactor_analytics._native`: the Python face of `reactor-core`. This layer only converts
//! arguments and results; every decision lives in the core crate.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use reactor_core::{self as core, Extra, RequestError};

create_exception!(
    reactor_analytics._native,
    QueryError,
    PyValueError,
    "A query was refused or ran over its budget. args = (code, message); also .code, .message and .extra."
);

create_exception!(
    reactor_analytics._native,
    IngestError,
    PyValueError,
    "The whole request body was refused. args = (code, message); also .code and .message."
);

create_exception!(
    reactor_analytics._native,
    GeoDbError,
    PyValueError,
    "A geo database cannot be used. args = (code, message)."
);

/// A MaxMind DB (`.mmdb`), read and verified once; passed to `parse_request` as `geo`.
#[pyclass(module = "reactor_analytics._native", name = "GeoDb", frozen)]
struct GeoDb {
    inner: core::geoip::GeoDb,
}

#[pymethods]
impl GeoDb {
    #[new]
    fn new(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        py.detach(|| core::geoip::GeoDb::open(&path))
            .map(|inner| GeoDb { inner })
            .map_err(|e| GeoDbError::new_err((e.code(), e.to_string())))
    }

    #[getter]
    fn database_type(&self) -> &str {
        self.inner.database_type()
    }

    /// The country code of the address `ip`, or None.
    fn country(&self, ip: &str) -> Option<&'static str> {
        self.inner.country_of(ip)
    }

    fn __repr__(&self) -> String {
        format!("GeoDb(database_type={:?})", self.inner.database_type())
    }
}

fn ingest_error(py: Python<'_>, e: RequestError) -> PyErr {
    let (code, message) = (e.code(), e.message());
    let err = IngestError::new_err((code, message.clone()));
    let value = err.value(py);
    // Exception instances have a __dict__, so these cannot fail in practice.
    let _ = value.setattr("code", code);
    let _ = value.setattr("message", message);
    err
}

fn query_error(py: Python<'_>, e: core::engine::QueryError) -> PyErr {
    let (code, message) = (e.code.as_str(), e.message.clone());
    let err = QueryError::new_err((code, message.clone()));
    let value = err.value(py);
    let extra = PyDict::new(py);
    for (k, v) in e.extras() {
        // A dict of str keys and str/int values: these cannot fail.
        let _ = match v {
            Extra::Str(s) => extra.set_item(k, s),
            Extra::Int(i) => extra.set_item(k, i),
        };
    }
    let _ = value.setattr("code", code);
    let _ = value.setattr("message", message);
    let _ = value.setattr("extra", extra);
    err
}

/// A query body read and validated for one project, ready for `Engine.execute`.
#[pyclass(module = "reactor_analytics._native", name = "QueryPlan", frozen)]
struct QueryPlan {
    inner: core::engine::Plan,
}

#[pymethods]
impl QueryPlan {
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.name()
    }

    #[getter]
    fn project_id(&self) -> &str {
        &self.inner.project
    }

    fn __repr__(&self) -> String {
        format!(
            "QueryPlan(kind={:?}, project_id={:?})",
            self.inner.kind.name(),
            self.inner.project
        )
    }
}

/// Read and validate a query body (see `_native.pyi`).
#[pyfunction]
#[pyo3(signature = (body, project_id, *, now_us, events_max_days, max_days, max_rows_scanned))]
fn plan_query(
    py: Python<'_>,
    body: &[u8],
    project_id: &str,
    now_us: i64,
    events_max_days: u32,
    max_days: u32,
    max_rows_scanned: u64,
) -> PyResult<QueryPlan> {
    let limits = core::engine::Limits {
        events_max_days,
        max_days,
        max_rows_scanned,
    };
    py.detach(|| core::engine::Plan::new(body, project_id, now_us, &limits))
        .map(|inner| QueryPlan { inner })
        .map_err(|e| query_error(py, e))
}

/// A request body that was understood; `encode` turns it into COPY rows for one project.
#[pyclass(module = "reactor_analytics._native", name = "ParsedRequest", frozen)]
struct ParsedRequest {
    inner: core::ParsedRequest,
}

#[pymethods]
impl ParsedRequest {
    #[getter]
    fn project_id(&self) -> Option<&str> {
        self.inner.project_id.as_deref()
    }

    #[getter]
    fn key(&self) -> Option<&str> {
        self.inner.key.as_deref()
    }

    #[getter]
    fn anonymous_ids(&self) -> Vec<&str> {
        self.inner
            .anonymous_ids
            .iter()
            .map(String::as_str)
            .collect()
    }

    #[getter]
    fn anonymous_ids_array(&self) -> String {
        core::copy_text::text_array(&self.inner.anonymous_ids)
    }

    #[getter]
    fn event_count(&self) -> usize {
        self.inner.event_count()
    }

    #[getter]
    fn cookieless(&self) -> bool {
        self.inner.cookieless
    }

    #[pyo3(signature = (project_id, project_slug, opted_out, *, sources = Vec::new(), auto_register_sources = false, cookieless_salt = None))]
    #[allow(clippy::too_many_arguments)]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        project_id: &str,
        project_slug: &str,
        opted_out: Vec<String>,
        sources: Vec<String>,
        auto_register_sources: bool,
        cookieless_salt: Option<Vec<u8>>,
    ) -> PyResult<EncodedBatch> {
        let enc = py.detach(|| {
            let opted_out: Vec<&str> = opted_out.iter().map(String::as_str).collect();
            let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
            let rules = core::ProjectRules {
                sources: &sources,
                auto_register_sources,
                cookieless_salt: cookieless_salt.as_deref(),
            };
            core::encode_for(&self.inner, project_id, project_slug, &opted_out, &rules)
        });
        EncodedBatch::from_core(py, enc)
    }

    fn __repr__(&self) -> String {
        // The key is a credential: shown only as present or not.
        let project_id = match &self.inner.project_id {
            Some(p) => format!("{p:?}"),
            None => "None".to_string(),
        };
        let key = if self.inner.key.is_some() {
            "'…'"
        } else {
            "None"
        };
        format!(
            "ParsedRequest(event_count={}, project_id={project_id}, key={key})",
            self.inner.event_count()
        )
    }
}

/// COPY text rows plus everything the caller needs to answer and to store identities.
#[pyclass(
    module = "reactor_analytics._native",
    name = "EncodedBatch",
    frozen,
    get_all
)]
struct EncodedBatch {
    copy_rows: Py<PyBytes>,
    accepted: usize,
    rejected: Py<PyList>,
    links: Py<PyList>,
    traits: Py<PyList>,
    users: Py<PyList>,
    /// (fingerprint, type, message, count, first_ts_us, last_ts_us) per error group, sorted.
    errors: Py<PyList>,
    new_sources: Py<PyList>,
}

impl EncodedBatch {
    fn from_core(py: Python<'_>, enc: core::EncodedBatch) -> PyResult<Self> {
        let rejected = PyList::empty(py);
        for (index, reason) in &enc.rejected {
            let d = PyDict::new(py);
            d.set_item("index", index)?;
            d.set_item("reason", reason.code())?;
            d.set_item("message", reason.message())?;
            for (k, v) in reason.extras() {
                match v {
                    Extra::Str(s) => d.set_item(k, s)?,
                    Extra::Int(i) => d.set_item(k, i)?,
                }
            }
            rejected.append(d)?;
        }
        let pairs = |items: &[(String, String)]| -> PyResult<Py<PyList>> {
            let list = PyList::empty(py);
            for (a, b) in items {
                list.append(PyTuple::new(py, [a.as_str(), b.as_str()])?)?;
            }
            Ok(list.unbind())
        };
        Ok(EncodedBatch {
            copy_rows: PyBytes::new(py, &enc.copy_rows).unbind(),
            accepted: enc.accepted,
            rejected: rejected.unbind(),
            links: pairs(&enc.links)?,
            traits: pairs(&enc.traits)?,
            users: PyList::new(py, &enc.users)?.unbind(),
            errors: {
                let list = PyList::empty(py);
                for g in &enc.errors {
                    list.append((
                        g.fingerprint.as_str(),
                        g.error_type.as_str(),
                        g.message.as_str(),
                        g.count,
                        g.first_ts,
                        g.last_ts,
                    ))?;
                }
                list.unbind()
            },
            new_sources: PyList::new(py, &enc.new_sources)?.unbind(),
        })
    }
}

#[pymethods]
impl EncodedBatch {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "EncodedBatch(accepted={}, rejected={}, links={}, traits={})",
            self.accepted,
            self.rejected.bind(py).len(),
            self.links.bind(py).len(),
            self.traits.bind(py).len()
        )
    }
}

/// The query engine's columnar store: every project's events, held once per engine process.
#[pyclass(module = "reactor_analytics._native", name = "Engine", frozen)]
struct Engine {
    store: std::sync::RwLock<core::engine::Store>,
}

#[pymethods]
impl Engine {
    /// `map_min_rows`: projects with fewer rows in segments are read into memory, not mapped.
    #[new]
    #[pyo3(signature = (map_min_rows = core::engine::segment::MAP_MIN_ROWS))]
    fn new(map_min_rows: usize) -> Self {
        Engine {
            store: std::sync::RwLock::new(core::engine::Store {
                map_min_rows,
                ..core::engine::Store::default()
            }),
        }
    }

    /// (highest seq read, seqs still missing below it) of the tail `events`, `links` or `traits`.
    fn tail_position(&self, name: &str) -> PyResult<(i64, Vec<i64>)> {
        let mut store = self.store.write().unwrap();
        let now = std::time::Instant::now();
        let tail = match name {
            "events" => &mut store.tails.events,
            "links" => &mut store.tails.links,
            "traits" => &mut store.tails.traits,
            other => return Err(PyValueError::new_err(format!("unknown tail {other}"))),
        };
        Ok(tail.position(now))
    }

    /// Append COPY text rows read from the tail `name`; returns how many rows were read.
    fn append(&self, py: Python<'_>, name: &str, data: &[u8]) -> PyResult<usize> {
        py.detach(|| {
            let mut store = self.store.write().unwrap();
            match name {
                "events" => store.append_events(data),
                "links" => store.append_links(data),
                "traits" => store.set_traits(data),
                other => Err(core::engine::load::LoadError(format!(
                    "unknown tail {other}"
                ))),
            }
        })
        .map_err(|e| PyValueError::new_err(e.0))
    }

    /// Forget a person (all ids linked to `ids`) and the rows `seqs`; returns (rows, ids) forgotten.
    fn erase_person(
        &self,
        py: Python<'_>,
        project_id: &str,
        ids: Vec<String>,
        seqs: Vec<i64>,
    ) -> PyResult<(usize, usize)> {
        py.detach(|| {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut store = self.store.write().unwrap();
            let erased = store.erase_person(project_id, &ids, &seqs);
            if erased.rows > 0 || erased.ids > 0 {
                store.segments_forget(project_id)?;
            }
            Ok((erased.rows, erased.ids))
        })
    }

    /// Retention: forget the project's rows older than `cutoff_us` (epoch µs).
    fn drop_before(&self, py: Python<'_>, project_id: &str, cutoff_us: i64) -> PyResult<usize> {
        py.detach(|| {
            let mut store = self.store.write().unwrap();
            let removed = store.drop_before(project_id, cutoff_us);
            if removed > 0 {
                store.segments_forget(project_id)?;
            }
            Ok(removed)
        })
    }

    /// Replace what the engine holds with the segments in `dir`: True when they were opened,
    /// False when there are none. Raises OSError when they cannot be used.
    fn open_segments(&self, py: Python<'_>, dir: PathBuf) -> PyResult<bool> {
        py.detach(|| {
            let map_min_rows = self.store.read().unwrap().map_min_rows;
            let opened = core::engine::Store::open(&dir, map_min_rows)?;
            Ok(match opened {
                Some(store) => {
                    *self.store.write().unwrap() = store;
                    true
                }
                None => false,
            })
        })
    }

    /// Forget everything held (segments that could not be trusted were opened).
    fn reset(&self) {
        let mut store = self.store.write().unwrap();
        *store = core::engine::Store {
            map_min_rows: store.map_min_rows,
            ..core::engine::Store::default()
        };
    }

    /// Remove every segment file in `dir`.
    #[staticmethod]
    fn clear_segments(dir: PathBuf) -> PyResult<()> {
        Ok(core::engine::segment::clear(&dir)?)
    }

    /// Write what is not yet in a segment to `dir`: (pieces, rows, bytes) written. `mark` is kept
    /// with them (`segments_mark`).
    fn seal(&self, py: Python<'_>, dir: PathBuf, mark: i64) -> PyResult<(usize, usize, u64)> {
        py.detach(|| {
            let sealed = self.store.write().unwrap().seal(&dir, mark)?;
            Ok((sealed.pieces, sealed.rows, sealed.bytes))
        })
    }

    /// The mark the segments were last sealed or opened with, or None.
    fn segments_mark(&self) -> Option<i64> {
        self.store.read().unwrap().segments.as_ref().map(|s| s.mark)
    }

    /// Have every thread of the process allocate from one heap, whose free pages
    /// `release_free_memory` can give back (call first thing in the engine's process).
    #[staticmethod]
    fn keep_one_heap() {
        core::engine::keep_one_heap();
    }

    /// Give the heap's free pages back to the system (a query's working memory, once freed).
    #[staticmethod]
    fn release_free_memory(py: Python<'_>) {
        py.detach(core::engine::release_free_memory);
    }

    /// Property columns and visits queries derived that the next seal would save.
    fn unsaved_derived(&self) -> usize {
        self.store.read().unwrap().unsaved_derived()
    }

    /// Rows held in memory only (not yet in a segment).
    fn unsealed_rows(&self) -> usize {
        self.store.read().unwrap().unsealed_rows()
    }

    /// Whether anything the project holds contains `needle` (proves an erasure).
    fn mentions(&self, py: Python<'_>, project_id: &str, needle: &str) -> bool {
        py.detach(|| self.store.read().unwrap().mentions(project_id, needle))
    }

    /// Run a plan: (rows as a JSON array, rows scanned, the comparison rows as a JSON array or
    /// None); raises QueryError.
    fn execute<'py>(
        &self,
        py: Python<'py>,
        plan: &QueryPlan,
    ) -> PyResult<(Bound<'py, PyBytes>, u64, Option<Bound<'py, PyBytes>>)> {
        let answer = py.detach(|| {
            let store = self.store.read().unwrap();
            core::engine::execute(&store, &plan.inner).map(|a| {
                (
                    serde_json::to_vec(&a.rows).unwrap_or_default(),
                    a.rows_scanned,
                    a.comparison
                        .map(|c| serde_json::to_vec(&c).unwrap_or_default()),
                )
            })
        });
        let (rows, scanned, comparison) = answer.map_err(|e| query_error(py, e))?;
        Ok((
            PyBytes::new(py, &rows),
            scanned,
            comparison.map(|c| PyBytes::new(py, &c)),
        ))
    }

    /// {"projects", "rows", "bytes"}: what the engine holds.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let store = self.store.read().unwrap();
        let d = PyDict::new(py);
        d.set_item("projects", store.projects.len())?;
        d.set_item(
            "rows",
            store.projects.values().map(|p| p.len()).sum::<usize>(),
        )?;
        let (owned, mapped) = store.memory_bytes();
        d.set_item("bytes", owned)?;
        d.set_item("mapped_bytes", mapped)?;
        d.set_item(
            "sealed_rows",
            store.projects.values().map(|p| p.sealed_rows()).sum::<usize>(),
        )?;
        Ok(d)
    }
}

/// Parse and validate an ingest request body (see `_native.pyi`).
#[pyfunction]
#[pyo3(signature = (
    body, kind, *, received_at_ms, ip, user_agent, accept_language,
    max_properties_bytes = 32768, max_batch_events = 100, geo = None
))]
#[allow(clippy::too_many_arguments)]
fn parse_request(
    py: Python<'_>,
    body: &[u8],
    kind: &str,
    received_at_ms: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
    accept_language: Option<&str>,
    max_properties_bytes: usize,
    max_batch_events: usize,
    geo: Option<PyRef<'_, GeoDb>>,
) -> PyResult<ParsedRequest> {
    let kind = core::RequestKind::parse(kind).map_err(|e| ingest_error(py, e))?;
    let info = core::RequestInfo {
        received_at_ms,
        ip,
        user_agent,
        accept_language,
        geo: geo.as_deref().map(|g| &g.inner),
    };
    let limits = core::Limits {
        max_properties_bytes,
        max_batch_events,
    };
    py.detach(|| core::parse_request(body, kind, &info, &limits))
        .map(|inner| ParsedRequest { inner })
        .map_err(|e| ingest_error(py, e))
}

/// The `/batch` JSON body of a serialized gRPC `BatchRequest` (see `_native.pyi`).
#[pyfunction]
fn batch_body_from_proto<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let body = py
        .detach(|| core::proto_wire::batch_body(data))
        .map_err(|e| ingest_error(py, e))?;
    Ok(PyBytes::new(py, &body))
}

/// The native `/batch` body of a PostHog or Segment capture body, and the project key it
/// carries (see `_native.pyi`).
#[pyfunction]
#[pyo3(signature = (source, body, *, received_at_ms, sent_at_ms = None, call = None))]
fn dropin_body<'py>(
    py: Python<'py>,
    source: &str,
    body: &[u8],
    received_at_ms: i64,
    sent_at_ms: Option<i64>,
    call: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, Option<String>)> {
    let refused = |detail: String| RequestError::InvalidRequest { detail };
    let translated = py
        .detach(|| match (source, call) {
            ("posthog", _) => core::dropin::posthog(body, received_at_ms, sent_at_ms),
            ("segment", None) => core::dropin::segment(body, None),
            ("segment", Some(name)) => match core::dropin::SegmentCall::parse(name) {
                Some(call) => core::dropin::segment(body, Some(call)),
                None => Err(refused(format!("unknown Segment call '{name}'"))),
            },
            (other, _) => Err(refused(format!("unknown drop-in source '{other}'"))),
        })
        .map_err(|e| ingest_error(py, e))?;
    Ok((PyBytes::new(py, &translated.body), translated.key))
}

/// IPv4 → /24, IPv6 → /48, as text; None when `ip` is not an address.
#[pyfunction]
fn truncate_ip(ip: &str) -> Option<String> {
    core::ip::truncate_ip(ip)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("IngestError", py.get_type::<IngestError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("GeoDbError", py.get_type::<GeoDbError>())?;
    m.add_class::<GeoDb>()?;
    m.add_class::<Engine>()?;
    m.add_class::<QueryPlan>()?;
    m.add_class::<ParsedRequest>()?;
    m.add_class::<EncodedBatch>()?;
    m.add_function(wrap_pyfunction!(parse_request, m)?)?;
    m.add_function(wrap_pyfunction!(plan_query, m)?)?;
    m.add_function(wrap_pyfunction!(batch_body_from_proto, m)?)?;
    m.add_function(wrap_pyfunction!(dropin_body, m)?)?;
    m.add_function(wrap_pyfunction!(truncate_ip, m)?)?;
    m.add("EVENT_COLUMNS", PyTuple::new(py, core::EVENT_COLUMNS)?)?;
    m.add("HOT_COLUMNS", PyTuple::new(py, core::HOT_COLUMNS)?)?;
    m.add(
        "SYSTEM_EVENTS",
        PyTuple::new(py, core::validate::SYSTEM_EVENTS)?,
    )?;
    Ok(())
}
