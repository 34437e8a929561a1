//! The closed set of reasons a query is refused. Codes are stable API (README "Queries"):
//! clients match on them, and the service passes them on unchanged.

use std::fmt;

use crate::reject::Extra;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `kind` is missing or not one of the six.
    UnknownKind,
    /// A field the kind does not have.
    UnknownField,
    /// A field of the wrong type, out of range, or missing.
    InvalidField,
    /// `time_range` is neither `{"last"}` nor `{"from", "to"?}`, or ends before it starts.
    InvalidTimeRange,
    /// A duration (`time_range.last`, `conversion_window`) that is not `<1-5 digits><s|m|h|d|w>`.
    InvalidDuration,
    /// The time range is longer than the kind allows (`limit_days`).
    RangeTooLarge,
    InvalidTimezone,
    InvalidFilter,
    /// A filter operator that does not exist, or that `event` does not take.
    UnknownOperator,
    /// A filter deeper or with more conditions than allowed.
    FilterTooComplex,
    InvalidMeasure,
    /// `steps` is not a list of 1 to `MAX_STEPS` `{"event", "filter"?}` (`limit`).
    InvalidSteps,
    /// Hourly buckets over more than 31 days.
    TooManyBuckets,
    /// The query would scan more rows than its budget (504, not 400).
    Timeout,
    /// The body is not JSON (the service checks before; the engine checks again).
    InvalidJson,
    /// The body is JSON but not an object.
    InvalidRequest,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnknownKind => "analytics.query.unknown_kind",
            Code::UnknownField => "analytics.query.unknown_field",
            Code::InvalidField => "analytics.query.invalid_field",
            Code::InvalidTimeRange => "analytics.query.invalid_time_range",
            Code::InvalidDuration => "analytics.query.invalid_duration",
            Code::RangeTooLarge => "analytics.query.range_too_large",
            Code::InvalidTimezone => "analytics.query.invalid_timezone",
            Code::InvalidFilter => "analytics.query.invalid_filter",
            Code::UnknownOperator => "analytics.query.unknown_operator",
            Code::FilterTooComplex => "analytics.query.filter_too_complex",
            Code::InvalidMeasure => "analytics.query.invalid_measure",
            Code::InvalidSteps => "analytics.query.invalid_steps",
            Code::TooManyBuckets => "analytics.query.too_many_buckets",
            Code::Timeout => "analytics.query.timeout",
            Code::InvalidJson => "analytics.invalid_json",
            Code::InvalidRequest => "analytics.invalid_request",
        }
    }
}

/// A refused query: its code, a short message, the field at fault (`steps[2].event`) and at
/// most one number the client may need (`limit_days`, `limit`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub code: Code,
    pub message: String,
    pub field: Option<String>,
    pub limit: Option<(&'static str, i64)>,
}

/// Messages quote what the client sent; this much of it at most.
const QUOTE_CHARS: usize = 200;

impl QueryError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if let Some((cut, _)) = message.char_indices().nth(QUOTE_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        QueryError {
            code,
            message,
            field: None,
            limit: None,
        }
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        let field: String = field.into();
        self.field = Some(field.chars().take(QUOTE_CHARS / 2).collect());
        self
    }

    pub fn with_limit(mut self, name: &'static str, value: i64) -> Self {
        self.limit = Some((name, value));
        self
    }

    /// What the error answer carries beside code and message: `field`, and the limit if any.
    pub fn extras(&self) -> Vec<(&'static str, Extra)> {
        let mut out = Vec::new();
        if let Some(field) = &self.field {
            out.push(("field", Extra::Str(field.clone())));
        }
        if let Some((name, value)) = self.limit {
            out.push((name, Extra::Int(value)));
        }
        out
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for QueryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quotes_are_cut_and_extras_listed() {
        let e = QueryError::new(Code::UnknownField, "x".repeat(500))
            .at("y".repeat(500))
            .with_limit("limit", 20);
        assert_eq!(e.message.chars().count(), QUOTE_CHARS + 1);
        assert_eq!(e.field.as_ref().map(|f| f.len()), Some(QUOTE_CHARS / 2));
        assert_eq!(e.extras()[1], ("limit", Extra::Int(20)));
        assert_eq!(
            e.to_string().split(':').next(),
            Some("analytics.query.unknown_field")
        );
    }
}
