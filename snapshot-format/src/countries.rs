//! The built-in country table: every assigned ISO 3166-1 alpha-2 code, plus `XK`.
//!
//! Country codes are not edited by operators (data-model.md §4), so the table
//! lives in code. Names are the ISO 3166-1 English short names. Continents are
//! the ones MirrorManager2's `country_continent.csv` gives (MaxMind's GeoIP
//! assignment, so RU and TR are EU, IL and CY are AS, EG is AF): migrated
//! installations must pick the same continent tiers. Codes assigned after that
//! file was written take MaxMind's current continent (BQ, CW, SX NA; SS AF), and
//! `XK` (Kosovo, used by MaxMind though not ISO-assigned) is EU. The CSV's
//! non-country entries (A1, A2, AP, EU, FX, O1) and the deleted `AN` are left out.

/// One country: its code, English name and continent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, upper case (`XK` for Kosovo).
    pub code: &'static str,
    /// ISO 3166-1 English short name.
    pub name: &'static str,
    /// Continent code, one of [`CONTINENTS`].
    pub continent: &'static str,
}

/// The continent codes, as MaxMind and MirrorManager2 spell them.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// The identity of this table, recorded as the snapshot's `continents_source`.
/// Change it whenever a row of [`COUNTRIES`] changes.
pub const BUILTIN_REVISION: &str = "builtin-2026.1";

/// Looks up a country by its exact upper-case code (`"SE"`, not `"se"`).
///
/// Use [`suggestion`] to tell a user what a rejected code probably meant.
pub fn lookup(code: &str) -> Option<&'static Country> {
    COUNTRIES
        .binary_search_by(|c| c.code.cmp(code))
        .ok()
        .map(|i| &COUNTRIES[i])
}

/// True when `code` is one of the [`CONTINENTS`] (exact, upper case).
pub fn is_continent(code: &str) -> bool {
    CONTINENTS.contains(&code)
}

/// For a code that [`lookup`] rejects, the code the user most likely meant:
/// the same code in upper case (`se` → `SE`), or the usual confusions `UK` →
/// `GB` and `EL` → `GR` (the EU's codes for those countries), in any case.
/// `None` for a valid code or when there is no good guess.
pub fn suggestion(code: &str) -> Option<&'static str> {
    if lookup(code).is_some() {
        return None;
    }
    let upper = code.trim().to_ascii_uppercase();
    let meant = match upper.as_str() {
        "UK" => "GB",
        "EL" => "GR",
        other => other,
    };
    lookup(meant).map(|c| c.code)
}

const fn country(code: &'static str, name: &'static str, continent: &'static str) -> Country {
    Country {
        code,
        name,
        continent,
    }
}

/// Every country, sorted by code (the order [`lookup`]'s binary search needs).
pub static COUNTRIES: &[Country] = &[
    country("AD", "Andorra", "EU"),
    country("AE", "United Arab Emirates", "AS"),
    country("AF", "Afghanistan", "AS"),
    country("AG", "Antigua and Barbuda", "NA"),
    country("AI", "Anguilla", "NA"),
    country("AL", "Albania", "EU"),
    country("AM", "Armenia", "AS"),
    country("AO", "Angola", "AF"),
    country("AQ", "Antarctica", "AN"),
    country("AR", "Argentina", "SA"),
    country("AS", "American Samoa", "OC"),
    country("AT", "Austria", "EU"),
    country("AU", "Australia", "OC"),
    country("AW", "Aruba", "NA"),
    country("AX", "Åland Islands", "EU"),
    country("AZ", "Azerbaijan", "AS"),
    country("BA", "Bosnia and Herzegovina", "EU"),
    country("BB", "Barbados", "NA"),
    country("BD", "Bangladesh", "AS"),
    country("BE", "Belgium", "EU"),
    country("BF", "Burkina Faso", "AF"),
    country("BG", "Bulgaria", "EU"),
    country("BH", "Bahrain", "AS"),
    country("BI", "Burundi", "AF"),
    country("BJ", "Benin", "AF"),
    country("BL", "Saint Barthélemy", "NA"),
    country("BM", "Bermuda", "NA"),
    country("BN", "Brunei Darussalam", "AS"),
    country("BO", "Bolivia, Plurinational State of", "SA"),
    country("BQ", "Bonaire, Sint Eustatius and Saba", "NA"),
    country("BR", "Brazil", "SA"),
    country("BS", "Bahamas", "NA"),
    country("BT", "Bhutan", "AS"),
    country("BV", "Bouvet Island", "AN"),
    country("BW", "Botswana", "AF"),
    country("BY", "Belarus", "EU"),
    country("BZ", "Belize", "NA"),
    country("CA", "Canada", "NA"),
    country("CC", "Cocos (Keeling) Islands", "AS"),
    country("CD", "Congo, The Democratic Republic of the", "AF"),
    country("CF", "Central African Republic", "AF"),
    country("CG", "Congo", "AF"),
    country("CH", "Switzerland", "EU"),
    country("CI", "Côte d'Ivoire", "AF"),
    country("CK", "Cook Islands", "OC"),
    country("CL", "Chile", "SA"),
    country("CM", "Cameroon", "AF"),
    country("CN", "China", "AS"),
    country("CO", "Colombia", "SA"),
    country("CR", "Costa Rica", "NA"),
    country("CU", "Cuba", "NA"),
    country("CV", "Cabo Verde", "AF"),
    country("CW", "Curaçao", "NA"),
    country("CX", "Christmas Island", "AS"),
    country("CY", "Cyprus", "AS"),
    country("CZ", "Czechia", "EU"),
    country("DE", "Germany", "EU"),
    country("DJ", "Djibouti", "AF"),
    country("DK", "Denmark", "EU"),
    country("DM", "Dominica", "NA"),
    country("DO", "Dominican Republic", "NA"),
    country("DZ", "Algeria", "AF"),
    country("EC", "Ecuador", "SA"),
    country("EE", "Estonia", "EU"),
    country("EG", "Egypt", "AF"),
    country("EH", "Western Sahara", "AF"),
    country("ER", "Eritrea", "AF"),
    country("ES", "Spain", "EU"),
    country("ET", "Ethiopia", "AF"),
    country("FI", "Finland", "EU"),
    country("FJ", "Fiji", "OC"),
    country("FK", "Falkland Islands (Malvinas)", "SA"),
    country("FM", "Micronesia, Federated States of", "OC"),
    country("FO", "Faroe Islands", "EU"),
    country("FR", "France", "EU"),
    country("GA", "Gabon", "AF"),
    country("GB", "United Kingdom", "EU"),
    country("GD", "Grenada", "NA"),
    country("GE", "Georgia", "AS"),
    country("GF", "French Guiana", "SA"),
    country("GG", "Guernsey", "EU"),
    country("GH", "Ghana", "AF"),
    country("GI", "Gibraltar", "EU"),
    country("GL", "Greenland", "NA"),
    country("GM", "Gambia", "AF"),
    country("GN", "Guinea", "AF"),
    country("GP", "Guadeloupe", "NA"),
    country("GQ", "Equatorial Guinea", "AF"),
    country("GR", "Greece", "EU"),
    country("GS", "South Georgia and the South Sandwich Islands", "AN"),
    country("GT", "Guatemala", "NA"),
    country("GU", "Guam", "OC"),
    country("GW", "Guinea-Bissau", "AF"),
    country("GY", "Guyana", "SA"),
    country("HK", "Hong Kong", "AS"),
    country("HM", "Heard Island and McDonald Islands", "AN"),
    country("HN", "Honduras", "NA"),
    country("HR", "Croatia", "EU"),
    country("HT", "Haiti", "NA"),
    country("HU", "Hungary", "EU"),
    country("ID", "Indonesia", "AS"),
    country("IE", "Ireland", "EU"),
    country("IL", "Israel", "AS"),
    country("IM", "Isle of Man", "EU"),
    country("IN", "India", "AS"),
    country("IO", "British Indian Ocean Territory", "AS"),
    country("IQ", "Iraq", "AS"),
    country("IR", "Iran, Islamic Republic of", "AS"),
    country("IS", "Iceland", "EU"),
    country("IT", "Italy", "EU"),
    country("JE", "Jersey", "EU"),
    country("JM", "Jamaica", "NA"),
    country("JO", "Jordan", "AS"),
    country("JP", "Japan", "AS"),
    country("KE", "Kenya", "AF"),
    country("KG", "Kyrgyzstan", "AS"),
    country("KH", "Cambodia", "AS"),
    country("KI", "Kiribati", "OC"),
    country("KM", "Comoros", "AF"),
    country("KN", "Saint Kitts and Nevis", "NA"),
    country("KP", "Korea, Democratic People's Republic of", "AS"),
    country("KR", "Korea, Republic of", "AS"),
    country("KW", "Kuwait", "AS"),
    country("KY", "Cayman Islands", "NA"),
    country("KZ", "Kazakhstan", "AS"),
    country("LA", "Lao People's Democratic Republic", "AS"),
    country("LB", "Lebanon", "AS"),
    country("LC", "Saint Lucia", "NA"),
    country("LI", "Liechtenstein", "EU"),
    country("LK", "Sri Lanka", "AS"),
    country("LR", "Liberia", "AF"),
    country("LS", "Lesotho", "AF"),
    country("LT", "Lithuania", "EU"),
    country("LU", "Luxembourg", "EU"),
    country("LV", "Latvia", "EU"),
    country("LY", "Libya", "AF"),
    country("MA", "Morocco", "AF"),
    country("MC", "Monaco", "EU"),
    country("MD", "Moldova, Republic of", "EU"),
    country("ME", "Montenegro", "EU"),
    country("MF", "Saint Martin (French part)", "NA"),
    country("MG", "Madagascar", "AF"),
    country("MH", "Marshall Islands", "OC"),
    country("MK", "North Macedonia", "EU"),
    country("ML", "Mali", "AF"),
    country("MM", "Myanmar", "AS"),
    country("MN", "Mongolia", "AS"),
    country("MO", "Macao", "AS"),
    country("MP", "Northern Mariana Islands", "OC"),
    country("MQ", "Martinique", "NA"),
    country("MR", "Mauritania", "AF"),
    country("MS", "Montserrat", "NA"),
    country("MT", "Malta", "EU"),
    country("MU", "Mauritius", "AF"),
    country("MV", "Maldives", "AS"),
    country("MW", "Malawi", "AF"),
    country("MX", "Mexico", "NA"),
    country("MY", "Malaysia", "AS"),
    country("MZ", "Mozambique", "AF"),
    country("NA", "Namibia", "AF"),
    country("NC", "New Caledonia", "OC"),
    country("NE", "Niger", "AF"),
    country("NF", "Norfolk Island", "OC"),
    country("NG", "Nigeria", "AF"),
    country("NI", "Nicaragua", "NA"),
    country("NL", "Netherlands", "EU"),
    country("NO", "Norway", "EU"),
    country("NP", "Nepal", "AS"),
    country("NR", "Nauru", "OC"),
    country("NU", "Niue", "OC"),
    country("NZ", "New Zealand", "OC"),
    country("OM", "Oman", "AS"),
    country("PA", "Panama", "NA"),
    country("PE", "Peru", "SA"),
    country("PF", "French Polynesia", "OC"),
    country("PG", "Papua New Guinea", "OC"),
    country("PH", "Philippines", "AS"),
    country("PK", "Pakistan", "AS"),
    country("PL", "Poland", "EU"),
    country("PM", "Saint Pierre and Miquelon", "NA"),
    country("PN", "Pitcairn", "OC"),
    country("PR", "Puerto Rico", "NA"),
    country("PS", "Palestine, State of", "AS"),
    country("PT", "Portugal", "EU"),
    country("PW", "Palau", "OC"),
    country("PY", "Paraguay", "SA"),
    country("QA", "Qatar", "AS"),
    country("RE", "Réunion", "AF"),
    country("RO", "Romania", "EU"),
    country("RS", "Serbia", "EU"),
    country("RU", "Russian Federation", "EU"),
    country("RW", "Rwanda", "AF"),
    country("SA", "Saudi Arabia", "AS"),
    country("SB", "Solomon Islands", "OC"),
    country("SC", "Seychelles", "AF"),
    country("SD", "Sudan", "AF"),
    country("SE", "Sweden", "EU"),
    country("SG", "Singapore", "AS"),
    country("SH", "Saint Helena, Ascension and Tristan da Cunha", "AF"),
    country("SI", "Slovenia", "EU"),
    country("SJ", "Svalbard and Jan Mayen", "EU"),
    country("SK", "Slovakia", "EU"),
    country("SL", "Sierra Leone", "AF"),
    country("SM", "San Marino", "EU"),
    country("SN", "Senegal", "AF"),
    country("SO", "Somalia", "AF"),
    country("SR", "Suriname", "SA"),
    country("SS", "South Sudan", "AF"),
    country("ST", "Sao Tome and Principe", "AF"),
    country("SV", "El Salvador", "NA"),
    country("SX", "Sint Maarten (Dutch part)", "NA"),
    country("SY", "Syrian Arab Republic", "AS"),
    country("SZ", "Eswatini", "AF"),
    country("TC", "Turks and Caicos Islands", "NA"),
    country("TD", "Chad", "AF"),
    country("TF", "French Southern Territories", "AN"),
    country("TG", "Togo", "AF"),
    country("TH", "Thailand", "AS"),
    country("TJ", "Tajikistan", "AS"),
    country("TK", "Tokelau", "OC"),
    country("TL", "Timor-Leste", "AS"),
    country("TM", "Turkmenistan", "AS"),
    country("TN", "Tunisia", "AF"),
    country("TO", "Tonga", "OC"),
    country("TR", "Türkiye", "EU"),
    country("TT", "Trinidad and Tobago", "NA"),
    country("TV", "Tuvalu", "OC"),
    country("TW", "Taiwan, Province of China", "AS"),
    country("TZ", "Tanzania, United Republic of", "AF"),
    country("UA", "Ukraine", "EU"),
    country("UG", "Uganda", "AF"),
    country("UM", "United States Minor Outlying Islands", "OC"),
    country("US", "United States", "NA"),
    country("UY", "Uruguay", "SA"),
    country("UZ", "Uzbekistan", "AS"),
    country("VA", "Holy See (Vatican City State)", "EU"),
    country("VC", "Saint Vincent and the Grenadines", "NA"),
    country("VE", "Venezuela, Bolivarian Republic of", "SA"),
    country("VG", "Virgin Islands, British", "NA"),
    country("VI", "Virgin Islands, U.S.", "NA"),
    country("VN", "Viet Nam", "AS"),
    country("VU", "Vanuatu", "OC"),
    country("WF", "Wallis and Futuna", "OC"),
    country("WS", "Samoa", "OC"),
    country("XK", "Kosovo", "EU"),
    country("YE", "Yemen", "AS"),
    country("YT", "Mayotte", "AF"),
    country("ZA", "South Africa", "AF"),
    country("ZM", "Zambia", "AF"),
    country("ZW", "Zimbabwe", "AF"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_complete() {
        assert_eq!(COUNTRIES.len(), 250, "249 ISO 3166-1 codes plus XK");
        assert!(
            COUNTRIES.windows(2).all(|w| w[0].code < w[1].code),
            "sorted, no duplicates"
        );
        for c in COUNTRIES {
            assert!(
                c.code.len() == 2 && c.code.bytes().all(|b| b.is_ascii_uppercase()),
                "bad code {:?}",
                c.code
            );
            assert!(!c.name.is_empty(), "{} has no name", c.code);
            assert!(
                is_continent(c.continent),
                "{} has continent {:?}",
                c.code,
                c.continent
            );
        }
    }

    #[test]
    fn every_continent_is_used() {
        for k in CONTINENTS {
            assert!(
                COUNTRIES.iter().any(|c| c.continent == k),
                "no country in {k}"
            );
        }
    }

    #[test]
    fn continents_follow_maxmind() {
        let cases = [
            ("RU", "EU"),
            ("TR", "EU"),
            ("IL", "AS"),
            ("CY", "AS"),
            ("EG", "AF"),
            ("XK", "EU"),
            ("US", "NA"),
            ("BR", "SA"),
            ("AU", "OC"),
            ("AQ", "AN"),
            ("BV", "AN"),
            ("GS", "AN"),
            ("HM", "AN"),
            ("TF", "AN"),
            ("UM", "OC"),
            ("SE", "EU"),
            ("DE", "EU"),
            ("SS", "AF"),
            ("CW", "NA"),
        ];
        for (code, continent) in cases {
            assert_eq!(lookup(code).map(|c| c.continent), Some(continent), "{code}");
        }
    }

    #[test]
    fn lookup_is_exact() {
        assert_eq!(lookup("SE").map(|c| c.name), Some("Sweden"));
        assert_eq!(lookup("GB").map(|c| c.name), Some("United Kingdom"));
        assert_eq!(lookup("XK").map(|c| c.name), Some("Kosovo"));
        for bad in ["se", "UK", "EU", "AN", "", "S", "SWE", " SE"] {
            assert!(lookup(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn continent_codes() {
        assert!(is_continent("EU"));
        assert!(is_continent("AN"));
        assert!(!is_continent("eu"));
        assert!(!is_continent("AM"));
    }

    #[test]
    fn suggestions() {
        let cases = [
            ("se", Some("SE")),
            ("De", Some("DE")),
            ("UK", Some("GB")),
            ("uk", Some("GB")),
            ("EL", Some("GR")),
            ("el", Some("GR")),
            (" se ", Some("SE")),
            ("SE", None),
            ("ZZ", None),
            ("", None),
            ("Sweden", None),
        ];
        for (given, want) in cases {
            assert_eq!(suggestion(given), want, "{given:?}");
        }
    }
}
