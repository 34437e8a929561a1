//! The web kinds' own fields: `web` (metrics, a dimension or a time bucket, comparison with an
//! earlier range), `realtime` and `summary` (no fields of their own).

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::fields::{Bounded, Bucket};

/// What `web` computes (SPEC "Web analytics"), in the order rows list them.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Visitors,
    Visits,
    Pageviews,
    ViewsPerVisit,
    BounceRate,
    VisitDuration,
    TimeOnPage,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Visitors,
        Metric::Visits,
        Metric::Pageviews,
        Metric::ViewsPerVisit,
        Metric::BounceRate,
        Metric::VisitDuration,
        Metric::TimeOnPage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Visitors => "visitors",
            Metric::Visits => "visits",
            Metric::Pageviews => "pageviews",
            Metric::ViewsPerVisit => "views_per_visit",
            Metric::BounceRate => "bounce_rate",
            Metric::VisitDuration => "visit_duration",
            Metric::TimeOnPage => "time_on_page",
        }
    }
}

/// `metrics`: a non-empty list without repeats; all of them when left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics(pub Vec<Metric>);

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Metric::ALL.to_vec())
    }
}

impl Metrics {
    pub fn has(&self, m: Metric) -> bool {
        self.0.contains(&m)
    }
}

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Metric>::deserialize(d)?;
        if list.is_empty() {
            return Err(de::Error::custom(
                "a list of at least one metric is expected",
            ));
        }
        let mut seen = list.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != list.len() {
            return Err(de::Error::custom("a metric is named at most once"));
        }
        Ok(Metrics(list))
    }
}

/// What a `web` row is keyed by. `page` is a property of each pageview; every other dimension
/// is a property of the visit, read from its first event (its first `$pageview` for the
/// referrer, the source and the UTM tags).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Page,
    EntryPage,
    ExitPage,
    Hostname,
    Referrer,
    Source,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    Browser,
    Os,
    Device,
    Country,
    Language,
}

impl Dimension {
    /// The dimension a filter's property name means in a `web` query.
    pub fn named(name: &str) -> Option<Dimension> {
        Some(match name {
            "page" => Dimension::Page,
            "entry_page" => Dimension::EntryPage,
            "exit_page" => Dimension::ExitPage,
            "hostname" => Dimension::Hostname,
            "referrer" => Dimension::Referrer,
            "source" => Dimension::Source,
            "utm_source" => Dimension::UtmSource,
            "utm_medium" => Dimension::UtmMedium,
            "utm_campaign" => Dimension::UtmCampaign,
            "browser" => Dimension::Browser,
            "os" => Dimension::Os,
            "device" => Dimension::Device,
            "country" => Dimension::Country,
            "language" => Dimension::Language,
            _ => return None,
        })
    }
}

/// `compare`: the same rows over an earlier range.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The range of the same length just before.
    PreviousPeriod,
    /// The same calendar dates a year earlier (in the query's time zone).
    YearOverYear,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WebQuery {
    #[serde(default, deserialize_with = "super::fields::null_as_default")]
    pub metrics: Metrics,
    #[serde(default)]
    pub dimension: Option<Dimension>,
    #[serde(default)]
    pub time_bucket: Option<Bucket>,
    #[serde(default)]
    pub limit: Bounded<1, 1000, 10>,
    #[serde(default)]
    pub compare: Option<Compare>,
}

/// Who is on the site now: the last five minutes, whatever `time_range` says.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RealtimeQuery {}

/// Total events, daily / weekly / monthly actives and the top events over the range.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_default_to_all_and_refuse_repeats_and_unknowns() {
        let q: WebQuery = serde_json::from_value(json!({})).unwrap();
        assert_eq!(q.metrics.0.len(), 7);
        let q: WebQuery = serde_json::from_value(json!({"metrics": ["visits"]})).unwrap();
        assert_eq!(q.metrics.0, vec![Metric::Visits]);
        for bad in [json!([]), json!(["visits", "visits"]), json!(["hits"])] {
            assert!(
                serde_json::from_value::<Metrics>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(Dimension::named("device"), Some(Dimension::Device));
        assert_eq!(Dimension::named("path"), None);
    }
}
