//! Error fingerprints: the same bug gets the same fingerprint wherever and whenever it happens.
//!
//! A fingerprint is a 128-bit SipHash-2-4 (fixed key, so it is stable across builds and
//! versions) of the error's type and its top [`TOP_FRAMES`] stack frames, each normalised so that
//! what changes between deploys, users and page loads drops out: origins (`scheme://host:port`),
//! query strings and fragments, UUIDs, hex ids (`0x…`, and runs of six or more hex digits that
//! hold a digit, such as a bundle's content hash) and every other digit (line and column numbers,
//! ids). Without a frame, the normalised message stands in for them.

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher24};

use crate::json::RawObject;

/// Frames of the stack that count, from the top.
pub const TOP_FRAMES: usize = 5;
/// Lines of a stack looked at for frames (a 200 KB stack costs no more than this).
const MAX_LINES: usize = 64;
/// Bytes of one frame or message kept before normalising.
const MAX_LINE: usize = 1024;
/// Length of the longest type name kept.
const MAX_TYPE: usize = 200;

/// Longest message kept for an error group.
pub const MAX_MESSAGE: usize = 1000;

/// What ingest keeps of an `$error` event beside its row: its group and how to show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorInfo {
    pub fingerprint: String,
    /// `properties.type`, else `Error`.
    pub error_type: String,
    /// `properties.message` (capped), else empty.
    pub message: String,
}

/// The error an `$error` event's properties describe (`type`, `message`, `stack`); a field of
/// another type than a string counts as absent, so a malformed error still gets a group.
pub fn read(properties: &RawObject<'_>) -> ErrorInfo {
    let error_type = properties
        .str("type")
        .map(|t| cap(t.trim(), MAX_TYPE).to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Error".to_string());
    let message = properties
        .str("message")
        .map(|m| cap(&m, MAX_MESSAGE).to_string())
        .unwrap_or_default();
    let stack = properties.str("stack");
    let source = properties.str("source");
    ErrorInfo {
        fingerprint: fingerprint_with_source(
            &error_type,
            &message,
            stack.as_deref(),
            source.as_deref(),
        ),
        error_type,
        message,
    }
}

/// The fingerprint of an error: 32 lowercase hex digits.
pub fn fingerprint(error_type: &str, message: &str, stack: Option<&str>) -> String {
    fingerprint_with_source(error_type, message, stack, None)
}

/// [`fingerprint`] of an error that may name its script (`source`, the `error` event's
/// `filename`): without frames, the normalised message and source stand in for them.
pub fn fingerprint_with_source(
    error_type: &str,
    message: &str,
    stack: Option<&str>,
    source: Option<&str>,
) -> String {
    let mut h = SipHasher24::new_with_keys(0x7265_6163_746f_7221, 0x6572_726f_7273_2121);
    let kind = normalise(cap(error_type.trim(), MAX_TYPE));
    h.write(kind.as_bytes());
    h.write_u8(0);
    let frames = top_frames(stack.unwrap_or(""));
    if frames.is_empty() {
        h.write(b"message\0");
        h.write(normalise(cap(message.trim(), MAX_LINE)).as_bytes());
        if let Some(source) = source.filter(|s| !s.trim().is_empty()) {
            h.write(b"\0source\0");
            h.write(normalise(cap(source.trim(), MAX_LINE)).as_bytes());
        }
    } else {
        for frame in &frames {
            h.write(frame.as_bytes());
            h.write_u8(0);
        }
    }
    format!("{:032x}", h.finish128().as_u128())
}

/// The normalised top frames of a stack trace: V8's `    at fn (url:1:2)` lines and
/// SpiderMonkey / JavaScriptCore's `fn@url:1:2` lines; the message line V8 puts first is not one.
pub fn top_frames(stack: &str) -> Vec<String> {
    stack
        .lines()
        .take(MAX_LINES)
        .map(str::trim)
        .filter(|line| is_frame(line))
        .take(TOP_FRAMES)
        .map(|line| normalise(cap(line, MAX_LINE)))
        .collect()
}

fn is_frame(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("at ") {
        return !rest.trim().is_empty();
    }
    // `fn@url:line:col` or `@url:line:col`: the place ends with a line number, which an e-mail
    // address in a message does not.
    match line.rsplit_once('@') {
        Some((_, place)) => place
            .rsplit_once(':')
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// `text` with origins, query strings, fragments, UUIDs, hex ids and digits left out.
pub fn normalise(text: &str) -> String {
    let without_urls = strip_url_parts(text);
    let mut out = String::with_capacity(without_urls.len());
    for token in tokens(&without_urls) {
        match token {
            Token::Word(w) if is_uuid(w) || is_hex_id(w) => {}
            Token::Word(w) => out.extend(w.chars().filter(|c| !c.is_ascii_digit())),
            Token::Other(c) => out.push(c),
        }
    }
    out
}

/// Origins (`scheme://host:port`) out, and each URL's `?query` and `#fragment` out up to where the
/// URL ends (a space, a quote, a bracket, or the `:line:col` a frame puts after it).
fn strip_url_parts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        out.push_str(&rest[..scheme_start]);
        let after = &rest[at + 3..];
        let host_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | ')' | ' ' | '"' | '\'' | '>'))
            .unwrap_or(after.len());
        let mut tail = &after[host_end..];
        // The path stays; a query or fragment goes up to the end of the URL.
        let path_end = tail
            .find(|c: char| matches!(c, '?' | '#' | ')' | ' ' | '"' | '\'' | '>'))
            .unwrap_or(tail.len());
        out.push_str(&tail[..path_end]);
        tail = &tail[path_end..];
        if tail.starts_with(['?', '#']) {
            let end = query_end(tail);
            tail = &tail[end..];
        }
        rest = tail;
    }
    out.push_str(rest);
    strip_bare_queries(&out)
}

/// Where a `?query` / `#fragment` at the start of `s` ends: before a space, quote or bracket, or
/// before a trailing `:digits` / `:digits:digits` (a frame's line and column).
fn query_end(s: &str) -> usize {
    let end = s
        .find(|c: char| matches!(c, ')' | ' ' | '"' | '\'' | '>'))
        .unwrap_or(s.len());
    let q = &s[..end];
    let mut cut = end;
    // Up to two `:digits` groups at the end belong to the frame, not to the query.
    for _ in 0..2 {
        let body = &q[..cut];
        match body.rfind(':') {
            Some(i) if i + 1 < body.len() && body[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                cut = i
            }
            _ => break,
        }
    }
    cut
}

/// `?query` of a path without an origin (`/app.js?v=3:1:2`): out, as for full URLs.
fn strip_bare_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('?') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        // Only a query that follows a path-like word (one with a `/` or `.`) and is not empty.
        let word = rest[..i]
            .rsplit(|c: char| c.is_whitespace() || matches!(c, '(' | '"' | '\''))
            .next()
            .unwrap_or("");
        let next = tail[1..].chars().next();
        if word.contains(['/', '.']) && matches!(next, Some(c) if !c.is_whitespace()) {
            rest = &tail[query_end(tail)..];
        } else {
            out.push('?');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

enum Token<'a> {
    /// A run of ASCII letters, digits and `-` (a UUID keeps its dashes).
    Word(&'a str),
    Other(char),
}

fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let c = rest.chars().next()?;
        if c.is_ascii_alphanumeric() {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(rest.len());
            let (word, tail) = rest.split_at(end);
            rest = tail;
            Some(Token::Word(word))
        } else {
            rest = &rest[c.len_utf8()..];
            Some(Token::Other(c))
        }
    })
}

fn is_uuid(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `0x1f…`, or a run of hex digits (dash-separated parts count alone) six or more long that
/// holds a digit: `3f9a2b1c`, `a1b2c3d4e5`, but not `deadline` or `facade`.
fn is_hex_id(w: &str) -> bool {
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    !w.is_empty()
        && w.split('-').all(|part| {
            part.len() >= 6
                && part.bytes().all(|b| b.is_ascii_hexdigit())
                && part.bytes().any(|b| b.is_ascii_digit())
        })
}

fn cap(s: &str, max: usize) -> &str {
    crate::enrich::cap(s, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_A: &str = "TypeError: Cannot read properties of undefined (reading 'id')\n    at renderUser (https://shop.example.com/assets/app.3f9a2b1c.js?v=12:10:15)\n    at https://shop.example.com/assets/app.3f9a2b1c.js?v=12:88:3\n    at Array.forEach (<anonymous>)\n    at main (https://shop.example.com:8443/assets/vendor.js:1:200)";
    const CHROME_B: &str = "TypeError: Cannot read properties of undefined (reading 'id')\n    at renderUser (http://localhost:3000/assets/app.77ee01aa.js?v=13:12:9)\n    at http://localhost:3000/assets/app.77ee01aa.js?v=13:90:7\n    at Array.forEach (<anonymous>)\n    at main (http://localhost:3000/assets/vendor.js:1:4123)";

    #[test]
    fn two_deploys_of_one_bug_group_together() {
        let a = fingerprint(
            "TypeError",
            "Cannot read properties of undefined",
            Some(CHROME_A),
        );
        let b = fingerprint("TypeError", "other message", Some(CHROME_B));
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn type_and_frames_decide() {
        let a = fingerprint("TypeError", "m", Some(CHROME_A));
        assert_ne!(a, fingerprint("RangeError", "m", Some(CHROME_A)));
        let other_fn = CHROME_A.replace("renderUser", "renderCart");
        assert_ne!(a, fingerprint("TypeError", "m", Some(&other_fn)));
        // Only the top five frames count.
        let five = format!("{CHROME_A}\n    at a (x.js:1:1)");
        let six = format!("{five}\n    at b (y.js:2:2)");
        assert_ne!(a, fingerprint("TypeError", "m", Some(&five)));
        assert_eq!(
            fingerprint("TypeError", "m", Some(&five)),
            fingerprint("TypeError", "m", Some(&six))
        );
    }

    #[test]
    fn frames_are_normalised() {
        let frames = top_frames(CHROME_A);
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], "at renderUser (/assets/app..js::)");
        assert_eq!(frames[1], "at /assets/app..js::");
        assert_eq!(frames[2], "at Array.forEach (<anonymous>)");
        assert_eq!(frames[3], "at main (/assets/vendor.js::)");
        let gecko = top_frames(
            "renderUser@https://x.io/app.js?x=1#h:10:5\n@debugger eval code:1:1\nnot a frame",
        );
        assert_eq!(gecko, ["renderUser@/app.js::", "@debugger eval code::"]);
    }

    #[test]
    fn uuids_hex_ids_and_digits_go() {
        assert_eq!(
            normalise(
                "user 550e8400-e29b-41d4-a716-446655440000 at 0x7ffd1234 chunk a1b2c3d4e5 line 42"
            ),
            "user  at  chunk  line "
        );
        // Words that happen to be hex letters stay; a short hex-ish word loses its digits only.
        assert_eq!(normalise("deadline facade ab12"), "deadline facade ab");
        assert_eq!(
            normalise("https://a.b:81/p?q=1#f and /x.js?v=2:3:4"),
            "/p and /x.js::"
        );
        assert_eq!(normalise("why? because"), "why? because");
    }

    #[test]
    fn without_frames_the_message_stands_in() {
        let a = fingerprint("Error", "order 1234 failed", None);
        assert_eq!(
            a,
            fingerprint("Error", "order 98 failed", Some("Error: no frames here"))
        );
        assert_ne!(a, fingerprint("Error", "payment 12 failed", None));
    }

    #[test]
    fn read_from_properties() {
        let text = serde_json::json!({"type": "TypeError", "message": "x is 5", "stack": CHROME_A})
            .to_string();
        let props: RawObject = serde_json::from_str(&text).unwrap();
        let info = read(&props);
        assert_eq!(
            (info.error_type.as_str(), info.message.as_str()),
            ("TypeError", "x is 5")
        );
        assert_eq!(
            info.fingerprint,
            fingerprint("TypeError", "", Some(CHROME_B))
        );
        let text = serde_json::json!({"type": 5, "message": ["no"], "stack": {}}).to_string();
        let props: RawObject = serde_json::from_str(&text).unwrap();
        let info = read(&props);
        assert_eq!(
            (info.error_type.as_str(), info.message.as_str()),
            ("Error", "")
        );
        assert_eq!(info.fingerprint, fingerprint("Error", "", None));
    }

    #[test]
    fn without_frames_the_script_counts_too() {
        let a = |src| fingerprint_with_source("Error", "x is 1", None, src);
        assert_eq!(
            a(Some("https://a.io/app.js?v=3")),
            a(Some("http://localhost:8080/app.js?v=4"))
        );
        assert_ne!(
            a(Some("https://a.io/app.js")),
            a(Some("https://a.io/other.js"))
        );
        assert_eq!(a(None), a(Some(" ")));
        assert_eq!(a(None), fingerprint("Error", "x is 2", None));
        // With frames, the source adds nothing.
        assert_eq!(
            fingerprint_with_source("Error", "m", Some(CHROME_A), Some("https://a.io/x.js")),
            fingerprint("Error", "m", Some(CHROME_A))
        );
    }

    #[test]
    fn huge_and_hostile_stacks_are_bounded() {
        let line = format!("    at f ({}:1:1)\n", "x".repeat(100_000));
        let stack = line.repeat(3);
        let frames = top_frames(&stack);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() <= MAX_LINE));
        let odd = "é@ü:1\n\u{0}at \u{fffd}:://??#\nat ://\n@:";
        let _ = fingerprint("\u{0}", odd, Some(odd));
        assert_eq!(normalise("x\u{fffd}://y/p?q é?"), "x\u{fffd}/p é?");
        assert_eq!(fingerprint("", "", None).len(), 32);
    }
}
