//! Event times: parsing client timestamps, correcting client clock skew, and the
//! text form PostgreSQL's COPY reads. Internally a time is microseconds since the epoch (UTC).

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use serde_json::Value;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

const MICROS_PER_MS: i64 = 1_000;
const MICROS_PER_SEC: i64 = 1_000_000;
/// A corrected time further than this past `received_at` is a broken client clock.
pub const MAX_FUTURE: Micros = 3_600 * MICROS_PER_SEC;
/// 9999-12-31T23:59:59.999Z, the last instant the text form can express.
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// A JSON `timestamp`/`sent_at`: an RFC 3339 / ISO 8601 string or epoch milliseconds.
pub fn parse_json_time(v: &Value) -> Option<Micros> {
    match v {
        Value::String(s) => parse_rfc3339(s),
        Value::Number(n) => {
            if let Some(ms) = n.as_i64() {
                (0..=MAX_EPOCH_MS)
                    .contains(&ms)
                    .then_some(ms * MICROS_PER_MS)
            } else {
                let ms = n.as_f64()?;
                (ms.is_finite() && (0.0..=MAX_EPOCH_MS as f64).contains(&ms))
                    .then(|| (ms * MICROS_PER_MS as f64).round() as i64)
            }
        }
        _ => None,
    }
}

/// Epoch milliseconds (what the HTTP layer passes as `received_at`) to micros.
pub fn from_millis(ms: i64) -> Micros {
    ms.saturating_mul(MICROS_PER_MS)
}

/// `YYYY-MM-DD[T|t| ]HH:MM:SS[.f{1,9}][Z|z|±HH:MM|±HHMM|±HH]`; no zone means UTC.
pub fn parse_rfc3339(s: &str) -> Option<Micros> {
    let b = s.as_bytes();
    if b.len() < 19 || b.len() > 40 {
        return None;
    }
    let year = digits(b, 0, 4)? as i32;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || year < 1 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let mut i = 19;
    let mut micros: i64 = 0;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (h, m) = match rest.len() {
                2 => (digits(rest, 0, 2)?, 0),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let secs = date
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp()
        - offset_secs;
    let t = secs * MICROS_PER_SEC + micros;
    (0..=MAX_EPOCH_MS * MICROS_PER_MS).contains(&t).then_some(t)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// When the event happened, in server time.
///
/// `timestamp` is the client's clock at the event, `sent_at` the client's clock when it sent
/// the request; their difference is exact even when the client clock is wrong, so the event
/// time is `received_at - (sent_at - timestamp)`. A result more than an hour ahead of
/// `received_at` is clamped to `received_at`.
pub fn event_time(
    timestamp: Option<Micros>,
    sent_at: Option<Micros>,
    received_at: Micros,
) -> Micros {
    let ts = match (timestamp, sent_at) {
        (None, _) => received_at,
        (Some(t), None) => t,
        (Some(t), Some(s)) => t.saturating_add(received_at.saturating_sub(s)),
    };
    if ts > received_at.saturating_add(MAX_FUTURE) || ts < 0 {
        received_at
    } else {
        ts
    }
}

/// `2026-11-22 11:56:49.123456+00` — what a `timestamptz` column reads in COPY text format.
pub fn write_pg_timestamp(out: &mut Vec<u8>, t: Micros) {
    let dt = DateTime::from_timestamp_micros(t)
        .unwrap_or_default()
        .naive_utc();
    let (y, mo, d) = (dt.year(), dt.month(), dt.day());
    let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
    let us = t.rem_euclid(MICROS_PER_SEC) as u32;
    push_num(out, y as u32, 4);
    out.push(b'-');
    push_num(out, mo, 2);
    out.push(b'-');
    push_num(out, d, 2);
    out.push(b' ');
    push_num(out, h, 2);
    out.push(b':');
    push_num(out, mi, 2);
    out.push(b':');
    push_num(out, s, 2);
    out.push(b'.');
    push_num(out, us, 6);
    out.extend_from_slice(b"+00");
}

fn push_num(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = v;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Text form for tests and logs.
pub fn format_pg_timestamp(t: Micros) -> String {
    let mut v = Vec::with_capacity(32);
    write_pg_timestamp(&mut v, t);
    String::from_utf8(v).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: Micros = 1_700_000_000_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn parses_utc_z_and_naive() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(T0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20z"), Some(T0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), Some(T0));
        assert_eq!(parse_rfc3339("2023-11-14 22:13:20"), Some(T0));
    }

    #[test]
    fn parses_offsets() {
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(T0));
        assert_eq!(parse_rfc3339("2023-11-14T17:13:20-0500"), Some(T0));
        assert_eq!(parse_rfc3339("2023-11-15T07:13:20+09"), Some(T0));
        assert_eq!(parse_rfc3339("2023-11-14T22:43:20+00:30"), Some(T0));
    }

    #[test]
    fn parses_fractional_seconds() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some(T0 + 500_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(T0 + 123_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456Z"),
            Some(T0 + 123_456)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(T0 + 123_456)
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.250"), Some(T0 + 250_000));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-13-14T22:13:20Z",
            "2023-02-30T22:13:20Z",
            "2023-11-14T24:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.1234567890Z",
            "2023-11-14T22:13:20+2",
            "2023-11-14T22:13:20Zjunk",
            "2023/11/14T22:13:20Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn json_number_is_epoch_millis() {
        assert_eq!(parse_json_time(&json!(1_700_000_000_000i64)), Some(T0));
        assert_eq!(parse_json_time(&json!(1_700_000_000_000.5)), Some(T0 + 500));
        assert_eq!(parse_json_time(&json!(-1)), None);
        assert_eq!(parse_json_time(&json!(1e30)), None);
        assert_eq!(parse_json_time(&json!(true)), None);
        assert_eq!(parse_json_time(&json!("2023-11-14T22:13:20Z")), Some(T0));
    }

    #[test]
    fn skew_correction_uses_sent_at() {
        // Client clock is 10 minutes fast: it says the event happened at T0+10min and was
        // sent 5 s later; the server received it at T0+5s.
        let ten_min = 600 * MICROS_PER_SEC;
        let ts = event_time(
            Some(T0 + ten_min),
            Some(T0 + ten_min + 5 * MICROS_PER_SEC),
            T0 + 5 * MICROS_PER_SEC,
        );
        assert_eq!(ts, T0);
        // No sent_at: trust the timestamp.
        assert_eq!(event_time(Some(T0), None, T0 + 1), T0);
        // No timestamp: the receive time.
        assert_eq!(event_time(None, Some(T0 - 5), T0), T0);
    }

    #[test]
    fn far_future_is_clamped_to_received_at() {
        assert_eq!(event_time(Some(T0 + MAX_FUTURE), None, T0), T0 + MAX_FUTURE);
        assert_eq!(event_time(Some(T0 + MAX_FUTURE + 1), None, T0), T0);
        // After correction it is within the hour: kept.
        assert_eq!(
            event_time(Some(T0 + 2 * MAX_FUTURE), Some(T0 + 2 * MAX_FUTURE), T0),
            T0
        );
    }

    #[test]
    fn pg_text_form() {
        assert_eq!(format_pg_timestamp(T0), "2023-11-14 22:13:20.000000+00");
        assert_eq!(
            format_pg_timestamp(T0 + 123_456),
            "2023-11-14 22:13:20.123456+00"
        );
        assert_eq!(format_pg_timestamp(0), "1970-01-01 00:00:00.000000+00");
        let t = parse_rfc3339("0099-01-02T03:04:05.000007Z");
        assert_eq!(t, None, "before the epoch is refused");
    }
}
