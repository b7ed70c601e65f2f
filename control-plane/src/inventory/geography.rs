//! Reading `continent_overrides` and `netblock_countries`: how client
//! locations are adjusted (data-model.md §4).

use super::diagnostic::{Diagnostics, child};
use super::json::Value;
use super::model::Inventory;
use super::reader::{FirstSeen, entries};
use super::rules;

/// `continent_overrides`: country code → continent code.
pub fn read_continent_overrides(d: &mut Diagnostics, value: &Value, inv: &mut Inventory) {
    let ptr = "/continent_overrides";
    let Some(members) = entries(d, value, ptr) else {
        return;
    };
    for m in members {
        let entry_ptr = child(ptr, &m.key);
        let country_ok = rules::check_country(d, m.key_pos, &entry_ptr, &m.key);
        let continent = rules::continent(d, &m.value, &entry_ptr);
        if let (true, Some(continent)) = (country_ok, continent) {
            inv.continent_overrides.insert(m.key.clone(), continent);
        }
    }
}

/// `netblock_countries`: network → country code. Keys are canonicalised, so
/// two spellings of one network are reported as a repetition.
pub fn read_netblock_countries(d: &mut Diagnostics, value: &Value, inv: &mut Inventory) {
    let ptr = "/netblock_countries";
    let Some(members) = entries(d, value, ptr) else {
        return;
    };
    let mut seen = FirstSeen::new();
    for m in members {
        let entry_ptr = child(ptr, &m.key);
        let network = rules::check_network(d, m.key_pos, &entry_ptr, &m.key);
        let country = rules::country(d, &m.value, &entry_ptr);
        let Some(network) = network else { continue };
        if let Some(first) = seen.check(network, &entry_ptr) {
            d.error(
                m.key_pos,
                &entry_ptr,
                format!("\"{}\" is the same network as {first}", m.key),
            );
            continue;
        }
        if let Some(country) = country {
            inv.netblock_countries.insert(network, country);
        }
    }
}
