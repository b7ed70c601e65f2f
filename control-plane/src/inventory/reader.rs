//! Walking the JSON tree with error reporting: opening objects (unknown and
//! duplicate keys, missing fields), arrays and maps, and reading scalars with
//! "expected …, found …" messages. Every reader reports its problem itself and
//! returns `None`, so callers just skip what is broken and keep checking the
//! rest of the file: the user gets every problem in one run.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

use super::diagnostic::{Diagnostics, child};
use super::json::{Kind, Member, Pos, Value, is_integer_text};

/// An object being read: its members (first occurrence of each key) and its
/// pointer.
pub struct Obj<'v> {
    /// Pointer of the object.
    pub ptr: String,
    /// Position of its `{`.
    pub pos: Pos,
    members: Vec<&'v Member>,
}

impl<'v> Obj<'v> {
    /// Opens `value` as an object whose keys must be among `fields`. Reports a
    /// non-object, duplicate keys (the first one counts) and unknown keys.
    pub fn open(
        d: &mut Diagnostics,
        value: &'v Value,
        ptr: &str,
        fields: &[&str],
    ) -> Option<Obj<'v>> {
        let members = entries(d, value, ptr)?;
        for m in &members {
            if !fields.contains(&m.key.as_str()) {
                let mut message = format!("unknown field \"{}\"", m.key);
                if let Some(near) = nearest(&m.key, fields.iter().copied()) {
                    message.push_str(&format!("; did you mean \"{near}\"?"));
                }
                d.error(m.key_pos, &child(ptr, &m.key), message);
            }
        }
        Some(Obj {
            ptr: ptr.to_string(),
            pos: value.pos,
            members,
        })
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&'v Member> {
        self.members.iter().copied().find(|m| m.key == name)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'v Value> {
        self.member(name).map(|m| &m.value)
    }

    /// The value of `name`, reporting `missing field` at the object when absent.
    pub fn required(&self, d: &mut Diagnostics, name: &str) -> Option<&'v Value> {
        let value = self.get(name);
        if value.is_none() {
            d.error(self.pos, &self.ptr, format!("missing field \"{name}\""));
        }
        value
    }

    /// Pointer of the member `name`.
    pub fn at(&self, name: &str) -> String {
        child(&self.ptr, name)
    }

    /// A boolean member, `default` when absent or wrong.
    pub fn bool_or(&self, d: &mut Diagnostics, name: &str, default: bool) -> bool {
        self.get(name)
            .and_then(|v| boolean(d, v, &self.at(name)))
            .unwrap_or(default)
    }

    /// An optional boolean member (`None` when absent or wrong).
    pub fn opt_bool(&self, d: &mut Diagnostics, name: &str) -> Option<bool> {
        self.get(name).and_then(|v| boolean(d, v, &self.at(name)))
    }

    /// An optional free-text member of at most `max` characters.
    pub fn opt_text(&self, d: &mut Diagnostics, name: &str, max: usize) -> Option<String> {
        self.get(name).and_then(|v| text(d, v, &self.at(name), max))
    }

    /// An array member, empty when absent or wrong.
    pub fn array(&self, d: &mut Diagnostics, name: &str) -> &'v [Value] {
        self.get(name)
            .and_then(|v| array(d, v, &self.at(name)))
            .unwrap_or(&[])
    }
}

/// The members of an object, first occurrence of each key; reports a
/// non-object and every repeated key.
pub fn entries<'v>(d: &mut Diagnostics, value: &'v Value, ptr: &str) -> Option<Vec<&'v Member>> {
    let Kind::Object(members) = &value.kind else {
        wrong_type(d, value, ptr, "an object");
        return None;
    };
    // Maps such as `netblock_countries` can be large: find repeats by hash.
    let mut index: HashMap<&str, &Member> = HashMap::with_capacity(members.len());
    let mut first = Vec::with_capacity(members.len());
    for m in members {
        match index.entry(m.key.as_str()) {
            Entry::Occupied(f) => d.error(
                m.key_pos,
                &child(ptr, &m.key),
                format!(
                    "duplicate key \"{}\" (first at line {})",
                    m.key,
                    f.get().key_pos.line
                ),
            ),
            Entry::Vacant(slot) => {
                slot.insert(m);
                first.push(m);
            }
        }
    }
    Some(first)
}

/// Reports "expected {expected}, found {kind}".
pub fn wrong_type(d: &mut Diagnostics, value: &Value, ptr: &str, expected: &str) {
    d.error(
        value.pos,
        ptr,
        format!("expected {expected}, found {}", value.kind.describe()),
    );
}

/// The elements of an array.
pub fn array<'v>(d: &mut Diagnostics, value: &'v Value, ptr: &str) -> Option<&'v [Value]> {
    match &value.kind {
        Kind::Array(items) => Some(items),
        _ => {
            wrong_type(d, value, ptr, "an array");
            None
        }
    }
}

/// A string.
pub fn string<'v>(d: &mut Diagnostics, value: &'v Value, ptr: &str) -> Option<&'v str> {
    match &value.kind {
        Kind::String(s) => Some(s),
        _ => {
            wrong_type(d, value, ptr, "a string");
            None
        }
    }
}

/// The text of a string value, unchecked: after a reported error, readers
/// keep a broken name or path this way so that references to its object
/// still resolve instead of piling up "unknown …" errors.
pub fn raw_string(value: &Value) -> Option<String> {
    match &value.kind {
        Kind::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A boolean.
pub fn boolean(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<bool> {
    match value.kind {
        Kind::Bool(b) => Some(b),
        _ => {
            wrong_type(d, value, ptr, "a boolean");
            None
        }
    }
}

/// An integer of any size the inventory can hold; callers check the range.
pub fn integer(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<i128> {
    match &value.kind {
        Kind::Number(text) if is_integer_text(text) => match text.parse::<i128>() {
            Ok(n) => Some(n),
            Err(_) => {
                d.error(value.pos, ptr, format!("{text} is out of range"));
                None
            }
        },
        _ => {
            wrong_type(d, value, ptr, "an integer");
            None
        }
    }
}

/// An integer within `lo..=hi`; out of range gives "N is out of range lo–hi{unit}".
pub fn int_in(
    d: &mut Diagnostics,
    value: &Value,
    ptr: &str,
    lo: i128,
    hi: i128,
    unit: &str,
) -> Option<i128> {
    let n = integer(d, value, ptr)?;
    if n < lo || n > hi {
        d.error(
            value.pos,
            ptr,
            format!("{n} is out of range {lo}–{hi}{unit}"),
        );
        return None;
    }
    Some(n)
}

/// A number (integer or not).
pub fn number(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<f64> {
    match &value.kind {
        Kind::Number(text) => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .or_else(|| {
                d.error(value.pos, ptr, format!("{text} is out of range"));
                None
            }),
        _ => {
            wrong_type(d, value, ptr, "a number");
            None
        }
    }
}

/// Free text: a string of at most `max` characters without control characters
/// (data-model.md §1). White space is kept as written.
pub fn text(d: &mut Diagnostics, value: &Value, ptr: &str, max: usize) -> Option<String> {
    let s = string(d, value, ptr)?;
    check_text(d, value.pos, ptr, s, max).then(|| s.to_string())
}

/// The rules of [`text`] on a string already read (e.g. an object key).
pub fn check_text(d: &mut Diagnostics, pos: Pos, ptr: &str, s: &str, max: usize) -> bool {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        d.error(
            pos,
            ptr,
            format!(
                "contains the control character U+{:04X}; remove it",
                c as u32
            ),
        );
        return false;
    }
    let n = s.chars().count();
    if n > max {
        d.error(
            pos,
            ptr,
            format!("expected at most {max} characters, found {n}"),
        );
        return false;
    }
    true
}

/// Remembers where each natural key was first used, to report duplicates.
pub struct FirstSeen<K> {
    seen: HashMap<K, String>,
}

impl<K: Eq + Hash> FirstSeen<K> {
    /// Nothing seen yet.
    pub fn new() -> Self {
        FirstSeen {
            seen: HashMap::new(),
        }
    }

    /// `None` the first time `key` is offered (remembering `ptr`); afterwards
    /// the pointer of its first use.
    pub fn check(&mut self, key: K, ptr: &str) -> Option<String> {
        match self.seen.entry(key) {
            Entry::Occupied(first) => Some(first.get().clone()),
            Entry::Vacant(slot) => {
                slot.insert(ptr.to_string());
                None
            }
        }
    }
}

/// Natural keys of one kind ("site name", "arch name"), reporting a key used
/// twice as `{what} "{name}" is already used at {first}`.
pub struct UniqueNames {
    what: &'static str,
    seen: FirstSeen<String>,
}

impl UniqueNames {
    /// Nothing seen yet; `what` names the kind of key in messages.
    pub fn new(what: &'static str) -> UniqueNames {
        UniqueNames {
            what,
            seen: FirstSeen::new(),
        }
    }

    /// Records `key` (the name as the database compares it) for the object at
    /// `owner`; when an earlier object has it, reports `name` at `at` (the
    /// name's value and pointer).
    pub fn check(
        &mut self,
        d: &mut Diagnostics,
        key: String,
        name: &str,
        at: (Pos, &str),
        owner: &str,
    ) {
        if let Some(first) = self.seen.check(key, owner) {
            d.error(
                at.0,
                at.1,
                format!("{} \"{name}\" is already used at {first}", self.what),
            );
        }
    }
}

/// The candidate closest to `given` by edit distance (ignoring case, a swap of
/// two neighbours counting as one edit), when
/// close enough to be a plausible typo: at most a third of the longer word
/// differs.
pub fn nearest<'c>(given: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(&given.to_lowercase(), c), c))
        .filter(|(dist, c)| dist * 3 <= given.chars().count().max(c.chars().count()))
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::json::parse;

    #[test]
    fn suggests_near_names_only() {
        let fields = ["bandwidth", "name", "country", "asn"];
        assert_eq!(nearest("bandwith", fields), Some("bandwidth"));
        assert_eq!(nearest("Country", fields), Some("country"));
        assert_eq!(nearest("arch", fields), None);
        assert_eq!(nearest("zzz", fields), None);
    }

    #[test]
    fn reads_objects() {
        let v = parse("{\"name\": 1, \"nmae\": true, \"name\": 2}").expect("json");
        let mut d = Diagnostics::new("f");
        let obj = Obj::open(&mut d, &v, "/x", &["name", "size"]).expect("object");
        assert!(obj.required(&mut d, "size").is_none());
        let name = obj
            .get("name")
            .and_then(|v| int_in(&mut d, v, &obj.at("name"), 5, 9, " (Mbit/s)"));
        assert_eq!(name, None);
        let out: Vec<String> = d.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            out,
            [
                "f:1:1: /x: missing field \"size\"",
                "f:1:10: /x/name: 1 is out of range 5–9 (Mbit/s)",
                "f:1:13: /x/nmae: unknown field \"nmae\"; did you mean \"name\"?",
                "f:1:27: /x/name: duplicate key \"name\" (first at line 1)",
            ]
        );
    }
}
