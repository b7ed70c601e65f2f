//! `mirrorfleet snapshot build` and `mirrorfleet snapshot inspect`: snapshots
//! without a database, for operators who run edges from an inventory file,
//! and the complete validator on any snapshot file (control-plane.md §7.6, §8.3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use mirrorfleet_snapshot::read::uuid_text;
use mirrorfleet_snapshot::{Snapshot, build};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::asn_table::read_asn_table_file;
use crate::inventory::{BuildOptions, parse_inventory, to_snapshot_data};

/// Options of `snapshot build`.
#[derive(Debug, Clone)]
pub struct BuildArgs {
    /// The inventory file.
    pub inventory: PathBuf,
    /// Where to write the snapshot.
    pub out: PathBuf,
    /// prefix→ASN table (`prefix/len ASN` lines).
    pub asn_table: Option<PathBuf>,
    /// Snapshot version (default: current Unix time).
    pub version: Option<u64>,
    /// Installation UUID (default: the fixed inventory UUID).
    pub installation_id: Option<String>,
    /// Treat inventory warnings as errors.
    pub strict: bool,
    /// Largest fraction of bad lines in `asn_table` (`asn.max_bad_fraction`).
    pub asn_max_bad_fraction: f64,
}

/// An error that has already been reported line by line; exit with this status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Reported {
    /// Process exit status.
    pub status: u8,
    /// Summary line.
    pub message: String,
}

/// The installation id of snapshots built from an inventory file without
/// `--installation-id`: the first 16 bytes of SHA-256(`mirrorfleet/inventory/v1`),
/// so standalone edges share one default seed (data-model.md §10).
pub fn inventory_installation_id() -> [u8; 16] {
    let digest = Sha256::digest(b"mirrorfleet/inventory/v1");
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// `created_at`: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now.
fn created_at() -> anyhow::Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .with_context(|| format!("SOURCE_DATE_EPOCH: {v:?} is not a whole number of seconds")),
        Err(_) => Ok(now()),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Writes a file atomically: temporary file in the same directory, fsync, rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs `snapshot build`; progress goes to `log` (standard error).
pub fn build_snapshot(args: &BuildArgs, log: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let name = args.inventory.display().to_string();
    let text = std::fs::read_to_string(&args.inventory)
        .with_context(|| format!("cannot read inventory {name}"))?;
    let (inventory, warnings) = match parse_inventory(&name, &text) {
        Ok(ok) => ok,
        Err(diagnostics) => {
            for d in &diagnostics {
                writeln!(log, "{d}")?;
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            return Err(Reported {
                status: 2,
                message: format!("{name}: {errors} error(s); no snapshot written"),
            }
            .into());
        }
    };
    for w in &warnings {
        writeln!(log, "{w}")?;
    }
    if args.strict && !warnings.is_empty() {
        return Err(Reported {
            status: 2,
            message: format!(
                "{name}: {} warning(s) and --strict; no snapshot written",
                warnings.len()
            ),
        }
        .into());
    }
    writeln!(
        log,
        "read {name}: {} sites ({:.0} ms)",
        inventory.sites.len(),
        started.elapsed().as_secs_f64() * 1000.0
    )?;
    let mut opts = BuildOptions {
        version: args.version.unwrap_or_else(|| now().max(1) as u64),
        created_at: created_at()?,
        installation_id: inventory_installation_id(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        ..BuildOptions::default()
    };
    if let Some(id) = &args.installation_id {
        let parsed = uuid::Uuid::parse_str(id)
            .with_context(|| format!("--installation-id: {id:?} is not a UUID"))?;
        opts.installation_id = *parsed.as_bytes();
    }
    if let Some(path) = &args.asn_table {
        let (table, report) = read_asn_table_file(path, args.asn_max_bad_fraction)
            .map_err(|e| anyhow::anyhow!("--asn-table: {e}"))?;
        for issue in &report.issues {
            writeln!(log, "{issue}")?;
        }
        writeln!(
            log,
            "read {}: {} IPv4 and {} IPv6 prefixes",
            path.display(),
            table.count_v4(),
            table.count_v6()
        )?;
        opts.asn_sha256 = table.sha256_hex();
        opts.asn_source = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        opts.asn_imported_at = opts.created_at;
        opts.prefix_asn = table.entries;
    }
    let (data, notes) = to_snapshot_data(&inventory, &opts);
    for n in &notes {
        writeln!(log, "{name}: warning: {n}")?;
    }
    let step = Instant::now();
    let bytes = build(&data).context("cannot build the snapshot")?;
    let snap =
        Snapshot::from_bytes(bytes.clone()).context("the built snapshot does not validate")?;
    write_atomically(&args.out, &bytes)?;
    let c = &snap.payload().counts;
    writeln!(
        log,
        "wrote {}: version {}, {} hosts, {} directories, {} repositories, {} bytes, sha256 {} (build {:.0} ms, total {:.0} ms)",
        args.out.display(),
        snap.version(),
        c.hosts,
        c.directories,
        c.repo_map_entries,
        bytes.len(),
        snap.file_sha256_hex(),
        step.elapsed().as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0
    )?;
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The `--json` object of `snapshot inspect` (control-plane.md §7.6).
pub fn inspect_json(snap: &Snapshot) -> serde_json::Value {
    let p = snap.payload();
    let i = &p.inputs;
    json!({
        "version": snap.version(),
        "format_version": snap.header().format_version,
        "created_at": rfc3339(snap.created_at()),
        "sha256": snap.file_sha256_hex(),
        "size": snap.size(),
        "installation_id": uuid_text(&p.identity.installation_id),
        "source_generation": p.identity.source_generation.to_native(),
        "producer": {"name": p.identity.producer_name.as_str(), "software_version": p.identity.producer_version.as_str()},
        "policy": {"min_mirrors": p.policy.min_mirrors.to_native(), "max_hosts": p.policy.max_hosts.to_native()},
        "inputs": {
            "prefix_asn": {
                "source": i.asn_source.as_str(),
                "imported_at": rfc3339(i.asn_imported_at.to_native()),
                "sha256": i.asn_sha256.as_str(),
                "entries_v4": i.asn_entries_v4.to_native(),
                "entries_v6": i.asn_entries_v6.to_native(),
            },
            "continents": i.continents_source.as_str(),
            "geoip_reference": {
                "database_type": i.geoip_type.as_ref().map(|t| t.as_str()),
                "build_epoch": i.geoip_build_epoch.as_ref().map(|e| e.to_native()),
                "sha256": i.geoip_sha256.as_ref().map(|t| t.as_str()),
            },
        },
        "counts": crate::publish::counts_json(snap),
        "valid": true,
    })
}

/// Runs `snapshot inspect`; returns the exit status.
pub fn inspect(
    path: &Path,
    as_json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let snap = match Snapshot::read_file(path) {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "{}: {e}", path.display())?;
            if as_json {
                writeln!(out, "{}", json!({"valid": false, "error": e.to_string()}))?;
            }
            return Ok(1);
        }
    };
    let v = inspect_json(&snap);
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(0);
    }
    writeln!(out, "{}: valid mirrorfleet snapshot", path.display())?;
    writeln!(out, "  version           {}", v["version"])?;
    writeln!(out, "  format version    {}", v["format_version"])?;
    writeln!(
        out,
        "  created at        {}",
        v["created_at"].as_str().unwrap_or("")
    )?;
    writeln!(out, "  size              {} bytes", v["size"])?;
    writeln!(
        out,
        "  sha256            {}",
        v["sha256"].as_str().unwrap_or("")
    )?;
    writeln!(
        out,
        "  installation id   {}",
        v["installation_id"].as_str().unwrap_or("")
    )?;
    writeln!(out, "  source generation {}", v["source_generation"])?;
    writeln!(
        out,
        "  producer          {} {}",
        v["producer"]["name"].as_str().unwrap_or(""),
        v["producer"]["software_version"].as_str().unwrap_or("")
    )?;
    writeln!(
        out,
        "  policy            min_mirrors {}, max_hosts {}",
        v["policy"]["min_mirrors"], v["policy"]["max_hosts"]
    )?;
    writeln!(
        out,
        "  continents        {}",
        v["inputs"]["continents"].as_str().unwrap_or("")
    )?;
    if let Some(counts) = v["counts"].as_object() {
        writeln!(out, "  counts")?;
        for (k, n) in counts {
            writeln!(out, "    {k:<20} {n}")?;
        }
    }
    Ok(0)
}

/// Refuses to overwrite the inventory with the snapshot by mistake.
pub fn check_paths(args: &BuildArgs) -> anyhow::Result<()> {
    if args.inventory == args.out {
        bail!("--out {} is the inventory itself", args.out.display());
    }
    Ok(())
}
