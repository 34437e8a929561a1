//! The values of a query body, each checked as it is read: names, bounded integers, durations,
//! instants, time ranges, time zones, measures, group-by dimensions and the small closed sets
//! (buckets, orders, periods). A value that does not fit fails with a message; which code the
//! client gets depends on the field it sits in (see `plan::code_at`).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::query::timebucket::{parse_tz, Tz, Unit};

const US: i64 = 1_000_000;
pub const DAY_US: i64 = 86_400 * US;
/// The longest name (event, property, trait), in characters.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_GROUP_BY: usize = 3;
/// `conversion_window` is at most this long.
pub const MAX_WINDOW_US: i64 = 365 * DAY_US;
const MAX_TIME_TEXT: usize = 64;

/// A field that may be left out but not sent as null: `Some` only when present.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field whose null means "the default", as leaving it out does.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// An event, property or trait name: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn check(text: String) -> Result<Name, String> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(format!("a name is 1 to {MAX_NAME_CHARS} characters"));
        }
        Ok(Name(text))
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Name::check(String::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl From<&str> for Name {
    /// For tests and callers that know the name fits.
    fn from(text: &str) -> Name {
        Name(text.to_string())
    }
}

/// An integer from MIN to MAX; DEFAULT when the field is left out. A whole number written with a
/// decimal point (`10.0`) is that integer, as JSON Schema's `integer` has it; a fraction, a string
/// or a boolean is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const MIN: u32, const MAX: u32, const DEFAULT: u32>(u32);

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Bounded<MIN, MAX, DEFAULT> {
    pub fn get(self) -> usize {
        self.0 as usize
    }

    pub fn new(value: u32) -> Option<Self> {
        (MIN..=MAX).contains(&value).then_some(Bounded(value))
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Default for Bounded<MIN, MAX, DEFAULT> {
    fn default() -> Self {
        Bounded(DEFAULT)
    }
}

impl<'de, const MIN: u32, const MAX: u32, const DEFAULT: u32> Deserialize<'de>
    for Bounded<MIN, MAX, DEFAULT>
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Integer<const MIN: u32, const MAX: u32>;
        impl<const MIN: u32, const MAX: u32> Visitor<'_> for Integer<MIN, MAX> {
            type Value = u32;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an integer from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|v| (MIN..=MAX).contains(v))
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<u32, E> {
                if v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&v) {
                    self.visit_u64(v as u64)
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_u64(Integer::<MIN, MAX>).map(Bounded)
    }
}

/// A span of time written `<1 to 5 digits><s|m|h|d|w>` ("30m", "12h", "7d", "4w"), > 0; in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub i64);

impl Duration {
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let unit = text.chars().last()?;
        let digits = &text[..text.len() - unit.len_utf8()];
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seconds: i64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: i64 = digits.parse().ok()?;
        (n > 0).then_some(Duration(n * seconds * US))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).ok_or_else(|| {
            de::Error::custom(
                "a duration is 1 to 5 digits and s, m, h, d or w, such as 30m, 12h, 7d or 4w",
            )
        })
    }
}

/// A funnel's `conversion_window`: a duration of at most 365 days, 14 days when left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(pub Duration);

impl Default for Window {
    fn default() -> Self {
        Window(Duration(14 * DAY_US))
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let window = Duration::deserialize(d)?;
        if window.0 > MAX_WINDOW_US {
            return Err(de::Error::custom("at most 365d"));
        }
        Ok(Window(window))
    }
}

/// An ISO-8601 time, in epoch µs (see `iso8601`); without an offset it is UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub i64);

impl Instant {
    pub fn parse(text: &str) -> Option<Instant> {
        let text = text.trim();
        if text.len() > MAX_TIME_TEXT {
            return None;
        }
        super::iso8601::parse(text).map(Instant)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Instant::parse(&text).ok_or_else(|| {
            de::Error::custom("an ISO-8601 time such as 2026-01-31T00:00:00Z is expected")
        })
    }
}

/// `{"last": "30d"}` (ending now) or `{"from": …, "to"?: …}` (`to` defaulting to now);
/// the last 30 days when left out. Read by `plan::time_range`: its shape first, then its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRange {
    Last(Duration),
    Between { from: Instant, to: Option<Instant> },
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange::Last(Duration(30 * DAY_US))
    }
}

impl TimeRange {
    /// `[from, to)` in epoch µs, given the clock.
    pub fn resolve(self, now_us: i64) -> (i64, i64) {
        match self {
            TimeRange::Last(d) => (now_us.saturating_sub(d.0), now_us),
            TimeRange::Between { from, to } => (from.0, to.map_or(now_us, |t| t.0)),
        }
    }
}

/// An IANA time zone name ("Europe/Berlin"); UTC when left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub Tz);

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(Tz::UTC)
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        (name.len() <= MAX_TIME_TEXT)
            .then(|| parse_tz(&name))
            .flatten()
            .map(TimeZone)
            .ok_or_else(|| {
                de::Error::custom("an IANA time zone name such as Europe/Berlin is expected")
            })
    }
}

/// `time_bucket`: calendar buckets in the query's time zone.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "1d")]
    Day,
    #[serde(rename = "1w")]
    Week,
    #[serde(rename = "1mo")]
    Month,
}

impl Bucket {
    pub fn unit(self) -> Unit {
        match self {
            Bucket::Hour => Unit::Hour,
            Bucket::Day => Unit::Day,
            Bucket::Week => Unit::Week,
            Bucket::Month => Unit::Month,
        }
    }
}

/// A funnel's `order`: `strict` ends an attempt at any other event of the person.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Sequential,
    Strict,
}

/// Retention's `period`.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    #[default]
    Week,
}

impl Period {
    pub fn unit(self) -> Unit {
        match self {
            Period::Day => Unit::Day,
            Period::Week => Unit::Week,
        }
    }
}

/// What `aggregate` and `breakdown` compute per group: `"count"` (the default),
/// `"unique_users"`, `{"sum"|"avg"|"min"|"max": prop}` or `{"percentile": {"prop", "p"}}`.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    #[default]
    Count,
    UniqueUsers,
    Sum(Name),
    Avg(Name),
    Min(Name),
    Max(Name),
    Percentile(Percentile),
    /// Persons active in the 1 / 7 / 30 days ending at each daily bucket's end.
    Dau,
    Wau,
    Mau,
}

/// `{"prop": name, "p": 0.9}`: the interpolated percentile p of a property.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Percentile {
    pub prop: Name,
    pub p: Fraction,
}

impl Measure {
    /// The days an active-persons measure looks back over (`dau` 1, `wau` 7, `mau` 30).
    pub fn active_days(&self) -> Option<u32> {
        match self {
            Measure::Dau => Some(1),
            Measure::Wau => Some(7),
            Measure::Mau => Some(30),
            _ => None,
        }
    }

    pub fn is_actives(&self) -> bool {
        self.active_days().is_some()
    }

    /// The property a value measure reads.
    pub fn prop(&self) -> Option<&Name> {
        match self {
            Measure::Count | Measure::UniqueUsers | Measure::Dau | Measure::Wau | Measure::Mau => {
                None
            }
            Measure::Sum(p) | Measure::Avg(p) | Measure::Min(p) | Measure::Max(p) => Some(p),
            Measure::Percentile(q) => Some(&q.prop),
        }
    }
}

/// A number from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&p) {
            return Err(de::Error::custom("p is a number from 0 to 1"));
        }
        Ok(Fraction(p))
    }
}

/// One `group_by` entry: a property (a hot column first, see `columns::HOT_COLUMNS`) or a trait.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Prop(Name),
    Trait(Name),
}

impl GroupBy {
    pub fn name(&self) -> &str {
        match self {
            GroupBy::Prop(n) | GroupBy::Trait(n) => n.as_str(),
        }
    }
}

/// `group_by`: up to `MAX_GROUP_BY` dimensions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dimensions(pub Vec<GroupBy>);

impl<'de> Deserialize<'de> for Dimensions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<GroupBy>::deserialize(d)?;
        if list.len() > MAX_GROUP_BY {
            return Err(de::Error::custom(format!(
                r#"a list of at most {MAX_GROUP_BY} {{"prop": name}} or {{"trait": name}} is expected"#
            )));
        }
        Ok(Dimensions(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn read<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, String> {
        T::deserialize(v).map_err(|e| e.to_string())
    }

    #[test]
    fn names_are_1_to_200_characters() {
        assert_eq!(
            read::<Name>(json!("é".repeat(200)))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            200
        );
        assert!(read::<Name>(json!("x".repeat(201))).is_err());
        assert!(read::<Name>(json!("")).is_err());
        assert!(read::<Name>(json!(3)).is_err());
    }

    #[test]
    fn bounded_integers_refuse_fractions_strings_and_the_out_of_range() {
        type Limit = Bounded<1, 1000, 100>;
        assert_eq!(Limit::default().get(), 100);
        assert_eq!(read::<Limit>(json!(1000)).unwrap().get(), 1000);
        assert_eq!(read::<Limit>(json!(10.0)).unwrap().get(), 10);
        for bad in [
            json!(0),
            json!(1001),
            json!(-1),
            json!(10.5),
            json!(1001.0),
            json!("10"),
            json!(true),
            json!(null),
        ] {
            let e = read::<Limit>(bad.clone()).unwrap_err();
            assert!(e.contains("an integer from 1 to 1000"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_are_digits_and_a_unit() {
        assert_eq!(Duration::parse("30m"), Some(Duration(1_800 * US)));
        assert_eq!(Duration::parse(" 2w "), Some(Duration(14 * DAY_US)));
        assert_eq!(Duration::parse("99999s"), Some(Duration(99_999 * US)));
        for bad in [
            "0d", "100000s", "7 days", "d", "7", "1y", "-1d", "1.5h", "７d",
        ] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
        assert!(read::<Window>(json!("366d")).is_err());
        assert_eq!(
            read::<Window>(json!("52w")).unwrap().0,
            Duration(364 * DAY_US)
        );
        assert_eq!(Window::default().0, Duration(14 * DAY_US));
    }

    #[test]
    fn instants_take_dates_offsets_and_no_zone_as_utc() {
        let midnight = 1_767_225_600 * US; // 2026-01-01T00:00:00Z
        for text in [
            "2026-01-01",
            "2026-01-01T00:00",
            "2026-01-01T00:00:00Z",
            "2026-01-01T01:00:00+01:00",
            "2025-12-31T19:00-05:00",
            "2026-01-01 00:00:00.000000",
        ] {
            assert_eq!(Instant::parse(text), Some(Instant(midnight)), "{text}");
        }
        assert_eq!(
            Instant::parse("2026-01-01T00:00:00.25Z"),
            Some(Instant(midnight + 250_000))
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-01-01T25:00:00Z",
            "",
            "2026-01-01T00:00:00Z".repeat(4).as_str(),
        ] {
            assert_eq!(Instant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_ranges_resolve_against_the_clock() {
        let now = 100 * DAY_US;
        assert_eq!(
            TimeRange::Last(Duration(DAY_US)).resolve(now),
            (99 * DAY_US, now)
        );
        let open = TimeRange::Between {
            from: Instant(DAY_US),
            to: None,
        };
        assert_eq!(open.resolve(now), (DAY_US, now));
        assert_eq!(TimeRange::default().resolve(now), (70 * DAY_US, now));
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            read::<TimeZone>(json!("Europe/Berlin")).unwrap().0,
            Tz::Europe__Berlin
        );
        assert!(read::<TimeZone>(json!("Mars/Olympus")).is_err());
        assert!(read::<TimeZone>(json!(1)).is_err());
    }

    #[test]
    fn measures_and_dimensions() {
        assert_eq!(
            read::<Measure>(json!("unique_users")).unwrap(),
            Measure::UniqueUsers
        );
        assert_eq!(
            read::<Measure>(json!({"avg": "amount"}))
                .unwrap()
                .prop()
                .unwrap()
                .as_str(),
            "amount"
        );
        let p90 = read::<Measure>(json!({"percentile": {"prop": "amount", "p": 0.9}})).unwrap();
        assert_eq!(
            p90,
            Measure::Percentile(Percentile {
                prop: "amount".into(),
                p: Fraction(0.9)
            })
        );
        for bad in [
            json!("median"),
            json!("sum"),
            json!({"sum": ""}),
            json!({"percentile": {"prop": "a", "p": 1.5}}),
            json!({"percentile": {"prop": "a"}}),
            json!({"percentile": {"prop": "a", "p": 0.5, "q": 1}}),
        ] {
            assert!(read::<Measure>(bad.clone()).is_err(), "{bad}");
        }
        let dims = read::<Dimensions>(json!([{"prop": "plan"}, {"trait": "tier"}])).unwrap();
        assert_eq!(dims.0[1], GroupBy::Trait("tier".into()));
        assert!(read::<Dimensions>(
            json!([{"prop": "a"}, {"prop": "b"}, {"prop": "c"}, {"prop": "d"}])
        )
        .is_err());
        assert!(read::<Dimensions>(json!([{"column": "a"}])).is_err());
        assert_eq!(read::<Bucket>(json!("1mo")).unwrap(), Bucket::Month);
        assert!(read::<Bucket>(json!("5m")).is_err());
    }
}
