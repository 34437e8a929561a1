use super::test_db::{country, map, Value, Writer};
use super::*;

fn db() -> GeoDb {
    let mut w = Writer::default();
    w.insert("81.2.69.0/24", &country("GB"))
        .insert("89.160.20.0/24", &country("se"))
        .insert("2a02:ec0::/29", &country("DE"))
        // No country of its own: the network is registered in the US (a satellite provider).
        .insert(
            "216.160.83.0/24",
            &map([(
                "registered_country",
                map([("iso_code", Value::Str("US".into()))]),
            )]),
        )
        .insert(
            "175.16.199.0/24",
            &map([
                ("country", map([("iso_code", Value::Str("CN".into()))])),
                (
                    "registered_country",
                    map([("iso_code", Value::Str("HK".into()))]),
                ),
            ]),
        )
        .insert(
            "67.43.156.0/24",
            &map([("continent", map([("code", Value::Str("AS".into()))]))]),
        )
        .insert("202.196.224.0/20", &country("EUR"))
        // Private networks are never looked up, even where a database holds them.
        .insert("10.0.0.0/8", &country("XX"))
        .insert("192.168.0.0/16", &country("XX"))
        .insert("fd00::/8", &country("XX"));
    GeoDb::from_bytes(w.finish("GeoLite2-Country")).unwrap()
}

#[test]
fn country_of_ipv4_and_ipv6() {
    let db = db();
    assert_eq!(db.database_type(), "GeoLite2-Country");
    assert_eq!(db.country_of("81.2.69.160"), Some("GB"));
    assert_eq!(db.country_of("81.2.69.0"), Some("GB"));
    assert_eq!(db.country_of("81.2.69.255"), Some("GB"));
    assert_eq!(db.country_of("81.2.70.1"), None);
    assert_eq!(db.country_of("2a02:ec0:1234::1"), Some("DE"));
    assert_eq!(db.country_of("[2a02:ec7:ffff::1]:443"), Some("DE"));
    assert_eq!(db.country_of("2a02:ec8::1"), None);
    // The address spellings of truncate_ip: an IPv4 port, an IPv4-mapped IPv6 address.
    assert_eq!(db.country_of("81.2.69.160:5678"), Some("GB"));
    assert_eq!(db.country_of("::ffff:81.2.69.160"), Some("GB"));
    assert_eq!(db.country_of("not an address"), None);
}

#[test]
fn codes_are_upper_case_two_letter_codes() {
    let db = db();
    assert_eq!(db.country_of("89.160.20.128"), Some("SE"));
    assert_eq!(db.country_of("202.196.224.1"), None);
    assert_eq!(iso_code("1A"), None);
    assert_eq!(iso_code(""), None);
    assert_eq!(iso_code("ÄB"), None);
    for (i, letters) in TWO_LETTERS.iter().enumerate() {
        let code = std::str::from_utf8(letters).unwrap();
        assert_eq!(iso_code(code), Some(code), "{i}");
    }
}

#[test]
fn registered_country_when_no_country() {
    let db = db();
    assert_eq!(db.country_of("216.160.83.56"), Some("US"));
    // Both present: the country where the address is used wins.
    assert_eq!(db.country_of("175.16.199.3"), Some("CN"));
    // A record with neither.
    assert_eq!(db.country_of("67.43.156.7"), None);
}

#[test]
fn private_and_local_addresses_are_not_looked_up() {
    let db = db();
    for raw in [
        "10.1.2.3",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fd00::1",
        "fe80::1%eth0",
        "::ffff:10.1.2.3",
    ] {
        assert_eq!(db.country_of(raw), None, "{raw}");
    }
}

#[test]
fn unusable_files_are_refused_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("reactor-geoip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = GeoDb::open(&dir.join("missing.mmdb")).unwrap_err();
    assert_eq!(missing.code(), "analytics.geo_db.unreadable");
    assert!(
        missing.to_string().starts_with("cannot read the file: "),
        "{missing}"
    );
    assert_eq!(
        GeoDb::open(&dir).unwrap_err().code(),
        "analytics.geo_db.unreadable"
    );

    let good = {
        let mut w = Writer::default();
        w.insert("81.2.69.0/24", &country("GB"));
        w.finish("GeoLite2-Country")
    };
    let path = dir.join("good.mmdb");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(
        GeoDb::open(&path).unwrap().country_of("81.2.69.1"),
        Some("GB")
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let invalid = |bytes: Vec<u8>| GeoDb::from_bytes(bytes).unwrap_err();
    for bytes in [
        Vec::new(),
        b"GeoIP.dat from 2012".to_vec(),
        good[..good.len() / 2].to_vec(),
        good[..good.len() - 8].to_vec(),
    ] {
        let e = invalid(bytes);
        assert_eq!(e.code(), "analytics.geo_db.invalid", "{e}");
        assert!(
            e.to_string()
                .starts_with("not a valid MaxMind DB (.mmdb) file: "),
            "{e}"
        );
    }
    // A damaged record in the data section: found by the check at open, not at a lookup.
    let nodes = good
        .windows(16)
        .position(|w| w == [0; 16])
        .expect("the separator");
    let mut damaged = good.clone();
    damaged[nodes + 16] = 0x20 | 30; // the record's map becomes a pointer past the end
    assert_eq!(invalid(damaged).code(), "analytics.geo_db.invalid");
}
