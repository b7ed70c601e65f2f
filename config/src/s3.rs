//! `[store.s3]`: the S3 settings both binaries read (control-plane.md §10), each resolved from
//! the first source that sets it: `<PREFIX>STORE__S3__<KEY>`, the file, the standard AWS
//! variable, the default. The AWS variables sit below the file so that a configuration file
//! meant for one store is not silently redirected by a shell that happens to hold credentials
//! for another.

use std::fmt;

use crate::values::{conv_bool, conv_opt_string, want_str};
use crate::{ConfigError, Origin, Sources};

/// `store.s3.conditional_put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConditionalPut {
    /// `etag` (default): the manifest swap is conditional on the ETag read at the start.
    #[default]
    Etag,
    /// `disabled`: for stores without conditional writes; the publisher lock alone excludes.
    Disabled,
}

impl ConditionalPut {
    /// As written in the configuration: `etag` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionalPut::Etag => "etag",
            ConditionalPut::Disabled => "disabled",
        }
    }
}

/// `[store.s3]` (control-plane §10), resolved in the order `<PREFIX>STORE__S3__<KEY>`, file,
/// AWS variables, default.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL; `None`: AWS's endpoint for the region. (`AWS_ENDPOINT_URL_S3`, else
    /// `AWS_ENDPOINT_URL`.)
    pub endpoint: Option<String>,
    /// Region. (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.)
    pub region: String,
    /// Access key id (`AWS_ACCESS_KEY_ID`); `None`: anonymous.
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Session token (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Allow `http://` endpoints (`AWS_ALLOW_HTTP`). Default false.
    pub allow_http: bool,
    /// Virtual-hosted addressing instead of path-style. Default false.
    pub virtual_hosted: bool,
    /// Manifest write condition (§7.5). Default `etag`.
    pub conditional_put: ConditionalPut,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".to_string(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            virtual_hosted: false,
            conditional_put: ConditionalPut::Etag,
        }
    }
}

impl fmt::Debug for S3Config {
    /// Credentials (key id, secret, session token) are masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &mask(&self.access_key_id))
            .field("secret_access_key", &mask(&self.secret_access_key))
            .field("session_token", &mask(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted", &self.virtual_hosted)
            .field("conditional_put", &self.conditional_put)
            .finish()
    }
}

/// `"etag"` or `"disabled"`.
fn conv_conditional_put(v: &toml::Value) -> Result<ConditionalPut, String> {
    match want_str(v, "\"etag\" or \"disabled\"")?.as_str() {
        "etag" => Ok(ConditionalPut::Etag),
        "disabled" => Ok(ConditionalPut::Disabled),
        other => Err(format!(
            "expected \"etag\" or \"disabled\", got \"{other}\""
        )),
    }
}

/// `AWS_ALLOW_HTTP`'s spellings of a boolean.
fn truthy(name: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::new(
            Some("store.s3.allow_http"),
            format!("expected true or false, got \"{text}\""),
            Some(format!("environment variable {name}")),
        )),
    }
}

impl S3Config {
    /// The keys, in the order [`S3Config::resolve`] reports their origins.
    pub const KEYS: [&'static str; 8] = [
        "store.s3.endpoint",
        "store.s3.region",
        "store.s3.access_key_id",
        "store.s3.secret_access_key",
        "store.s3.session_token",
        "store.s3.allow_http",
        "store.s3.virtual_hosted",
        "store.s3.conditional_put",
    ];

    /// The secret keys, which may be given as `<key>_file`.
    pub const FILE_KEYS: [&'static str; 3] = [
        "store.s3.access_key_id",
        "store.s3.secret_access_key",
        "store.s3.session_token",
    ];

    /// Resolves `[store.s3]` from `sources` (whose schema lists [`S3Config::KEYS`]), with where
    /// each value came from, in the order of [`S3Config::KEYS`].
    pub fn resolve(sources: &Sources) -> Result<(S3Config, [Origin; 8]), ConfigError> {
        let d = S3Config::default();
        let set = |key: &str| sources.origin(key).cloned().unwrap_or(Origin::Default);
        let aws = |names: &[&'static str]| {
            sources
                .first_env(names)
                .map(|(v, n)| (v, Origin::Aws(n.to_string())))
        };
        // A value from the prefixed variable or the file, else the AWS variable, else none.
        let layered = |key: &str, names: &[&'static str]| -> Result<_, ConfigError> {
            Ok(match sources.get(key, conv_opt_string)? {
                Some(v) => (v, set(key)),
                None => match aws(names) {
                    Some((v, o)) => (Some(v), o),
                    None => (None, Origin::Default),
                },
            })
        };
        let (endpoint, o_endpoint) = layered(
            "store.s3.endpoint",
            &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
        )?;
        let (region, o_region) = layered("store.s3.region", &["AWS_REGION", "AWS_DEFAULT_REGION"])?;
        // An empty region in the file or the prefixed variable means the default, not AWS's.
        let region = region.unwrap_or(d.region);
        let (access_key_id, o_access) = layered("store.s3.access_key_id", &["AWS_ACCESS_KEY_ID"])?;
        let (secret_access_key, o_secret) =
            layered("store.s3.secret_access_key", &["AWS_SECRET_ACCESS_KEY"])?;
        let (session_token, o_token) = layered("store.s3.session_token", &["AWS_SESSION_TOKEN"])?;
        let (allow_http, o_http) = match sources.get("store.s3.allow_http", conv_bool)? {
            Some(v) => (v, set("store.s3.allow_http")),
            None => match sources.first_env(&["AWS_ALLOW_HTTP"]) {
                Some((v, name)) => (truthy(name, &v)?, Origin::Aws(name.to_string())),
                None => (d.allow_http, Origin::Default),
            },
        };
        let virtual_hosted = sources.or("store.s3.virtual_hosted", d.virtual_hosted, conv_bool)?;
        let conditional_put = sources.or(
            "store.s3.conditional_put",
            d.conditional_put,
            conv_conditional_put,
        )?;
        let s3 = S3Config {
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            session_token,
            allow_http,
            virtual_hosted,
            conditional_put,
        };
        let origins = [
            o_endpoint,
            o_region,
            o_access,
            o_secret,
            o_token,
            o_http,
            set("store.s3.virtual_hosted"),
            set("store.s3.conditional_put"),
        ];
        Ok((s3, origins))
    }
}
