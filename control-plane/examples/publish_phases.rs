//! Where a publish spends its time (docs/benchmarks.md, ops/bench-publish.sh): runs the steps
//! of `mirrorfleet publish` one by one on a database and times each, without publishing
//! anything: reading the stored prefix→ASN table, the derivation (one read transaction; its
//! read of the up-to-date directories is also timed on its own), the encoding, the validation
//! of the bytes, writing the file and reading it back with the validator (what the
//! publisher's upload and verify do on a local directory store).
//!
//! ```sh
//! cargo run --profile bench-release -p mirrorfleet-control --example publish_phases -- \
//!     DATABASE_URL DATA_DIR [--repeat N]
//! ```
//!
//! Prints one line per step (milliseconds) and the process's peak RSS.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, derive_snapshot};
use mirrorfleet_control::store::{Tx, for_each_up2date_group};
use mirrorfleet_snapshot::Snapshot;
use sha2::{Digest, Sha256};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn once(db: &Database, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let mut step = Instant::now();
    // Prints the time since the previous step.
    fn lap(step: &mut Instant, what: &str) -> f64 {
        let ms = step.elapsed().as_secs_f64() * 1000.0;
        if !what.is_empty() {
            println!("{what:<28} {ms:>9.0} ms");
        }
        *step = Instant::now();
        ms
    }
    let total = Instant::now();
    let stored = mirrorfleet_control::asn_cmd::stored_table(db, data_dir).await?;
    let mut opts = DeriveOptions {
        version: 1,
        ..DeriveOptions::default()
    };
    if let Some(t) = stored {
        opts.inputs.asn_source = t.source;
        opts.inputs.asn_imported_at = t.imported_at;
        opts.inputs.asn_sha256 = t.sha256;
        opts.prefix_asn = t.entries;
    }
    lap(&mut step, "prefix→ASN table");
    // The part of the derivation that grows with the data: the up-to-date directories
    // (timed on its own here; the derivation below reads them again).
    let mut tx = Tx::begin_read(db).await?;
    let mut pairs = 0usize;
    for_each_up2date_group(&mut tx, |_, dirs| pairs += dirs.len()).await?;
    tx.rollback().await?;
    let hcd_ms = lap(&mut step, "");
    let derived = derive_snapshot(db, &opts).await?;
    lap(&mut step, "derive (database read)");
    println!(
        "{:<28} {hcd_ms:>9.0} ms  ({pairs} rows, measured apart)",
        "  of which host_category_dir"
    );
    let bytes = mirrorfleet_snapshot::build(&derived.data)?;
    drop(derived);
    lap(&mut step, "encode (build)");
    let snap = Snapshot::from_bytes(bytes.clone())?;
    let sha = snap.file_sha256_hex();
    drop(snap);
    lap(&mut step, "validate");
    let dir = tempfile::tempdir_in(data_dir)?;
    let path = dir.path().join("snapshot.mfs");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    lap(&mut step, "write + fsync");
    let got = std::fs::read(&path)?;
    let got_sha: String = Sha256::digest(&got)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    anyhow::ensure!(got_sha == sha, "read back a different file");
    Snapshot::from_bytes(got)?;
    lap(&mut step, "read back + validate");
    println!(
        "{:<28} {:>9.0} ms  ({} bytes; without the read measured apart)",
        "total",
        total.elapsed().as_secs_f64() * 1000.0 - hcd_ms,
        bytes.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .context("usage: publish_phases DATABASE_URL DATA_DIR [--repeat N]")?;
    let data_dir = PathBuf::from(args.next().context("DATA_DIR missing")?);
    let repeat: usize = match (args.next().as_deref(), args.next()) {
        (Some("--repeat"), Some(n)) => n.parse().context("--repeat N")?,
        _ => 1,
    };
    let db = Database::connect(&url).await?;
    db.prepare_schema().await?;
    for i in 0..repeat {
        if repeat > 1 {
            println!("-- run {}", i + 1);
        }
        once(&db, &data_dir).await?;
    }
    db.close().await;
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS {:.0} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}
