//! Store mode (E79): the edge follows the control plane's `manifest.json` in an object store
//! (`file://DIR` or `s3://bucket/prefix`, through `mirrorfleet-store`).
//!
//! At start it serves the last good snapshot of its cache (`current.json`'s, else the newest
//! valid one), so a node restarted while the store is down still answers. Then every
//! `snapshot.poll_interval` (and at SIGHUP) it reads the manifest with a conditional GET; a
//! manifest with a higher serial is followed: its snapshot is streamed into a temporary file in
//! the cache (hashed as it arrives, fsynced), checked against the manifest's size and SHA-256,
//! mapped, validated and indexed off the request path, renamed into the cache, and swapped in.
//! Requests in flight finish on the old snapshot, whose mapping goes with its last reader.
//! Anything that fails a check is rejected with a reason, counted, and never replaces what is
//! served; the manifest is retried from 5 s doubling to 5 min, or at the next manifest change.

pub mod cache;
pub mod report;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mirrorfleet_store::layout::{self, Manifest};
use mirrorfleet_store::s3::ClientLimits;
use mirrorfleet_store::{Fetched, StoreHandle};
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::loaded::Loaded;
use crate::state::Edge;
use cache::{Cache, Current};

/// First retry delay after a failed load.
const RETRY_MIN: Duration = Duration::from_secs(5);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// The S3 client's limits for an edge: one retry, and a store that does not answer is a poll
/// error within seconds (the next poll tries again), not after `object_store`'s three minutes
/// of retries. A request, the snapshot download included, is bounded by
/// `snapshot.download_timeout`.
pub fn client_limits(config: &crate::config::EdgeConfig) -> ClientLimits {
    ClientLimits {
        max_retries: 1,
        retry_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(3),
        request_timeout: config.snapshot.download_timeout,
    }
}

/// How long one manifest read may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a manifest's snapshot was not swapped in: a `snapshot_rejected_total` reason (E77)
/// and the message for the log, `last_error` and the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub reason: &'static str,
    pub message: String,
}

impl Reject {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            reason,
            message: message.into(),
        }
    }
}

/// A manifest whose load failed, retried with backoff.
struct Retry {
    manifest: Manifest,
    at: Instant,
    delay: Duration,
}

/// The follower's state between polls.
pub struct Follower {
    edge: Arc<Edge>,
    store: StoreHandle,
    cache: Cache,
    /// ETag of the manifest read last (conditional GET).
    e_tag: Option<String>,
    /// Serial of the last manifest followed (its snapshot swapped in, or already serving).
    bar: u64,
    /// Installation id snapshots must have (`current.json`'s, else the loaded snapshot's).
    installation: Option<String>,
    retry: Option<Retry>,
    /// `last_error` holds a manifest poll failure (cleared by the next good poll).
    poll_failed: bool,
    /// Woken after every swap, for the report writer.
    swapped: Arc<Notify>,
}

impl Follower {
    /// Opens the cache (deleting leftovers) and loads its last good snapshot, before the
    /// first poll: a restarted edge serves at once, store or not.
    pub fn start(edge: Arc<Edge>, store: StoreHandle, swapped: Arc<Notify>) -> Follower {
        let dir = edge.config.snapshot.cache_dir.clone();
        let cache = match Cache::open(&dir) {
            Ok(c) => c,
            Err(r) => {
                // Downloads will fail with the same reason until the directory is usable.
                tracing::error!(error = %r.message, "snapshot cache unusable");
                edge.set_error(r.message);
                Cache { dir }
            }
        };
        let mut f = Follower {
            edge,
            store,
            cache,
            e_tag: None,
            bar: 0,
            installation: None,
            retry: None,
            poll_failed: false,
            swapped,
        };
        f.load_cached();
        f
    }

    /// E79 at start: the snapshot `current.json` names when valid and cached, else the newest
    /// valid cached one; `current.json`'s serial and installation id set the bars.
    fn load_cached(&mut self) {
        let current = match self.cache.read_current() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable current.json");
                None
            }
        };
        if let Some(c) = &current {
            self.installation = Some(c.installation_id.clone());
        }
        let mut candidates = self.cache.entries();
        if let Some(c) = &current
            && let Some(i) = candidates
                .iter()
                .position(|e| e.version == c.version && e.sha256 == c.sha256)
        {
            let named = candidates.remove(i);
            candidates.insert(0, named);
        }
        for entry in candidates {
            let started = Instant::now();
            let named = current
                .as_ref()
                .is_some_and(|c| c.version == entry.version && c.sha256 == entry.sha256);
            let loaded = cache::open_mapped(&entry.path, &entry.sha256, true).and_then(|snap| {
                self.check_installation(&snap.installation_id())?;
                if snap.version() != entry.version {
                    return Err(Reject::new(
                        "header",
                        format!(
                            "{}: the header says version {}",
                            entry.path.display(),
                            snap.version()
                        ),
                    ));
                }
                Ok(snap)
            });
            match loaded {
                Ok(snap) => {
                    let serial = if named {
                        current.as_ref().map_or(0, |c| c.manifest_serial)
                    } else {
                        0
                    };
                    self.installation = Some(snap.installation_id());
                    let key = self.edge.selection_key(&snap.installation_id());
                    let loaded = Loaded::new(snap, started, serial, key);
                    self.bar = serial;
                    tracing::info!(
                        version = entry.version,
                        manifest_serial = serial,
                        "serving the cached snapshot {} until the store is read",
                        entry.path.display()
                    );
                    self.edge.install(loaded);
                    self.swapped.notify_one();
                    return;
                }
                Err(r) => {
                    self.rejected(&r);
                    if r.reason != "installation" {
                        // Damaged: never a candidate again.
                        let _ = std::fs::remove_file(&entry.path);
                    }
                }
            }
        }
        self.edge.set_error(format!(
            "no snapshot loaded yet: none cached in {}, waiting for the store",
            self.cache.dir.display()
        ));
    }

    fn rejected(&self, r: &Reject) {
        self.edge.metrics.snapshot_rejected(r.reason);
        self.edge.rejected_loads.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            reason = r.reason,
            error = %r.message,
            "snapshot rejected; keeping the current one"
        );
        self.edge.set_error(format!("{} ({})", r.message, r.reason));
    }

    fn check_installation(&self, id: &str) -> Result<(), Reject> {
        match &self.installation {
            Some(want) if want != id => Err(Reject::new(
                "installation",
                format!(
                    "installation {id} is not this edge's {want} (a re-initialised control \
                     plane: empty the cache directory, or keep the old id with `mirrorfleet \
                     init --installation-id`)"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Polls until the process ends; `wake` (SIGHUP) polls at once and retries now.
    pub async fn run(mut self, wake: Arc<Notify>) {
        let interval = self
            .edge
            .config
            .snapshot
            .poll_interval
            .max(Duration::from_millis(100));
        let mut forced = false;
        loop {
            self.poll(forced).await;
            forced = tokio::select! {
                _ = tokio::time::sleep(interval) => false,
                _ = wake.notified() => true,
            };
        }
    }

    /// One poll: the manifest by conditional GET, then at most one load.
    pub async fn poll(&mut self, forced: bool) {
        if forced {
            self.e_tag = None;
            if let Some(r) = &mut self.retry {
                r.at = Instant::now();
            }
        }
        let got = tokio::time::timeout(
            POLL_TIMEOUT,
            self.store
                .get_if_changed(layout::MANIFEST, self.e_tag.as_deref()),
        )
        .await;
        // (message, transient): a store that cannot be read clears its error at the next good
        // poll; a bad manifest keeps it until something is loaded.
        let manifest = match got {
            Err(_) => Err((format!("reading {} timed out", layout::MANIFEST), true)),
            Ok(Err(e)) => Err((format!("cannot read {}: {e}", layout::MANIFEST), true)),
            Ok(Ok(Fetched::Missing)) => Err((
                format!(
                    "the store has no {} yet (nothing published)",
                    layout::MANIFEST
                ),
                true,
            )),
            Ok(Ok(Fetched::NotModified)) => Ok(None),
            Ok(Ok(Fetched::Changed { bytes, e_tag })) => {
                self.e_tag = e_tag;
                parse_manifest(&bytes).map(Some).map_err(|e| (e, false))
            }
        };
        let manifest = match manifest {
            Ok(m) => m,
            Err((message, transient)) => {
                self.edge.metrics.manifest_poll("error");
                tracing::warn!(error = %message, store = %self.store.store, "manifest poll failed");
                self.edge.set_error(format!("store: {message}"));
                self.poll_failed = transient;
                return;
            }
        };
        if self.poll_failed {
            self.poll_failed = false;
            self.edge.last_error.store(Arc::new(None));
        }
        match manifest {
            Some(m) if m.serial > self.bar => {
                self.edge.metrics.manifest_poll("changed");
                self.retry = None;
                self.follow(m).await;
            }
            _ => {
                self.edge.metrics.manifest_poll("unchanged");
                if let Some(r) = self.retry.take_if(|r| r.at <= Instant::now()) {
                    let delay = r.delay;
                    self.follow(r.manifest).await;
                    if let Some(next) = &mut self.retry {
                        next.delay = (delay * 2).min(RETRY_MAX);
                        next.at = Instant::now() + next.delay;
                    }
                }
            }
        }
    }

    /// Loads and swaps in the snapshot `m` names, or records why not and schedules a retry.
    async fn follow(&mut self, m: Manifest) {
        match self.try_follow(&m).await {
            Ok(()) => {}
            Err(r) => {
                self.rejected(&r);
                self.retry = Some(Retry {
                    manifest: m,
                    at: Instant::now() + RETRY_MIN,
                    delay: RETRY_MIN,
                });
            }
        }
    }

    async fn try_follow(&mut self, m: &Manifest) -> Result<(), Reject> {
        let want = &m.snapshot;
        self.check_installation(&m.installation_id)?;
        let serving = self.edge.snapshot.load_full();
        if let Some(s) = &serving {
            let version = s.snap.version();
            if s.snap.file_sha256_hex() == want.sha256 {
                // The same snapshot under a newer manifest: only the serial moves.
                s.manifest_serial.store(m.serial, Ordering::Relaxed);
                self.bar = m.serial;
                self.write_current(m);
                self.swapped.notify_one();
                return Ok(());
            }
            if want.version < version && !m.rollback {
                return Err(Reject::new(
                    "older_version",
                    format!(
                        "manifest {} names version {}, older than the served {version}, and is \
                         not a rollback",
                        m.serial, want.version
                    ),
                ));
            }
            if want.version == version {
                tracing::warn!(
                    serial = m.serial,
                    version,
                    "manifest names the served version with another SHA-256; recording its \
                     serial only"
                );
                s.manifest_serial.store(m.serial, Ordering::Relaxed);
                self.bar = m.serial;
                self.write_current(m);
                return Ok(());
            }
        }
        let cached = self.cache.path(want.version, &want.sha256);
        let download_started = Instant::now();
        let (temp, hashed) = if cached.exists() {
            (None, false)
        } else {
            let temp = self.cache.temp_path(want.version, &want.sha256);
            let result = tokio::time::timeout(
                self.edge.config.snapshot.download_timeout,
                self.download(m, &temp),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Reject::new(
                    "download",
                    format!(
                        "downloading {} took longer than snapshot.download_timeout ({:?})",
                        want.key, self.edge.config.snapshot.download_timeout
                    ),
                ))
            });
            if let Err(r) = result {
                let _ = std::fs::remove_file(&temp);
                return Err(r);
            }
            (Some(temp), true)
        };
        // Download complete: check, map, validate, index and swap (E79's swap time).
        let download_ms = download_started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let edge = self.edge.clone();
        let manifest = m.clone();
        let installation = self.installation.clone();
        let path = temp.clone().unwrap_or_else(|| cached.clone());
        let target = cached.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let result = prepare(
                &edge,
                &manifest,
                installation.as_deref(),
                &path,
                !hashed,
                started,
            )
            .and_then(|loaded| {
                if path != target {
                    std::fs::rename(&path, &target)
                        .and_then(|()| cache::sync_dir(target.parent().unwrap_or(Path::new("."))))
                        .map_err(|e| {
                            Reject::new(
                                "io",
                                format!("cannot rename into {}: {e}", target.display()),
                            )
                        })?;
                }
                Ok(loaded)
            });
            if result.is_err() && path != target {
                let _ = std::fs::remove_file(&path);
            }
            result
        })
        .await
        .map_err(|e| Reject::new("io", format!("the load task failed: {e}")))??;
        let load_ms = loaded.load_duration.as_secs_f64() * 1000.0;
        self.installation = Some(loaded.snap.installation_id());
        self.edge.install(loaded);
        self.bar = m.serial;
        tracing::info!(
            version = want.version,
            manifest_serial = m.serial,
            rollback = m.rollback,
            from_cache = !hashed,
            download_ms,
            load_ms,
            swap_ms = started.elapsed().as_secs_f64() * 1000.0,
            "snapshot swapped in"
        );
        self.write_current(m);
        let (cache, keep) = (self.cache.clone(), self.edge.config.snapshot.keep as usize);
        let _ = tokio::task::spawn_blocking(move || cache.prune(keep, &cached)).await;
        self.swapped.notify_one();
        Ok(())
    }

    /// Streams the snapshot object into `temp`, hashing it, then checks size and SHA-256 and
    /// fsyncs.
    async fn download(&self, m: &Manifest, temp: &Path) -> Result<(), Reject> {
        let want = &m.snapshot;
        let fail = |e: &dyn std::fmt::Display| {
            Reject::new("download", format!("downloading {}: {e}", want.key))
        };
        let got = self
            .store
            .store
            .get(&self.store.key(&want.key))
            .await
            .map_err(|e| fail(&e))?;
        if got.meta.size != want.size {
            return Err(Reject::new(
                "size",
                format!(
                    "{} is {} bytes, the manifest says {}",
                    want.key, got.meta.size, want.size
                ),
            ));
        }
        let mut file = tokio::fs::File::create(temp)
            .await
            .map_err(|e| Reject::new("io", format!("cannot create {}: {e}", temp.display())))?;
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(&e))?;
            len += chunk.len() as u64;
            if len > want.size {
                break;
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| Reject::new("io", format!("writing {}: {e}", temp.display())))?;
        }
        if len != want.size {
            return Err(Reject::new(
                "size",
                format!(
                    "{}: {len} bytes received, the manifest says {}",
                    want.key, want.size
                ),
            ));
        }
        let sha = hex::encode(hasher.finalize());
        if sha != want.sha256 {
            return Err(Reject::new(
                "hash",
                format!(
                    "{}: SHA-256 {sha}, the manifest says {}",
                    want.key, want.sha256
                ),
            ));
        }
        file.sync_all()
            .await
            .map_err(|e| Reject::new("io", format!("fsync {}: {e}", temp.display())))?;
        Ok(())
    }

    fn write_current(&self, m: &Manifest) {
        let current = Current {
            manifest_serial: m.serial,
            snapshot_key: m.snapshot.key.clone(),
            sha256: m.snapshot.sha256.clone(),
            version: m.snapshot.version,
            installation_id: m.installation_id.clone(),
        };
        if let Err(r) = self.cache.write_current(&current) {
            // Serving goes on; only a restart would pick an older cached snapshot.
            tracing::warn!(error = %r.message, "cannot record current.json");
        }
    }
}

/// Maps and validates the file at `path` for manifest `m` and builds its indexes: the
/// blocking part of a load.
fn prepare(
    edge: &Edge,
    m: &Manifest,
    installation: Option<&str>,
    path: &Path,
    hash: bool,
    started: Instant,
) -> Result<Loaded, Reject> {
    let want = &m.snapshot;
    let snap = cache::open_mapped(path, &want.sha256, hash)?;
    let h = snap.header();
    if h.version != want.version || h.format_version != want.format_version {
        return Err(Reject::new(
            "header",
            format!(
                "{}: the header says version {} format {}, the manifest version {} format {}",
                want.key, h.version, h.format_version, want.version, want.format_version
            ),
        ));
    }
    let id = snap.installation_id();
    if id != m.installation_id || installation.is_some_and(|want| want != id) {
        return Err(Reject::new(
            "installation",
            format!(
                "{}: installation {id}, expected {}",
                want.key,
                installation.unwrap_or(&m.installation_id)
            ),
        ));
    }
    let key = edge.selection_key(&id);
    Ok(Loaded::new(snap, started, m.serial, key))
}

/// Parses a manifest and checks its format (E79).
fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("{} does not parse: {e}", layout::MANIFEST))?;
    if m.format != layout::MANIFEST_FORMAT {
        return Err(format!(
            "{}: format {:?}, expected {:?}",
            layout::MANIFEST,
            m.format,
            layout::MANIFEST_FORMAT
        ));
    }
    if m.format_version != layout::MANIFEST_FORMAT_VERSION {
        return Err(format!(
            "{}: format_version {} is not known to this edge (it knows {})",
            layout::MANIFEST,
            m.format_version,
            layout::MANIFEST_FORMAT_VERSION
        ));
    }
    Ok(m)
}
