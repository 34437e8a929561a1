//! Country from the client's IP address, through a MaxMind DB file (`.mmdb`): GeoLite2-Country,
//! GeoIP2-Country, DB-IP's IP-to-Country Lite, or a City database of either, which hold the same
//! keys. The country is `country.iso_code`, else `registered_country.iso_code` (an address used
//! away from where its network is registered, such as a satellite provider's).
//!
//! The file is read into memory once, when a process starts, and verified then, so a missing or
//! corrupt file is refused at start and never fails a request later. Lookups take the address
//! before it is truncated and keep nothing of it.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::{MaxMindDbError, PathElement, Reader};

use crate::ip;

#[cfg(test)]
pub(crate) mod test_db;
#[cfg(test)]
mod tests;

const COUNTRY: [PathElement<'static>; 2] =
    [PathElement::Key("country"), PathElement::Key("iso_code")];
const REGISTERED_COUNTRY: [PathElement<'static>; 2] = [
    PathElement::Key("registered_country"),
    PathElement::Key("iso_code"),
];

/// A MaxMind DB held in memory; shared read-only by every request of the process.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
}

/// Why a geo database cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeoError {
    /// The file cannot be read (missing, a directory, no permission).
    Unreadable { detail: String },
    /// The file was read but is not a valid MaxMind DB.
    Invalid { detail: String },
}

impl GeoError {
    pub fn code(&self) -> &'static str {
        match self {
            GeoError::Unreadable { .. } => "analytics.geo_db.unreadable",
            GeoError::Invalid { .. } => "analytics.geo_db.invalid",
        }
    }
}

impl fmt::Display for GeoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeoError::Unreadable { detail } => write!(f, "cannot read the file: {detail}"),
            GeoError::Invalid { detail } => {
                write!(f, "not a valid MaxMind DB (.mmdb) file: {detail}")
            }
        }
    }
}

impl std::error::Error for GeoError {}

impl fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.reader.metadata();
        f.debug_struct("GeoDb")
            .field("database_type", &m.database_type)
            .field("ip_version", &m.ip_version)
            .field("build_epoch", &m.build_epoch)
            .finish()
    }
}

impl GeoDb {
    /// Reads and verifies the database at `path`.
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
        let bytes = std::fs::read(path).map_err(|e| GeoError::Unreadable {
            detail: e.to_string(),
        })?;
        GeoDb::from_bytes(bytes)
    }

    /// Verifies a database held in memory: its metadata, search tree and every data record.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, GeoError> {
        let invalid = |e: MaxMindDbError| GeoError::Invalid {
            detail: e.to_string(),
        };
        let reader = Reader::from_source(bytes).map_err(invalid)?;
        reader.verify().map_err(invalid)?;
        Ok(GeoDb { reader })
    }

    /// `database_type` of the metadata (`GeoLite2-Country`, `DBIP-Country-Lite`, …).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The country of the address written in `raw` (the spellings [`ip::parse`] reads).
    pub fn country_of(&self, raw: &str) -> Option<&'static str> {
        self.country(ip::parse(raw)?)
    }

    /// ISO 3166-1 alpha-2 code of the country of `addr`; `None` for a private, loopback or
    /// link-local address, an address the database does not hold, or a record without a code.
    pub fn country(&self, addr: IpAddr) -> Option<&'static str> {
        let addr = routable(addr)?;
        let found = self.reader.lookup(addr).ok()?;
        let code = |path: &[PathElement<'_>]| found.decode_path::<&str>(path).ok().flatten();
        iso_code(code(&COUNTRY).or_else(|| code(&REGISTERED_COUNTRY))?)
    }
}

/// `addr` (an IPv4-mapped IPv6 address as the IPv4 address it carries) when it can be on the
/// public internet; `None` for addresses that only ever name a host of a private network.
fn routable(addr: IpAddr) -> Option<IpAddr> {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    let local = match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // fc00::/7, unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10, link-local
        }
    };
    (!local).then_some(addr)
}

/// Every two-letter code, so a code read from the database is returned as a `&'static str`
/// (the hot column's type) without allocating.
static TWO_LETTERS: [[u8; 2]; 26 * 26] = {
    let mut table = [[0u8; 2]; 26 * 26];
    let mut i = 0;
    while i < 26 * 26 {
        table[i] = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
        i += 1;
    }
    table
};

/// `code` as an upper-case two-letter code, or `None` when it is not two ASCII letters.
fn iso_code(code: &str) -> Option<&'static str> {
    let &[a, b] = code.as_bytes() else {
        return None;
    };
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    if !(a.is_ascii_uppercase() && b.is_ascii_uppercase()) {
        return None;
    }
    let letters = &TWO_LETTERS[(a - b'A') as usize * 26 + (b - b'A') as usize];
    std::str::from_utf8(letters).ok()
}
