//! Value parsers: one function per kind of value. The `parse_*` functions read text (they are
//! also the binaries' flag parsers); the `conv_*` functions read a TOML value (from the file,
//! or an environment variable read as TOML) and give a one-line message naming what was
//! expected when it does not fit. `format_*` write a value back the way it is parsed, for
//! `mirrorfleet config show`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mirrorfleet_snapshot::net::{Prefix, PrefixError};

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

/// A duration as [`parse_duration`] reads it, largest units first: `1h30m`, `250ms`, `0s`.
/// Below a millisecond is dropped (no setting is finer).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= per {
            out.push_str(&format!("{}{unit}", ms / per));
            ms %= per;
        }
    }
    out
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

/// A size as [`parse_size`] reads it: the largest binary unit that divides it (`16MiB`),
/// else the number of bytes.
pub fn format_size(n: u64) -> String {
    for (unit, per) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n > 0 && n.is_multiple_of(per) {
            return format!("{}{unit}", n / per);
        }
    }
    n.to_string()
}

/// A listen address: `IP:PORT`, `[IPv6]:PORT`, or a bare IP (`127.0.0.1`, `::1`, `[::1]`)
/// taking `default_port`. Host names are refused: a listen address is chosen, not looked up.
pub fn parse_listen(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Ok(ip) = v6.parse::<Ipv6Addr>()
    {
        return Ok(SocketAddr::new(IpAddr::V6(ip), default_port));
    }
    Err(format!(
        "invalid listen address \"{text}\": expected IP:PORT, [IPv6]:PORT or a bare IP address \
         (port {default_port}), e.g. \"0.0.0.0:{default_port}\", \"[::]:{default_port}\", \
         \"::1\"; host names are not accepted"
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

/// Where a store URL points, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `file://PATH`: everything after `file://`; a relative path is relative to the working
    /// directory.
    File(PathBuf),
    /// `s3://BUCKET/PREFIX`; `prefix` has no leading or trailing `/` and may be empty.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket.
        prefix: String,
    },
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
        return parse_s3(text, rest);
    }
    Err(format!(
        "invalid store URL \"{text}\": expected file://PATH or s3://BUCKET/PREFIX"
    ))
}

/// `s3://bucket[/prefix…]` (`rest` follows `s3://`). The prefix may have several segments; a
/// trailing `/` is ignored. Refused: an empty or malformed bucket, credentials (never echoed),
/// a host or port, a query string or fragment, empty, `.` or `..` segments.
fn parse_s3(text: &str, rest: &str) -> Result<StoreLocation, String> {
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.contains('@') {
        // Not echoed: whatever precedes '@' may be a secret.
        return Err(
            "the s3:// store URL must not carry credentials (user:password@); set \
                    store.s3.access_key_id and store.s3.secret_access_key instead"
                .into(),
        );
    }
    if text.contains('?') || text.contains('#') {
        return Err(format!(
            "invalid store URL \"{text}\": query strings and fragments are not supported (S3 \
             settings are the store.s3.* keys)"
        ));
    }
    if bucket.is_empty() {
        return Err(format!(
            "invalid store URL \"{text}\": no bucket after s3://"
        ));
    }
    if bucket.contains(':') {
        return Err(format!(
            "invalid store URL \"{text}\": s3://bucket takes no host or port; set the server \
             with store.s3.endpoint"
        ));
    }
    let b = bucket.as_bytes();
    let bucket_ok = (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-._".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric();
    if !bucket_ok {
        return Err(format!(
            "invalid store URL \"{text}\": \"{bucket}\" is not a valid bucket name (3 to 63 \
             characters: lower-case letters, digits, '-', '.', '_', starting and ending with a \
             letter or digit)"
        ));
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    if !path.is_empty()
        && let Some(bad) = path
            .split('/')
            .find(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(format!(
            "invalid store URL \"{text}\": the prefix has an invalid segment \"{bad}\" (empty, \
             '.' and '..' are not allowed)"
        ));
    }
    Ok(StoreLocation::S3 {
        bucket: bucket.to_string(),
        prefix: path.to_string(),
    })
}

/// A log level (`trace` … `off`, lower-cased) or a `tracing` filter with `=` or `,`
/// (`info,mirrorfleet_edge=debug`), checked by `tracing_subscriber`'s own parser.
pub fn parse_log_level(text: &str) -> Result<String, String> {
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

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// As written in the configuration: `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------------------------

/// A TOML value as a message shows it: `integer 5`, `an array`, `string "x"`.
pub fn describe_value(v: &toml::Value) -> String {
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

/// The string in `v`, else "expected `what`".
pub fn want_str(v: &toml::Value, what: &str) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        _ => Err(format!("expected {what}, got {}", describe_value(v))),
    }
}

/// Any string, empty included.
pub fn conv_string(v: &toml::Value) -> Result<String, String> {
    want_str(v, "a string")
}

/// A string that must not be empty.
pub fn conv_nonempty_string(v: &toml::Value) -> Result<String, String> {
    let s = want_str(v, "a string")?;
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(s)
}

/// An optional string: empty is unset.
pub fn conv_opt_string(v: &toml::Value) -> Result<Option<String>, String> {
    let s = want_str(v, "a string")?;
    Ok((!s.is_empty()).then_some(s))
}

/// An optional path: empty is unset.
pub fn conv_opt_path(v: &toml::Value) -> Result<Option<PathBuf>, String> {
    let s = want_str(v, "a path")?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

/// A path that must not be empty.
pub fn conv_path(v: &toml::Value) -> Result<PathBuf, String> {
    let s = want_str(v, "a path")?;
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(PathBuf::from(s))
}

/// `true` or `false`.
pub fn conv_bool(v: &toml::Value) -> Result<bool, String> {
    match v {
        toml::Value::Boolean(b) => Ok(*b),
        _ => Err(format!("expected true or false, got {}", describe_value(v))),
    }
}

/// A duration string; a bare `0` is zero, any other bare number is refused (its unit would be
/// a guess).
pub fn conv_duration(v: &toml::Value) -> Result<Duration, String> {
    match v {
        toml::Value::String(s) => parse_duration(s),
        toml::Value::Integer(0) => Ok(Duration::ZERO),
        toml::Value::Integer(n) => Err(format!(
            "a duration needs a unit: write \"{n}s\" or \"{n}ms\", not {n}"
        )),
        _ => Err(format!(
            "expected a duration such as \"10s\", got {}",
            describe_value(v)
        )),
    }
}

/// A size: an integer number of bytes, or a string with a unit ([`parse_size`]).
pub fn conv_size(v: &toml::Value) -> Result<usize, String> {
    let n = match v {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| format!("expected a size, got the negative {n}"))?
        }
        toml::Value::String(s) => parse_size(s)?,
        _ => {
            return Err(format!(
                "expected a size such as \"16KiB\", got {}",
                describe_value(v)
            ));
        }
    };
    usize::try_from(n).map_err(|_| format!("size {n} is too large"))
}

/// An integer that fits `T`.
pub fn conv_int<T: TryFrom<i64>>(v: &toml::Value) -> Result<T, String> {
    match v {
        toml::Value::Integer(n) => T::try_from(*n).map_err(|_| format!("{n} is out of range")),
        _ => Err(format!("expected an integer, got {}", describe_value(v))),
    }
}

/// A fraction from 0 to 1 (`0.25`; `0` and `1` may be written as integers).
pub fn conv_fraction(v: &toml::Value) -> Result<f64, String> {
    let f = match v {
        toml::Value::Float(f) => *f,
        toml::Value::Integer(n) => *n as f64,
        _ => {
            return Err(format!(
                "expected a number from 0 to 1 such as 0.25, got {}",
                describe_value(v)
            ));
        }
    };
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("expected a number from 0 to 1, got {f}"));
    }
    Ok(f)
}

/// A list given as a TOML array of strings, or as one string (comma-separated, for
/// environment variables).
pub fn conv_list<T>(
    v: &toml::Value,
    each: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match v {
        toml::Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(&each)
            .collect(),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => each(s),
                _ => Err(format!(
                    "expected a list of strings, found {}",
                    describe_value(i)
                )),
            })
            .collect(),
        _ => Err(format!(
            "expected a list of strings, got {}",
            describe_value(v)
        )),
    }
}

/// A list of strings ([`conv_list`]).
pub fn conv_strings(v: &toml::Value) -> Result<Vec<String>, String> {
    conv_list(v, |s| Ok(s.to_string()))
}

/// A list of networks ([`parse_network`]).
pub fn conv_networks(v: &toml::Value) -> Result<Vec<Prefix>, String> {
    conv_list(v, parse_network)
}

/// `"text"` or `"json"`.
pub fn conv_log_format(v: &toml::Value) -> Result<LogFormat, String> {
    match want_str(v, "\"text\" or \"json\"")?.as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected \"text\" or \"json\", got \"{other}\"")),
    }
}

/// A log level or filter ([`parse_log_level`]).
pub fn conv_log_level(v: &toml::Value) -> Result<String, String> {
    parse_log_level(&want_str(v, "a log level")?)
}

/// An optional store URL ([`parse_store_url`]); empty is unset.
pub fn conv_store_url(v: &toml::Value) -> Result<Option<String>, String> {
    let s = want_str(v, "a URL")?;
    if s.is_empty() {
        return Ok(None);
    }
    parse_store_url(&s)?;
    Ok(Some(s))
}
