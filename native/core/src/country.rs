//! Country from the browser-reported IANA timezone, for installs without a GeoIP database.
//! The table is generated from the system tz database by `tools/gen_country_table.sh`.

use crate::country_table::ZONE_COUNTRY;

/// ISO 3166-1 alpha-2 code of the country a timezone belongs to (`Europe/Berlin` → `DE`),
/// including legacy link names (`Asia/Calcutta`, `US/Eastern`). `None` for unknown names and
/// for zones that name no country (`UTC`, `Etc/GMT+2`).
pub fn country_for_timezone(tz: &str) -> Option<&'static str> {
    ZONE_COUNTRY
        .binary_search_by(|(zone, _)| (*zone).cmp(tz))
        .ok()
        .map(|i| ZONE_COUNTRY[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(ZONE_COUNTRY.len() > 400);
        assert!(ZONE_COUNTRY.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ZONE_COUNTRY
            .iter()
            .all(|(_, c)| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn canonical_zones() {
        assert_eq!(country_for_timezone("Europe/Berlin"), Some("DE"));
        assert_eq!(country_for_timezone("America/New_York"), Some("US"));
        assert_eq!(country_for_timezone("Asia/Kolkata"), Some("IN"));
        assert_eq!(country_for_timezone("Australia/Sydney"), Some("AU"));
        assert_eq!(
            country_for_timezone("America/Argentina/Buenos_Aires"),
            Some("AR")
        );
        // Zones that are links in the tz data but still belong to their own country.
        assert_eq!(country_for_timezone("Europe/Amsterdam"), Some("NL"));
        assert_eq!(country_for_timezone("Atlantic/Reykjavik"), Some("IS"));
    }

    #[test]
    fn legacy_links() {
        assert_eq!(country_for_timezone("Asia/Calcutta"), Some("IN"));
        assert_eq!(country_for_timezone("US/Eastern"), Some("US"));
        assert_eq!(country_for_timezone("Europe/Kiev"), Some("UA"));
        assert_eq!(country_for_timezone("Iceland"), Some("IS"));
        assert_eq!(country_for_timezone("Asia/Saigon"), Some("VN"));
    }

    #[test]
    fn no_country() {
        for tz in [
            "UTC",
            "Etc/UTC",
            "GMT",
            "Etc/GMT+2",
            "",
            "Mars/Olympus",
            "europe/berlin",
        ] {
            assert_eq!(country_for_timezone(tz), None, "{tz}");
        }
    }
}
