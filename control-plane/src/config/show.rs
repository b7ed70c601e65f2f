//! `mirrorfleet config show`: the effective configuration, one `key = value  # origin` line per
//! key, secrets masked. Values are written as TOML (durations and sizes in the syntax the file
//! takes; an unset optional string is `""`, an unset list `[]`), so a line can be pasted into a
//! configuration file, masked secrets aside.

use toml::Value;

use super::Config;

/// What replaces a secret.
const MASK: &str = "***";

/// A key whose value is a secret: `secret_access_key`, `session_token`, `auth.oidc` client
/// secrets, passwords.
fn is_secret(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    ["secret", "password", "token", "private_key"]
        .iter()
        .any(|word| last.contains(word))
}

/// Keys holding URLs that may carry a password.
fn is_url_with_password(key: &str) -> bool {
    matches!(key, "database.url" | "notify.smtp_url")
}

/// `value` as `config show` may print it: secrets replaced by `***` (an unset secret stays
/// `""`), passwords inside URLs masked.
pub(super) fn masked(key: &str, value: Value) -> Value {
    match value {
        Value::String(s) if is_url_with_password(key) => Value::String(mask_url(&s)),
        Value::String(s) if s.is_empty() => Value::String(s),
        _ if is_secret(key) => Value::String(MASK.to_string()),
        v => v,
    }
}

/// A URL with the password of its user information (`user:***@host`) and any `password=`
/// query parameter masked.
pub(super) fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}={MASK}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl Config {
    /// The text of `mirrorfleet config show`: a comment naming the configuration file, then
    /// one `section.key = value  # origin` line per key.
    pub fn show(&self) -> String {
        let mut out = match &self.file {
            Some(path) => format!("# configuration file: {}\n", path.display()),
            None => "# no configuration file: defaults, environment and flags\n".to_string(),
        };
        for s in &self.settings {
            out.push_str(&format!("{} = {}  # {}\n", s.key, s.value, s.origin));
        }
        out
    }
}
