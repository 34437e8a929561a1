//! The closed set of reasons an ingest request or one of its events is refused.
//! Codes are stable API: clients, dashboards and tests match on them.

use std::fmt;

/// A value attached to a rejection next to its code and message (`"field": "user_id"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    Str(String),
    Int(i64),
}

/// Why one event (one element of a batch) was not stored. The rest of the request goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The batch element is not a JSON object.
    InvalidEvent,
    /// A field this kind of event does not have.
    UnknownField { field: String },
    /// A required field is absent (or null).
    MissingField { field: &'static str },
    /// A field has the wrong type, is empty, too long or contains control characters.
    InvalidField {
        field: &'static str,
        detail: &'static str,
    },
    /// The event name is empty, too long or contains control characters.
    InvalidName,
    /// A `$` name that is not one of the system events.
    SystemReserved { name: String },
    /// properties + context serialise to more than the per-event limit.
    PropertiesTooLarge {
        limit_bytes: usize,
        size_bytes: usize,
    },
    /// `timestamp` or `sent_at` is neither an RFC 3339 string nor epoch milliseconds.
    InvalidTimestamp { field: &'static str },
    /// The event names a project other than the one the request is authorised for.
    ProjectMismatch,
    /// The event's anonymous_id has opted out of tracking.
    OptedOut,
    /// The project lists its sources and the event's page hostname is not one of them.
    InvalidSource { hostname: String },
}

impl RejectReason {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::InvalidEvent => "invalid_event",
            RejectReason::UnknownField { .. } => "unknown_field",
            RejectReason::MissingField { .. } => "missing_field",
            RejectReason::InvalidField { .. } => "invalid_field",
            RejectReason::InvalidName => "invalid_name",
            RejectReason::SystemReserved { .. } => "system_reserved",
            RejectReason::PropertiesTooLarge { .. } => "properties_too_large",
            RejectReason::InvalidTimestamp { .. } => "invalid_timestamp",
            RejectReason::ProjectMismatch => "project_mismatch",
            RejectReason::OptedOut => "opted_out",
            RejectReason::InvalidSource { .. } => "invalid_source",
        }
    }

    /// Short human text; never echoes user input beyond a field or event name (capped).
    pub fn message(&self) -> String {
        match self {
            RejectReason::InvalidEvent => "event must be a JSON object".into(),
            RejectReason::UnknownField { field } => format!("unknown field '{}'", clip(field)),
            RejectReason::MissingField {
                field: "anonymous_id",
            } => "one of anonymous_id or user_id is required".into(),
            RejectReason::MissingField { field } => format!("'{field}' is required"),
            RejectReason::InvalidField { field, detail } => format!("'{field}' {detail}"),
            RejectReason::InvalidName => {
                "event name must be 1-200 characters without control characters".into()
            }
            RejectReason::SystemReserved { name } => format!(
                "event names starting with '$' are reserved for system events; '{}' is not one",
                clip(name)
            ),
            RejectReason::PropertiesTooLarge {
                limit_bytes,
                size_bytes,
            } => format!(
                "properties and context are {size_bytes} bytes, over the {limit_bytes}-byte limit"
            ),
            RejectReason::InvalidTimestamp { field } => {
                format!("'{field}' must be an RFC 3339 date-time or epoch milliseconds")
            }
            RejectReason::ProjectMismatch => {
                "event names a different project than the request".into()
            }
            RejectReason::OptedOut => "anonymous_id has opted out of tracking".into(),
            RejectReason::InvalidSource { hostname } => format!(
                "the page's hostname '{}' is not one of the project's sources",
                clip(hostname)
            ),
        }
    }

    /// Extra keys of the rejection object, next to index/reason/message.
    pub fn extras(&self) -> Vec<(&'static str, Extra)> {
        match self {
            RejectReason::UnknownField { field } => vec![("field", Extra::Str(field.clone()))],
            RejectReason::MissingField { field }
            | RejectReason::InvalidField { field, .. }
            | RejectReason::InvalidTimestamp { field } => {
                vec![("field", Extra::Str((*field).to_string()))]
            }
            RejectReason::PropertiesTooLarge { limit_bytes, .. } => {
                vec![("limit_bytes", Extra::Int(*limit_bytes as i64))]
            }
            RejectReason::InvalidSource { hostname } => {
                vec![("hostname", Extra::Str(clip(hostname)))]
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// Why a whole request body was refused (nothing in it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Not UTF-8, not JSON, or nested too deeply.
    InvalidJson { detail: String },
    /// JSON, but not the shape this endpoint takes.
    InvalidRequest { detail: String },
    /// A batch over the per-request event limit.
    TooManyEvents { limit: usize, count: usize },
}

impl RequestError {
    /// Stable dotted code, the same family as the HTTP API's error codes.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::InvalidJson { .. } => "analytics.invalid_json",
            RequestError::InvalidRequest { .. } => "analytics.invalid_request",
            RequestError::TooManyEvents { .. } => "analytics.batch.too_many_events",
        }
    }

    pub fn message(&self) -> String {
        match self {
            RequestError::InvalidJson { detail } => format!("body is not valid JSON: {detail}"),
            RequestError::InvalidRequest { detail } => detail.clone(),
            RequestError::TooManyEvents { limit, count } => {
                format!("batch has {count} events, the limit is {limit}")
            }
        }
    }

    pub(crate) fn invalid_request(detail: impl Into<String>) -> Self {
        RequestError::InvalidRequest {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for RequestError {}

/// User-supplied names in messages are capped so a message never grows with the input.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let all = [
            RejectReason::InvalidEvent,
            RejectReason::UnknownField { field: "x".into() },
            RejectReason::MissingField { field: "event" },
            RejectReason::InvalidField {
                field: "user_id",
                detail: "must be a string",
            },
            RejectReason::InvalidName,
            RejectReason::SystemReserved { name: "$x".into() },
            RejectReason::PropertiesTooLarge {
                limit_bytes: 10,
                size_bytes: 11,
            },
            RejectReason::InvalidTimestamp { field: "timestamp" },
            RejectReason::ProjectMismatch,
            RejectReason::OptedOut,
        ];
        let codes: Vec<_> = all.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "invalid_event",
                "unknown_field",
                "missing_field",
                "invalid_field",
                "invalid_name",
                "system_reserved",
                "properties_too_large",
                "invalid_timestamp",
                "project_mismatch",
                "opted_out"
            ]
        );
        for r in &all {
            assert!(!r.message().is_empty());
        }
    }

    #[test]
    fn extras_carry_field_and_limit() {
        let r = RejectReason::UnknownField {
            field: "colour".into(),
        };
        assert_eq!(r.extras(), vec![("field", Extra::Str("colour".into()))]);
        let r = RejectReason::PropertiesTooLarge {
            limit_bytes: 32768,
            size_bytes: 40000,
        };
        assert_eq!(r.extras(), vec![("limit_bytes", Extra::Int(32768))]);
        assert!(RejectReason::OptedOut.extras().is_empty());
    }

    #[test]
    fn messages_do_not_grow_with_input() {
        let r = RejectReason::UnknownField {
            field: "é".repeat(10_000),
        };
        assert!(r.message().len() < 120);
    }

    #[test]
    fn request_error_codes() {
        assert_eq!(
            RequestError::InvalidJson { detail: "x".into() }.code(),
            "analytics.invalid_json"
        );
        assert_eq!(
            RequestError::invalid_request("x").code(),
            "analytics.invalid_request"
        );
        let e = RequestError::TooManyEvents {
            limit: 100,
            count: 101,
        };
        assert_eq!(e.code(), "analytics.batch.too_many_events");
        assert!(e.message().contains("101"));
    }
}
