//! Running a plan: choose rows (project, time range, filter), resolve persons, and hand columns
//! to the scan kernels of `crate::query`. Answers are JSON rows in the shapes the API documents.

use std::collections::HashMap;
use std::time::Instant;

use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::filter::{compile, Compiled};
use super::plan::{GroupBy, Plan};
use super::table::{hot_index, Project, Store};
use crate::query::aggregate::{aggregate, Measure};
use crate::query::funnel::{funnel, FunnelInput, FunnelParams, NO_GROUP};
use crate::query::paths::{paths, Direction, PathInput};
use crate::query::retention::{retention_by_person, RetentionInput};
use crate::query::timebucket::{parse_tz, period_index, period_start, Unit};

pub const SESSION_GAP_US: i64 = 30 * 60 * 1_000_000;
const NONE_KEY: &str = "(none)";

#[derive(Debug, PartialEq)]
pub struct ExecError {
    /// "invalid" or "timeout"
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> ExecError {
    ExecError {
        code: "invalid",
        message: message.into(),
    }
}

struct Budget {
    max_rows: u64,
}

impl Budget {
    fn check(&self, scanned: u64) -> Result<(), ExecError> {
        if self.max_rows > 0 && scanned > self.max_rows {
            return Err(ExecError {
                code: "timeout",
                message: format!(
                    "the query would scan {scanned} rows, over the budget of {}",
                    self.max_rows
                ),
            });
        }
        Ok(())
    }
}

/// Rows of the project in [lo, hi) passing `filter`; also the count examined.
fn select(
    project: &Project,
    lo: i64,
    hi: i64,
    filter: Option<&Compiled>,
    budget: &Budget,
) -> Result<(Vec<u32>, u64), ExecError> {
    let mut in_range = 0u64;
    let mut out = Vec::new();
    for row in 0..project.len() {
        let ts = project.ts[row];
        if ts < lo || ts >= hi {
            continue;
        }
        in_range += 1;
        if filter.map_or(true, |f| f.matches(project, row)) {
            out.push(row as u32);
        }
    }
    budget.check(in_range)?;
    Ok((out, in_range))
}

fn person(project: &Project, row: usize) -> u32 {
    project.person_of[project.distinct[row] as usize]
}

/// Rows (each with a payload that travels along) in (person, time, arrival) order. Compact keys
/// are sorted rather than chasing three columns per comparison.
fn sort_by_person_time<T: Copy + Ord>(
    project: &Project,
    rows: impl Iterator<Item = (u32, T)>,
) -> Vec<(u32, T)> {
    let mut keys: Vec<(u32, i64, u32, T)> = rows
        .map(|(r, t)| (person(project, r as usize), project.ts[r as usize], r, t))
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|(_, _, r, t)| (r, t)).collect()
}

/// One group-by dimension: a hot column (falling back to the property of the same name),
/// a property, or a user trait.
enum Dimension {
    HotOrProp(usize, std::sync::Arc<super::table::PropColumn>),
    Prop(std::sync::Arc<super::table::PropColumn>),
    Trait(std::sync::Arc<super::table::TraitColumn>),
}

/// Hot-column codes and property codes live in different interners: tag them apart.
const PROP_TAG: u64 = 1 << 40;

impl Dimension {
    fn new(project: &Project, g: &GroupBy) -> Result<Self, ExecError> {
        match g.source.as_str() {
            "prop" => Ok(match hot_index(&g.name) {
                Some(i) => Dimension::HotOrProp(i, project.prop_column(&g.name)),
                None => Dimension::Prop(project.prop_column(&g.name)),
            }),
            "trait" => Ok(Dimension::Trait(project.trait_column(&g.name))),
            other => Err(invalid(format!("unknown group_by source {other}"))),
        }
    }

    /// The row's value as a code (0 = absent).
    fn code(&self, project: &Project, row: usize) -> u64 {
        match self {
            Dimension::HotOrProp(i, col) => {
                let code = project.hot[*i][row];
                if code != 0 {
                    code as u64
                } else if col.text[row] != 0 {
                    PROP_TAG | col.text[row] as u64
                } else {
                    0
                }
            }
            Dimension::Prop(col) => col.text[row] as u64,
            Dimension::Trait(col) => {
                col.text.get(&person(project, row)).copied().unwrap_or(0) as u64
            }
        }
    }

    fn label<'a>(&'a self, project: &'a Project, code: u64) -> Option<&'a str> {
        if code == 0 {
            return None;
        }
        Some(match self {
            Dimension::HotOrProp(_, col) if code & PROP_TAG != 0 => {
                col.labels.resolve((code & !PROP_TAG) as u32)
            }
            Dimension::HotOrProp(..) => project.strings.resolve(code as u32),
            Dimension::Prop(col) => col.labels.resolve(code as u32),
            Dimension::Trait(col) => col.labels.resolve(code as u32),
        })
    }
}

const MAX_DIMS: usize = 3;

/// Interns group tuples (of value codes) into dense ids; NO_GROUP when every dimension is absent.
struct Groups<'p> {
    project: &'p Project,
    dims: Vec<Dimension>,
    names: Vec<String>,
    ids: HashMap<[u64; MAX_DIMS], u32>,
    tuples: Vec<[u64; MAX_DIMS]>,
    /// With one dimension: group id by value code (hot codes, then tagged property codes).
    dense: [Vec<u32>; 2],
}

impl<'p> Groups<'p> {
    fn new(project: &'p Project, group_by: &[GroupBy]) -> Result<Self, ExecError> {
        if group_by.len() > MAX_DIMS {
            return Err(invalid(format!(
                "group_by takes at most {MAX_DIMS} entries"
            )));
        }
        Ok(Groups {
            project,
            dims: group_by
                .iter()
                .map(|g| Dimension::new(project, g))
                .collect::<Result<_, _>>()?,
            names: group_by.iter().map(|g| g.name.clone()).collect(),
            ids: HashMap::new(),
            tuples: Vec::new(),
            dense: [Vec::new(), Vec::new()],
        })
    }

    fn active(&self) -> bool {
        !self.dims.is_empty()
    }

    fn id(&mut self, row: usize) -> u32 {
        if self.dims.is_empty() {
            return 0;
        }
        if self.dims.len() == 1 {
            let code = self.dims[0].code(self.project, row);
            if code == 0 {
                return NO_GROUP;
            }
            let (table, index) = if code & PROP_TAG != 0 {
                (1, (code & !PROP_TAG) as usize)
            } else {
                (0, code as usize)
            };
            if index >= self.dense[table].len() {
                self.dense[table].resize(index + 1, u32::MAX);
            }
            if self.dense[table][index] == u32::MAX {
                self.dense[table][index] = self.tuples.len() as u32;
                self.tuples.push([code, 0, 0]);
            }
            return self.dense[table][index];
        }
        let mut key = [0u64; MAX_DIMS];
        for (slot, d) in key.iter_mut().zip(&self.dims) {
            *slot = d.code(self.project, row);
        }
        if key.iter().all(|&c| c == 0) {
            return NO_GROUP;
        }
        let next = self.tuples.len() as u32;
        let tuples = &mut self.tuples;
        *self.ids.entry(key).or_insert_with(|| {
            tuples.push(key);
            next
        })
    }

    fn labels(&self, id: u32) -> Vec<Option<&str>> {
        if self.dims.is_empty() {
            return Vec::new();
        }
        self.dims
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if id == NO_GROUP {
                    None
                } else {
                    d.label(self.project, self.tuples[id as usize][i])
                }
            })
            .collect()
    }

    fn json(&self, id: u32) -> Value {
        let mut map = Map::new();
        for (name, value) in self.names.iter().zip(self.labels(id)) {
            map.insert(
                name.clone(),
                value.map_or(Value::Null, |v| Value::String(v.to_string())),
            );
        }
        Value::Object(map)
    }

    fn sort_key(&self, id: u32) -> Vec<Option<&str>> {
        self.labels(id)
    }
}

fn tz_of(plan: &Plan) -> Result<Tz, ExecError> {
    parse_tz(&plan.timezone).ok_or_else(|| invalid(format!("unknown timezone {}", plan.timezone)))
}

fn iso(ts_us: i64, tz: Tz) -> String {
    let secs = ts_us.div_euclid(1_000_000);
    let nanos = (ts_us.rem_euclid(1_000_000) * 1000) as u32;
    tz.timestamp_opt(secs, nanos)
        .single()
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

fn measure_of(plan: &Plan) -> Result<(Measure, Option<String>), ExecError> {
    let Some(m) = &plan.measure else {
        return Ok((Measure::Count, None));
    };
    let measure = match m.kind.as_str() {
        "count" => Measure::Count,
        "unique_users" => Measure::UniqueUsers,
        "sum" => Measure::Sum,
        "avg" => Measure::Avg,
        "min" => Measure::Min,
        "max" => Measure::Max,
        "percentile" => Measure::Percentile(m.p.ok_or_else(|| invalid("percentile needs p"))?),
        other => return Err(invalid(format!("unknown measure {other}"))),
    };
    let needs_prop = !matches!(measure, Measure::Count | Measure::UniqueUsers);
    if needs_prop && m.prop.is_none() {
        return Err(invalid("this measure needs prop"));
    }
    Ok((measure, if needs_prop { m.prop.clone() } else { None }))
}

/// The columns a measure reads: persons for unique_users, values for the property measures;
/// the kernel ignores the other, so it stays empty.
fn measure_inputs(
    project: &Project,
    rows: &[u32],
    measure: &Measure,
    prop: &Option<String>,
) -> (Vec<u32>, Vec<f64>) {
    let persons = match measure {
        Measure::UniqueUsers => rows.iter().map(|&r| person(project, r as usize)).collect(),
        _ => Vec::new(),
    };
    let values = match prop {
        Some(name) => {
            let col = project.prop_column(name);
            rows.iter().map(|&r| col.num[r as usize]).collect()
        }
        None => Vec::new(),
    };
    (persons, values)
}

fn number(value: Option<f64>) -> Value {
    match value {
        Some(v) if v.is_finite() => {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                json!(v as i64)
            } else {
                json!(v)
            }
        }
        _ => Value::Null,
    }
}

pub fn execute(store: &Store, plan: &Plan) -> Result<Value, ExecError> {
    let started = Instant::now();
    let budget = Budget {
        max_rows: plan.max_rows_scanned,
    };
    if plan.to_us <= plan.from_us {
        return Err(invalid("the time range is empty"));
    }
    let tz = tz_of(plan)?;
    let empty = Project::default();
    let project = store.projects.get(&plan.project).unwrap_or(&empty);
    let filter = plan
        .filter
        .as_ref()
        .map(|f| compile(f, project))
        .transpose()
        .map_err(|e| invalid(e.0))?;
    let (rows, scanned) = match plan.kind.as_str() {
        "events" => events(project, plan, filter.as_ref(), &budget)?,
        "aggregate" => aggregate_kind(project, plan, filter.as_ref(), &budget, tz)?,
        "breakdown" => breakdown(project, plan, filter.as_ref(), &budget)?,
        "funnel" => funnel_kind(project, plan, filter.as_ref(), &budget)?,
        "retention" => retention_kind(project, plan, filter.as_ref(), &budget, tz)?,
        "path" => path_kind(project, plan, filter.as_ref(), &budget)?,
        other => return Err(invalid(format!("unknown kind {other}"))),
    };
    Ok(
        json!({"rows": rows, "rows_scanned": scanned, "engine_ms": started.elapsed().as_secs_f64() * 1000.0}),
    )
}

fn events(
    project: &Project,
    plan: &Plan,
    filter: Option<&Compiled>,
    budget: &Budget,
) -> Result<(Value, u64), ExecError> {
    let (mut rows, scanned) = select(project, plan.from_us, plan.to_us, filter, budget)?;
    rows.sort_unstable_by_key(|&r| {
        std::cmp::Reverse((project.ts[r as usize], project.seq[r as usize]))
    });
    rows.truncate(plan.limit.max(1));
    let seqs: Vec<i64> = rows.iter().map(|&r| project.seq[r as usize]).collect();
    Ok((json!(seqs), scanned))
}

fn aggregate_kind(
    project: &Project,
    plan: &Plan,
    filter: Option<&Compiled>,
    budget: &Budget,
    tz: Tz,
) -> Result<(Value, u64), ExecError> {
    let (measure, prop) = measure_of(plan)?;
    let (rows, scanned) = select(project, plan.from_us, plan.to_us, filter, budget)?;
    let unit = match plan.time_bucket.as_deref() {
        None => None,
        Some("1h") => Some(Unit::Hour),
        Some("1d") => Some(Unit::Day),
        Some("1w") => Some(Unit::Week),
        Some("1mo") => Some(Unit::Month),
        Some(other) => return Err(invalid(format!("unknown time_bucket {other}"))),
    };
    let mut groups = Groups::new(project, &plan.group_by)?;
    let group_ids: Vec<u32> = rows.iter().map(|&r| groups.id(r as usize)).collect();
    // Buckets: every calendar bucket of the range, so empty ones are answered too.
    let mut bucket_list: Vec<i64> = Vec::new();
    if let Some(unit) = unit {
        let mut at = crate::query::timebucket::bucket_start(plan.from_us, tz, unit);
        while at < plan.to_us {
            bucket_list.push(at);
            let next = crate::query::timebucket::next_bucket_start(at, tz, unit)
                .unwrap_or(at + bucket_span(unit));
            at = if next > at {
                next
            } else {
                at + bucket_span(unit)
            };
        }
    }
    // A row's bucket: a binary search over the range's bucket starts (no time zone math per row).
    let keys: Vec<u64> = rows
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let b = if unit.is_some() {
                boundary_index(&bucket_list, project.ts[r as usize]) as u64
            } else {
                0
            };
            (b << 32) | group_ids[i] as u64
        })
        .collect();
    let (persons, values) = measure_inputs(project, &rows, &measure, &prop);
    let mut results: HashMap<u64, Option<f64>> = aggregate(&keys, &persons, &values, &measure)
        .into_iter()
        .collect();
    let zero_fill = matches!(measure, Measure::Count | Measure::UniqueUsers);
    let mut group_set: Vec<u32> = group_ids.clone();
    group_set.sort_unstable();
    group_set.dedup();
    if group_set.is_empty() && !groups.active() {
        group_set.push(0);
    }
    if zero_fill {
        let buckets = if unit.is_some() {
            bucket_list.len() as u64
        } else {
            1
        };
        for b in 0..buckets {
            for &g in &group_set {
                results.entry((b << 32) | g as u64).or_insert(Some(0.0));
            }
        }
    }
    let mut keys: Vec<u64> = results.keys().copied().collect();
    keys.sort_by_key(|&k| ((k >> 32), groups.sort_key((k & 0xffff_ffff) as u32)));
    let out: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            let mut row = Map::new();
            if unit.is_some() {
                row.insert(
                    "bucket".into(),
                    json!(iso(bucket_list[(k >> 32) as usize], tz)),
                );
            }
            if groups.active() {
                row.insert("group".into(), groups.json((k & 0xffff_ffff) as u32));
            }
            row.insert("value".into(), number(results[&k]));
            Value::Object(row)
        })
        .collect();
    Ok((Value::Array(out), scanned))
}

/// Index of the last start at or before `ts` (starts ascending, starts[0] <= ts).
fn boundary_index(starts: &[i64], ts: i64) -> usize {
    starts.partition_point(|&s| s <= ts).saturating_sub(1)
}

fn bucket_span(unit: Unit) -> i64 {
    const HOUR: i64 = 3_600_000_000;
    match unit {
        Unit::Hour => HOUR,
        Unit::Day => 24 * HOUR,
        Unit::Week => 7 * 24 * HOUR,
        Unit::Month => 31 * 24 * HOUR,
    }
}

fn breakdown(
    project: &Project,
    plan: &Plan,
    filter: Option<&Compiled>,
    budget: &Budget,
) -> Result<(Value, u64), ExecError> {
    let (measure, prop) = measure_of(plan)?;
    let name = plan
        .prop
        .clone()
        .ok_or_else(|| invalid("breakdown needs prop"))?;
    let (rows, scanned) = select(project, plan.from_us, plan.to_us, filter, budget)?;
    let mut groups = Groups::new(
        project,
        &[GroupBy {
            source: "prop".into(),
            name,
        }],
    )?;
    let keys: Vec<u64> = rows.iter().map(|&r| groups.id(r as usize) as u64).collect();
    let (persons, values) = measure_inputs(project, &rows, &measure, &prop);
    let mut ranked: Vec<(String, Option<f64>)> = aggregate(&keys, &persons, &values, &measure)
        .into_iter()
        .map(|(k, v)| {
            let id = k as u32;
            let label = groups
                .labels(id)
                .first()
                .copied()
                .flatten()
                .unwrap_or(NONE_KEY)
                .to_string();
            (label, v)
        })
        .collect();
    ranked.sort_by(|a, b| {
        let (va, vb) = (
            a.1.unwrap_or(f64::NEG_INFINITY),
            b.1.unwrap_or(f64::NEG_INFINITY),
        );
        vb.partial_cmp(&va)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked.truncate(plan.limit.max(1));
    let out: Vec<Value> = ranked
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": number(v)}))
        .collect();
    Ok((Value::Array(out), scanned))
}

fn funnel_kind(
    project: &Project,
    plan: &Plan,
    filter: Option<&Compiled>,
    budget: &Budget,
) -> Result<(Value, u64), ExecError> {
    let n = plan.steps.len();
    if n == 0 || n > 32 {
        return Err(invalid("a funnel has 1 to 32 steps"));
    }
    let step_events: Vec<Option<u32>> = plan
        .steps
        .iter()
        .map(|s| project.strings.get(&s.event))
        .collect();
    let step_filters: Vec<Option<Compiled>> = plan
        .steps
        .iter()
        .map(|s| s.filter.as_ref().map(|f| compile(f, project)).transpose())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(e.0))?;
    let hi = plan.to_us.saturating_add(plan.window_us);
    let (rows, scanned) = select(project, plan.from_us, hi, filter, budget)?;
    let mask_of = |r: usize| -> u32 {
        let mut mask = 0u32;
        for (i, ev) in step_events.iter().enumerate() {
            if *ev == Some(project.event[r])
                && step_filters[i]
                    .as_ref()
                    .map_or(true, |f| f.matches(project, r))
            {
                mask |= 1 << i;
            }
        }
        mask
    };
    // Each row's step mask is computed once and sorted along with it.
    let masked = rows
        .iter()
        .map(|&r| (r, mask_of(r as usize)))
        .filter(|&(_, m)| plan.strict || m != 0);
    let (rows, steps): (Vec<u32>, Vec<u32>) =
        sort_by_person_time(project, masked).into_iter().unzip();
    let mut groups = Groups::new(project, &plan.group_by)?;
    let persons: Vec<u32> = rows.iter().map(|&r| person(project, r as usize)).collect();
    let ts: Vec<i64> = rows.iter().map(|&r| project.ts[r as usize]).collect();
    let group: Vec<u32> = if groups.active() {
        rows.iter().map(|&r| groups.id(r as usize)).collect()
    } else {
        vec![NO_GROUP; rows.len()]
    };
    let counts = funnel(
        &FunnelInput {
            person: &persons,
            ts: &ts,
            steps: &steps,
            group: &group,
        },
        &FunnelParams {
            n_steps: n,
            window_us: plan.window_us,
            from_us: plan.from_us,
            to_us: plan.to_us,
            strict: plan.strict,
        },
    );
    let step_rows = |c: &[u64]| -> Value {
        let first = c.first().copied().unwrap_or(0);
        Value::Array(
            plan.steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let count = c.get(i).copied().unwrap_or(0);
                    let conversion = if first == 0 {
                        0.0
                    } else {
                        count as f64 / first as f64
                    };
                    json!({"event": s.event, "count": count, "conversion": conversion})
                })
                .collect(),
        )
    };
    let out = if groups.active() {
        let mut sorted = counts;
        sorted.sort_by(|a, b| {
            b.1[0]
                .cmp(&a.1[0])
                .then_with(|| groups.sort_key(a.0).cmp(&groups.sort_key(b.0)))
        });
        sorted
            .iter()
            .map(|(g, c)| json!({"group": groups.json(*g), "steps": step_rows(c)}))
            .collect()
    } else {
        let mut total = vec![0u64; n];
        for (_, c) in &counts {
            for (t, v) in total.iter_mut().zip(c) {
                *t += v;
            }
        }
        vec![json!({"steps": step_rows(&total)})]
    };
    Ok((Value::Array(out), scanned))
}

fn retention_kind(
    project: &Project,
    plan: &Plan,
    filter: Option<&Compiled>,
    budget: &Budget,
    tz: Tz,
) -> Result<(Value, u64), ExecError> {
    let unit = match plan.period.as_deref().unwrap_or("day") {
        "day" => Unit::Day,
        "week" => Unit::Week,
        other => return Err(invalid(format!("unknown period {other}"))),
    };
    let periods = plan.periods.max(1);
    let cohort_event = plan
        .cohort_event
        .as_deref()
        .ok_or_else(|| invalid("retention needs cohort_event"))?;
    let return_event = plan.return_event.as_deref().unwrap_or(cohort_event);
    let (cohort_code, return_code) = (
        project.strings.get(cohort_event),
        project.strings.get(return_event),
    );
    let span = bucket_span(unit) * (periods as i64 + 1);
    let (mut rows, scanned) = select(
        project,
        plan.from_us,
        plan.to_us.saturating_add(span),
        filter,
        budget,
    )?;
    let flag = |r: usize| -> u8 {
        let e = Some(project.event[r]);
        let cohort = e == cohort_code && project.ts[r] < plan.to_us;
        (cohort as u8) | (((e == return_code) as u8) << 1)
    };
    rows.retain(|&r| flag(r as usize) != 0);
    // Period starts over the scanned range; a row's period is a binary search, not time zone math.
    let first_period = period_index(plan.from_us, tz, unit);
    let mut starts = Vec::new();
    let hi = plan.to_us.saturating_add(span);
    let mut k = first_period;
    loop {
        let start = period_start(k, tz, unit);
        if start > hi {
            break;
        }
        starts.push(start);
        k += 1;
    }
    let persons: Vec<u32> = rows.iter().map(|&r| person(project, r as usize)).collect();
    let period: Vec<i32> = rows
        .iter()
        .map(|&r| first_period + boundary_index(&starts, project.ts[r as usize]) as i32)
        .collect();
    let flags: Vec<u8> = rows.iter().map(|&r| flag(r as usize)).collect();
    let cohorts = retention_by_person(
        &RetentionInput {
            person: &persons,
            period: &period,
            flags: &flags,
        },
        project.ids.len(),
        periods,
    );
    let now_period = period_index(plan.now_us, tz, unit);
    let out: Vec<Value> = cohorts
        .into_iter()
        .map(|(c, size, returned)| {
            let complete: Vec<bool> = (0..periods as i32).map(|k| c + k < now_period).collect();
            json!({"cohort": iso(period_start(c, tz, unit), tz), "size": size, "returned": returned, "complete": complete})
        })
        .collect();
    Ok((Value::Array(out), scanned))
}

fn path_kind(
    project: &Project,
    plan: &Plan,
    filter: Option<&Compiled>,
    budget: &Budget,
) -> Result<(Value, u64), ExecError> {
    let (anchor_name, direction) = match (&plan.start_event, &plan.end_event) {
        (Some(s), None) => (s.as_str(), Direction::After),
        (None, Some(e)) => (e.as_str(), Direction::Before),
        _ => {
            return Err(invalid(
                "a path query names exactly one of start_event and end_event",
            ))
        }
    };
    let anchor_code = project.strings.get(anchor_name);
    let (rows, scanned) = select(project, plan.from_us, plan.to_us, filter, budget)?;
    let rows: Vec<u32> = sort_by_person_time(project, rows.into_iter().map(|r| (r, ())))
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let pageview = project.strings.get("$pageview");
    let path_col = hot_index("path").expect("path is a hot column");
    // Items: the event name, or a pageview's path.
    let item_of = |r: usize| -> u32 {
        let path = project.hot[path_col][r];
        if Some(project.event[r]) == pageview && path != 0 {
            path
        } else {
            project.event[r]
        }
    };
    let persons: Vec<u32> = rows.iter().map(|&r| person(project, r as usize)).collect();
    let ts: Vec<i64> = rows.iter().map(|&r| project.ts[r as usize]).collect();
    let items: Vec<u32> = rows.iter().map(|&r| item_of(r as usize)).collect();
    let anchors: Vec<bool> = rows
        .iter()
        .map(|&r| Some(project.event[r as usize]) == anchor_code)
        .collect();
    let mut found = paths(
        &PathInput {
            person: &persons,
            ts: &ts,
            item: &items,
            anchor: &anchors,
        },
        direction,
        plan.depth.max(1),
        SESSION_GAP_US,
    );
    let label = |code: u32| project.strings.resolve(code).to_string();
    let mut labelled: Vec<(Vec<String>, u64)> = found
        .drain(..)
        .map(|(p, c)| (p.into_iter().map(label).collect(), c))
        .collect();
    labelled.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    labelled.truncate(plan.limit.max(1));
    let out: Vec<Value> = labelled
        .into_iter()
        .map(|(p, c)| json!({"path": p, "count": c}))
        .collect();
    Ok((Value::Array(out), scanned))
}
