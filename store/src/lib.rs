//! The object store as control plane and edges share it (control-plane.md §7.4): which store a
//! URL names (`file://DIR` or `s3://bucket/prefix`), the key layout and the JSON objects in it
//! (manifest, edge report), and the few operations both sides need (read, list, create-only
//! write). The publisher's steps stay in the control plane, the watcher's in the edge.

pub mod layout;
pub mod s3;

use std::sync::Arc;

use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use time::OffsetDateTime;

pub use s3::{ConditionalPut, S3Config};

/// How the manifest swap is made conditional (§7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestCondition {
    /// Local directory: the content hash, compared under the lock just before the write.
    ContentHash,
    /// S3 with conditional writes: the ETag.
    ETag,
    /// `store.s3.conditional_put = "disabled"`: unconditional, the lock alone excludes.
    Disabled,
}

/// What a conditional read found.
#[derive(Debug)]
pub enum Fetched {
    /// New content and its ETag.
    Changed {
        bytes: Vec<u8>,
        e_tag: Option<String>,
    },
    /// The ETag still matches.
    NotModified,
    /// No such object.
    Missing,
}

/// The object store and the prefix under which the layout of §7.4 lives.
#[derive(Clone)]
pub struct StoreHandle {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    pub condition: ManifestCondition,
}

/// The store by its `Display` (`AmazonS3(bucket)`, `LocalFileSystem(…)`): the clients' `Debug`
/// would show configuration, an access key id among it.
impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle")
            .field("store", &format_args!("{}", self.store))
            .field("prefix", &self.prefix.as_ref())
            .field("condition", &self.condition)
            .finish()
    }
}

impl StoreHandle {
    /// A local directory store (`file://DIR`), created when missing.
    pub fn local(dir: &std::path::Path) -> anyhow::Result<StoreHandle> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create store directory {}: {e}", dir.display()))?;
        // fsync written files and their directories: the temporary file renamed over
        // `manifest.json` (and every snapshot) is durable before the write returns.
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
        Ok(StoreHandle {
            store: Arc::new(fs),
            prefix: Path::default(),
            condition: ManifestCondition::ContentHash,
        })
    }

    /// From a store URL and the S3 settings (§10): `file://DIR` or `s3://bucket/prefix`.
    /// Errors name configuration keys, never credentials.
    pub fn open(url: &str, s3: &S3Config) -> anyhow::Result<StoreHandle> {
        StoreHandle::open_with(url, s3, None)
    }

    /// [`StoreHandle::open`] with limits on the S3 client's retries and timeouts (the edge's).
    pub fn open_with(
        url: &str,
        s3: &S3Config,
        limits: Option<s3::ClientLimits>,
    ) -> anyhow::Result<StoreHandle> {
        if let Some(dir) = url.strip_prefix("file://") {
            return StoreHandle::local(std::path::Path::new(dir));
        }
        if url.starts_with("s3://") {
            let (store, prefix) = s3::open_with(url, s3, limits)?;
            return Ok(StoreHandle {
                store: Arc::new(store),
                prefix,
                condition: match s3.conditional_put {
                    ConditionalPut::Etag => ManifestCondition::ETag,
                    ConditionalPut::Disabled => ManifestCondition::Disabled,
                },
            });
        }
        // Only the scheme is echoed: the rest may hold credentials.
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        anyhow::bail!(
            "unsupported store URL scheme {scheme:?}: expected file://DIR or s3://bucket/prefix"
        )
    }

    /// From a store URL with the default S3 settings (AWS's endpoint, `us-east-1`, the
    /// machine's own AWS credentials); the commands use [`StoreHandle::open`].
    pub fn from_url(url: &str) -> anyhow::Result<StoreHandle> {
        StoreHandle::open(url, &S3Config::default())
    }

    /// Writes `loc` create-only (snapshots, `manifests/<serial>.json`; §7.5): `PutMode::Create`
    /// (on S3 `If-None-Match: *`). With `store.s3.conditional_put = "disabled"` the store has
    /// no conditional writes: a HEAD, then an unconditional PUT, which the publisher lock makes
    /// safe (§7.1). An existing object is `AlreadyExists` either way.
    pub async fn put_create(&self, loc: &Path, payload: PutPayload) -> object_store::Result<()> {
        let mode = if self.condition == ManifestCondition::Disabled {
            match self.store.head(loc).await {
                Ok(_) => {
                    return Err(object_store::Error::AlreadyExists {
                        path: loc.to_string(),
                        source: "the object exists (create-only write)".into(),
                    });
                }
                Err(object_store::Error::NotFound { .. }) => PutMode::Overwrite,
                Err(e) => return Err(e),
            }
        } else {
            PutMode::Create
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.store.put_opts(loc, payload, opts).await.map(|_| ())
    }

    pub fn key(&self, rel: &str) -> Path {
        layout::key(&self.prefix, rel)
    }

    /// Reads an object; `None` when missing.
    pub async fn get_opt(
        &self,
        rel: &str,
    ) -> anyhow::Result<Option<(Vec<u8>, Option<String>, Option<String>)>> {
        match self.store.get(&self.key(rel)).await {
            Ok(r) => {
                let e_tag = r.meta.e_tag.clone();
                let version = r.meta.version.clone();
                Ok(Some((r.bytes().await?.to_vec(), e_tag, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an object unless its ETag is still `e_tag` (a conditional GET, `If-None-Match`:
    /// S3 answers 304, the local store compares its own ETag of size, mtime and inode).
    pub async fn get_if_changed(
        &self,
        rel: &str,
        e_tag: Option<&str>,
    ) -> object_store::Result<Fetched> {
        let opts = GetOptions {
            if_none_match: e_tag.map(str::to_string),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key(rel), opts).await {
            Ok(r) => {
                let e_tag = r.meta.e_tag.clone();
                Ok(Fetched::Changed {
                    bytes: r.bytes().await?.to_vec(),
                    e_tag,
                })
            }
            Err(object_store::Error::NotModified { .. }) => Ok(Fetched::NotModified),
            Err(object_store::Error::NotFound { .. }) => Ok(Fetched::Missing),
            Err(e) => Err(e),
        }
    }

    /// Objects directly under `dir/`: (file name, size, age in seconds).
    pub async fn list(&self, dir: &str) -> anyhow::Result<Vec<(String, u64, i64)>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let r = match self.store.list_with_delimiter(Some(&self.key(dir))).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(r.objects
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                Some((name, m.size, now - m.last_modified.timestamp()))
            })
            .collect())
    }
}
