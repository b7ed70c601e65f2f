//! S3 object stores (control-plane.md §7.4, §10 `store.s3.*`): the `s3://bucket/prefix` URL and
//! the `object_store` S3 client built from the effective settings.
//!
//! Credentials never appear in an error or in `Debug` output: [`S3Config`] masks them, the
//! messages here name the configuration keys, never their values, and a URL carrying
//! credentials (`s3://key:secret@bucket`) is refused without being echoed.

use mirrorfleet_config::StoreLocation;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{ClientOptions, RetryConfig};

/// The effective `[store.s3]` settings are the configuration crate's [`S3Config`]: one type
/// for the loader, `config show`, the edge and this client (its `Debug` masks the secrets).
pub use mirrorfleet_config::{ConditionalPut, S3Config};

/// The region when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// `s3://bucket/prefix`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (empty: the bucket's root).
    pub prefix: Path,
}

/// Parses `s3://bucket[/prefix…]` with the configuration's store URL parser
/// ([`mirrorfleet_config::parse_store_url`], which the configuration already applied to
/// `store.url`: one set of rules for the control plane and the edge).
pub fn parse_s3_url(url: &str) -> anyhow::Result<S3Url> {
    match mirrorfleet_config::parse_store_url(url).map_err(anyhow::Error::msg)? {
        StoreLocation::S3 { bucket, prefix } => Ok(S3Url {
            prefix: Path::parse(&prefix)
                .map_err(|e| anyhow::anyhow!("store URL {url:?}: invalid prefix: {e}"))?,
            bucket,
        }),
        StoreLocation::File(_) => anyhow::bail!(
            "store URL {url:?} is not an S3 URL (expected s3://bucket/prefix; the other store is \
             file://DIR)"
        ),
    }
}

/// The endpoint for virtual-hosted addressing: `object_store` expects the bucket in the host
/// of a custom endpoint, so `https://s3.example.net` becomes `https://bucket.s3.example.net`
/// (unchanged when it already starts with the bucket).
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    if rest.starts_with(&format!("{bucket}.")) {
        endpoint.to_string()
    } else {
        format!("{scheme}://{bucket}.{rest}")
    }
}

/// How hard the client tries before an error surfaces. The publisher keeps `object_store`'s
/// defaults (up to 10 retries within 3 minutes: a publish is worth waiting for); an edge polls
/// every few seconds and must notice an unreachable store at the next poll, not minutes later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// Retries of a failed request (0: none).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// A whole request, the body included.
    pub request_timeout: Duration,
}

/// Builds the S3 client for `url` from `settings`: (store, key prefix).
pub fn open(url: &str, settings: &S3Config) -> anyhow::Result<(AmazonS3, Path)> {
    open_with(url, settings, None)
}

/// [`open`] with [`ClientLimits`] (`None`: `object_store`'s defaults).
pub fn open_with(
    url: &str,
    settings: &S3Config,
    limits: Option<ClientLimits>,
) -> anyhow::Result<(AmazonS3, Path)> {
    let S3Url { bucket, prefix } = parse_s3_url(url)?;
    let region = Some(settings.region.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_REGION);
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region(region)
        .with_allow_http(settings.allow_http)
        .with_virtual_hosted_style_request(settings.virtual_hosted)
        .with_conditional_put(match settings.conditional_put {
            // If-None-Match: * for create-only writes, If-Match: <etag> for the manifest swap.
            ConditionalPut::Etag => S3ConditionalPut::ETagMatch,
            // No conditional header is ever sent; StoreHandle emulates create-only writes
            // under the publisher lock.
            ConditionalPut::Disabled => S3ConditionalPut::Disabled,
        });
    if let Some(ep) = set(&settings.endpoint) {
        if ep.contains('@') {
            anyhow::bail!(
                "store.s3.endpoint must not carry credentials (user:password@); set \
                 store.s3.access_key_id and store.s3.secret_access_key instead"
            );
        }
        let ep = ep.trim_end_matches('/');
        match ep.split_once("://").map(|(s, _)| s) {
            Some("https") => {}
            Some("http") if settings.allow_http => {}
            Some("http") => anyhow::bail!(
                "store.s3.endpoint {ep:?} is plain http: set store.s3.allow_http = true to allow it"
            ),
            _ => anyhow::bail!(
                "store.s3.endpoint {ep:?} must start with https:// (or http:// with \
                 store.s3.allow_http = true)"
            ),
        }
        b = b.with_endpoint(if settings.virtual_hosted {
            virtual_hosted_endpoint(ep, &bucket)
        } else {
            ep.to_string()
        });
    }
    match (
        set(&settings.access_key_id),
        set(&settings.secret_access_key),
    ) {
        (Some(id), Some(secret)) => {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(token) = set(&settings.session_token) {
                b = b.with_token(token);
            }
        }
        (Some(_), None) => anyhow::bail!(
            "store.s3.access_key_id is set but store.s3.secret_access_key is not (AWS variable \
             AWS_SECRET_ACCESS_KEY)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "store.s3.secret_access_key is set but store.s3.access_key_id is not (AWS variable \
             AWS_ACCESS_KEY_ID)"
        ),
        // No static credentials: the instance's role (metadata service, web identity, …).
        (None, None) => {
            if set(&settings.session_token).is_some() {
                anyhow::bail!(
                    "store.s3.session_token is set without store.s3.access_key_id and \
                     store.s3.secret_access_key"
                );
            }
        }
    }
    if let Some(l) = limits {
        b = b
            .with_retry(RetryConfig {
                max_retries: l.max_retries,
                retry_timeout: l.retry_timeout,
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(l.connect_timeout)
                    .with_timeout(l.request_timeout)
                    .with_allow_http(settings.allow_http),
            );
    }
    // The builder's own messages name no secret; keep only them.
    let store = b
        .build()
        .map_err(|e| anyhow::anyhow!("cannot open the S3 store s3://{bucket}: {e}"))?;
    Ok((store, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        parse_s3_url(url).unwrap_err().to_string()
    }

    #[test]
    fn good_urls() {
        let u = parse_s3_url("s3://mirrorfleet-prod").unwrap();
        assert_eq!(u.bucket, "mirrorfleet-prod");
        assert_eq!(u.prefix.as_ref(), "");
        let u = parse_s3_url("s3://bucket/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_ref()), ("bucket", ""));
        let u = parse_s3_url("s3://my.bucket/fedora/prod/").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_ref()),
            ("my.bucket", "fedora/prod")
        );
        let u = parse_s3_url("s3://b12/a/b/c").unwrap();
        assert_eq!(u.prefix.parts().count(), 3);
    }

    #[test]
    fn bad_urls() {
        assert_eq!(
            err("s3://"),
            "invalid store URL \"s3://\": no bucket after s3://"
        );
        assert_eq!(
            err("s3:///prefix"),
            "invalid store URL \"s3:///prefix\": no bucket after s3://"
        );
        assert_eq!(
            err("gs://bucket/x"),
            "invalid store URL \"gs://bucket/x\": expected file://PATH or s3://BUCKET/PREFIX"
        );
        assert_eq!(
            err("file:///srv/store"),
            "store URL \"file:///srv/store\" is not an S3 URL (expected s3://bucket/prefix; the \
             other store is file://DIR)"
        );
        assert!(
            err("s3://bucket/x?region=eu-west-1").contains("query strings and fragments are not"),
            "{}",
            err("s3://bucket/x?region=eu-west-1")
        );
        assert!(err("s3://bucket#frag").contains("query strings"));
        assert!(err("s3://bucket:9000/x").contains("store.s3.endpoint"));
        assert!(err("s3://Bucket/x").contains("not a valid bucket name"));
        assert!(err("s3://ab/x").contains("not a valid bucket name"));
        assert!(err("s3://-bucket/x").contains("not a valid bucket name"));
        assert!(err("s3://bucket/a//b").contains("invalid segment \"\""));
        assert!(err("s3://bucket/a/../b").contains("invalid segment \"..\""));
        // Credentials in the URL: refused without being echoed.
        let e = err("s3://AKIAEXAMPLE:s3cr3t@bucket/x");
        assert!(e.contains("must not carry credentials"), "{e}");
        assert!(!e.contains("s3cr3t") && !e.contains("AKIAEXAMPLE"), "{e}");
    }

    fn settings() -> S3Config {
        S3Config {
            endpoint: Some("http://127.0.0.1:9000".into()),
            access_key_id: Some("AKIAEXAMPLEKEYID".into()),
            secret_access_key: Some("very-secret-key".into()),
            session_token: Some("very-secret-token".into()),
            allow_http: true,
            ..S3Config::default()
        }
    }

    #[test]
    fn open_checks_settings() {
        let (_, prefix) = open("s3://bucket/a/b", &settings()).unwrap();
        assert_eq!(prefix.as_ref(), "a/b");
        let mut s = settings();
        s.allow_http = false;
        let e = open("s3://bucket", &s).unwrap_err().to_string();
        assert!(e.contains("store.s3.allow_http = true"), "{e}");
        let mut s = settings();
        s.endpoint = Some("ftp://host".into());
        let e = open("s3://bucket", &s).unwrap_err().to_string();
        assert!(e.contains("must start with https://"), "{e}");
        let mut s = settings();
        s.secret_access_key = None;
        let e = open("s3://bucket", &s).unwrap_err().to_string();
        assert!(e.contains("store.s3.secret_access_key is not"), "{e}");
        let mut s = settings();
        s.access_key_id = Some(String::new());
        let e = open("s3://bucket", &s).unwrap_err().to_string();
        assert!(e.contains("store.s3.access_key_id is not"), "{e}");
        assert!(!e.contains("very-secret"), "{e}");
        // No credentials at all is allowed (the instance's role).
        open("s3://bucket", &S3Config::default()).unwrap();
    }

    #[test]
    fn debug_masks_secrets() {
        let text = format!("{:?}", settings());
        assert!(!text.contains("very-secret"), "{text}");
        assert!(!text.contains("AKIAEXAMPLEKEYID"), "{text}");
        assert!(text.contains("access_key_id: Some(\"***\")"), "{text}");
        assert!(text.contains("session_token: Some(\"***\")"), "{text}");
        assert!(text.contains("http://127.0.0.1:9000"), "{text}");
    }

    #[test]
    fn virtual_hosted_endpoints() {
        assert_eq!(
            virtual_hosted_endpoint("https://s3.example.net", "b1x"),
            "https://b1x.s3.example.net"
        );
        assert_eq!(
            virtual_hosted_endpoint("https://b1x.s3.example.net", "b1x"),
            "https://b1x.s3.example.net"
        );
    }
}
