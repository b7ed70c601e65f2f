//! One publisher at a time (control-plane.md §7.1): on SQLite a `flock` on
//! `<data.dir>/publish.lock` (released by the kernel when the process dies), on PostgreSQL a
//! session advisory lock on a dedicated connection whose key is derived from the installation
//! id. Other jobs that must not run twice at once (the scanner, §4.8) take the same kind of
//! lock under their own name ([`Job`]).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::db::{Database, DbPool};

/// A held job lock (the publisher's, or another [`Job`]'s); dropping it releases it.
pub enum PublishLock {
    /// The locked file (the lock goes with the file description).
    File(File),
    /// The connection holding the advisory lock (closing it releases the lock).
    Postgres(sqlx::PgConnection),
}

/// How long to sleep between attempts.
const POLL: Duration = Duration::from_millis(50);

/// A job that runs in one process at a time: its lock file is `<data.dir>/<name>.lock`, its
/// advisory lock key derived from `mirrorfleet/<name>/<installation id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    pub name: &'static str,
    /// How messages call its lock: "the publisher lock".
    pub noun: &'static str,
}

/// The publisher (§7.1).
pub const PUBLISH_JOB: Job = Job {
    name: "publish",
    noun: "publisher",
};
/// The scanner (§4.8): a CLI `scan` and the one inside `serve`.
pub const SCAN_JOB: Job = Job {
    name: "scan",
    noun: "scanner",
};

/// A held job lock (the publisher's type, under another name).
pub type JobLock = PublishLock;

/// The publisher's advisory lock key of an installation.
pub fn advisory_key(installation_id: &str) -> i64 {
    job_key(&PUBLISH_JOB, installation_id)
}

/// The advisory lock key of `job` in an installation.
pub fn job_key(job: &Job, installation_id: &str) -> i64 {
    let d = Sha256::digest(format!("mirrorfleet/{}/{installation_id}", job.name).as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

impl PublishLock {
    /// Takes the publisher lock, waiting at most `timeout` (`on_wait` is called once when it
    /// has to wait).
    pub async fn acquire(
        db: &Database,
        data_dir: &Path,
        installation_id: &str,
        timeout: Duration,
        on_wait: &mut (dyn FnMut(&str) + Send),
    ) -> anyhow::Result<PublishLock> {
        Self::acquire_job(
            &PUBLISH_JOB,
            db,
            data_dir,
            installation_id,
            timeout,
            on_wait,
        )
        .await
    }

    /// Takes the lock of `job`, waiting at most `timeout` (`on_wait` is called once when it
    /// has to wait).
    pub async fn acquire_job(
        job: &Job,
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
                let path = data_dir.join(format!("{}.lock", job.name));
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
                            "the {} lock is held by {holder}; gave up after {:?}",
                            job.noun,
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
                let key = job_key(job, installation_id);
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
                            "the {} lock is held by {holder}; gave up after {:?}",
                            job.noun,
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
