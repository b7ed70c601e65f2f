//! The synthetic world: which countries mirrors and clients are in, and the
//! address plan that places every public IPv4 /16 (and some IPv6 /20s) in a
//! country.
//!
//! The plan is fixed (independent of `--seed`), so `run` and `measure` can pick
//! client addresses "in Germany" for any snapshot the generator made, and the
//! GeoIP file `generate` writes agrees with them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use mirrorfleet_snapshot::countries;
use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::{Value, Writer};

use crate::rng::{Rng, Weighted, mix64};

/// Key of the address plan; deliberately not the dataset seed.
const PLAN_KEY: u64 = 0x4d46_5f50_4c41_4e31;

/// GeoIP database type written to the file (and to the snapshot's reference).
pub const GEOIP_TYPE: &str = "GeoLite2-Country";
/// Build epoch of the generated GeoIP file (fixed for reproducible bytes).
pub const GEOIP_BUILD_EPOCH: u64 = 1_767_225_600;

/// (code, mirror weight, client weight). Mirror weights follow the rough shape
/// of Fedora's public mirror list (US, then DE, CN, FR, GB, NL …); client
/// weights the shape of dnf traffic. A mirror weight of 0 is a client-only
/// country (no mirror there: continent and global tiers).
pub const COUNTRY_TABLE: &[(&str, u32, u32)] = &[
    ("US", 90, 250),
    ("DE", 45, 60),
    ("CN", 20, 80),
    ("FR", 18, 35),
    ("GB", 15, 35),
    ("NL", 14, 15),
    ("JP", 12, 30),
    ("CA", 12, 20),
    ("CZ", 10, 10),
    ("RU", 10, 40),
    ("SE", 8, 8),
    ("BR", 8, 40),
    ("AU", 8, 15),
    ("IT", 7, 20),
    ("CH", 7, 6),
    ("PL", 7, 15),
    ("AT", 6, 5),
    ("ES", 6, 15),
    ("KR", 6, 15),
    ("TW", 6, 10),
    ("IN", 6, 60),
    ("ID", 5, 20),
    ("SG", 5, 5),
    ("HK", 4, 5),
    ("FI", 4, 4),
    ("DK", 4, 4),
    ("NO", 4, 4),
    ("BE", 4, 5),
    ("RO", 4, 5),
    ("BG", 4, 3),
    ("UA", 4, 10),
    ("ZA", 4, 5),
    ("PT", 3, 5),
    ("GR", 3, 4),
    ("HU", 3, 4),
    ("SK", 3, 3),
    ("TR", 3, 10),
    ("IL", 3, 4),
    ("NZ", 3, 3),
    ("IE", 3, 3),
    ("MX", 3, 12),
    ("AR", 3, 8),
    ("CL", 3, 4),
    ("VN", 3, 10),
    ("TH", 3, 6),
    ("MY", 3, 4),
    ("CO", 2, 5),
    ("EC", 2, 2),
    ("PE", 2, 3),
    ("PH", 2, 5),
    ("KZ", 2, 2),
    ("BY", 2, 2),
    ("LT", 2, 1),
    ("LV", 2, 1),
    ("EE", 2, 1),
    ("SI", 2, 1),
    ("HR", 2, 1),
    ("RS", 2, 2),
    ("IR", 2, 8),
    ("KE", 2, 2),
    ("MD", 1, 1),
    ("IS", 1, 1),
    ("LU", 1, 1),
    ("CY", 1, 1),
    ("MT", 1, 1),
    ("GE", 1, 1),
    ("AM", 1, 1),
    ("AZ", 1, 1),
    ("SA", 1, 3),
    ("AE", 1, 2),
    ("QA", 1, 1),
    ("NG", 1, 4),
    ("EG", 1, 4),
    ("MA", 1, 2),
    ("TN", 1, 1),
    ("DZ", 1, 2),
    ("GH", 1, 1),
    ("UG", 1, 1),
    ("TZ", 1, 1),
    ("RW", 1, 1),
    ("MU", 1, 1),
    ("NP", 1, 2),
    ("BD", 1, 4),
    ("PK", 1, 5),
    ("LK", 1, 1),
    ("KH", 1, 1),
    ("MN", 1, 1),
    ("UZ", 1, 1),
    ("BA", 1, 1),
    ("MK", 1, 1),
    ("AL", 1, 1),
    ("ME", 1, 1),
    ("UY", 1, 1),
    ("PY", 1, 1),
    ("BO", 1, 1),
    ("VE", 1, 2),
    ("CR", 1, 1),
    ("PA", 1, 1),
    ("GT", 1, 1),
    ("DO", 1, 1),
    ("PR", 1, 1),
    ("NC", 1, 1),
    ("FJ", 1, 1),
    ("JO", 1, 1),
    ("LB", 1, 1),
    // Client-only countries.
    ("ET", 0, 1),
    ("SN", 0, 1),
    ("CI", 0, 1),
    ("CM", 0, 1),
    ("HN", 0, 1),
    ("SV", 0, 1),
    ("JM", 0, 1),
    ("LA", 0, 1),
    ("MM", 0, 1),
    ("IQ", 0, 2),
    ("KW", 0, 1),
    ("OM", 0, 1),
    ("ZW", 0, 1),
    ("ZM", 0, 1),
    ("MZ", 0, 1),
    ("AO", 0, 1),
    ("BW", 0, 1),
    ("MG", 0, 1),
];

/// IPv6 regions (first 16 bits of a /12) and the continents they geolocate to.
const V6_REGIONS: &[(u16, &[&str])] = &[
    (0x2400, &["AS", "OC"]),
    (0x2600, &["NA"]),
    (0x2800, &["SA"]),
    (0x2a00, &["EU"]),
    (0x2c00, &["AF"]),
];

/// One country of the plan.
#[derive(Clone, Debug)]
pub struct PlanCountry {
    /// Upper-case code.
    pub code: [u8; 2],
    /// Code as text.
    pub name: &'static str,
    /// Continent code.
    pub continent: &'static str,
    /// Relative number of mirrors.
    pub mirror_weight: u32,
    /// Relative number of clients (and of address space).
    pub client_weight: u32,
}

/// The address plan.
pub struct Plan {
    /// The countries, in [`COUNTRY_TABLE`] order.
    pub countries: Vec<PlanCountry>,
    v4_country: Vec<u16>,
    v4_by_country: Vec<Vec<u16>>,
    v6: Vec<(u32, u16)>,
    v6_by_country: Vec<Vec<u32>>,
    clients: Weighted,
}

const NONE: u16 = u16::MAX;

/// True for a /16 (index = first two octets) that is ordinary public unicast space.
pub fn is_public_16(i: u16) -> bool {
    let (a, b) = ((i >> 8) as u8, i as u8);
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)))
}

impl Plan {
    /// Builds the (fixed) plan.
    pub fn new() -> Plan {
        let countries: Vec<PlanCountry> = COUNTRY_TABLE
            .iter()
            .map(|&(code, mirror_weight, client_weight)| {
                let c = countries::lookup(code)
                    .unwrap_or_else(|| panic!("{code} is not in the country table"));
                let b = code.as_bytes();
                PlanCountry {
                    code: [b[0], b[1]],
                    name: c.code,
                    continent: c.continent,
                    mirror_weight,
                    client_weight,
                }
            })
            .collect();
        let clients = Weighted::new(countries.iter().map(|c| u64::from(c.client_weight)));
        let mut v4_country = vec![NONE; 65536];
        let mut v4_by_country = vec![Vec::new(); countries.len()];
        for i in 0..=u16::MAX {
            if !is_public_16(i) {
                continue;
            }
            let c = clients.index_of(mix64(u64::from(i) ^ PLAN_KEY) % clients.total());
            v4_country[usize::from(i)] = c as u16;
            v4_by_country[c].push(i);
        }
        let mut v6 = Vec::new();
        let mut v6_by_country = vec![Vec::new(); countries.len()];
        for &(base, continents) in V6_REGIONS {
            let members: Vec<usize> = (0..countries.len())
                .filter(|&c| continents.contains(&countries[c].continent))
                .collect();
            let w = Weighted::new(
                members
                    .iter()
                    .map(|&c| u64::from(countries[c].client_weight)),
            );
            for k in 0..256u32 {
                let top20 = (u32::from(base) << 4) | k;
                let c = members[w.index_of(mix64(u64::from(top20) ^ PLAN_KEY ^ 0x66) % w.total())];
                v6_by_country[c].push(v6.len() as u32);
                v6.push((top20, c as u16));
            }
        }
        Plan {
            countries,
            v4_country,
            v4_by_country,
            v6,
            v6_by_country,
            clients,
        }
    }

    /// Index of a country code.
    pub fn country_index(&self, code: &str) -> Option<usize> {
        self.countries.iter().position(|c| c.name == code)
    }

    /// The country of an IPv4 /16.
    pub fn country_of_16(&self, i: u16) -> Option<usize> {
        let c = self.v4_country[usize::from(i)];
        (c != NONE).then_some(usize::from(c))
    }

    /// The /16s of a country.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn sixteens_of(&self, country: usize) -> &[u16] {
        &self.v4_by_country[country]
    }

    /// Every public /16 with its country.
    pub fn public_sixteens(&self) -> impl Iterator<Item = (u16, usize)> + '_ {
        (0..=u16::MAX).filter_map(|i| self.country_of_16(i).map(|c| (i, c)))
    }

    /// The country of an IPv6 /20, when it is in the plan.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn country_of_20(&self, top20: u32) -> Option<usize> {
        let i = self.v6.partition_point(|&(t, _)| t < top20);
        self.v6
            .get(i)
            .filter(|&&(t, _)| t == top20)
            .map(|&(_, c)| usize::from(c))
    }

    /// A client country drawn by client weight.
    pub fn random_client_country(&self, rng: &mut Rng) -> usize {
        self.clients.sample(rng)
    }

    /// A random IPv4 client address in a country.
    pub fn client_v4(&self, country: usize, rng: &mut Rng) -> Ipv4Addr {
        let list = &self.v4_by_country[country];
        let i = *rng.pick(list);
        let host = rng.range(1, 65534) as u32;
        Ipv4Addr::from((u32::from(i) << 16) | host)
    }

    /// A random IPv6 client address in a country, when the plan gives it IPv6 space.
    pub fn client_v6(&self, country: usize, rng: &mut Rng) -> Option<Ipv6Addr> {
        let list = &self.v6_by_country[country];
        if list.is_empty() {
            return None;
        }
        let (top20, _) = self.v6[*rng.pick(list) as usize];
        let low = ((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
            & ((1u128 << 108) - 1);
        Some(Ipv6Addr::from((u128::from(top20) << 108) | low | 1))
    }

    /// The country the plan gives an address (what the generated GeoIP file answers).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn country_of(&self, ip: IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(a) => self.country_of_16((u32::from(a) >> 16) as u16),
            IpAddr::V6(a) => self.country_of_20((u128::from(a) >> 108) as u32),
        }
    }

    /// Writes the plan as a MaxMind Country database (`GeoLite2-Country` layout:
    /// `country.iso_code`, `country.names.en`, `continent.code`).
    pub fn write_geoip(&self, path: &Path) -> anyhow::Result<u64> {
        let mut w = Writer::builder(GEOIP_TYPE)
            .description(&[("en", "mirrorfleet-loadtest synthetic country database")])
            .build_epoch(UNIX_EPOCH + Duration::from_secs(GEOIP_BUILD_EPOCH))
            .build();
        let values: Vec<Value> = self
            .countries
            .iter()
            .map(|c| {
                Value::map([
                    (
                        "country",
                        Value::map([
                            ("iso_code", Value::from(c.name)),
                            ("names", Value::map([("en", Value::from(c.name))])),
                        ]),
                    ),
                    (
                        "continent",
                        Value::map([("code", Value::from(c.continent))]),
                    ),
                ])
            })
            .collect();
        // Merge runs of adjacent /16s of one country into the largest aligned blocks.
        let mut i: u32 = 0;
        while i < 65536 {
            let Some(c) = self.country_of_16(i as u16) else {
                i += 1;
                continue;
            };
            let mut len = 16u8;
            loop {
                let bigger = len - 1;
                let size = 1u32 << (16 - bigger);
                if bigger < 8 || !i.is_multiple_of(size) || i + size > 65536 {
                    break;
                }
                if (i..i + size).all(|j| self.country_of_16(j as u16) == Some(c)) {
                    len = bigger;
                } else {
                    break;
                }
            }
            let net = Ipv4Net::new(Ipv4Addr::from(i << 16), len)?;
            w.insert_value(IpNet::V4(net), values[c].clone())?;
            i += 1 << (16 - len);
        }
        for &(top20, c) in &self.v6 {
            let net = Ipv6Net::new(Ipv6Addr::from(u128::from(top20) << 108), 20)?;
            w.insert_value(IpNet::V6(net), values[usize::from(c)].clone())?;
        }
        let bytes = w.to_bytes()?;
        std::fs::write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(bytes.len() as u64)
    }
}

impl Default for Plan {
    fn default() -> Self {
        Plan::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_addresses() {
        let p = Plan::new();
        for (i, c) in p.countries.iter().enumerate() {
            assert!(p.sixteens_of(i).len() >= 20, "{} has too few /16s", c.name);
        }
        let mut r = Rng::new(1);
        let de = p.country_index("DE").unwrap();
        for _ in 0..100 {
            let a = p.client_v4(de, &mut r);
            assert_eq!(p.country_of(IpAddr::V4(a)), Some(de));
        }
        let fr = p.country_index("FR").unwrap();
        let a = p.client_v6(fr, &mut r).unwrap();
        assert_eq!(p.country_of(IpAddr::V6(a)), Some(fr));
    }
}
