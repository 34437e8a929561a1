//! `group_by`: each row's group as a dense id, and each group's labels.
//!
//! A group is the tuple of its dimensions' values; rows with no value in any dimension are in
//! no group (`NO_GROUP`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Scan;
use crate::engine::plan::GroupBy;
use crate::engine::table::{hot_index, Project, PropColumn, TraitColumn};
use crate::query::funnel::NO_GROUP;

/// One dimension: a hot column (falling back to the property of the same name), a property,
/// or a user trait.
enum Dimension {
    HotOrProp {
        column: usize,
        prop: Arc<PropColumn>,
        /// The code of each property label: the hot code of the same text where the project
        /// holds one, so a value reads the same from the column or the property; else tagged.
        fallback: Vec<u64>,
    },
    Prop(Arc<PropColumn>),
    Trait(Arc<TraitColumn>),
}

/// Hot-column codes and property codes live in different interners: tag them apart.
const PROP_TAG: u64 = 1 << 40;

impl Dimension {
    fn new(project: &Project, g: &GroupBy) -> Self {
        match g {
            GroupBy::Prop(name) => {
                match hot_index(name.as_str()) {
                    Some(column) => {
                        let prop = project.hot_fallback(column);
                        let fallback = (0..prop.labels.len() as u32)
                            .map(
                                |code| match project.strings.get(prop.labels.resolve(code)) {
                                    _ if code == 0 => 0,
                                    Some(hot) => u64::from(hot),
                                    None => PROP_TAG | u64::from(code),
                                },
                            )
                            .collect();
                        Dimension::HotOrProp {
                            column,
                            prop,
                            fallback,
                        }
                    }
                    None => Dimension::Prop(project.prop_column(name.as_str())),
                }
            }
            GroupBy::Trait(name) => Dimension::Trait(project.trait_column(name.as_str())),
        }
    }

    /// The row's value as a code (0 = absent).
    #[inline]
    fn code(&self, scan: &Scan, row: usize) -> u64 {
        match self {
            Dimension::HotOrProp {
                column,
                prop,
                fallback,
            } => {
                let code = scan.project.hot[*column].get(row);
                if code != 0 {
                    u64::from(code)
                } else {
                    fallback[prop.text.get(row) as usize]
                }
            }
            Dimension::Prop(col) => u64::from(col.text.get(row)),
            Dimension::Trait(col) => {
                u64::from(col.text.get(&scan.person(row)).copied().unwrap_or(0))
            }
        }
    }

    fn label<'a>(&'a self, project: &'a Project, code: u64) -> Option<&'a str> {
        if code == 0 {
            return None;
        }
        Some(match self {
            Dimension::HotOrProp { prop, .. } if code & PROP_TAG != 0 => {
                prop.labels.resolve((code & !PROP_TAG) as u32)
            }
            Dimension::HotOrProp { .. } => project.strings.resolve(code as u32),
            Dimension::Prop(col) => col.labels.resolve(code as u32),
            Dimension::Trait(col) => col.labels.resolve(code as u32),
        })
    }
}

const MAX_DIMS: usize = crate::engine::plan::fields::MAX_GROUP_BY;

/// Interns group tuples (of value codes) into dense ids; NO_GROUP when every dimension is absent.
pub(super) struct Groups<'s, 'p> {
    scan: &'s Scan<'p>,
    dims: Vec<Dimension>,
    names: Vec<String>,
    ids: HashMap<[u64; MAX_DIMS], u32>,
    tuples: Vec<[u64; MAX_DIMS]>,
    /// With one dimension: group id by value code (hot codes, then tagged property codes).
    dense: [Vec<u32>; 2],
}

impl<'s, 'p> Groups<'s, 'p> {
    pub fn new(scan: &'s Scan<'p>, group_by: &[GroupBy]) -> Self {
        assert!(
            group_by.len() <= MAX_DIMS,
            "group_by is checked by the plan"
        );
        Groups {
            scan,
            dims: group_by
                .iter()
                .map(|g| Dimension::new(scan.project, g))
                .collect(),
            names: group_by.iter().map(|g| g.name().to_string()).collect(),
            ids: HashMap::new(),
            tuples: Vec::new(),
            dense: [Vec::new(), Vec::new()],
        }
    }

    pub fn active(&self) -> bool {
        !self.dims.is_empty()
    }

    /// The row's group: 0 without dimensions, NO_GROUP when it has no value in any.
    pub fn id(&mut self, row: usize) -> u32 {
        if self.dims.len() == 1 {
            let code = self.dims[0].code(self.scan, row);
            return self.id_of_code(code);
        }
        let key = self.key(row);
        self.id_of_key(key)
    }

    /// With one dimension that is not a trait: how many dense value codes there are (hot codes,
    /// then the property's), for counting into an array. None otherwise.
    pub fn dense_width(&self) -> Option<usize> {
        match self.dims.as_slice() {
            [Dimension::HotOrProp { prop, .. }] => Some(self.scan.project.strings.len() + prop.labels.len()),
            [Dimension::Prop(col)] => Some(col.labels.len()),
            _ => None,
        }
    }

    /// The row's dense value code (see `dense_width`; 0 = absent).
    #[inline]
    pub fn dense_code(&self, row: usize) -> usize {
        let code = self.dims[0].code(self.scan, row);
        if code & PROP_TAG != 0 {
            self.scan.project.strings.len() + (code & !PROP_TAG) as usize
        } else {
            code as usize
        }
    }

    /// The label of a dense value code (None for 0).
    pub fn dense_label(&self, dense: usize) -> Option<&str> {
        let strings = self.scan.project.strings.len();
        let code = match self.dims[0] {
            Dimension::HotOrProp { .. } if dense >= strings => PROP_TAG | (dense - strings) as u64,
            _ => dense as u64,
        };
        self.dims[0].label(self.scan.project, code)
    }

    /// The groups of `rows`: their values read on every core, numbered in row order.
    pub fn ids(&mut self, rows: &[u32]) -> Vec<u32> {
        use rayon::prelude::*;
        match self.dims.len() {
            0 => vec![0; rows.len()],
            1 => {
                let (dim, scan) = (&self.dims[0], self.scan);
                let codes: Vec<u64> = rows.par_iter().map(|&r| dim.code(scan, r as usize)).collect();
                codes.into_iter().map(|c| self.id_of_code(c)).collect()
            }
            _ => {
                let this = &*self;
                let keys: Vec<[u64; MAX_DIMS]> = rows.par_iter().map(|&r| this.key(r as usize)).collect();
                keys.into_iter().map(|k| self.id_of_key(k)).collect()
            }
        }
    }

    fn key(&self, row: usize) -> [u64; MAX_DIMS] {
        let mut key = [0u64; MAX_DIMS];
        for (slot, d) in key.iter_mut().zip(&self.dims) {
            *slot = d.code(self.scan, row);
        }
        key
    }

    /// One dimension: the group of a value code (hot codes and tagged property codes each
    /// numbered through a dense table).
    fn id_of_code(&mut self, code: u64) -> u32 {
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
        self.dense[table][index]
    }

    fn id_of_key(&mut self, key: [u64; MAX_DIMS]) -> u32 {
        if self.dims.is_empty() {
            return 0;
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

    /// Each dimension's value in the group (None where it has none); also the sort key.
    pub fn labels(&self, id: u32) -> Vec<Option<&str>> {
        self.dims
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if id == NO_GROUP {
                    None
                } else {
                    d.label(self.scan.project, self.tuples[id as usize][i])
                }
            })
            .collect()
    }

    /// `{"plan": "pro", "country": null}`
    pub fn json(&self, id: u32) -> Value {
        let mut map = Map::new();
        for (name, value) in self.names.iter().zip(self.labels(id)) {
            map.insert(
                name.clone(),
                value.map_or(Value::Null, |v| Value::String(v.to_string())),
            );
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{plan_with_budget, Rows, T0};
    use super::*;
    use crate::engine::plan::{Kind, Name};
    use serde_json::json;

    fn groups_of(store: &crate::engine::table::Store, group_by: &[GroupBy]) -> Vec<Value> {
        let plan = plan_with_budget(json!({"kind": "aggregate"}), 0);
        let project = &store.projects["p"];
        let scan = Scan {
            project,
            from_us: plan.from_us,
            to_us: plan.to_us,
            now_us: plan.now_us,
            tz: plan.tz,
            filter: None,
            filter_source: None,
            max_rows: 0,
        };
        assert!(matches!(plan.kind, Kind::Aggregate(_)));
        let mut groups = Groups::new(&scan, group_by);
        (0..project.len())
            .map(|row| {
                let id = groups.id(row);
                if id == NO_GROUP {
                    Value::Null
                } else {
                    json!([id, groups.json(id)])
                }
            })
            .collect()
    }

    #[test]
    fn a_hot_column_and_its_property_fallback_are_one_value() {
        let store = Rows::new()
            .event_with("a", T0, "x", &[("path", "/b")], json!({}))
            .event("a", T0 + 1, "y", json!({"path": "/b"}))
            .event("a", T0 + 2, "z", json!({"path": "/only-a-property"}))
            .event("a", T0 + 3, "z", json!({}))
            .store();
        let got = groups_of(&store, &[GroupBy::Prop(Name::from("path"))]);
        assert_eq!(
            got,
            vec![
                json!([0, {"path": "/b"}]),
                json!([0, {"path": "/b"}]),
                json!([1, {"path": "/only-a-property"}]),
                Value::Null
            ]
        );
    }

    #[test]
    fn tuples_of_properties_and_traits_with_absent_values() {
        let store = Rows::new()
            .event("a", T0, "u1", json!({"plan": "pro"}))
            .event("a", T0 + 1, "u2", json!({"plan": "pro"}))
            .event("a", T0 + 2, "u3", json!({}))
            .traits("u1", json!({"tier": "gold"}))
            .store();
        let got = groups_of(
            &store,
            &[GroupBy::Prop("plan".into()), GroupBy::Trait("tier".into())],
        );
        assert_eq!(
            got,
            vec![
                json!([0, {"plan": "pro", "tier": "gold"}]),
                json!([1, {"plan": "pro", "tier": null}]),
                Value::Null
            ]
        );
        assert_eq!(groups_of(&store, &[]), vec![json!([0, {}]); 3]);
    }
}
