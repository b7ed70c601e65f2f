//! Value parsers: one function per kind of value. The `parse_*` functions read text (they are
//! also the flags' value parsers and are re-exported from [`super`]); the `conv_*` functions
//! read a TOML value (from the file, or an environment variable read as TOML) and give a
//! one-line message naming what was expected when it does not fit.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mirrorfleet_snapshot::net::{Prefix, PrefixError};

use super::{ConditionalPut, DEFAULT_PORT, LogFormat, MAX_EDGE_ID_LEN, StoreLocation, StoreWrite};

// ---------------------------------------------------------------------------------------------
// Text (also used for the flags)
// ---------------------------------------------------------------------------------------------

/// A duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`, `d` (`500ms`,
/// `10s`, `5m`, `1h30m`, `2d`); `0` alone is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration \"{text}\": expected a number and a unit (ms, s, m, h, d), \
             e.g. \"500ms\", \"10s\", \"5m\", \"1h30m\", \"2d\""
        )
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let b = text.as_bytes();
    let (mut i, mut total_ms) = (0usize, 0u64);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: u64 = text[start..i]
            .parse()
            .map_err(|_| format!("duration \"{text}\" is too long"))?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let ms_per_unit: u64 = match &text[unit_start..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        total_ms = n
            .checked_mul(ms_per_unit)
            .and_then(|x| total_ms.checked_add(x))
            .ok_or_else(|| format!("duration \"{text}\" is too long"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// A size in bytes: a number, optionally followed by `B`, `KiB`, `MiB`, `GiB` (powers of
/// 1024) or `kB`, `MB`, `GB` (powers of 1000); units are case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size \"{text}\": expected a number of bytes with an optional unit \
             (B, KiB, MiB, GiB, kB, MB, GB), e.g. \"4096\", \"16KiB\", \"1MiB\""
        )
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("size \"{text}\" is too large"))?;
    let unit = text[digits..].trim_start_matches(' ').to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size \"{text}\" is too large"))
}

/// A listen address: `IP:PORT`, `[IPv6]:PORT`, or a bare IP (`127.0.0.1`, `::1`, `[::1]`)
/// taking port [`DEFAULT_PORT`] (E88).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Ok(ip) = v6.parse::<Ipv6Addr>()
    {
        return Ok(SocketAddr::new(IpAddr::V6(ip), DEFAULT_PORT));
    }
    Err(format!(
        "invalid listen address \"{text}\": expected IP:PORT, [IPv6]:PORT or a bare IP address \
         (port {DEFAULT_PORT}), e.g. \"0.0.0.0:8081\", \"[::]:8081\", \"::1\"; host names are \
         not accepted"
    ))
}

/// A network: strict CIDR (`10.0.0.0/8`, `2001:db8::/32`, host bits zero), or a bare address
/// taken as a host prefix (`/32`, `/128`).
pub fn parse_network(text: &str) -> Result<Prefix, String> {
    let parsed = if text.contains('/') {
        text.parse::<Prefix>()
    } else {
        Prefix::parse_lenient(text)
    };
    parsed.map_err(|e| match e {
        PrefixError::Syntax(_) => format!(
            "{e} (expected a CIDR such as \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address)"
        ),
        PrefixError::HostBits { .. } => e.to_string(),
    })
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

/// A store URL: `file://PATH` (everything after `file://`) or `s3://BUCKET[/PREFIX]`.
pub fn parse_store_url(text: &str) -> Result<StoreLocation, String> {
    if let Some(path) = text.strip_prefix("file://") {
        if path.is_empty() {
            return Err(format!(
                "invalid store URL \"{text}\": no path after file://"
            ));
        }
        return Ok(StoreLocation::File(PathBuf::from(path)));
    }
    if let Some(rest) = text.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "invalid store URL \"{text}\": no bucket after s3://"
            ));
        }
        return Ok(StoreLocation::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        });
    }
    Err(format!(
        "invalid store URL \"{text}\": expected file://PATH or s3://BUCKET/PREFIX"
    ))
}

fn parse_log_level(text: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let lower = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    if text.contains('=') || text.contains(',') {
        return tracing_subscriber::EnvFilter::try_new(text)
            .map(|_| text.to_string())
            .map_err(|e| format!("invalid log filter \"{text}\": {e}"));
    }
    Err(format!(
        "invalid log level \"{text}\": expected trace, debug, info, warn, error, off, or a filter \
         such as \"info,mirrorfleet_edge=debug\""
    ))
}

// ---------------------------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------------------------

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::Array(_) | toml::Value::Table(_) => format!(
            "a{} {}",
            if matches!(v, toml::Value::Array(_)) {
                "n"
            } else {
                ""
            },
            v.type_str()
        ),
        _ => format!("{} {v}", v.type_str()),
    }
}

pub(super) fn want_str(v: &toml::Value, what: &str) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        _ => Err(format!("expected {what}, got {}", describe(v))),
    }
}

pub(super) fn conv_opt_string(v: &toml::Value) -> Result<Option<String>, String> {
    let s = want_str(v, "a string")?;
    Ok((!s.is_empty()).then_some(s))
}

pub(super) fn conv_opt_path(v: &toml::Value) -> Result<Option<PathBuf>, String> {
    let s = want_str(v, "a path")?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

pub(super) fn conv_path(v: &toml::Value) -> Result<PathBuf, String> {
    let s = want_str(v, "a path")?;
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(PathBuf::from(s))
}

pub(super) fn conv_bool(v: &toml::Value) -> Result<bool, String> {
    match v {
        toml::Value::Boolean(b) => Ok(*b),
        _ => Err(format!("expected true or false, got {}", describe(v))),
    }
}

pub(super) fn conv_duration(v: &toml::Value) -> Result<Duration, String> {
    match v {
        toml::Value::String(s) => parse_duration(s),
        toml::Value::Integer(0) => Ok(Duration::ZERO),
        toml::Value::Integer(n) => Err(format!(
            "a duration needs a unit: write \"{n}s\" or \"{n}ms\", not {n}"
        )),
        _ => Err(format!(
            "expected a duration such as \"10s\", got {}",
            describe(v)
        )),
    }
}

pub(super) fn conv_size(v: &toml::Value) -> Result<usize, String> {
    let n = match v {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| format!("expected a size, got the negative {n}"))?
        }
        toml::Value::String(s) => parse_size(s)?,
        _ => {
            return Err(format!(
                "expected a size such as \"16KiB\", got {}",
                describe(v)
            ));
        }
    };
    usize::try_from(n).map_err(|_| format!("size {n} is too large"))
}

pub(super) fn conv_int<T: TryFrom<i64>>(v: &toml::Value) -> Result<T, String> {
    match v {
        toml::Value::Integer(n) => T::try_from(*n).map_err(|_| format!("{n} is out of range")),
        _ => Err(format!("expected an integer, got {}", describe(v))),
    }
}

/// A list given as a TOML array of strings, or as one string (comma-separated, for
/// environment variables).
fn conv_list<T>(v: &toml::Value, each: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    match v {
        toml::Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(each)
            .collect(),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => each(s),
                _ => Err(format!("expected a list of strings, found {}", describe(i))),
            })
            .collect(),
        _ => Err(format!("expected a list of strings, got {}", describe(v))),
    }
}

pub(super) fn conv_networks(v: &toml::Value) -> Result<Vec<Prefix>, String> {
    conv_list(v, parse_network)
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
            describe(v)
        )),
    }
}

pub(super) fn conv_log_format(v: &toml::Value) -> Result<LogFormat, String> {
    match want_str(v, "\"text\" or \"json\"")?.as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected \"text\" or \"json\", got \"{other}\"")),
    }
}

pub(super) fn conv_log_level(v: &toml::Value) -> Result<String, String> {
    parse_log_level(&want_str(v, "a log level")?)
}

pub(super) fn conv_conditional_put(v: &toml::Value) -> Result<ConditionalPut, String> {
    match want_str(v, "\"etag\" or \"disabled\"")?.as_str() {
        "etag" => Ok(ConditionalPut::Etag),
        "disabled" => Ok(ConditionalPut::Disabled),
        other => Err(format!(
            "expected \"etag\" or \"disabled\", got \"{other}\""
        )),
    }
}

pub(super) fn conv_edge_id(v: &toml::Value) -> Result<String, String> {
    parse_edge_id(&want_str(v, "a string")?)
}

pub(super) fn conv_store_url(v: &toml::Value) -> Result<Option<String>, String> {
    let s = want_str(v, "a URL")?;
    if s.is_empty() {
        return Ok(None);
    }
    parse_store_url(&s)?;
    Ok(Some(s))
}
