//! Query filters compiled against one project: every condition becomes a table of accepted
//! value codes, so evaluating a row is a few array lookups.

use std::sync::Arc;

use super::plan::{Cond, Filter, Named, Scalar};
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

use super::table::label_num as label_number;

/// A label equals a number when it parses to it or spells it as JSON does; text and booleans
/// (`true`/`false`) by their text.
fn scalar_matches(label: &str, value: &Scalar) -> bool {
    match value {
        Scalar::Text(text) => text == label,
        Scalar::Bool(b) => label == if *b { "true" } else { "false" },
        Scalar::Number(n) => {
            label_number(label) == n.as_f64().unwrap_or(f64::NAN) || n.to_string() == label
        }
    }
}

/// Which label codes of `labels` satisfy `cond`; code 0 (absent) never does, so `neq` and
/// `not` accept absent values.
pub fn accept(labels: &Interner, cond: &Cond) -> Vec<bool> {
    let each = |test: &dyn Fn(&str) -> bool| -> Vec<bool> {
        let mut out = vec![false; labels.len()];
        for (code, slot) in out.iter_mut().enumerate().skip(1) {
            *slot = test(labels.resolve(code as u32));
        }
        out
    };
    let numeric = |target: f64, cmp: fn(f64, f64) -> bool| {
        each(&|label| {
            let number = label_number(label);
            !number.is_nan() && cmp(number, target)
        })
    };
    match cond {
        Cond::Eq(value) => each(&|label| scalar_matches(label, value)),
        Cond::Neq(value) => {
            let mut out = each(&|label| scalar_matches(label, value));
            for slot in out.iter_mut() {
                *slot = !*slot;
            }
            out
        }
        Cond::In(options) => each(&|label| options.0.iter().any(|v| scalar_matches(label, v))),
        Cond::Gt(target) => numeric(*target, |a, b| a > b),
        Cond::Gte(target) => numeric(*target, |a, b| a >= b),
        Cond::Lt(target) => numeric(*target, |a, b| a < b),
        Cond::Lte(target) => numeric(*target, |a, b| a <= b),
        Cond::Contains(needle) => each(&|label| label.contains(needle.as_str())),
        Cond::Exists(wanted) => {
            let mut out = vec![*wanted; labels.len()];
            out[0] = !*wanted;
            out
        }
    }
}

/// Keep the rows `pass` takes at the front of `rows`, in order, without a branch on the test;
/// returns how many.
#[inline(always)]
pub fn keep(rows: &mut [u32], pass: impl Fn(usize) -> bool) -> usize {
    let mut kept = 0;
    for i in 0..rows.len() {
        let row = rows[i];
        rows[kept] = row;
        kept += usize::from(pass(row as usize));
    }
    kept
}

impl Compiled {
    /// `filter` against the project's columns (a property or trait named by the filter is
    /// extracted on first use).
    pub fn new(filter: &Filter, project: &Project) -> Compiled {
        let all = |items: &[Filter]| items.iter().map(|f| Compiled::new(f, project)).collect();
        match filter {
            Filter::All(items) => Compiled::All(all(items)),
            Filter::Any(items) => Compiled::Any(all(items)),
            Filter::Not(inner) => Compiled::Not(Box::new(Compiled::new(inner, project))),
            Filter::Event(cond) => Compiled::Event(accept(&project.strings, cond)),
            Filter::Prop(Named { name, cond }) => match hot_index(name.as_str()) {
                Some(i) => {
                    let prop = project.hot_fallback(i);
                    let prop_accept = accept(&prop.labels, cond);
                    Compiled::HotOrProp(i, accept(&project.strings, cond), prop, prop_accept)
                }
                None => {
                    let prop = project.prop_column(name.as_str());
                    let prop_accept = accept(&prop.labels, cond);
                    Compiled::Prop(prop, prop_accept)
                }
            },
            Filter::Trait(Named { name, cond }) => {
                let column = project.trait_column(name.as_str());
                let table = accept(&column.labels, cond);
                Compiled::Trait(column, table)
            }
        }
    }

    /// Whether the row passes. The conditions on one column are tested in line (this runs once
    /// per row of every scan); compositions and traits go through a call.
    #[inline(always)]
    pub fn matches(&self, project: &Project, row: usize) -> bool {
        match self {
            Compiled::Event(table) => table[project.event.get(row) as usize],
            Compiled::Prop(col, table) => table[col.text.get(row) as usize],
            Compiled::HotOrProp(i, hot_table, col, prop_table) => {
                let code = project.hot[*i].get(row);
                if code != 0 {
                    hot_table[code as usize]
                } else {
                    prop_table[col.text.get(row) as usize]
                }
            }
            _ => self.matches_composed(project, row),
        }
    }

    /// Keep the rows that pass at the front of `rows`, in order; returns how many. A condition
    /// on one column runs as its own loop over the rows, without a branch.
    pub fn retain(&self, project: &Project, rows: &mut [u32]) -> usize {
        match self {
            Compiled::Event(table) => crate::by_width!(&project.event, codes => keep(rows, |r| table[codes[r] as usize])),
            Compiled::Prop(col, table) => crate::by_width!(&col.text, codes => keep(rows, |r| table[codes[r] as usize])),
            _ => keep(rows, |r| self.matches(project, r)),
        }
    }

    #[inline(never)]
    fn matches_composed(&self, project: &Project, row: usize) -> bool {
        match self {
            Compiled::All(items) => items.iter().all(|c| c.matches(project, row)),
            Compiled::Any(items) => items.iter().any(|c| c.matches(project, row)),
            Compiled::Not(inner) => !inner.matches(project, row),
            Compiled::Event(..) | Compiled::Prop(..) | Compiled::HotOrProp(..) => self.matches(project, row),
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
    use crate::engine::plan::filter::Values;

    fn labels(values: &[&str]) -> Interner {
        let mut i = Interner::new();
        for v in values {
            i.intern(v);
        }
        i
    }

    fn text(s: &str) -> Scalar {
        Scalar::Text(s.into())
    }

    #[test]
    fn operators_over_labels() {
        let l = labels(&["pro", "free", "3", "10.5", "abc", "true"]);
        let f = false;
        let t = true;
        assert_eq!(
            accept(&l, &Cond::Eq(text("pro"))),
            vec![f, t, f, f, f, f, f]
        );
        assert_eq!(
            accept(&l, &Cond::Neq(text("pro"))),
            vec![t, f, t, t, t, t, t]
        );
        assert!(
            accept(
                &l,
                &Cond::Eq(Scalar::Number(serde_json::Number::from_f64(3.0).unwrap()))
            )[3]
        );
        assert!(accept(&l, &Cond::Eq(Scalar::Bool(true)))[6]);
        assert_eq!(accept(&l, &Cond::Gt(5.0)), vec![f, f, f, f, t, f, f]);
        assert_eq!(accept(&l, &Cond::Lte(3.0)), vec![f, f, f, t, f, f, f]);
        let options = Values(vec![text("free"), Scalar::Number(3.into())]);
        assert_eq!(accept(&l, &Cond::In(options)), vec![f, f, t, t, f, f, f]);
        assert_eq!(
            accept(&l, &Cond::Contains("b".into())),
            vec![f, f, f, f, f, t, f]
        );
        assert_eq!(accept(&l, &Cond::Exists(true)), vec![f, t, t, t, t, t, t]);
        assert_eq!(accept(&l, &Cond::Exists(false)), vec![t, f, f, f, f, f, f]);
    }
}
