//! Query filters compiled against one project: every condition becomes a table of accepted
//! value codes, so evaluating a row is a few array lookups.

use std::sync::Arc;

use serde_json::Value;

use super::plan::{Cond, Filter, NamedCond};
use super::table::{hot_index, Interner, Project, PropColumn, TraitColumn};

pub enum Compiled {
    All(Vec<Compiled>),
    Any(Vec<Compiled>),
    Not(Box<Compiled>),
    Event(Vec<bool>),
    Prop(Arc<PropColumn>, Vec<bool>),
    /// A hot column, falling back to the property of the same name when the column is empty.
    HotOrProp(usize, Vec<bool>, Arc<PropColumn>, Vec<bool>),
    Trait(Arc<TraitColumn>, Vec<bool>),
}

#[derive(Debug)]
pub struct FilterError(pub String);

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn label_number(label: &str) -> f64 {
    label
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .unwrap_or(f64::NAN)
}

fn scalar_matches(label: &str, value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            label_number(label) == n.as_f64().unwrap_or(f64::NAN)
                || value_text(value).as_deref() == Some(label)
        }
        other => value_text(other).as_deref() == Some(label),
    }
}

/// Which label codes of `labels` satisfy `op value`; code 0 (absent) never does, so `neq` and
/// `not` accept absent values.
pub fn accept(labels: &Interner, op: &str, value: &Value) -> Result<Vec<bool>, FilterError> {
    let n = labels.len();
    let mut out = vec![false; n];
    let numeric = |cmp: fn(f64, f64) -> bool| -> Result<Vec<bool>, FilterError> {
        let target = value
            .as_f64()
            .ok_or_else(|| FilterError(format!("{op} needs a number")))?;
        let mut out = vec![false; n];
        for (code, slot) in out.iter_mut().enumerate().skip(1) {
            let number = label_number(labels.resolve(code as u32));
            *slot = !number.is_nan() && cmp(number, target);
        }
        Ok(out)
    };
    match op {
        "eq" | "neq" => {
            for (code, slot) in out.iter_mut().enumerate().skip(1) {
                *slot = scalar_matches(labels.resolve(code as u32), value);
            }
            if op == "neq" {
                for slot in out.iter_mut() {
                    *slot = !*slot;
                }
            }
        }
        "in" => {
            let options = value
                .as_array()
                .ok_or_else(|| FilterError("in needs a list".into()))?;
            for (code, slot) in out.iter_mut().enumerate().skip(1) {
                let label = labels.resolve(code as u32);
                *slot = options.iter().any(|v| scalar_matches(label, v));
            }
        }
        "gt" => return numeric(|a, b| a > b),
        "gte" => return numeric(|a, b| a >= b),
        "lt" => return numeric(|a, b| a < b),
        "lte" => return numeric(|a, b| a <= b),
        "contains" => {
            let needle = value
                .as_str()
                .ok_or_else(|| FilterError("contains needs a string".into()))?;
            for (code, slot) in out.iter_mut().enumerate().skip(1) {
                *slot = labels.resolve(code as u32).contains(needle);
            }
        }
        "exists" => {
            let wanted = value.as_bool().unwrap_or(true);
            for slot in out.iter_mut() {
                *slot = wanted;
            }
            out[0] = !wanted;
        }
        other => return Err(FilterError(format!("unknown operator {other}"))),
    }
    Ok(out)
}

pub fn compile(filter: &Filter, project: &Project) -> Result<Compiled, FilterError> {
    Ok(match filter {
        Filter::All(items) => Compiled::All(
            items
                .iter()
                .map(|f| compile(f, project))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Any(items) => Compiled::Any(
            items
                .iter()
                .map(|f| compile(f, project))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Not(inner) => Compiled::Not(Box::new(compile(inner, project)?)),
        Filter::Event(Cond { op, value }) => Compiled::Event(accept(&project.strings, op, value)?),
        Filter::Prop(NamedCond { name, op, value }) => match hot_index(name) {
            Some(i) => {
                let prop = project.prop_column(name);
                let prop_accept = accept(&prop.labels, op, value)?;
                Compiled::HotOrProp(i, accept(&project.strings, op, value)?, prop, prop_accept)
            }
            None => {
                let prop = project.prop_column(name);
                let table = accept(&prop.labels, op, value)?;
                Compiled::Prop(prop, table)
            }
        },
        Filter::Trait(NamedCond { name, op, value }) => {
            let column = project.trait_column(name);
            let table = accept(&column.labels, op, value)?;
            Compiled::Trait(column, table)
        }
    })
}

impl Compiled {
    pub fn matches(&self, project: &Project, row: usize) -> bool {
        match self {
            Compiled::All(items) => items.iter().all(|c| c.matches(project, row)),
            Compiled::Any(items) => items.iter().any(|c| c.matches(project, row)),
            Compiled::Not(inner) => !inner.matches(project, row),
            Compiled::Event(table) => table[project.event[row] as usize],
            Compiled::Prop(col, table) => table[col.text[row] as usize],
            Compiled::HotOrProp(i, hot_table, col, prop_table) => {
                let code = project.hot[*i][row];
                if code != 0 {
                    hot_table[code as usize]
                } else {
                    prop_table[col.text[row] as usize]
                }
            }
            Compiled::Trait(col, table) => {
                let person = project.person_of[project.distinct[row] as usize];
                table[col.text.get(&person).copied().unwrap_or(0) as usize]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(values: &[&str]) -> Interner {
        let mut i = Interner::new();
        for v in values {
            i.intern(v);
        }
        i
    }

    #[test]
    fn operators_over_labels() {
        let l = labels(&["pro", "free", "3", "10.5", "abc"]);
        assert_eq!(
            accept(&l, "eq", &json!("pro")).unwrap(),
            vec![false, true, false, false, false, false]
        );
        assert_eq!(
            accept(&l, "neq", &json!("pro")).unwrap(),
            vec![true, false, true, true, true, true]
        );
        assert_eq!(accept(&l, "eq", &json!(3.0)).unwrap()[3], true);
        assert_eq!(
            accept(&l, "gt", &json!(5)).unwrap(),
            vec![false, false, false, false, true, false]
        );
        assert_eq!(
            accept(&l, "in", &json!(["free", 3])).unwrap(),
            vec![false, false, true, true, false, false]
        );
        assert_eq!(
            accept(&l, "contains", &json!("b")).unwrap(),
            vec![false, false, false, false, false, true]
        );
        assert_eq!(accept(&l, "exists", &json!(true)).unwrap()[0], false);
        assert!(accept(&l, "like", &json!("x")).is_err());
        assert!(accept(&l, "gt", &json!("x")).is_err());
    }
}
