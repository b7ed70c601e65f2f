//! The edge's own value parsers: the seed, the edge id and its default, `store.write`, and
//! listen addresses with the edge's default port. Every other kind of value (durations,
//! sizes, networks, store URLs, …) is parsed by `mirrorfleet_config::values`, shared with the
//! control plane.

use std::net::SocketAddr;

use mirrorfleet_config::values::{conv_list, describe_value, want_str};

use super::{DEFAULT_PORT, MAX_EDGE_ID_LEN, StoreWrite};

/// A listen address: `IP:PORT`, `[IPv6]:PORT`, or a bare IP (`127.0.0.1`, `::1`, `[::1]`)
/// taking port [`DEFAULT_PORT`] (E88).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    mirrorfleet_config::parse_listen(text, DEFAULT_PORT)
}

/// A seed: exactly 64 hex digits (32 bytes).
pub fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return Err(format!(
            "invalid seed: expected 64 hex digits (32 bytes), got {} characters",
            text.chars().count()
        ));
    }
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| "invalid seed: expected 64 hex digits (0-9, a-f)".to_string())?;
    Ok(out)
}

/// An edge id: 1–64 characters of `A-Za-z0-9._-` (E80).
pub fn parse_edge_id(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > MAX_EDGE_ID_LEN || !text.bytes().all(is_edge_id_byte) {
        return Err(format!(
            "invalid edge id \"{text}\": expected 1-{MAX_EDGE_ID_LEN} characters of A-Z, a-z, 0-9, \
             '.', '_' and '-'"
        ));
    }
    Ok(text.to_string())
}

fn is_edge_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The default edge id: `host` + `-` + `port`, characters outside `A-Za-z0-9._-` replaced by
/// `-`, the host part cut so the whole has at most 64 characters.
pub fn default_edge_id(host: &str, port: u16) -> String {
    let suffix = format!("-{port}");
    let mut id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii() && is_edge_id_byte(c as u8) {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.truncate(MAX_EDGE_ID_LEN - suffix.len()); // all ASCII now
    id.push_str(&suffix);
    id
}

/// This machine's host name: `/proc/sys/kernel/hostname`, else `gethostname(2)`, else
/// `localhost`.
pub fn host_name() -> String {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let s = s.trim();
        if !s.is_empty() {
            return s.to_string();
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let s = String::from_utf8_lossy(&buf[..end]).trim().to_string();
        if !s.is_empty() {
            return s;
        }
    }
    "localhost".to_string()
}

pub(super) fn conv_listen(v: &toml::Value) -> Result<Vec<SocketAddr>, String> {
    conv_list(v, parse_listen)
}

pub(super) fn conv_seed(v: &toml::Value) -> Result<Option<[u8; 32]>, String> {
    let s = want_str(v, "64 hex digits in a string")?;
    if s.is_empty() {
        return Ok(None);
    }
    parse_seed(&s).map(Some)
}

pub(super) fn conv_store_write(v: &toml::Value) -> Result<StoreWrite, String> {
    match v {
        toml::Value::Boolean(true) => Ok(StoreWrite::True),
        toml::Value::Boolean(false) => Ok(StoreWrite::False),
        toml::Value::String(s) if s == "auto" => Ok(StoreWrite::Auto),
        toml::Value::String(s) if s == "true" => Ok(StoreWrite::True),
        toml::Value::String(s) if s == "false" => Ok(StoreWrite::False),
        _ => Err(format!(
            "expected \"auto\", true or false, got {}",
            describe_value(v)
        )),
    }
}

pub(super) fn conv_edge_id(v: &toml::Value) -> Result<String, String> {
    parse_edge_id(&want_str(v, "a string")?)
}
