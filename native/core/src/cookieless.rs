//! Cookieless persons: a browser that keeps no id is known by a keyed hash of its project, IP and
//! User-Agent, under a salt of the day. The salt is random and lives in PostgreSQL for two days at
//! most, so an id cannot be recomputed from an IP and a User-Agent once its day's salt is gone,
//! and the raw IP and User-Agent are hashed here, never stored.

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher24};

/// Bytes of salt used (the SipHash key).
pub const SALT_BYTES: usize = 16;
/// Prefix of every derived anonymous id.
pub const PREFIX: &str = "ck_";

/// The IP and User-Agent an event's cookieless person is derived from (held in memory only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Visitor {
    pub ip: String,
    pub user_agent: String,
}

/// `ck_` + 32 hex digits: SipHash-2-4 (128-bit) of project, IP and User-Agent keyed with `salt`
/// (its first [`SALT_BYTES`] bytes; a shorter salt is padded with zeros, which callers avoid).
pub fn visitor_id(salt: &[u8], project_id: &str, visitor: &Visitor) -> String {
    let mut key = [0u8; SALT_BYTES];
    let n = salt.len().min(SALT_BYTES);
    key[..n].copy_from_slice(&salt[..n]);
    let mut h = SipHasher24::new_with_key(&key);
    for part in [project_id, visitor.ip.as_str(), visitor.user_agent.as_str()] {
        h.write_usize(part.len());
        h.write(part.as_bytes());
    }
    format!("{PREFIX}{:032x}", h.finish128().as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ip: &str, ua: &str) -> Visitor {
        Visitor {
            ip: ip.into(),
            user_agent: ua.into(),
        }
    }

    #[test]
    fn same_visitor_same_day_same_id() {
        let salt = [7u8; 16];
        let a = visitor_id(&salt, "p_1", &v("203.0.113.9", "Firefox"));
        assert_eq!(a, visitor_id(&salt, "p_1", &v("203.0.113.9", "Firefox")));
        assert!(a.starts_with("ck_") && a.len() == 35);
    }

    #[test]
    fn anything_else_is_another_visitor() {
        let salt = [7u8; 16];
        let a = visitor_id(&salt, "p_1", &v("203.0.113.9", "Firefox"));
        assert_ne!(
            a,
            visitor_id(&[8u8; 16], "p_1", &v("203.0.113.9", "Firefox"))
        );
        assert_ne!(a, visitor_id(&salt, "p_2", &v("203.0.113.9", "Firefox")));
        assert_ne!(a, visitor_id(&salt, "p_1", &v("203.0.113.10", "Firefox")));
        assert_ne!(a, visitor_id(&salt, "p_1", &v("203.0.113.9", "Chrome")));
        // Lengths are hashed too, so moving a boundary is another visitor.
        assert_ne!(
            visitor_id(&salt, "p_1", &v("1.2.3.4", "5")),
            visitor_id(&salt, "p_1", &v("1.2.3.", "45"))
        );
    }

    #[test]
    fn the_id_does_not_hold_its_inputs() {
        let id = visitor_id(&[1u8; 16], "p_1", &v("198.51.100.7", "Mozilla/5.0"));
        assert!(!id.contains("198") && !id.contains("Mozilla"));
    }
}
