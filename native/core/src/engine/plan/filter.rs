//! A query's `filter` (and each funnel step's): `{"all": […]}`, `{"any": […]}`, `{"not": f}`,
//! `{"event": {op: v}}`, `{"prop": {name: {op: v}}}`, `{"trait": {name: {op: v}}}`.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::fields::Name;

/// A filter may nest this deep (the root is at depth 0) …
pub const MAX_DEPTH: usize = 12;
/// … and hold this many conditions (`event`, `prop`, `trait`; `all`/`any`/`not` do not count).
pub const MAX_CONDITIONS: usize = 200;
/// An `in` list holds 1 to this many values.
pub const MAX_IN_VALUES: usize = 1000;

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    #[serde(deserialize_with = "non_empty")]
    All(Vec<Filter>),
    #[serde(deserialize_with = "non_empty")]
    Any(Vec<Filter>),
    Not(Box<Filter>),
    /// The event name; only `eq`, `neq` and `in` (of strings, numbers or booleans).
    #[serde(deserialize_with = "event_condition")]
    Event(Cond),
    Prop(Named),
    Trait(Named),
}

/// One operator and its operand. `neq` and `not` accept rows without the value.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    Eq(Scalar),
    Neq(Scalar),
    In(Values),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Contains(String),
    Exists(bool),
}

/// A value a label is compared with: text, a number (compared as a number and as its JSON
/// spelling) or a boolean (`true`/`false`).
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

/// The operand of `in`: 1 to `MAX_IN_VALUES` scalars.
#[derive(Debug, Clone, PartialEq)]
pub struct Values(pub Vec<Scalar>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let values = Vec::<Scalar>::deserialize(d)?;
        if values.is_empty() || values.len() > MAX_IN_VALUES {
            return Err(de::Error::custom(format!(
                "in takes a list of 1 to {MAX_IN_VALUES} values"
            )));
        }
        Ok(Values(values))
    }
}

/// `{name: {op: v}}`: a property or trait name with its condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: Name,
    pub cond: Cond,
}

impl<'de> Deserialize<'de> for Named {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct One;
        impl<'de> Visitor<'de> for One {
            type Value = Named;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("one property name with its condition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Named, A::Error> {
                let Some(name) = map.next_key::<String>()? else {
                    return Err(de::Error::invalid_length(0, &self));
                };
                let name = Name::check(name).map_err(de::Error::custom)?;
                let cond = map.next_value::<Cond>()?;
                if map.next_key::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(2, &self));
                }
                Ok(Named { name, cond })
            }
        }
        d.deserialize_map(One)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventCond {
    Eq(String),
    Neq(String),
    In(Values),
}

fn event_condition<'de, D: Deserializer<'de>>(d: D) -> Result<Cond, D::Error> {
    Ok(match EventCond::deserialize(d)? {
        EventCond::Eq(name) => Cond::Eq(Scalar::Text(name)),
        EventCond::Neq(name) => Cond::Neq(Scalar::Text(name)),
        EventCond::In(values) => Cond::In(values),
    })
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Filter>, D::Error> {
    let items = Vec::<Filter>::deserialize(d)?;
    if items.is_empty() {
        return Err(de::Error::custom("all and any take a non-empty list"));
    }
    Ok(items)
}

impl Filter {
    /// Whether the filter stays within `MAX_DEPTH` and `MAX_CONDITIONS`.
    pub fn within_limits(&self) -> bool {
        let mut conditions = 0;
        self.fits(0, &mut conditions)
    }

    fn fits(&self, depth: usize, conditions: &mut usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self {
            Filter::All(items) | Filter::Any(items) => {
                items.iter().all(|f| f.fits(depth + 1, conditions))
            }
            Filter::Not(inner) => inner.fits(depth + 1, conditions),
            Filter::Event(_) | Filter::Prop(_) | Filter::Trait(_) => {
                *conditions += 1;
                *conditions <= MAX_CONDITIONS
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn read(v: Value) -> Result<Filter, String> {
        Filter::deserialize(v).map_err(|e| e.to_string())
    }

    #[test]
    fn filters_compose() {
        let f = read(json!({"all": [
            {"event": {"in": ["signup", 3]}},
            {"not": {"prop": {"plan": {"eq": "pro"}}}},
            {"any": [{"trait": {"tier": {"exists": true}}}, {"prop": {"n": {"gte": 2.5}}}]}
        ]}))
        .unwrap();
        let Filter::All(items) = &f else {
            panic!("{f:?}")
        };
        assert_eq!(
            items[0],
            Filter::Event(Cond::In(Values(vec![
                Scalar::Text("signup".into()),
                Scalar::Number(3.into())
            ])))
        );
        assert_eq!(
            items[1],
            Filter::Not(Box::new(Filter::Prop(Named {
                name: "plan".into(),
                cond: Cond::Eq(Scalar::Text("pro".into()))
            })))
        );
        assert!(f.within_limits());
    }

    #[test]
    fn malformed_filters_are_refused() {
        for bad in [
            json!({"xor": []}),
            json!({"all": []}),
            json!({"all": [], "any": []}),
            json!({"event": {"gt": 3}}),
            json!({"event": {"eq": 3}}),
            json!({"prop": {"plan": {"like": "p%"}}}),
            json!({"prop": {"n": {"gt": "three"}}}),
            json!({"prop": {"n": {"gt": true}}}),
            json!({"prop": {"n": {"eq": [1]}}}),
            json!({"prop": {"n": {"in": []}}}),
            json!({"prop": {"n": {"exists": "yes"}}}),
            json!({"prop": {"n": {"eq": 1, "neq": 2}}}),
            json!({"prop": {"a": {"eq": 1}, "b": {"eq": 1}}}),
            json!({"prop": {}}),
            json!({"prop": {"": {"eq": 1}}}),
            json!("all"),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
        assert!(read(json!({"prop": {"n": {"in": vec![1; 1000]}}})).is_ok());
        assert!(read(json!({"prop": {"n": {"in": vec![1; 1001]}}})).is_err());
    }

    fn nested(depth: usize) -> Value {
        let mut f = json!({"event": {"eq": "a"}});
        for _ in 0..depth {
            f = json!({"not": f});
        }
        f
    }

    fn any_of(n: usize) -> Value {
        json!({"any": (0..n).map(|i| json!({"event": {"eq": format!("e{i}")}})).collect::<Vec<_>>()})
    }

    #[test]
    fn limits_count_depth_and_conditions_not_the_combinators() {
        assert!(read(nested(MAX_DEPTH)).unwrap().within_limits());
        assert!(!read(nested(MAX_DEPTH + 1)).unwrap().within_limits());
        assert!(read(any_of(MAX_CONDITIONS)).unwrap().within_limits());
        assert!(!read(any_of(MAX_CONDITIONS + 1)).unwrap().within_limits());
        let split = json!({"all": [any_of(100), {"not": {"not": any_of(100)}}]});
        assert!(read(split).unwrap().within_limits());
        let over = json!({"all": [any_of(120), any_of(120)]});
        assert!(!read(over).unwrap().within_limits());
    }
}
