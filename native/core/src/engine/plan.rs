//! A query plan, as the service hands it over after validating the request (JSON).

use serde::Deserialize;

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Event(Cond),
    Prop(NamedCond),
    Trait(NamedCond),
}

#[derive(Deserialize, Debug, Clone)]
pub struct Cond {
    pub op: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

#[derive(Deserialize, Debug, Clone)]
pub struct NamedCond {
    pub name: String,
    pub op: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

#[derive(Deserialize, Debug, Clone)]
pub struct GroupBy {
    /// "prop" (hot column or property) or "trait".
    pub source: String,
    pub name: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Measure {
    /// count, unique_users, sum, avg, min, max, percentile
    pub kind: String,
    #[serde(default)]
    pub prop: Option<String>,
    #[serde(default)]
    pub p: Option<f64>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Step {
    pub event: String,
    #[serde(default)]
    pub filter: Option<Filter>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Plan {
    pub project: String,
    pub kind: String,
    pub from_us: i64,
    pub to_us: i64,
    /// "now", for flagging retention periods that have not ended.
    pub now_us: i64,
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub measure: Option<Measure>,
    #[serde(default)]
    pub group_by: Vec<GroupBy>,
    #[serde(default)]
    pub time_bucket: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub window_us: i64,
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub cohort_event: Option<String>,
    #[serde(default)]
    pub return_event: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub periods: usize,
    #[serde(default)]
    pub prop: Option<String>,
    #[serde(default)]
    pub limit: usize,
    #[serde(default)]
    pub start_event: Option<String>,
    #[serde(default)]
    pub end_event: Option<String>,
    #[serde(default)]
    pub depth: usize,
    #[serde(default)]
    pub max_rows_scanned: u64,
}

fn utc() -> String {
    "UTC".into()
}
