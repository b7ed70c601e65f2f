//! Reading `repo_redirects` and `disabled_repos`: how a `repo=` prefix is
//! rewritten or refused before look-up (data-model.md §2).

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostics, child, index};
use super::json::Value;
use super::model::{DisabledRepo, Inventory};
use super::reader::{FirstSeen, Obj, entries};
use super::rules::{self, PREFIX, check_name};

const DISABLED_FIELDS: &[&str] = &["prefix", "reason"];

/// `disabled_repos`: each prefix once.
pub fn read_disabled(d: &mut Diagnostics, items: &[Value], inv: &mut Inventory) {
    let mut seen = FirstSeen::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/disabled_repos", i);
        let Some(obj) = Obj::open(d, item, &ptr, DISABLED_FIELDS) else {
            continue;
        };
        let reason = obj.opt_text(d, "reason", 255);
        let Some(v) = obj.required(d, "prefix") else {
            continue;
        };
        let Some(prefix) = rules::name(d, v, &obj.at("prefix"), PREFIX) else {
            continue;
        };
        if let Some(first) = seen.check(prefix.clone(), &ptr) {
            d.error(
                v.pos,
                &obj.at("prefix"),
                format!("prefix \"{prefix}\" is already disabled at {first}"),
            );
            continue;
        }
        inv.disabled_repos.push(DisabledRepo { prefix, reason });
    }
}

/// `repo_redirects`: alias → target. A redirect is applied once, so a target
/// that is itself an alias (a chain) would never be followed, and an alias
/// pointing at itself is meaningless; both are errors. A target with neither
/// a repository nor a disabled entry answers nothing useful: a warning, as the
/// repository may simply not be scanned yet. Repositories and disabled
/// prefixes must already be in `inv`.
pub fn read_redirects(d: &mut Diagnostics, value: &Value, inv: &mut Inventory) {
    let ptr = "/repo_redirects";
    let Some(members) = entries(d, value, ptr) else {
        return;
    };
    let mut redirects = BTreeMap::new();
    let mut targets = Vec::new();
    for m in &members {
        let entry_ptr = child(ptr, &m.key);
        let alias_ok = check_name(d, m.key_pos, &entry_ptr, &m.key, PREFIX);
        let Some(target) = rules::name(d, &m.value, &entry_ptr, PREFIX) else {
            continue;
        };
        if target == m.key {
            d.error(
                m.value.pos,
                &entry_ptr,
                format!("target \"{target}\" is the alias itself"),
            );
            continue;
        }
        if alias_ok {
            redirects.insert(m.key.clone(), target.clone());
        }
        targets.push((m, entry_ptr, target));
    }
    for (m, entry_ptr, target) in targets {
        if redirects.contains_key(&target) {
            d.error(
                m.value.pos,
                &entry_ptr,
                format!("chain: \"{target}\" is itself redirected"),
            );
        } else if !inv
            .repositories
            .iter()
            .any(|r| r.prefix.as_deref() == Some(target.as_str()))
            && !inv.disabled_repos.iter().any(|r| r.prefix == target)
        {
            d.warn(
                m.value.pos,
                &entry_ptr,
                format!("target \"{target}\" has no repository"),
            );
        }
    }
    inv.repo_redirects = redirects;
}
