//! Test data for the kinds' tests: a store loaded from events written as the engine's tail
//! reads them (COPY text), and plans read from query bodies as the service sends them.

use serde_json::Value;

use super::{execute, Answer};
use crate::engine::plan::{Limits, Plan};
use crate::engine::table::{Store, HOT_COLUMNS};

/// 2026-01-05T00:00:00Z, a Monday, in seconds.
pub const T0: i64 = 1_767_571_200;
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
/// The clock of the tests' plans: ten days after T0, so the default range (the last 30 days)
/// holds every event.
pub const NOW: i64 = T0 + 10 * DAY;

const LIMITS: Limits = Limits {
    events_max_days: 90,
    max_days: 730,
    max_rows_scanned: 0,
};

/// Rows of the tails, in arrival order, for project "p" unless `in_project` says otherwise.
#[derive(Clone)]
pub struct Rows {
    project: String,
    seq: i64,
    events: String,
    links: String,
    traits: String,
}

fn copy_text(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

impl Rows {
    pub fn new() -> Rows {
        Rows {
            project: "p".into(),
            seq: 0,
            events: String::new(),
            links: String::new(),
            traits: String::new(),
        }
    }

    pub fn in_project(mut self, project: &str) -> Rows {
        self.project = project.into();
        self
    }

    /// The next row gets `seq` (rows committed out of order arrive after higher seqs).
    pub fn next_seq(mut self, seq: i64) -> Rows {
        self.seq = seq - 1;
        self
    }

    /// An event at `ts` (epoch seconds) by `distinct` with `props`.
    pub fn event(self, name: &str, ts: i64, distinct: &str, props: Value) -> Rows {
        self.event_with(name, ts, distinct, &[], props)
    }

    /// An event with hot columns set (`[("path", "/a")]`).
    pub fn event_with(
        mut self,
        name: &str,
        ts: i64,
        distinct: &str,
        hot: &[(&str, &str)],
        props: Value,
    ) -> Rows {
        self.seq += 1;
        let mut line = format!(
            "{}\t{}\t{}\t{}\t{}",
            self.seq,
            self.project,
            copy_text(name),
            ts * 1_000_000,
            copy_text(distinct)
        );
        for column in HOT_COLUMNS {
            line.push('\t');
            match hot.iter().find(|(c, _)| c == column) {
                Some((_, value)) => line.push_str(&copy_text(value)),
                None => line.push_str("\\N"),
            }
        }
        line.push('\t');
        line.push_str(&copy_text(&props.to_string()));
        line.push('\n');
        self.events.push_str(&line);
        self
    }

    /// A pageview of `path`.
    pub fn pageview(self, ts: i64, distinct: &str, path: &str) -> Rows {
        self.event_with(
            "$pageview",
            ts,
            distinct,
            &[("path", path)],
            Value::Object(Default::default()),
        )
    }

    /// `anonymous` is `user` from now on (an `identity_links` row).
    pub fn link(mut self, anonymous: &str, user: &str) -> Rows {
        self.seq += 1;
        self.links.push_str(&format!(
            "{}\t{}\t{anonymous}\t{user}\n",
            self.seq, self.project
        ));
        self
    }

    pub fn traits(mut self, user: &str, traits: Value) -> Rows {
        self.seq += 1;
        self.traits.push_str(&format!(
            "{}\t{}\t{user}\t{}\n",
            self.seq,
            self.project,
            copy_text(&traits.to_string())
        ));
        self
    }

    pub fn store(self) -> Store {
        let mut store = Store::default();
        store.append_events(self.events.as_bytes()).unwrap();
        store.append_links(self.links.as_bytes()).unwrap();
        store.set_traits(self.traits.as_bytes()).unwrap();
        store
    }
}

pub fn plan_with_budget(body: Value, max_rows_scanned: u64) -> Plan {
    let limits = Limits {
        max_rows_scanned,
        ..LIMITS
    };
    Plan::new(body.to_string().as_bytes(), "p", NOW * 1_000_000, &limits)
        .unwrap_or_else(|e| panic!("{body}: {e}"))
}

/// The answer of `body` over `project`.
pub fn answer(store: &Store, project: &str, body: Value) -> Answer {
    let mut plan = plan_with_budget(body, 0);
    plan.project = project.into();
    execute(store, &plan).unwrap()
}

/// The rows of `body`'s answer over project "p".
pub fn rows(store: &Store, body: Value) -> Value {
    answer(store, "p", body).rows
}

/// `[from, to)` as a time range body, in seconds.
pub fn between(from: i64, to: i64) -> Value {
    let iso = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    serde_json::json!({"from": iso(from), "to": iso(to)})
}
