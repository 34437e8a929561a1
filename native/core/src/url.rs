//! Just enough URL handling for hot columns: host, path and query parameters of page and
//! referrer URLs. Lenient by design: a malformed URL yields fewer columns, never an error.

/// The pieces of a URL the ingest path needs. Slices borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlParts<'a> {
    pub host: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Splits `scheme://user@host:port/path?query#fragment`, `//host/path` and bare `/path?query`.
pub fn split(url: &str) -> UrlParts<'_> {
    let url = url.trim();
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let (authority, rest) = if let Some(after) = after_scheme(url) {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        (Some(&after[..end]), &after[end..])
    } else if let Some(after) = url.strip_prefix("//") {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        (Some(&after[..end]), &after[end..])
    } else {
        (None, url)
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    UrlParts {
        host: authority.and_then(host_of_authority),
        path,
        query,
    }
}

/// `https://x` → `x`; a scheme is letters, digits, `+`, `-`, `.` starting with a letter.
fn after_scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let ok = chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(rest)
}

fn host_of_authority(authority: &str) -> Option<&str> {
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split_once(']').map_or(v6, |(h, _)| h)
    } else {
        hostport.split_once(':').map_or(hostport, |(h, _)| h)
    };
    (!host.is_empty()).then_some(host)
}

/// Lowercased host of a referrer without a leading `www.`; bare `example.com/x` is read as a
/// host too, since some clients send referrers without a scheme.
pub fn referrer_host(referrer: &str) -> Option<String> {
    let parts = split(referrer);
    let host = match parts.host {
        Some(h) => h,
        None => {
            let r = referrer.trim();
            let first = r.split(['/', '?', '#']).next().unwrap_or("");
            if r.starts_with('/') || !first.contains('.') || first.contains(char::is_whitespace) {
                return None;
            }
            host_of_authority(first)?
        }
    };
    let host = host.trim_end_matches('.');
    let lower = host.to_ascii_lowercase();
    let lower = match lower.strip_prefix("www.") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => lower,
    };
    (!lower.is_empty()).then_some(lower)
}

/// First value of `name` in a query string, percent-decoded (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name || (k.contains('%') && percent_decode(k) == name)).then(|| percent_decode(v))
    })
}

/// `%xx` and `+` decoding; invalid escapes are kept literally, invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Path as stored: trailing `/` removed except for the root.
pub fn normalise_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        if path.is_empty() {
            ""
        } else {
            "/"
        }
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_full_url() {
        let p = split("https://user:pw@Shop.Example.com:8443/a/b/?utm_source=x#top");
        assert_eq!(p.host, Some("Shop.Example.com"));
        assert_eq!(p.path, "/a/b/");
        assert_eq!(p.query, Some("utm_source=x"));
        let p = split("http://[2001:db8::1]:80/x");
        assert_eq!(p.host, Some("2001:db8::1"));
        let p = split("https://example.com");
        assert_eq!((p.host, p.path, p.query), (Some("example.com"), "", None));
        let p = split("/pricing?plan=pro");
        assert_eq!(
            (p.host, p.path, p.query),
            (None, "/pricing", Some("plan=pro"))
        );
    }

    #[test]
    fn referrer_hosts() {
        assert_eq!(
            referrer_host("https://www.Google.com/search?q=x").as_deref(),
            Some("google.com")
        );
        assert_eq!(
            referrer_host("android-app://com.google.android.gm/").as_deref(),
            Some("com.google.android.gm")
        );
        assert_eq!(
            referrer_host("news.ycombinator.com/item?id=1").as_deref(),
            Some("news.ycombinator.com")
        );
        assert_eq!(referrer_host("https://www./").as_deref(), Some("www"));
        assert_eq!(referrer_host(""), None);
        assert_eq!(referrer_host("/internal/page"), None);
        assert_eq!(referrer_host("not a url"), None);
    }

    #[test]
    fn query_params_are_decoded() {
        let q = "utm_source=news%20letter&utm_medium=e+mail&utm_campaign=caf%C3%A9&bad=%zz&empty";
        assert_eq!(query_param(q, "utm_source").as_deref(), Some("news letter"));
        assert_eq!(query_param(q, "utm_medium").as_deref(), Some("e mail"));
        assert_eq!(query_param(q, "utm_campaign").as_deref(), Some("café"));
        assert_eq!(query_param(q, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(query_param(q, "utm_term"), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn paths() {
        assert_eq!(normalise_path("/docs/"), "/docs");
        assert_eq!(normalise_path("/docs//"), "/docs");
        assert_eq!(normalise_path("/"), "/");
        assert_eq!(normalise_path("//"), "/");
        assert_eq!(normalise_path(""), "");
    }
}
