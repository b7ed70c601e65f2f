//! `mirrorfleet-loadtest`: Fedora-scale dataset generator, HTTP load generator
//! and edge benchmark (docs/benchmarks.md).
//!
//! It depends on `mirrorfleet-snapshot` only: the edge is driven as a process,
//! over HTTP, as in production.

mod baseline;
mod bench;
mod generate;
mod load;
mod measure;
mod mix;
mod plan;
mod rng;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use mirrorfleet_snapshot::Snapshot;
use sha2::{Digest, Sha256};

use crate::util::{mib, parse_duration};

/// Fedora-scale dataset generator, HTTP load generator and edge benchmark.
#[derive(Parser, Debug)]
#[command(name = "mirrorfleet-loadtest", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a whole dataset at a scale into a directory: snapshot, GeoIP file, inventory,
    /// prefix→ASN table and a realistic request list.
    Dataset(DatasetArgs),
    /// Generate a deterministic Fedora-scale snapshot file (and its GeoIP file).
    Generate(GenerateArgs),
    /// Generate the same dataset as an inventory file (data-model.md §11) for
    /// `mirrorfleet import inventory`, and optionally its prefix→ASN table for `mirrorfleet asn import`.
    GenerateInventory(InventoryArgs),
    /// Write the dataset's directory layout to disk as a master tree for `mirrorfleet scan`
    /// (repomd.xml files, packages, images with checksum files), with its fullfiletimelist and an
    /// inventory of its categories.
    GenerateTree(TreeArgs),
    /// Send load (HTTP/1.1 keep-alive or h2c; closed loop, or open loop at a fixed rate) to an
    /// edge, or any server speaking the MirrorManager protocol, and report rate, latency and
    /// statuses.
    Run(RunArgs),
    /// A minimal hyper server answering every request with a fixed metalink-sized body: the
    /// ceiling for any server on the same stack.
    Baseline(BaselineArgs),
    /// Start an edge on a snapshot, load it, and report load time, memory and CPU per request.
    Measure(MeasureArgs),
    /// The whole benchmark suite: datasets, edge and baseline side by side, swaps under load;
    /// writes the report section of docs/benchmarks.md and two SVG charts.
    Bench(BenchArgs),
}

/// Dataset scales (`dataset --scale`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// 60 hosts (20 private), 3,000 directories, 20,000 prefixes: seconds, for tests.
    Small,
    /// Fedora today: 700 hosts (300 private), 30,000 directories, 1,000,000 prefixes.
    Fedora,
    /// Hosts × 5 and prefixes × 2 of `fedora`: how cost grows with the fleet.
    Huge,
}

impl Scale {
    /// The dataset shape of this scale.
    fn shape(self, seed: u64) -> Shape {
        let (hosts, private, directories, asn_prefixes, netblocks) = match self {
            Scale::Small => (60, 20, 3_000, 20_000, 500),
            Scale::Fedora => (700, 300, 30_000, 1_000_000, 60_000),
            Scale::Huge => (3_500, 1_500, 30_000, 2_000_000, 300_000),
        };
        Shape {
            seed,
            hosts,
            private,
            directories,
            asn_prefixes,
            netblocks,
        }
    }
}

/// The shape of a generated dataset: the flags `generate` and `generate-inventory` share (and
/// `dataset --scale` and `bench` set), so both describe one dataset the same way.
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    /// Dataset seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Exported hosts.
    #[arg(long, default_value_t = 700)]
    hosts: usize,
    /// Of which private.
    #[arg(long, default_value_t = 300)]
    private: usize,
    /// Exported directories.
    #[arg(long, default_value_t = 30_000)]
    directories: usize,
    /// prefix→ASN entries (90 % IPv4, 10 % IPv6; the host netblocks are taken from this table).
    #[arg(long, default_value_t = 1_000_000)]
    asn_prefixes: usize,
    /// (host, prefix) netblock pairs.
    #[arg(long, default_value_t = 60_000)]
    netblocks: usize,
}

impl Shape {
    /// The generator's parameters for this shape.
    fn params(self, version: u64, created_at: i64) -> generate::Params {
        generate::Params {
            seed: self.seed,
            hosts: self.hosts,
            private: self.private,
            directories: self.directories,
            asn_prefixes: self.asn_prefixes,
            netblocks: self.netblocks,
            version,
            created_at,
        }
    }

    /// The flags that select this shape (for a child `generate`).
    fn flags(self) -> Vec<String> {
        [
            ("--seed", self.seed as usize),
            ("--hosts", self.hosts),
            ("--private", self.private),
            ("--directories", self.directories),
            ("--asn-prefixes", self.asn_prefixes),
            ("--netblocks", self.netblocks),
        ]
        .iter()
        .flat_map(|(flag, n)| [flag.to_string(), n.to_string()])
        .collect()
    }
}

#[derive(clap::Args, Debug)]
struct DatasetArgs {
    /// How big.
    #[arg(long, value_enum, default_value = "fedora")]
    scale: Scale,
    /// Dataset seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory to write into (created): snapshot.mfs, snapshot.mfs.geoip.mmdb,
    /// inventory.json, prefix-asn.txt, requests.txt.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Targets in requests.txt (the realistic mix).
    #[arg(long, default_value_t = 50_000)]
    requests: usize,
}

#[derive(clap::Args, Debug)]
struct GenerateArgs {
    /// Snapshot file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    shape: Shape,
    /// Snapshot version.
    #[arg(long, default_value_t = 1)]
    snapshot_version: u64,
    /// Creation time, Unix seconds [default: 2026-01-01T00:00:00Z, for reproducible bytes].
    #[arg(long, default_value_t = 1_767_225_600)]
    created_at: i64,
    /// Where to write the matching GeoIP (MaxMind Country) file [default: <out>.geoip.mmdb].
    #[arg(long, value_name = "FILE")]
    geoip_out: Option<PathBuf>,
    /// Do not write a GeoIP file.
    #[arg(long, conflicts_with = "geoip_out")]
    no_geoip: bool,
}

#[derive(clap::Args, Debug)]
struct InventoryArgs {
    /// Inventory file to write (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also write the prefix→ASN table (`prefix/len ASN` lines) to this file.
    #[arg(long, value_name = "FILE")]
    asn_table_out: Option<PathBuf>,
    #[command(flatten)]
    shape: Shape,
    /// Reference time for the file histories, Unix seconds [default: 2026-01-01T00:00:00Z].
    #[arg(long, default_value_t = 1_767_225_600)]
    created_at: i64,
    /// Write compact JSON instead of two-space indentation.
    #[arg(long)]
    compact: bool,
}

#[derive(clap::Args, Debug)]
struct TreeArgs {
    /// Directory to write into (created): pub/…, fullfiletimelist, inventory.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Dataset seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directories.
    #[arg(long, default_value_t = 30_000)]
    directories: usize,
    /// Packages per Packages/<letter> directory.
    #[arg(long, default_value_t = 12)]
    packages: usize,
    /// Reference time of the repomd.xml revisions, Unix seconds [default: 2026-01-01T00:00:00Z].
    #[arg(long, default_value_t = 1_767_225_600)]
    created_at: i64,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["requests_file", "mix"])))]
struct RunArgs {
    /// The edge, http://HOST:PORT.
    #[arg(long, value_name = "URL")]
    target: String,
    /// How long to send load.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop after this many requests (all connections together).
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Concurrent keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Request targets, one per line (`/metalink?repo=…&arch=…&ip=…`), cycled.
    #[arg(long, value_name = "FILE")]
    requests_file: Option<PathBuf>,
    /// A built-in mix built from --snapshot: realistic, full-metalink, first-dir, last-dir.
    #[arg(long, value_name = "NAME", requires = "snapshot")]
    mix: Option<String>,
    /// The snapshot the edge serves (for --mix).
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// Distinct targets in a built-in mix.
    #[arg(long, default_value_t = 50_000)]
    mix_size: usize,
    /// Seed of the mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the targets used to this file (a --requests-file for later runs).
    #[arg(long, value_name = "FILE")]
    write_requests: Option<PathBuf>,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Open loop: send this many requests per second (all connections together), measuring
    /// each latency from when the request was due (coordinated-omission corrected). Without
    /// it: closed loop, each connection as fast as its answers come.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Speak HTTP/2 over cleartext (prior knowledge) instead of HTTP/1.1.
    #[arg(long)]
    h2c: bool,
    /// The server's process id: report its CPU time during the run and its memory after.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Also write the report as JSON to this file (`-`: standard output, instead of the line).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// The small dataset only, short phases (the CI smoke run).
    #[arg(long)]
    quick: bool,
    /// The edge binary [default: mirrorfleet-edge beside this program].
    #[arg(long, value_name = "PATH")]
    edge_bin: Option<PathBuf>,
    /// Datasets (kept between runs), logs, the swap store.
    #[arg(long, value_name = "DIR", default_value = "/tmp/mfbench/suite")]
    work: PathBuf,
    /// The report whose bench section is replaced (appended when it has none).
    #[arg(long, value_name = "FILE", default_value = "docs/benchmarks.md")]
    report: PathBuf,
    /// Length of each load phase [default: 10s, --quick 1s].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Swaps under load.
    #[arg(long, default_value_t = 50)]
    swaps: usize,
    /// Do not pin the edge to a core of its own.
    #[arg(long)]
    no_pin: bool,
}

#[derive(clap::Args, Debug)]
struct BaselineArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// Size of every answer, bytes (default: a 100-host Fedora metalink's).
    #[arg(long, default_value_t = 23_552)]
    body_size: usize,
    /// Make one answer in N wait --stall first (a server with hiccups).
    #[arg(long, value_name = "N", requires = "stall")]
    stall_every: Option<u64>,
    /// How long a stalled answer waits.
    #[arg(long, value_parser = parse_duration, requires = "stall_every")]
    stall: Option<Duration>,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(clap::Args, Debug)]
struct MeasureArgs {
    /// The edge binary (build it with --profile bench-release).
    #[arg(long, value_name = "PATH")]
    edge_bin: PathBuf,
    /// Snapshot file from `generate`.
    #[arg(long, value_name = "FILE")]
    snapshot: PathBuf,
    /// GeoIP file [default: <snapshot>.geoip.mmdb when present].
    #[arg(long, value_name = "FILE")]
    geoip: Option<PathBuf>,
    /// Length of each measured phase.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Connections of the CPU phases (1 or 2; 1 = one request at a time).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seed of the request mixes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also count the edge's user-space instructions per request with `perf stat`.
    #[arg(long)]
    perf: bool,
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Do not pin the edge to one CPU and the load generator to the others.
    #[arg(long)]
    no_pin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dataset(a) => dataset(a),
        Command::Generate(a) => generate(a),
        Command::GenerateInventory(a) => generate_inventory(a),
        Command::GenerateTree(a) => generate_tree(a),
        Command::Run(a) => run(a),
        Command::Baseline(a) => serve_baseline(a),
        Command::Measure(a) => measure(a),
        Command::Bench(a) => bench_suite(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mirrorfleet-loadtest: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench_suite(a: BenchArgs) -> anyhow::Result<()> {
    let self_bin = std::env::current_exe().context("cannot find this program")?;
    let edge_bin = a
        .edge_bin
        .unwrap_or_else(|| self_bin.with_file_name("mirrorfleet-edge"));
    anyhow::ensure!(
        edge_bin.is_file(),
        "no edge binary at {} (build it: cargo build --profile bench-release -p \
         mirrorfleet-edge, or pass --edge-bin)",
        edge_bin.display()
    );
    let edge_cpu = pin_edge_core(a.no_pin)?;
    let args = bench::Args {
        edge_bin,
        self_bin,
        work: a.work,
        report: a.report,
        quick: a.quick,
        duration: a
            .duration
            .unwrap_or(Duration::from_secs(if a.quick { 1 } else { 10 })),
        swaps: a.swaps,
    };
    runtime(1)?.block_on(bench::run(args, edge_cpu))
}

/// "One core for the edge": the last allowed CPU goes to the edge, this process keeps the
/// others (`None` with one CPU or `no_pin`).
fn pin_edge_core(no_pin: bool) -> anyhow::Result<Option<usize>> {
    let cpus = util::allowed_cpus();
    match cpus.split_last() {
        Some((&last, rest)) if !no_pin && !rest.is_empty() => {
            util::pin_to(rest).context("cannot pin the load generator")?;
            Ok(Some(last))
        }
        _ => Ok(None),
    }
}

fn serve_baseline(a: BaselineArgs) -> anyhow::Result<()> {
    let stall = a
        .stall_every
        .zip(a.stall)
        .map(|(every, delay)| baseline::Stall { every, delay });
    runtime(a.threads)?.block_on(baseline::run(a.listen, a.body_size, stall))
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?)
}

fn dataset(a: DatasetArgs) -> anyhow::Result<()> {
    let shape = a.scale.shape(a.seed);
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let snapshot = a.out.join("snapshot.mfs");
    let created_at = 1_767_225_600;
    eprintln!(
        "== {:?} dataset, seed {} → {}",
        a.scale,
        a.seed,
        a.out.display()
    );
    generate(GenerateArgs {
        out: snapshot.clone(),
        shape,
        snapshot_version: 1,
        created_at,
        geoip_out: None,
        no_geoip: false,
    })?;
    generate_inventory(InventoryArgs {
        out: a.out.join("inventory.json"),
        asn_table_out: Some(a.out.join("prefix-asn.txt")),
        shape,
        created_at,
        compact: false,
    })?;
    let snap = Snapshot::read_file(&snapshot).map_err(|e| anyhow::anyhow!("{e}"))?;
    let targets = mix::realistic(&snap, &plan::Plan::new(), a.seed, a.requests);
    let mut text = format!(
        "# mirrorfleet-loadtest realistic mix, {:?} dataset, seed {}\n",
        a.scale, a.seed
    );
    for t in &targets {
        text.push_str(t);
        text.push('\n');
    }
    let requests = a.out.join("requests.txt");
    std::fs::write(&requests, text)
        .with_context(|| format!("cannot write {}", requests.display()))?;
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in &targets {
        *kinds.entry(mix::kind_of(t)).or_default() += 1;
    }
    let shares: Vec<String> = kinds
        .iter()
        .map(|(k, n)| {
            format!(
                "{k} {:.1} %",
                *n as f64 * 100.0 / targets.len().max(1) as f64
            )
        })
        .collect();
    println!(
        "wrote {} ({} targets: {})",
        requests.display(),
        targets.len(),
        shares.join(", ")
    );
    Ok(())
}

fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let params = a.shape.params(a.snapshot_version, a.created_at);
    let t0 = Instant::now();
    let plan = plan::Plan::new();
    let mut progress = |line: &str| eprintln!("[{:>6.2} s] {line}", t0.elapsed().as_secs_f64());
    let (mut data, summary) = generate::generate(&params, &plan, &mut progress)?;
    let geoip_path = (!a.no_geoip).then(|| {
        a.geoip_out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.geoip.mmdb", a.out.display())))
    });
    if let Some(path) = &geoip_path {
        progress(&format!("GeoIP file {} …", path.display()));
        let size = plan.write_geoip(path)?;
        let bytes = std::fs::read(path)?;
        data.inputs.geoip_sha256 = Some(
            Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        );
        progress(&format!("GeoIP file written: {}", mib(size)));
    }
    let generated = t0.elapsed();
    progress("building the snapshot (mirrorfleet_snapshot::build, includes its own validation) …");
    let b0 = Instant::now();
    let bytes = mirrorfleet_snapshot::build(&data).context("the snapshot does not build")?;
    let build_time = b0.elapsed();
    drop(data);
    std::fs::write(&a.out, &bytes).with_context(|| format!("cannot write {}", a.out.display()))?;
    progress("reading it back (Snapshot::read_file: hash, bytecheck, validation) …");
    let r0 = Instant::now();
    let snap = Snapshot::read_file(&a.out).map_err(|e| anyhow::anyhow!("{e}"))?;
    let read_time = r0.elapsed();
    let c = &snap.payload().counts;
    let hosts = &snap.payload().hosts;
    let mut countries: Vec<[u8; 2]> = hosts.iter().map(|h| h.country).collect();
    countries.sort_unstable();
    countries.dedup();
    let file_sha256 = snap.file_sha256_hex();
    println!(
        "wrote {} ({} = {} bytes), sha256 {file_sha256}",
        a.out.display(),
        mib(bytes.len() as u64),
        bytes.len()
    );
    if let Some(p) = &geoip_path {
        println!("wrote {}", p.display());
    }
    println!(
        "seed {}  version {}  created_at {}",
        a.shape.seed, a.snapshot_version, a.created_at
    );
    println!(
        "hosts {} (public {}, private {}) in {} countries",
        c.hosts.to_native(),
        c.public_hosts.to_native(),
        c.hosts.to_native() - c.public_hosts.to_native(),
        countries.len()
    );
    println!(
        "directories {} (of {} laid out, {} archived releases)  carried pairs {}  distinct carrier groups {}",
        c.directories.to_native(),
        summary.directories_available,
        summary.archived_releases,
        c.carried_pairs.to_native(),
        summary.carrier_groups
    );
    println!(
        "repo map entries {}  file-detail rows {}",
        c.repo_map_entries.to_native(),
        c.file_details.to_native()
    );
    println!(
        "netblock pairs {}  ASN map entries {}",
        c.netblocks.to_native(),
        c.asn_map_entries.to_native()
    );
    println!(
        "prefix→ASN entries {} (IPv4 {}, IPv6 {})",
        c.prefix_asn_entries.to_native(),
        summary.asn_v4,
        summary.asn_v6
    );
    println!(
        "time: generate {:.2} s, build {:.2} s, read back {:.2} s, total {:.2} s",
        generated.as_secs_f64(),
        build_time.as_secs_f64(),
        read_time.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn generate_tree(a: TreeArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut progress = |line: &str| eprintln!("[{:>6.2} s] {line}", t0.elapsed().as_secs_f64());
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let params = generate::TreeParams {
        seed: a.seed,
        directories: a.directories,
        packages: a.packages,
        created_at: a.created_at,
    };
    let s = generate::write_master_tree(&a.out, &params, &mut progress)?;
    println!(
        "wrote {}: {} directories ({} repodata), {} files; fullfiletimelist ({} lines), \
         inventory.json",
        a.out.display(),
        s.directories,
        s.repodata,
        s.files,
        s.list_lines
    );
    Ok(())
}

fn generate_inventory(a: InventoryArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let params = a.shape.params(1, a.created_at);
    let t0 = Instant::now();
    let plan = plan::Plan::new();
    let mut progress = |line: &str| eprintln!("[{:>6.2} s] {line}", t0.elapsed().as_secs_f64());
    let (data, _) = generate::generate(&params, &plan, &mut progress)?;
    let (doc, s) = generate::inventory(&data, a.shape.seed, &mut progress)?;
    progress(&format!("writing {} …", a.out.display()));
    let file = std::fs::File::create(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    if a.compact {
        serde_json::to_writer(&mut w, &doc)?;
    } else {
        serde_json::to_writer_pretty(&mut w, &doc)?;
    }
    w.write_all(b"\n")?;
    w.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    drop(doc);
    let size = std::fs::metadata(&a.out)?.len();
    if let Some(path) = &a.asn_table_out {
        progress(&format!("writing {} …", path.display()));
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        writeln!(
            w,
            "# mirrorfleet-loadtest synthetic prefix→ASN table, seed {}",
            a.shape.seed
        )?;
        for (prefix, asn) in &data.prefix_asn {
            writeln!(w, "{prefix} {asn}")?;
        }
        w.flush()?;
    }
    println!(
        "wrote {} ({} = {size} bytes), seed {}",
        a.out.display(),
        mib(size),
        a.shape.seed
    );
    if let Some(p) = &a.asn_table_out {
        println!(
            "wrote {} ({} prefix→ASN entries)",
            p.display(),
            data.prefix_asn.len()
        );
    }
    println!(
        "sites {}  hosts {} (private {}) in {} countries  host categories {}",
        s.sites, s.hosts, s.private_hosts, s.countries, s.host_categories
    );
    println!(
        "categories {}  directories {} (listed {}, {} trimmed ancestors restored)  repositories {}  files {}  file versions {}",
        s.categories,
        s.directories,
        s.listed_directories,
        s.added_ancestors,
        s.repositories,
        s.files,
        s.file_versions
    );
    println!(
        "up2date patterns {}  host_category_dir rows on import {}  netblocks {}  peer ASNs {}",
        s.up2date_patterns, s.hcd_rows, s.netblocks, s.peer_asns
    );
    println!("time {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn run(a: RunArgs) -> anyhow::Result<()> {
    let addr = util::parse_target(&a.target)?;
    let targets = match (&a.requests_file, &a.mix) {
        (Some(f), _) => mix::read_requests_file(f)?,
        (None, Some(name)) => {
            let path = a.snapshot.as_ref().context("--mix needs --snapshot")?;
            eprintln!("reading {} …", path.display());
            let snap = Snapshot::read_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            mix::build(name, &snap, &plan::Plan::new(), a.seed, a.mix_size)?
        }
        (None, None) => unreachable!("clap requires a source"),
    };
    if let Some(path) = &a.write_requests {
        let mut text = String::from("# mirrorfleet-loadtest request targets\n");
        for t in &targets {
            text.push_str(t);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let protocol = if a.h2c {
        load::Protocol::H2c
    } else {
        load::Protocol::Http1
    };
    let pace = match a.rate {
        Some(rate) => {
            anyhow::ensure!(
                rate.is_finite() && rate > 0.0,
                "--rate must be a positive number of requests per second, not {rate}"
            );
            load::Pace::Open { rate }
        }
        None => load::Pace::Closed,
    };
    eprintln!(
        "{} distinct targets → {addr} ({}), {} connection(s), {}, {:.1} s{}",
        targets.len(),
        protocol.name(),
        a.concurrency,
        match pace {
            load::Pace::Closed => "closed loop".to_string(),
            load::Pace::Open { rate } => format!("open loop at {rate} req/s"),
        },
        a.duration.as_secs_f64(),
        a.requests
            .map(|n| format!(", at most {n} requests"))
            .unwrap_or_default()
    );
    let server_before = a.pid.map(util::process_cpu).transpose()?;
    let rt = runtime(a.threads)?;
    let result = rt.block_on(load::run(load::LoadSpec {
        addr,
        duration: a.duration,
        max_requests: a.requests,
        concurrency: a.concurrency.max(1),
        targets: Arc::new(targets),
        progress: Some("run".into()),
        protocol,
        pace,
        stop: None,
    }));
    let mut report = result.to_json();
    report["protocol"] = protocol.name().into();
    report["pace"] = match pace {
        load::Pace::Closed => serde_json::json!({"mode": "closed", "connections": a.concurrency}),
        load::Pace::Open { rate } => {
            serde_json::json!({"mode": "open", "rate_per_s": rate, "connections": a.concurrency})
        }
    };
    let mut lines = vec![result.summary()];
    if let (Some(pid), Some((user0, sys0))) = (a.pid, server_before) {
        let (user1, sys1) = util::process_cpu(pid)?;
        let (rss, hwm) = util::process_memory(pid)?;
        let cpu = (user1 - user0) + (sys1 - sys0);
        let per_request_us = cpu * 1e6 / result.requests.max(1) as f64;
        lines.push(format!(
            "server (pid {pid}): CPU {cpu:.2} s ({:.2} user, {:.2} system) = {per_request_us:.1} µs per request; RSS {} (peak {})",
            user1 - user0,
            sys1 - sys0,
            mib(rss * 1024),
            mib(hwm * 1024)
        ));
        report["server"] = serde_json::json!({
            "pid": pid,
            "cpu_user_s": user1 - user0,
            "cpu_system_s": sys1 - sys0,
            "cpu_per_request_us": per_request_us,
            "rss_kib": rss,
            "peak_rss_kib": hwm,
        });
    }
    match a.json.as_deref() {
        Some(p) if p == std::path::Path::new("-") => {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Some(p) => {
            std::fs::write(p, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("cannot write {}", p.display()))?;
            println!("{}", lines.join("\n"));
        }
        None => println!("{}", lines.join("\n")),
    }
    anyhow::ensure!(
        result.requests > 0,
        "no request completed (errors: {})",
        result.errors
    );
    Ok(())
}

fn measure(a: MeasureArgs) -> anyhow::Result<()> {
    // "CPU per request on one core": the edge gets the last allowed CPU to itself
    // (its runtime then starts one worker), the load generator the others; this
    // also keeps the scheduler from moving the two between cores mid-phase.
    let edge_cpu = pin_edge_core(a.no_pin)?;
    let rt = runtime(a.threads)?;
    rt.block_on(measure::measure(measure::Args {
        edge_bin: a.edge_bin,
        snapshot: a.snapshot,
        geoip: a.geoip,
        duration: a.duration,
        concurrency: a.concurrency,
        seed: a.seed,
        perf: a.perf,
        json: a.json,
        edge_cpu,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dataset --scale small` writes every file, and the same seed writes the same bytes.
    #[test]
    fn small_dataset_is_complete_and_deterministic() {
        // Two fresh directories of this process (no temp-dir crate in this one).
        let base = std::env::temp_dir().join(format!("mfl-dataset-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dirs = [base.join("a"), base.join("b")];
        for d in &dirs {
            dataset(DatasetArgs {
                scale: Scale::Small,
                seed: 5,
                out: d.clone(),
                requests: 2_000,
            })
            .unwrap();
        }
        for name in [
            "snapshot.mfs",
            "snapshot.mfs.geoip.mmdb",
            "inventory.json",
            "prefix-asn.txt",
            "requests.txt",
        ] {
            let a = std::fs::read(dirs[0].join(name)).unwrap();
            let b = std::fs::read(dirs[1].join(name)).unwrap();
            assert!(!a.is_empty(), "{name} is empty");
            assert!(a == b, "{name} differs between two runs with one seed");
        }
        let snap = Snapshot::read_file(&dirs[0].join("snapshot.mfs")).unwrap();
        assert_eq!(snap.payload().counts.hosts.to_native(), 60);
        let inventory: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dirs[0].join("inventory.json")).unwrap())
                .unwrap();
        let hosts: usize = inventory["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["hosts"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(hosts, 60);
        let requests = std::fs::read_to_string(dirs[0].join("requests.txt")).unwrap();
        assert_eq!(
            requests.lines().filter(|l| l.starts_with('/')).count(),
            2_000
        );
    }
}
