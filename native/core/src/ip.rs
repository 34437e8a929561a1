//! Client IP anonymisation: only the network prefix is ever kept (IPv4 /24, IPv6 /48).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The truncated address as text (`203.0.113.0`, `2001:db8:abcd::`), or `None` when `raw`
/// is not an IP address. Accepts surrounding whitespace, `[v6]`, a `%zone` suffix and an
/// IPv4 `:port`; an IPv4-mapped IPv6 address is treated as the IPv4 address it carries.
pub fn truncate_ip(raw: &str) -> Option<String> {
    Some(match parse(raw)? {
        IpAddr::V4(v4) => truncate_v4(v4).to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => truncate_v4(v4).to_string(),
            None => truncate_v6(v6).to_string(),
        },
    })
}

fn truncate_v4(ip: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = ip.octets();
    Ipv4Addr::new(a, b, c, 0)
}

fn truncate_v6(ip: Ipv6Addr) -> Ipv6Addr {
    let s = ip.segments();
    Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0)
}

/// The address written in `raw`, in the spellings [`truncate_ip`] accepts.
pub fn parse(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    // [2001:db8::1] or [2001:db8::1]:443
    if let Some(rest) = s.strip_prefix('[') {
        let inner = &rest[..rest.find(']')?];
        return parse(inner);
    }
    // fe80::1%eth0
    if let Some((addr, _zone)) = s.split_once('%') {
        return addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // 203.0.113.7:5678
    if let Some((addr, port)) = s.split_once(':') {
        if port.bytes().all(|c| c.is_ascii_digit()) {
            return addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_to_slash_24() {
        assert_eq!(truncate_ip("203.0.113.77").as_deref(), Some("203.0.113.0"));
        assert_eq!(truncate_ip(" 10.1.2.255 ").as_deref(), Some("10.1.2.0"));
        assert_eq!(
            truncate_ip("203.0.113.7:5678").as_deref(),
            Some("203.0.113.0")
        );
    }

    #[test]
    fn ipv6_to_slash_48() {
        assert_eq!(
            truncate_ip("2001:db8:abcd:12:34:56:78:9a").as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(truncate_ip("2001:db8::1").as_deref(), Some("2001:db8::"));
        assert_eq!(
            truncate_ip("[2001:db8:abcd:1::1]:443").as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(truncate_ip("fe80::1%eth0").as_deref(), Some("fe80::"));
        assert_eq!(truncate_ip("::1").as_deref(), Some("::"));
    }

    #[test]
    fn ipv4_mapped_v6_is_truncated_as_v4() {
        assert_eq!(
            truncate_ip("::ffff:198.51.100.23").as_deref(),
            Some("198.51.100.0")
        );
        assert_eq!(
            truncate_ip("::ffff:c633:6417").as_deref(),
            Some("198.51.100.0")
        );
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "localhost",
            "1.2.3",
            "256.1.1.1",
            "1.2.3.4:http",
            "::g",
            "[::1",
        ] {
            assert_eq!(truncate_ip(s), None, "{s}");
        }
    }
}
