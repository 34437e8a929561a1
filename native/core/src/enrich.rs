//! Normalisation: a validated event becomes a row of hot columns. Like an ingest pipeline,
//! `normalise` is an ordered list of `put_*` steps; each reads the event's context and
//! properties (tolerating wrong types by ignoring them) and fills columns.

use std::borrow::Cow;
use std::cell::RefCell;

use serde_json::value::RawValue;

use crate::country::country_for_timezone;
use crate::geoip::GeoDb;
use crate::ip::truncate_ip;
use crate::json::{self, RawObject};
use crate::time::Micros;
use crate::url;
use crate::useragent::{parse_user_agent, UserAgent};

/// Column caps (bytes); longer values are cut at a character boundary.
const MAX_URL: usize = 2048;
const MAX_PATH: usize = 1024;
const MAX_UTM: usize = 512;
const MAX_SESSION_ID: usize = 200;
const MAX_TIMEZONE: usize = 64;
const MAX_LIBRARY: usize = 200;
const MAX_HOST: usize = 253;

/// Facts about the HTTP request, shared by all its events; computed once per request.
#[derive(Debug, Clone, Default)]
pub struct RequestDefaults<'g> {
    pub received_at: Micros,
    pub user_agent: UserAgent,
    pub ip_prefix: Option<String>,
    /// The country of the request's address, when a geo database is configured and holds it.
    pub ip_country: Option<&'static str>,
    /// The geo database, for the end user's address a server-side caller reports (`context.ip`).
    geo: Option<&'g GeoDb>,
    pub language: Option<String>,
    /// The request's raw address and User-Agent, kept in memory only, for cookieless persons
    /// (`cookieless::visitor_id`); never written.
    pub raw_ip: Option<String>,
    pub raw_user_agent: Option<String>,
    /// User-Agents already classified in this request: a batch from one device repeats one.
    seen_agents: RefCell<Vec<(String, UserAgent)>>,
}

/// How many distinct User-Agents of one request are remembered.
const SEEN_AGENTS: usize = 8;

impl<'g> RequestDefaults<'g> {
    pub fn new(
        received_at: Micros,
        ip: Option<&str>,
        user_agent: Option<&str>,
        accept_language: Option<&str>,
        geo: Option<&'g GeoDb>,
    ) -> Self {
        RequestDefaults {
            received_at,
            user_agent: user_agent.map(parse_user_agent).unwrap_or_default(),
            ip_prefix: ip.and_then(truncate_ip),
            ip_country: ip.and_then(|raw| geo?.country_of(raw)),
            geo,
            language: accept_language.and_then(base_language),
            raw_ip: ip.map(str::to_string),
            raw_user_agent: user_agent.map(str::to_string),
            seen_agents: RefCell::default(),
        }
    }

    /// The classes of an event's own User-Agent, classified once per distinct header.
    fn classify(&self, raw: &str) -> UserAgent {
        let mut seen = self.seen_agents.borrow_mut();
        if let Some((_, ua)) = seen.iter().find(|(known, _)| known == raw) {
            return *ua;
        }
        let ua = parse_user_agent(raw);
        if seen.len() < SEEN_AGENTS {
            seen.push((raw.to_string(), ua));
        }
        ua
    }
}

/// One accepted-so-far event, normalised and ready to be written as a COPY row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub event: String,
    pub message_id: String,
    pub ts: Micros,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// The event's own `project_id`, checked against the request's project at encode time.
    pub project_id: Option<String>,
    pub session_id: Option<String>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub referrer_host: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub browser: Option<&'static str>,
    pub os: Option<&'static str>,
    pub device_type: Option<&'static str>,
    pub country: Option<&'static str>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub ip_prefix: Option<String>,
    pub library: Option<String>,
    /// Compact JSON object text.
    pub properties: String,
    /// Compact JSON object text without the raw User-Agent and IP ([`UNSTORED_CONTEXT_KEYS`]);
    /// `None` when no context was sent.
    pub context: Option<String>,
    /// (anonymous_id, user_id) identity link from `$identify` / `$alias`.
    pub link: Option<(String, String)>,
    /// Compact JSON traits of an `$identify`.
    pub traits: Option<String>,
    /// The group of an `$error` event (its fingerprint is written with the row).
    pub error: Option<crate::fingerprint::ErrorInfo>,
    /// A cookieless event's IP and User-Agent (in memory only): `encode` derives its
    /// anonymous_id from them with the day's salt.
    pub cookieless: Option<crate::cookieless::Visitor>,
}

impl Event {
    /// user_id when known, else anonymous_id (validation guarantees one of them).
    pub fn distinct_id(&self) -> Option<&str> {
        self.user_id.as_deref().or(self.anonymous_id.as_deref())
    }
}

/// `context` keys that come in two spellings: snake_case, and the camelCase of Segment's
/// analytics.js and many server libraries. Both are read, the snake_case one first. The other
/// keys read (`ip`, `locale`, `timezone`, `page`, `referrer`, `campaign`, `library` and the keys
/// inside those objects) are spelt alike either way.
pub const CONTEXT_USER_AGENT: [&str; 2] = ["user_agent", "userAgent"];
pub const CONTEXT_SESSION_ID: [&str; 2] = ["session_id", "sessionId"];

/// `context` keys read for their classes or prefix and never stored: the raw User-Agent and IP,
/// in every spelling [`Hints::read`] reads them.
pub const UNSTORED_CONTEXT_KEYS: [&str; 3] = [CONTEXT_USER_AGENT[0], CONTEXT_USER_AGENT[1], "ip"];

/// The value of the first of `spellings` whose value passes `read`.
fn either<'a, T>(
    obj: &RawObject<'a>,
    spellings: &[&str],
    read: impl Fn(Option<&'a RawValue>) -> Option<T>,
) -> Option<T> {
    spellings.iter().find_map(|key| read(obj.get(key)))
}

/// The parts of `context` and `properties` that feed hot columns, read once per event.
/// Wrong types were already dropped (a number where a URL belongs is simply absent).
#[derive(Debug, Default)]
pub struct Hints<'a> {
    pub page_url: Option<Cow<'a, str>>,
    pub page_path: Option<Cow<'a, str>>,
    pub page_referrer: Option<Cow<'a, str>>,
    pub page_search: Option<Cow<'a, str>>,
    pub referrer: Option<Cow<'a, str>>,
    pub campaign_source: Option<Cow<'a, str>>,
    pub campaign_medium: Option<Cow<'a, str>>,
    pub campaign_name: Option<Cow<'a, str>>,
    pub campaign_term: Option<Cow<'a, str>>,
    pub campaign_content: Option<Cow<'a, str>>,
    /// `context.user_agent` (or `userAgent`): parsed into classes, never stored.
    pub user_agent: Option<Cow<'a, str>>,
    /// `context.ip`: truncated, never stored raw.
    pub ip: Option<Cow<'a, str>>,
    pub locale: Option<Cow<'a, str>>,
    pub timezone: Option<Cow<'a, str>>,
    pub library_name: Option<Cow<'a, str>>,
    pub library_version: Option<Cow<'a, str>>,
    pub session_id: Option<Cow<'a, str>>,
    pub current_url: Option<Cow<'a, str>>,
    pub pathname: Option<Cow<'a, str>>,
    pub property_referrer: Option<Cow<'a, str>>,
    pub property_session_id: Option<Cow<'a, str>>,
}

impl<'a> Hints<'a> {
    /// Reads the known keys of `context` and `properties` (one level each, plus
    /// `context.page`, `context.campaign` and `context.library`).
    pub fn read(properties: &RawObject<'a>, context: Option<&RawObject<'a>>) -> Self {
        let mut h = Hints {
            current_url: properties.str("$current_url"),
            pathname: properties.str("$pathname"),
            property_referrer: properties.str("$referrer"),
            property_session_id: id_like(properties.get("$session_id")),
            ..Hints::default()
        };
        let Some(ctx) = context else { return h };
        if let Some(page) = ctx.object("page") {
            h.page_url = page.str("url");
            h.page_path = page.str("path");
            h.page_referrer = page.str("referrer");
            h.page_search = page.str("search");
        }
        if let Some(c) = ctx.object("campaign") {
            h.campaign_source = c.str("source");
            h.campaign_medium = c.str("medium");
            h.campaign_name = c.str("name");
            h.campaign_term = c.str("term");
            h.campaign_content = c.str("content");
        }
        if let Some(lib) = ctx.object("library") {
            h.library_name = lib.str("name");
            h.library_version = id_like(lib.get("version"));
        }
        h.referrer = ctx.str("referrer");
        h.user_agent = either(ctx, &CONTEXT_USER_AGENT, |v| v.and_then(json::as_str));
        h.ip = ctx.get("ip").and_then(json::as_str);
        h.locale = ctx.str("locale");
        h.timezone = ctx.str("timezone");
        h.session_id = either(ctx, &CONTEXT_SESSION_ID, id_like);
        h
    }
}

/// A non-empty string, or an integer as text (some SDKs send numeric session ids).
fn id_like(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = raw?;
    match json::kind(raw) {
        json::Kind::String => json::as_str(raw).filter(|s| !s.is_empty()),
        json::Kind::Number => Some(Cow::Borrowed(raw.get())),
        _ => None,
    }
}

/// Fills the hot columns of `ev`, step by step.
pub fn normalise(ev: &mut Event, h: &Hints<'_>, req: &RequestDefaults) {
    put_page(ev, h);
    put_referrer(ev, h);
    put_utm_tags(ev, h);
    put_session(ev, h);
    put_user_agent(ev, h, req);
    put_language(ev, h, req);
    put_timezone_and_country(ev, h, req);
    put_ip_prefix(ev, h, req);
    put_library(ev, h);
}

fn put_page(ev: &mut Event, h: &Hints<'_>) {
    let url = h.page_url.as_deref().or(h.current_url.as_deref());
    let path = match h.page_path.as_deref().or(h.pathname.as_deref()) {
        Some(p) => Some(p),
        None => url.map(|u| {
            let parts = url::split(u);
            if parts.path.is_empty() && parts.host.is_some() {
                "/"
            } else {
                parts.path
            }
        }),
    };
    ev.path = path
        .map(|p| cap(url::normalise_path(p), MAX_PATH))
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    ev.url = url.map(|u| cap(u, MAX_URL).to_string());
}

fn put_referrer(ev: &mut Event, h: &Hints<'_>) {
    let referrer = h
        .page_referrer
        .as_deref()
        .or(h.referrer.as_deref())
        .or(h.property_referrer.as_deref());
    ev.referrer_host = referrer
        .and_then(url::referrer_host)
        .map(|host| cap(&host, MAX_HOST).to_string());
}

fn put_utm_tags(ev: &mut Event, h: &Hints<'_>) {
    // Query string of the page URL (or Segment's `context.page.search`) as the fallback.
    let query = ev
        .url
        .as_deref()
        .and_then(|u| url::split(u).query)
        .or(h.page_search.as_deref());
    let tag = |given: &Option<Cow<'_, str>>, param: &str| -> Option<String> {
        let v = match given {
            Some(v) => v.to_string(),
            None => url::query_param(query?, param)?,
        };
        (!v.is_empty()).then(|| cap(&v, MAX_UTM).to_string())
    };
    ev.utm_source = tag(&h.campaign_source, "utm_source");
    ev.utm_medium = tag(&h.campaign_medium, "utm_medium");
    ev.utm_campaign = tag(&h.campaign_name, "utm_campaign");
    ev.utm_term = tag(&h.campaign_term, "utm_term");
    ev.utm_content = tag(&h.campaign_content, "utm_content");
}

fn put_session(ev: &mut Event, h: &Hints<'_>) {
    ev.session_id = h
        .session_id
        .as_deref()
        .or(h.property_session_id.as_deref())
        .map(|s| cap(s, MAX_SESSION_ID).to_string());
}

fn put_user_agent(ev: &mut Event, h: &Hints<'_>, req: &RequestDefaults) {
    let ua = match h.user_agent.as_deref() {
        Some(raw) => req.classify(raw),
        None => req.user_agent,
    };
    ev.browser = ua.browser;
    ev.os = ua.os;
    ev.device_type = ua.device_type;
}

fn put_language(ev: &mut Event, h: &Hints<'_>, req: &RequestDefaults) {
    ev.language = h
        .locale
        .as_deref()
        .and_then(base_language)
        .or_else(|| req.language.clone());
}

/// The country of the address (the end user's `context.ip` when a server-side caller reports
/// one, else the request's), looked up before the address is truncated; without a geo database,
/// or when it does not know the address, the country of the reported timezone.
fn put_timezone_and_country(ev: &mut Event, h: &Hints<'_>, req: &RequestDefaults) {
    let tz = h.timezone.as_deref().filter(|tz| {
        tz.len() <= MAX_TIMEZONE
            && tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
    });
    let ip_country = match h.ip.as_deref() {
        Some(raw) => req.geo.and_then(|geo| geo.country_of(raw)),
        None => req.ip_country,
    };
    ev.country = ip_country.or_else(|| tz.and_then(country_for_timezone));
    ev.timezone = tz.map(str::to_string);
}

fn put_ip_prefix(ev: &mut Event, h: &Hints<'_>, req: &RequestDefaults) {
    // A server-side caller reports its end user's address in context.ip; the raw address is
    // never kept, only its network prefix.
    ev.ip_prefix = match h.ip.as_deref() {
        Some(raw) => truncate_ip(raw),
        None => req.ip_prefix.clone(),
    };
}

fn put_library(ev: &mut Event, h: &Hints<'_>) {
    ev.library = h.library_name.as_deref().map(|name| {
        let full = match h.library_version.as_deref() {
            Some(v) => format!("{name}/{v}"),
            None => name.to_string(),
        };
        cap(&full, MAX_LIBRARY).to_string()
    });
}

/// Base language subtag, lowercased: `en-US` → `en`, `pt_BR` → `pt`,
/// `fr-CH, fr;q=0.9` → `fr`; `*` and junk → `None`.
pub fn base_language(tag: &str) -> Option<String> {
    let first = tag.split([',', ';']).next()?.trim();
    let base = first.split(['-', '_']).next()?;
    ((2..=8).contains(&base.len()) && base.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| base.to_ascii_lowercase())
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn run(properties: Value, context: Value, req: &RequestDefaults) -> Event {
        let props_text = properties.to_string();
        let ctx_text = context.to_string();
        let props: RawObject = serde_json::from_str(&props_text).unwrap();
        let ctx: RawObject = serde_json::from_str(&ctx_text).unwrap();
        let mut ev = Event::default();
        normalise(&mut ev, &Hints::read(&props, Some(&ctx)), req);
        ev
    }

    #[test]
    fn page_context_fills_hot_columns() {
        let ev = run(
            json!({}),
            json!({
                "page": {"url": "https://shop.example.com/pricing/?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=x&utm_content=hero",
                         "referrer": "https://www.Google.com/search?q=a", "title": "Pricing"},
                "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "locale": "de-DE", "timezone": "Europe/Berlin",
                "library": {"name": "reactor-js", "version": "1.2.0"},
                "ip": "203.0.113.77", "session_id": "s_1"
            }),
            &RequestDefaults::new(
                0,
                Some("198.51.100.1"),
                Some("curl/8"),
                Some("fr-CH, fr;q=0.9"),
                None,
            ),
        );
        assert_eq!(ev.url.as_deref(), Some("https://shop.example.com/pricing/?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=x&utm_content=hero"));
        assert_eq!(ev.path.as_deref(), Some("/pricing"));
        assert_eq!(ev.referrer_host.as_deref(), Some("google.com"));
        assert_eq!(ev.utm_source.as_deref(), Some("news"));
        assert_eq!(ev.utm_medium.as_deref(), Some("email"));
        assert_eq!(ev.utm_campaign.as_deref(), Some("spring sale"));
        assert_eq!(ev.utm_term.as_deref(), Some("x"));
        assert_eq!(ev.utm_content.as_deref(), Some("hero"));
        assert_eq!(
            (ev.browser, ev.os, ev.device_type),
            (Some("Safari"), Some("iOS"), Some("mobile"))
        );
        assert_eq!(ev.language.as_deref(), Some("de"));
        assert_eq!(ev.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(ev.country, Some("DE"));
        assert_eq!(ev.ip_prefix.as_deref(), Some("203.0.113.0"));
        assert_eq!(ev.library.as_deref(), Some("reactor-js/1.2.0"));
        assert_eq!(ev.session_id.as_deref(), Some("s_1"));
    }

    #[test]
    fn campaign_context_wins_over_query() {
        let ev = run(
            json!({}),
            json!({"page": {"url": "https://x.io/?utm_source=q"}, "campaign": {"source": "c", "name": "n"}}),
            &RequestDefaults::default(),
        );
        assert_eq!(ev.utm_source.as_deref(), Some("c"));
        assert_eq!(ev.utm_campaign.as_deref(), Some("n"));
        assert_eq!(ev.path.as_deref(), Some("/"));
    }

    #[test]
    fn each_event_of_a_request_gets_its_own_user_agent_classes() {
        // More distinct agents than the request remembers, each seen twice, in two orders.
        let agents: Vec<String> = (0..(SEEN_AGENTS + 4))
            .map(|i| match i % 3 {
                0 => format!("Mozilla/5.0 (iPhone; CPU iPhone OS 17_{i} like Mac OS X) Version/17.4 Mobile/15E148 Safari/604.1"),
                1 => format!("Mozilla/5.0 (X11; Linux x86_64; rv:12{i}.0) Gecko/20100101 Firefox/12{i}.0"),
                _ => format!("curl/8.{i}.0"),
            })
            .collect();
        let req = RequestDefaults::new(
            0,
            None,
            Some("Mozilla/5.0 (Windows NT 10.0) Chrome/124.0 Safari/537.36"),
            None,
            None,
        );
        for ua in agents.iter().chain(agents.iter().rev()) {
            let ev = run(json!({}), json!({"user_agent": ua}), &req);
            let expected = parse_user_agent(ua);
            assert_eq!(
                (ev.browser, ev.os, ev.device_type),
                (expected.browser, expected.os, expected.device_type)
            );
        }
        let ev = run(json!({}), json!({}), &req);
        assert_eq!((ev.browser, ev.os), (Some("Chrome"), Some("Windows")));
    }

    #[test]
    fn camel_case_context_is_read_like_snake_case() {
        // Segment's analytics.js and many servers spell context keys in camelCase.
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        let req = RequestDefaults::new(
            0,
            Some("198.51.100.1"),
            Some("python-requests/2.31.0"),
            None,
            None,
        );
        let ev = run(
            json!({}),
            json!({"userAgent": iphone, "ip": "203.0.113.77", "sessionId": "s_camel", "locale": "de-DE",
                   "timezone": "Europe/Berlin", "page": {"url": "https://x.io/a?utm_source=q", "referrer": "https://www.y.io/"},
                   "campaign": {"medium": "m"}, "library": {"name": "analytics.js", "version": "next-1.53.0"}}),
            &req,
        );
        assert_eq!(
            (ev.browser, ev.os, ev.device_type),
            (Some("Safari"), Some("iOS"), Some("mobile"))
        );
        assert_eq!(ev.ip_prefix.as_deref(), Some("203.0.113.0"));
        assert_eq!(ev.session_id.as_deref(), Some("s_camel"));
        assert_eq!(ev.language.as_deref(), Some("de"));
        assert_eq!(ev.country, Some("DE"));
        assert_eq!(ev.path.as_deref(), Some("/a"));
        assert_eq!(ev.referrer_host.as_deref(), Some("y.io"));
        assert_eq!(
            (ev.utm_source.as_deref(), ev.utm_medium.as_deref()),
            (Some("q"), Some("m"))
        );
        assert_eq!(ev.library.as_deref(), Some("analytics.js/next-1.53.0"));
        // Both spellings: the snake_case one wins, as it always did.
        let ev = run(
            json!({}),
            json!({"userAgent": iphone, "user_agent": "curl/8.4.0", "sessionId": "s_c", "session_id": "s_s"}),
            &req,
        );
        assert_eq!(ev.browser, Some("curl"));
        assert_eq!(ev.session_id.as_deref(), Some("s_s"));
    }

    #[test]
    fn request_defaults_and_property_fallbacks() {
        let ev = run(
            json!({"$current_url": "https://app.example.com/a/b/", "$referrer": "$direct", "$session_id": "s9"}),
            json!({"page": "not an object", "locale": 5, "library": {"name": "py"}}),
            &RequestDefaults::new(
                0,
                Some("2001:db8:abcd:1::9"),
                Some("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
                Some("pt_BR"),
                None,
            ),
        );
        assert_eq!(ev.path.as_deref(), Some("/a/b"));
        assert_eq!(ev.referrer_host, None);
        assert_eq!(ev.session_id.as_deref(), Some("s9"));
        assert_eq!(ev.language.as_deref(), Some("pt"));
        assert_eq!(ev.ip_prefix.as_deref(), Some("2001:db8:abcd::"));
        assert_eq!((ev.browser, ev.os), (Some("Firefox"), Some("Linux")));
        assert_eq!(ev.library.as_deref(), Some("py"));
        assert_eq!(ev.country, None);
    }

    #[test]
    fn country_from_the_address_before_the_timezone() {
        use crate::geoip::test_db::{country, Writer};
        let mut w = Writer::default();
        w.insert("81.2.69.0/24", &country("GB"))
            .insert("2a02:ec0::/29", &country("DE"))
            .insert("10.0.0.0/8", &country("XX"));
        let geo = GeoDb::from_bytes(w.finish("GeoLite2-Country")).unwrap();
        let with = |ip| RequestDefaults::new(0, Some(ip), None, None, Some(&geo));

        // The request's own address wins over the reported timezone.
        let ev = run(
            json!({}),
            json!({"timezone": "Europe/Berlin"}),
            &with("81.2.69.160"),
        );
        assert_eq!(ev.country, Some("GB"));
        assert_eq!(ev.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(ev.ip_prefix.as_deref(), Some("81.2.69.0"));
        assert!(!format!("{ev:?}").contains("81.2.69.160"));
        // A server-side caller reports its end user's address: that address decides, whatever
        // the caller's own.
        for req in [with("81.2.69.160"), with("198.51.100.1")] {
            let ev = run(
                json!({}),
                json!({"ip": "2a02:ec0:5::9", "timezone": "Europe/Paris"}),
                &req,
            );
            assert_eq!(ev.country, Some("DE"));
            assert_eq!(ev.ip_prefix.as_deref(), Some("2a02:ec0:5::"));
        }
        // An end user's address the database does not know, or a private one: the timezone,
        // not the caller's address.
        for ip in ["198.51.100.7", "10.1.2.3", "not an address"] {
            let ev = run(
                json!({}),
                json!({"ip": ip, "timezone": "Asia/Tokyo"}),
                &with("81.2.69.160"),
            );
            assert_eq!(ev.country, Some("JP"), "{ip}");
            let ev = run(json!({}), json!({"ip": ip}), &with("81.2.69.160"));
            assert_eq!(ev.country, None, "{ip}");
        }
        // The request's address unknown or private: the timezone.
        for ip in ["10.0.0.1", "198.51.100.1", "::1"] {
            let ev = run(json!({}), json!({"timezone": "Europe/Berlin"}), &with(ip));
            assert_eq!(ev.country, Some("DE"), "{ip}");
        }
        // No geo database: the timezone, even for an address a database would know.
        let req = RequestDefaults::new(0, Some("81.2.69.160"), None, None, None);
        let ev = run(json!({}), json!({"timezone": "Europe/Berlin"}), &req);
        assert_eq!(ev.country, Some("DE"));
    }

    #[test]
    fn explicit_path_and_caps() {
        let long = format!("/{}", "é".repeat(1000));
        let ev = run(
            json!({}),
            json!({"page": {"path": long}, "timezone": "Not a zone!"}),
            &RequestDefaults::default(),
        );
        let p = ev.path.unwrap();
        assert!(p.len() <= MAX_PATH && p.starts_with("/é"));
        assert_eq!(ev.timezone, None);
    }

    #[test]
    fn languages() {
        assert_eq!(base_language("en-US").as_deref(), Some("en"));
        assert_eq!(base_language("EN").as_deref(), Some("en"));
        assert_eq!(
            base_language("fr-CH, fr;q=0.9, en;q=0.8").as_deref(),
            Some("fr")
        );
        assert_eq!(base_language("*"), None);
        assert_eq!(base_language(""), None);
        assert_eq!(base_language("e1"), None);
    }
}
