//! User-Agent → broad classes (browser, OS, device type). The raw header is never stored;
//! these three columns are all that is kept of it.

/// Broad classes of one User-Agent. `device_type` is one of desktop/mobile/tablet/bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserAgent {
    pub browser: Option<&'static str>,
    pub os: Option<&'static str>,
    pub device_type: Option<&'static str>,
}

pub const DESKTOP: &str = "desktop";
pub const MOBILE: &str = "mobile";
pub const TABLET: &str = "tablet";
pub const BOT: &str = "bot";

/// Named automated clients: (lowercase needle, browser name).
const NAMED_BOTS: &[(&str, &str)] = &[
    ("googlebot", "Googlebot"),
    ("bingbot", "Bingbot"),
    ("yandexbot", "YandexBot"),
    ("duckduckbot", "DuckDuckBot"),
    ("baiduspider", "Baiduspider"),
    ("applebot", "Applebot"),
    ("facebookexternalhit", "Facebook"),
    ("twitterbot", "Twitterbot"),
    ("slackbot", "Slackbot"),
    ("ahrefsbot", "AhrefsBot"),
    ("semrushbot", "SemrushBot"),
    ("gptbot", "GPTBot"),
    ("headlesschrome", "Headless Chrome"),
    ("phantomjs", "PhantomJS"),
    ("chrome-lighthouse", "Lighthouse"),
    ("curl/", "curl"),
    ("wget/", "Wget"),
    ("python-requests", "python-requests"),
    ("python-urllib", "Python-urllib"),
    ("go-http-client", "Go-http-client"),
    ("okhttp/", "OkHttp"),
    ("axios/", "axios"),
    ("postmanruntime/", "Postman"),
    ("apache-httpclient/", "Apache-HttpClient"),
];

/// Generic markers of automation without an obvious product name.
const BOT_MARKERS: &[&str] = &["crawler", "spider", "crawl", "slurp", "headless", "scrapy"];

/// Only the start of a header is looked at; real User-Agents are a few hundred bytes.
const MAX_UA_BYTES: usize = 1024;

pub fn parse_user_agent(raw: &str) -> UserAgent {
    let raw = raw.trim();
    if raw.is_empty() {
        return UserAgent::default();
    }
    let mut end = raw.len().min(MAX_UA_BYTES);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    let ua = raw[..end].to_ascii_lowercase();
    let has = |needle: &str| ua.contains(needle);

    if let Some(name) = bot_name(&ua) {
        return UserAgent {
            browser: name,
            os: None,
            device_type: Some(BOT),
        };
    }

    let (os, device) = if has("windows phone") {
        (Some("Windows"), Some(MOBILE))
    } else if has("iphone") || has("ipod") {
        (Some("iOS"), Some(MOBILE))
    } else if has("ipad") {
        (Some("iPadOS"), Some(TABLET))
    } else if has("android") {
        // Android convention: phones say "Mobile", tablets do not.
        (
            Some("Android"),
            Some(if has("mobile") { MOBILE } else { TABLET }),
        )
    } else if has("cros") {
        (Some("Chrome OS"), Some(DESKTOP))
    } else if has("macintosh") || has("mac os x") {
        (Some("macOS"), Some(DESKTOP))
    } else if has("windows") {
        (Some("Windows"), Some(DESKTOP))
    } else if has("linux") || has("x11") {
        (Some("Linux"), Some(DESKTOP))
    } else {
        (None, None)
    };

    // Order matters: Chromium-based browsers also say "Chrome/" and "Safari/".
    let browser = if has("samsungbrowser/") {
        Some("Samsung Internet")
    } else if has("edg/") || has("edge/") || has("edga/") || has("edgios/") {
        Some("Edge")
    } else if has("opr/") || has("opera") || has("opios/") {
        Some("Opera")
    } else if has("firefox/") || has("fxios/") {
        Some("Firefox")
    } else if has("crios/") || has("chrome/") || has("chromium/") {
        Some("Chrome")
    } else if has("msie ") || has("trident/") {
        Some("Internet Explorer")
    } else if has("safari/") {
        Some("Safari")
    } else {
        None
    };

    let device = device.or_else(|| {
        if has("mobile") {
            Some(MOBILE)
        } else {
            browser.map(|_| DESKTOP)
        }
    });
    UserAgent {
        browser,
        os,
        device_type: device,
    }
}

/// `Some(name)` for a bot (name when obvious), `None` for a person's browser.
fn bot_name(ua: &str) -> Option<Option<&'static str>> {
    if let Some((_, name)) = NAMED_BOTS.iter().find(|(needle, _)| ua.contains(needle)) {
        return Some(Some(name));
    }
    if BOT_MARKERS.iter().any(|m| ua.contains(m)) {
        return Some(None);
    }
    // "bot" as a word part (AdsBot, MJ12bot, bot@…), but not the phone brand "Cubot".
    let generic_bot = ua
        .match_indices("bot")
        .any(|(i, _)| !ua[..i].ends_with("cu"));
    generic_bot.then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ua(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
        let u = parse_user_agent(s);
        (u.browser, u.os, u.device_type)
    }

    #[test]
    fn chrome_desktop_windows() {
        assert_eq!(
            ua("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
            (Some("Chrome"), Some("Windows"), Some("desktop"))
        );
    }

    #[test]
    fn safari_macos() {
        assert_eq!(
            ua("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"),
            (Some("Safari"), Some("macOS"), Some("desktop"))
        );
    }

    #[test]
    fn safari_iphone() {
        assert_eq!(
            ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
            (Some("Safari"), Some("iOS"), Some("mobile"))
        );
    }

    #[test]
    fn ipad() {
        assert_eq!(
            ua("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"),
            (Some("Safari"), Some("iPadOS"), Some("tablet"))
        );
    }

    #[test]
    fn chrome_on_iphone() {
        assert_eq!(
            ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1"),
            (Some("Chrome"), Some("iOS"), Some("mobile"))
        );
    }

    #[test]
    fn android_chrome_phone_and_tablet() {
        assert_eq!(
            ua("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"),
            (Some("Chrome"), Some("Android"), Some("mobile"))
        );
        assert_eq!(
            ua("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
            (Some("Chrome"), Some("Android"), Some("tablet"))
        );
    }

    #[test]
    fn samsung_internet() {
        assert_eq!(
            ua("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"),
            (Some("Samsung Internet"), Some("Android"), Some("mobile"))
        );
    }

    #[test]
    fn firefox_linux() {
        assert_eq!(
            ua("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
            (Some("Firefox"), Some("Linux"), Some("desktop"))
        );
    }

    #[test]
    fn edge_and_opera() {
        assert_eq!(
            ua("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61"),
            (Some("Edge"), Some("Windows"), Some("desktop"))
        );
        assert_eq!(
            ua("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0"),
            (Some("Opera"), Some("macOS"), Some("desktop"))
        );
    }

    #[test]
    fn internet_explorer_and_chrome_os() {
        assert_eq!(
            ua("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"),
            (Some("Internet Explorer"), Some("Windows"), Some("desktop"))
        );
        assert_eq!(
            ua("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
            (Some("Chrome"), Some("Chrome OS"), Some("desktop"))
        );
    }

    #[test]
    fn bots() {
        assert_eq!(
            ua("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            (Some("Googlebot"), None, Some("bot"))
        );
        assert_eq!(
            ua("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            (Some("Googlebot"), None, Some("bot"))
        );
        assert_eq!(ua("curl/8.4.0"), (Some("curl"), None, Some("bot")));
        assert_eq!(
            ua("python-requests/2.31.0"),
            (Some("python-requests"), None, Some("bot"))
        );
        assert_eq!(ua("Wget/1.21.4"), (Some("Wget"), None, Some("bot")));
        assert_eq!(
            ua("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"),
            (Some("Headless Chrome"), None, Some("bot"))
        );
        assert_eq!(
            ua("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)"),
            (None, None, Some("bot"))
        );
        assert_eq!(ua("SomeCrawler/1.0"), (None, None, Some("bot")));
        assert_eq!(ua("okhttp/4.12.0"), (Some("OkHttp"), None, Some("bot")));
        assert_eq!(ua("axios/1.6.2"), (Some("axios"), None, Some("bot")));
        assert_eq!(
            ua("PostmanRuntime/7.36.0"),
            (Some("Postman"), None, Some("bot"))
        );
        assert_eq!(
            ua("Apache-HttpClient/4.5.14 (Java/17.0.9)"),
            (Some("Apache-HttpClient"), None, Some("bot"))
        );
    }

    #[test]
    fn cubot_phone_is_not_a_bot() {
        assert_eq!(
            ua("Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"),
            (Some("Chrome"), Some("Android"), Some("mobile"))
        );
    }

    #[test]
    fn unknown_and_empty() {
        assert_eq!(ua(""), (None, None, None));
        assert_eq!(ua("MyApp/1.0"), (None, None, None));
        // Very long header is cut, not a crash.
        let long = format!(
            "Mozilla/5.0 (Windows NT 10.0) Chrome/1 {}",
            "é".repeat(5000)
        );
        assert_eq!(ua(&long).0, Some("Chrome"));
    }
}
