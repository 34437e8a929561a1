//! ISO-8601 times as a query's `time_range` takes them: what Python's `datetime.fromisoformat`
//! reads (the service parsed them with it before the engine did), in epoch µs.
//!
//! A date (`2026-01-31`, `20260131`, `2026-W05-6`, `2026W056`), optionally followed by `T`
//! (or a space) and a time (`13`, `13:45`, `1345`, `13:45:30`, `134530`, with a `.` or `,`
//! fraction of up to 9 digits), optionally followed by `Z` or an offset (`+01`, `+01:00`,
//! `+0100`, `+01:00:30[.f]`). No offset means UTC.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Weekday};

const US: i64 = 1_000_000;

pub fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if !text.is_ascii() {
        return None;
    }
    let (date, rest) = date(b)?;
    let (time, offset_us) = match rest {
        [] => (NaiveTime::MIN, 0),
        [b'T' | b't' | b' ', rest @ ..] => {
            let (time, micros, rest) = time(rest)?;
            let offset = offset(rest)?;
            (time + chrono::Duration::microseconds(micros), offset)
        }
        _ => return None,
    };
    let local = NaiveDateTime::new(date, time).and_utc();
    Some(local.timestamp_micros() - offset_us)
}

fn digits(b: &[u8], n: usize) -> Option<u32> {
    let part = b.get(..n)?;
    part.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// The date, and what follows it.
fn date(b: &[u8]) -> Option<(NaiveDate, &[u8])> {
    let year = digits(b, 4)? as i32;
    let rest = &b[4..];
    let extended = rest.first() == Some(&b'-');
    let rest = if extended { &rest[1..] } else { rest };
    if let Some(week) = rest.strip_prefix(b"W") {
        let w = digits(week, 2)?;
        let week = &week[2..];
        let week = if extended {
            week.strip_prefix(b"-")?
        } else {
            week
        };
        let d = digits(week, 1)?;
        let weekday = Weekday::try_from(u8::try_from(d.checked_sub(1)?).ok()?).ok()?;
        return Some((NaiveDate::from_isoywd_opt(year, w, weekday)?, &week[1..]));
    }
    let month = digits(rest, 2)?;
    let rest = &rest[2..];
    let rest = if extended {
        rest.strip_prefix(b"-")?
    } else {
        rest
    };
    let day = digits(rest, 2)?;
    Some((NaiveDate::from_ymd_opt(year, month, day)?, &rest[2..]))
}

/// The time (whole seconds), its fraction in µs (only after seconds), and what follows.
fn time(b: &[u8]) -> Option<(NaiveTime, i64, &[u8])> {
    let hour = digits(b, 2)?;
    let mut rest = &b[2..];
    // Minutes and seconds, each optional (13, 13:45, 1345, 13:45:30, 134530).
    let mut parts = [0u32; 2];
    let mut read = 0;
    while read < parts.len() {
        let (colon, after) = match rest.split_first() {
            Some((b':', after)) => (true, after),
            _ => (false, rest),
        };
        match digits(after, 2) {
            Some(v) => {
                parts[read] = v;
                rest = &after[2..];
                read += 1;
            }
            None if colon => return None,
            None => break,
        }
    }
    let mut micros = 0i64;
    if let (2, Some((b'.' | b',', fraction))) = (read, rest.split_first()) {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (i, &c) in fraction[..6.min(n)].iter().enumerate() {
            micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
        rest = &fraction[n..];
    }
    let time = NaiveTime::from_hms_opt(hour, parts[0], parts[1])?;
    Some((time, micros, rest))
}

/// The offset east of UTC, in µs.
fn offset(b: &[u8]) -> Option<i64> {
    let (sign, rest) = match b {
        [] => return Some(0),
        [b'Z' | b'z'] => return Some(0),
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (time, micros, rest) = time(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let seconds = i64::from(chrono::Timelike::num_seconds_from_midnight(&time));
    Some(sign * (seconds * US + micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIDNIGHT: i64 = 1_767_225_600 * US; // 2026-01-01T00:00:00Z, a Thursday

    #[test]
    fn the_forms_python_reads() {
        for text in [
            "2026-01-01",
            "20260101",
            "2026-W01-4",
            "2026W014",
            "2026-01-01T00",
            "2026-01-01T00:00",
            "2026-01-01T0000",
            "2026-01-01T00:00:00",
            "20260101T000000",
            "2026-01-01 00:00:00.000000",
            "2026-01-01T00:00:00Z",
            "2026-01-01T01:00:00+01:00",
            "2026-01-01T01:00:00+01",
            "2026-01-01T01:00:00+0100",
            "2025-12-31T19:00-05:00",
            "2026-01-01T00:00:30+00:00:30",
        ] {
            assert_eq!(parse(text), Some(MIDNIGHT), "{text}");
        }
        assert_eq!(parse("2026-01-01T00:00:00.25Z"), Some(MIDNIGHT + 250_000));
        assert_eq!(
            parse("2026-01-01T00:00:00,123456789"),
            Some(MIDNIGHT + 123_456)
        );
        assert_eq!(parse("1969-12-31"), Some(-86_400 * US));
    }

    #[test]
    fn what_is_not_a_time() {
        for text in [
            "",
            "yesterday",
            "2026",
            "2026-01",
            "2026-13-01",
            "2026-02-30",
            "2026-01-01T24:00:00",
            "2026-01-01T00:60",
            "2026-01-01T00:00:00.",
            "2026-01-01T00:00:00.1234567890",
            "2026-01-01T00:00:00+1",
            "2026-01-01T00:00:00Zjunk",
            "2026/01/01",
            "2026-01-01T",
            "2026-01-01T00:",
            "2026-W54-1",
            "2026-W01-8",
            "2026-01-01T00:00:00+01:00:",
            "2026-01-01T00.5",
            "２026-01-01",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
