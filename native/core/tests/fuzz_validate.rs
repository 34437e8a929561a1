//! A plain-loop fuzz of the validator: mutated request bodies of every kind either parse (and
//! then encode to well-formed COPY rows) or fail with an `analytics.` code, and never panic.
//! It complements `tests/test_native_fuzz.py`: run by `cargo test` in a debug build, integer
//! overflow and slice bounds are checked, and many more bodies go through in the same time.

use reactor_core::copy_text::decode_row;
use reactor_core::{encode, parse_request, Limits, RequestInfo, RequestKind, EVENT_COLUMNS};

const SEEDS: &[(&str, RequestKind)] = &[
    (
        r#"{"event":"signup","anonymous_id":"a1","user_id":"u1","properties":{"plan":"pro","n":1.5},"context":{"page":{"url":"https://example.com/p?utm_source=x","path":"/p"},"timezone":"Europe/Berlin"},"timestamp":"2025-12-31T23:00:00Z","sent_at":1767225000000,"message_id":"m1","key":"rapk_x"}"#,
        RequestKind::Track,
    ),
    (
        r#"{"batch":[{"event":"$pageview","anonymous_id":"a1","properties":{"$set":{"x":1}}},{"event":"$identify","anonymous_id":"a1","user_id":"u1","properties":{"$set":{"plan":"pro"}}},{"event":"$alias","user_id":"u2","properties":{"previous_id":"a2"}}],"sent_at":"2026-01-01T00:00:00Z","project_id":"fuzz"}"#,
        RequestKind::Batch,
    ),
    (
        r#"{"user_id":"u1","anonymous_id":"a1","traits":{"email":"x@example.com"},"context":{"library":{"name":"fuzz"}},"timestamp":1767225000000}"#,
        RequestKind::Identify,
    ),
    (
        r#"{"previous_id":"a1","user_id":"u1","message_id":"m2","project_id":"p_fuzz"}"#,
        RequestKind::Alias,
    ),
];

/// Tokens that keep many mutants valid JSON, so they reach validation and encoding.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00\\ud800",
    b"0",
    b"-",
    b"e999",
    b"9223372036854775808",
    b"null",
    b"true",
    b"\"\"",
    b"{}",
    b"[]",
    b"\"$bogus\"",
    b"\"x\":1,",
    b"\\t",
    b"\\\\N",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, body: &mut Vec<u8>) {
    for _ in 0..=rng.below(3) {
        let at = rng.below(body.len() + 1);
        let piece: Vec<u8> = if rng.below(3) == 0 {
            (0..=rng.below(4)).map(|_| rng.next() as u8).collect()
        } else {
            TOKENS[rng.below(TOKENS.len())].to_vec()
        };
        match rng.below(5) {
            0 => drop(body.splice(at..at, piece)),
            1 => drop(body.drain(at..(at + piece.len()).min(body.len()))),
            2 => drop(body.splice(at..(at + piece.len()).min(body.len()), piece)),
            3 => {
                let slice = body[at..(at + 64).min(body.len())].to_vec();
                drop(body.splice(at..at, slice));
            }
            _ => body.truncate(at),
        }
    }
}

fn check(body: &[u8], kind: RequestKind) -> bool {
    let info = RequestInfo {
        received_at_ms: 1_767_225_600_000,
        ip: Some("203.0.113.9"),
        user_agent: Some("Mozilla/5.0"),
        accept_language: Some("en-US"),
        geo: None,
    };
    let req = match parse_request(body, kind, &info, &Limits::default()) {
        Ok(req) => req,
        Err(e) => {
            assert!(e.code().starts_with("analytics."), "{}", e.code());
            return false;
        }
    };
    let opted_out: Vec<&str> = req
        .anonymous_ids
        .iter()
        .take(1)
        .map(String::as_str)
        .collect();
    let enc = encode(&req, "p_fuzz", "fuzz", &opted_out);
    assert_eq!(enc.accepted + enc.rejected.len(), req.event_count());
    assert!(!enc.copy_rows.contains(&0), "NUL in COPY rows");
    let text = std::str::from_utf8(&enc.copy_rows).expect("COPY rows are UTF-8");
    assert_eq!(text.lines().count(), enc.accepted);
    for line in text.lines() {
        assert_eq!(decode_row(line).len(), EVENT_COLUMNS.len(), "{line}");
    }
    true
}

#[test]
fn mutated_bodies_of_every_kind_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let (mut parsed, mut total) = (0, 0);
    for round in 0..40_000 {
        let (seed, seed_kind) = SEEDS[round % SEEDS.len()];
        // Mostly the seed's own kind; sometimes another, so bodies meet the wrong shape too.
        let kind = if rng.below(4) == 0 {
            SEEDS[rng.below(SEEDS.len())].1
        } else {
            seed_kind
        };
        let mut body = seed.as_bytes().to_vec();
        mutate(&mut rng, &mut body);
        parsed += check(&body, kind) as usize;
        total += 1;
    }
    // The mutants must not all die in the tokenizer, or this test says little.
    assert!(
        parsed * 20 > total,
        "only {parsed} of {total} mutants parsed"
    );
}

#[test]
fn random_json_alphabet_bytes_never_panic() {
    // Bytes from JSON's own alphabet get past the UTF-8 check into the tokenizer (the Python
    // fuzz already sends arbitrary bytes).
    const ALPHABET: &[u8] = b"{}[]\":,0123456789-+.eE \\u\\nulltrfasx$";
    let mut rng = Rng(0x0bad_cafe_f00d_0001);
    for _ in 0..20_000 {
        let len = rng.below(256);
        let body: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        let kind = SEEDS[rng.below(SEEDS.len())].1;
        check(&body, kind);
    }
}
