//! One publisher at a time (control-plane.md §7.1): on SQLite a `flock` on
//! `<data.dir>/publish.lock` (released by the kernel when the process dies), on PostgreSQL a
//! session advisory lock on a dedicated connection whose key is derived from the installation
//! id.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::db::{Database, DbPool};

/// A held publisher lock; dropping it releases it.
pub enum PublishLock {
    /// The locked file (the lock goes with the file description).
    File(File),
    /// The connection holding the advisory lock (closing it releases the lock).
    Postgres(sqlx::PgConnection),
}

/// How long to sleep between attempts.
const POLL: Duration = Duration::from_millis(50);

/// The advisory lock key of an installation.
pub fn advisory_key(installation_id: &str) -> i64 {
    let d = Sha256::digest(format!("mirrorfleet/publish/{installation_id}").as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

impl PublishLock {
    /// Takes the lock, waiting at most `timeout` (`on_wait` is called once when it has to wait).
    pub async fn acquire(
        db: &Database,
        data_dir: &Path,
        installation_id: &str,
        timeout: Duration,
        on_wait: &mut (dyn FnMut(&str) + Send),
    ) -> anyhow::Result<PublishLock> {
        let start = Instant::now();
        let mut told = false;
        match db.pool() {
            DbPool::Sqlite(_) => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display())
                })?;
                let path = data_dir.join("publish.lock");
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
                loop {
                    // SAFETY: flock on a file descriptor we own.
                    let rc =
                        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
                    if rc == 0 {
                        return Ok(PublishLock::File(file));
                    }
                    let err = std::io::Error::last_os_error();
                    if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                        anyhow::bail!("cannot lock {}: {err}", path.display());
                    }
                    let holder = format!("another process holding {}", path.display());
                    if start.elapsed() >= timeout {
                        anyhow::bail!(
                            "the publisher lock is held by {holder}; gave up after {:?}",
                            timeout
                        );
                    }
                    if !told {
                        on_wait(&holder);
                        told = true;
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            DbPool::Postgres(pool) => {
                let key = advisory_key(installation_id);
                let mut conn = pool.acquire().await?.detach();
                loop {
                    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                        .bind(key)
                        .fetch_one(&mut conn)
                        .await?;
                    if got {
                        return Ok(PublishLock::Postgres(conn));
                    }
                    let holder: Option<i32> = sqlx::query_scalar(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                         AND objid = ($1 & 4294967295)::oid LIMIT 1",
                    )
                    .bind(key)
                    .fetch_optional(&mut conn)
                    .await
                    .ok()
                    .flatten();
                    let holder = match holder {
                        Some(pid) => format!("PostgreSQL backend pid {pid}"),
                        None => "another PostgreSQL session".to_string(),
                    };
                    if start.elapsed() >= timeout {
                        let _ = conn.close().await;
                        anyhow::bail!(
                            "the publisher lock is held by {holder}; gave up after {:?}",
                            timeout
                        );
                    }
                    if !told {
                        on_wait(&holder);
                        told = true;
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Whether the lock is still held (the PostgreSQL session is alive).
    pub async fn check(&mut self) -> anyhow::Result<()> {
        match self {
            PublishLock::File(_) => Ok(()),
            PublishLock::Postgres(conn) => {
                conn.ping()
                    .await
                    .map_err(|e| anyhow::anyhow!("the publisher lock's session is gone: {e}"))?;
                Ok(())
            }
        }
    }

    /// Releases the lock.
    pub async fn release(self) {
        match self {
            PublishLock::File(f) => drop(f),
            PublishLock::Postgres(conn) => {
                let _ = conn.close().await;
            }
        }
    }
}
