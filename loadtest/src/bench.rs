//! `bench`: the benchmark suite of docs/benchmarks.md in one command. It builds the datasets
//! (`dataset --scale small|fedora|huge`), starts the edge and the baseline server pinned to
//! the same core, runs every measurement side by side, and writes the report: a table of the
//! goals, the figures per scale, two SVG charts (latency percentiles; cost across scales),
//! the machine and the exact commands, between the `bench` markers of the report file.
//! `--quick` runs the same suite on the small dataset for a few seconds (CI's smoke run).
//!
//! The machine is noisy, so the comparisons are ratios measured in one run: the edge against
//! the baseline on the same core, with the same client, the same connections and duration.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mirrorfleet_snapshot::Snapshot;
use serde_json::{Value, json};

use crate::load::{self, LoadResult, LoadSpec, Pace};
use crate::util::{self, http_get, process_cpu, process_memory};
use crate::{mix, plan};

/// The suite's goals (issue text and docs/benchmarks.md).
pub const GOAL_THROUGHPUT_RATIO: f64 = 0.35;
pub const GOAL_CPU_FULL_US: f64 = 40.0;
pub const GOAL_P99_HALF_LOAD_US: u64 = 2_000;
pub const GOAL_RSS_BYTES: u64 = 300_000_000;
pub const GOAL_LOAD_FEDORA_MS: f64 = 250.0;
pub const GOAL_LOAD_HUGE_MS: f64 = 1_000.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Args {
    /// The edge binary.
    pub edge_bin: PathBuf,
    /// This program (for `baseline` and `dataset`).
    pub self_bin: PathBuf,
    /// Datasets and logs.
    pub work: PathBuf,
    /// The report to update (between the markers).
    pub report: PathBuf,
    /// Small dataset, short phases.
    pub quick: bool,
    /// Length of each load phase.
    pub duration: Duration,
    /// Swaps under load.
    pub swaps: usize,
}

/// Start and end of the generated part of the report.
pub const BEGIN: &str =
    "<!-- bench:begin (written by `mirrorfleet-loadtest bench`; edit outside) -->";
pub const END: &str = "<!-- bench:end -->";

/// A pinned child process listening on `addr`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn spawn(
        bin: &Path,
        args: &[String],
        cpu: Option<usize>,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg("--listen")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        if let Some(cpu) = cpu {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only sched_setaffinity runs (async-signal-safe).
            unsafe {
                cmd.pre_exec(move || util::pin_to(&[cpu]));
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Server { child, addr, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `probe` answers 200.
    async fn ready(&mut self, probe: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.log.display(),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok((200, _)) = http_get(self.addr, probe).await {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "not ready after 300 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A load run with the server's CPU time around it.
struct Measured {
    load: LoadResult,
    cpu_us_per_request: f64,
}

async fn measured(pid: u32, spec: LoadSpec) -> anyhow::Result<Measured> {
    let (u0, s0) = process_cpu(pid)?;
    let load = load::run(spec).await;
    let (u1, s1) = process_cpu(pid)?;
    let cpu = (u1 - u0) + (s1 - s0);
    Ok(Measured {
        cpu_us_per_request: cpu * 1e6 / load.requests.max(1) as f64,
        load,
    })
}

fn targets_of(path: &Path) -> anyhow::Result<Arc<Vec<String>>> {
    Ok(Arc::new(mix::read_requests_file(path)?))
}

/// Figures of one scale.
struct ScaleFigures {
    scale: &'static str,
    load_ms: f64,
    closed: Measured,
    open_half: Measured,
    full: Option<Measured>,
    baseline: Option<Measured>,
    rss_bytes: u64,
}

fn edge_args(snapshot: &Path, config: &Path) -> Vec<String> {
    let mut a = vec![
        "--snapshot".to_string(),
        snapshot.display().to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    let geoip = PathBuf::from(format!("{}.geoip.mmdb", snapshot.display()));
    if geoip.exists() {
        a.extend(["--geoip".to_string(), geoip.display().to_string()]);
    }
    a
}

fn write_edge_config(work: &Path) -> anyhow::Result<PathBuf> {
    let config = work.join("edge.toml");
    std::fs::write(
        &config,
        "# written by mirrorfleet-loadtest bench\n[server]\nip_param_networks = [\"127.0.0.0/8\"]\n\n\
         [shutdown]\ndrain_delay = \"0s\"\ngrace = \"1s\"\n\n[log]\nlevel = \"warn\"\n",
    )?;
    Ok(config)
}

/// Runs the dataset command of this program for `scale` into `dir` (skipped when there).
fn ensure_dataset(args: &Args, scale: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.join("requests.txt").exists() {
        return Ok(());
    }
    eprintln!("== dataset {scale} → {}", dir.display());
    let out = Command::new(&args.self_bin)
        .args(["dataset", "--scale", scale, "--seed", "1", "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()?;
    anyhow::ensure!(out.success(), "dataset --scale {scale} failed ({out})");
    Ok(())
}

async fn measure_scale(
    args: &Args,
    scale: &'static str,
    edge_cpu: Option<usize>,
    with_baseline: bool,
) -> anyhow::Result<ScaleFigures> {
    let dir = args.work.join(scale);
    ensure_dataset(args, scale, &dir)?;
    let config = write_edge_config(&args.work)?;
    let snapshot = dir.join("snapshot.mfs");
    let mut edge = Server::spawn(
        &args.edge_bin,
        &edge_args(&snapshot, &config),
        edge_cpu,
        args.work.join(format!("edge-{scale}.log")),
    )?;
    edge.ready("/readyz").await?;
    let (_, status) = http_get(edge.addr, "/snapshot").await?;
    let status: Value = serde_json::from_str(&status).context("/snapshot is not JSON")?;
    let load_ms = status["snapshot"]["load_duration_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let targets = targets_of(&dir.join("requests.txt"))?;
    // Warm-up, then the closed loop (the edge's capacity on its core).
    let warm = LoadSpec::closed(edge.addr, Duration::from_millis(500), 2, targets.clone());
    let _ = load::run(warm).await;
    eprintln!(
        "== {scale}: realistic mix, closed loop, {:?}",
        args.duration
    );
    let closed = measured(
        edge.pid(),
        LoadSpec::closed(edge.addr, args.duration, 2, targets.clone()),
    )
    .await?;
    eprintln!("   {}", closed.load.summary());
    // Open loop at half that rate: the latency a user sees at 50 % load.
    let half = (closed.load.rate() / 2.0).max(1.0);
    eprintln!("== {scale}: realistic mix, open loop at {half:.0} req/s");
    let mut spec = LoadSpec::closed(edge.addr, args.duration, 8, targets.clone());
    spec.pace = Pace::Open { rate: half };
    let open_half = measured(edge.pid(), spec).await?;
    eprintln!("   {}", open_half.load.summary());
    // The full metalink (the 100-host cap), where the dataset has one.
    let snap = Snapshot::read_file(&snapshot).map_err(|e| anyhow::anyhow!("{e}"))?;
    let full = match mix::build("full-metalink", &snap, &plan::Plan::new(), 1, 5_000) {
        Ok(t) => {
            eprintln!("== {scale}: full metalinks");
            let m = measured(
                edge.pid(),
                LoadSpec::closed(edge.addr, args.duration, 2, Arc::new(t)),
            )
            .await?;
            eprintln!("   {}", m.load.summary());
            Some(m)
        }
        Err(_) => None,
    };
    drop(snap);
    let rss_bytes = process_memory(edge.pid())?.0 * 1024;
    drop(edge);
    let baseline = if with_baseline {
        // The same client against the baseline on the same core, answering bodies of the
        // edge's mean size.
        let body = (closed.load.body_bytes / closed.load.requests.max(1)).to_string();
        let mut server = Server::spawn(
            &args.self_bin,
            &["baseline".into(), "--body-size".into(), body],
            edge_cpu,
            args.work.join("baseline.log"),
        )?;
        server.ready("/").await?;
        let _ = load::run(LoadSpec::closed(
            server.addr,
            Duration::from_millis(500),
            2,
            targets.clone(),
        ))
        .await;
        eprintln!("== baseline, closed loop");
        let m = measured(
            server.pid(),
            LoadSpec::closed(server.addr, args.duration, 2, targets),
        )
        .await?;
        eprintln!("   {}", m.load.summary());
        Some(m)
    } else {
        None
    };
    Ok(ScaleFigures {
        scale,
        load_ms,
        closed,
        open_half,
        full,
        baseline,
        rss_bytes,
    })
}

/// Figures of the swap run.
struct SwapFigures {
    swaps: u64,
    load: LoadResult,
}

/// `swaps` swaps under closed-loop load: a store-mode edge follows manifests alternating
/// between two versions (the lower one as a rollback, loaded again from the edge's cache:
/// every swap maps, validates and indexes a snapshot).
async fn swaps_under_load(
    args: &Args,
    scale: &str,
    edge_cpu: Option<usize>,
) -> anyhow::Result<SwapFigures> {
    let dir = args.work.join(scale);
    let store = args.work.join("store");
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_dir_all(args.work.join("cache"));
    std::fs::create_dir_all(store.join("snapshots"))?;
    // A second version of the same dataset.
    let v2 = dir.join("snapshot-v2.mfs");
    if !v2.exists() {
        let out = Command::new(&args.self_bin)
            .args(["generate", "--no-geoip", "--snapshot-version", "2", "--out"])
            .arg(&v2)
            .args(scale_flags(scale))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(out.success(), "generating version 2 failed");
    }
    let versions = [(1u64, dir.join("snapshot.mfs")), (2, v2)];
    let mut objects = Vec::new();
    let mut installation = String::new();
    for (v, path) in &versions {
        let bytes = std::fs::read(path)?;
        let snap = Snapshot::from_bytes(bytes.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        installation = snap.installation_id();
        let sha = snap.file_sha256_hex();
        let key = format!("snapshots/{v:012}-{sha}.mfs");
        std::fs::write(store.join(&key), &bytes)?;
        objects.push((*v, key, sha, bytes.len() as u64));
    }
    let write_manifest = |serial: u64, i: usize, rollback: bool| -> anyhow::Result<()> {
        let (v, key, sha, size) = &objects[i];
        let m = json!({
            "format": "mirrorfleet-manifest", "format_version": 1, "serial": serial,
            "installation_id": installation, "published_at": "2026-01-01T00:00:00Z",
            "rollback": rollback,
            "snapshot": {"version": v, "key": key, "sha256": sha, "size": size,
                "format_version": 1, "created_at": "2026-01-01T00:00:00Z", "source_generation": v},
        });
        let tmp = store.join(".manifest.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&m)?)?;
        std::fs::rename(&tmp, store.join("manifest.json"))?;
        Ok(())
    };
    write_manifest(1, 0, false)?;
    let config = write_edge_config(&args.work)?;
    let mut edge = Server::spawn(
        &args.edge_bin,
        &[
            "--store".into(),
            format!("file://{}", store.display()),
            "--cache-dir".into(),
            args.work.join("cache").display().to_string(),
            "--poll-interval".into(),
            "100ms".into(),
            "--config".into(),
            config.display().to_string(),
        ],
        edge_cpu,
        args.work.join("edge-swaps.log"),
    )?;
    edge.ready("/readyz").await?;
    let loads_before = swap_count(edge.addr).await?;
    let targets = targets_of(&dir.join("requests.txt"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut spec = LoadSpec::closed(edge.addr, Duration::from_secs(3600), 2, targets);
    spec.stop = Some(stop.clone());
    let load = tokio::spawn(load::run(spec));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut swapped = 0;
    for k in 0..args.swaps {
        let serial = 2 + k as u64;
        // Even k: version 2; odd k: back to version 1, as a rollback.
        write_manifest(serial, (k + 1) % 2, k % 2 == 1)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while swap_count(edge.addr).await? < loads_before + k as u64 + 1 {
            anyhow::ensure!(Instant::now() < deadline, "swap {k} did not happen in 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        swapped += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.context("the load task failed")?;
    drop(edge);
    Ok(SwapFigures {
        swaps: swapped,
        load,
    })
}

/// `snapshot_loads_total{result="ok"}` of an edge.
async fn swap_count(addr: SocketAddr) -> anyhow::Result<u64> {
    let (_, m) = http_get(addr, "/metrics").await?;
    Ok(m.lines()
        .find_map(|l| l.strip_prefix("mirrorfleet_edge_snapshot_loads_total{result=\"ok\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// The `generate` flags of a dataset scale (seed 1, as `ensure_dataset` builds it).
fn scale_flags(scale: &str) -> Vec<String> {
    let scale = match scale {
        "small" => crate::Scale::Small,
        "huge" => crate::Scale::Huge,
        _ => crate::Scale::Fedora,
    };
    scale.shape(1).flags()
}

/// Runs the suite and writes the report.
pub async fn run(args: Args, edge_cpu: Option<usize>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work)
        .with_context(|| format!("cannot create {}", args.work.display()))?;
    let started = Instant::now();
    let (scales, main): (&[&'static str], &'static str) = if args.quick {
        (&["small"], "small")
    } else {
        (&["small", "fedora", "huge"], "fedora")
    };
    let mut figures = Vec::new();
    for &scale in scales {
        figures.push(measure_scale(&args, scale, edge_cpu, scale == main).await?);
    }
    eprintln!("== {} swaps under load ({main})", args.swaps);
    let swaps = swaps_under_load(&args, main, edge_cpu).await?;
    eprintln!("   {} swaps; {}", swaps.swaps, swaps.load.summary());
    let report = render(&args, &figures, main, &swaps, edge_cpu, started.elapsed());
    write_report(&args.report, &report.markdown)?;
    let dir = args.report.parent().unwrap_or(Path::new("."));
    std::fs::write(dir.join("bench-latency.svg"), report.latency_svg)?;
    std::fs::write(dir.join("bench-scales.svg"), report.scales_svg)?;
    println!("{}", report.table);
    println!(
        "wrote {} (between the bench markers), bench-latency.svg and bench-scales.svg beside it",
        args.report.display()
    );
    Ok(())
}

struct Rendered {
    markdown: String,
    table: String,
    latency_svg: String,
    scales_svg: String,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**MISSED**" }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} × {model}, Linux {}",
        util::allowed_cpus().len(),
        kernel.trim()
    )
}

fn render(
    args: &Args,
    figures: &[ScaleFigures],
    main: &str,
    swaps: &SwapFigures,
    edge_cpu: Option<usize>,
    took: Duration,
) -> Rendered {
    let f = figures
        .iter()
        .find(|f| f.scale == main)
        .unwrap_or(&figures[0]);
    let by = |s: &str| figures.iter().find(|f| f.scale == s);
    let mut rows: Vec<[String; 4]> = Vec::new();
    if let Some(b) = &f.baseline {
        let ratio = f.closed.load.rate() / b.load.rate().max(1e-9);
        rows.push([
            "realistic mix, closed loop: edge ÷ baseline throughput".into(),
            format!("≥ {GOAL_THROUGHPUT_RATIO}"),
            format!(
                "{ratio:.2} (edge {:.0} req/s, baseline {:.0} req/s)",
                f.closed.load.rate(),
                b.load.rate()
            ),
            verdict(ratio >= GOAL_THROUGHPUT_RATIO).into(),
        ]);
    }
    if let Some(full) = &f.full {
        rows.push([
            "CPU per full metalink (100 hosts), two connections, one core".into(),
            format!("≤ {GOAL_CPU_FULL_US} µs"),
            format!(
                "{:.1} µs ({:.1} KiB answers)",
                full.cpu_us_per_request,
                full.load.body_bytes as f64 / full.load.requests.max(1) as f64 / 1024.0
            ),
            verdict(full.cpu_us_per_request <= GOAL_CPU_FULL_US).into(),
        ]);
    }
    let p99 = f.open_half.load.quantile_us(0.99);
    rows.push([
        "p99 latency at 50 % of the edge's max throughput (open loop)".into(),
        format!("≤ {} ms", GOAL_P99_HALF_LOAD_US / 1000),
        format!("{p99} µs at {:.0} req/s", f.open_half.load.rate()),
        verdict(p99 <= GOAL_P99_HALF_LOAD_US).into(),
    ]);
    // Cost across scales: the full metalink is the same answer (the 100-host cap) at every
    // scale big enough to reach it, so its CPU per request must not grow with the dataset.
    let kib_of = |m: &Measured| m.load.body_bytes as f64 / m.load.requests.max(1) as f64 / 1024.0;
    let fulls: Vec<(&str, f64, f64)> = figures
        .iter()
        .filter_map(|s| {
            s.full
                .as_ref()
                .map(|m| (s.scale, m.cpu_us_per_request, kib_of(m)))
        })
        .collect();
    let cost: Vec<String> = fulls
        .iter()
        .map(|(scale, us, kib)| format!("{scale}: {us:.1} µs ({kib:.1} KiB)"))
        .collect();
    let main_kib = fulls.iter().find(|f| f.0 == main).map_or(0.0, |f| f.2);
    let same_answer: Vec<f64> = fulls
        .iter()
        .filter(|f| (f.2 - main_kib).abs() <= main_kib * 0.1)
        .map(|f| f.1)
        .collect();
    let spread = same_answer.iter().cloned().fold(0.0, f64::max)
        / same_answer
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min)
            .max(1e-9);
    rows.push([
        "full-metalink CPU per request across scales".into(),
        "grows with the answer's size only".into(),
        format!("{}; same-size answers within {spread:.2}×", cost.join(", ")),
        if same_answer.len() < 2 {
            "one scale only (--quick)".into()
        } else {
            verdict(spread <= 1.25).into()
        },
    ]);
    rows.push([
        format!("edge RSS with the {main} snapshot after the run"),
        "≤ 300 MB".into(),
        format!("{:.1} MB", f.rss_bytes as f64 / 1e6),
        verdict(f.rss_bytes <= GOAL_RSS_BYTES).into(),
    ]);
    let load_row = |s: &str, goal: f64| {
        by(s)
            .map(|x| format!("{s} {:.0} ms", x.load_ms))
            .map(|t| (t, by(s).is_some_and(|x| x.load_ms <= goal)))
    };
    let loads: Vec<(String, bool)> = [
        ("fedora", GOAL_LOAD_FEDORA_MS),
        ("huge", GOAL_LOAD_HUGE_MS),
        ("small", GOAL_LOAD_FEDORA_MS),
    ]
    .iter()
    .filter_map(|(s, g)| load_row(s, *g))
    .collect();
    rows.push([
        "snapshot load to swap".into(),
        "fedora ≤ 250 ms, huge ≤ 1 s".into(),
        loads
            .iter()
            .map(|(t, _)| t.clone())
            .collect::<Vec<_>>()
            .join(", "),
        verdict(loads.iter().all(|(_, ok)| *ok)).into(),
    ]);
    let failed = swaps.load.errors + swaps.load.server_errors();
    rows.push([
        format!("errors during {} swaps under load", swaps.swaps),
        "0".into(),
        format!("{failed} of {} requests", swaps.load.requests),
        verdict(failed == 0 && swaps.swaps as usize == args.swaps).into(),
    ]);
    let mut table = String::from("| what | goal | measured | |\n|---|---|---|---|\n");
    for r in &rows {
        table.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
    }
    let mut per_scale = String::from(
        "| scale | load | closed loop req/s | p50 | p90 | p99 | p99.9 | open loop at 50 %: p99 | CPU/request | KiB/response | RSS |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in figures {
        let l = &s.closed.load;
        per_scale.push_str(&format!(
            "| {} | {:.0} ms | {:.0} | {} µs | {} µs | {} µs | {} µs | {} µs | {:.1} µs | {:.1} | {:.1} MB |\n",
            s.scale,
            s.load_ms,
            l.rate(),
            l.quantile_us(0.5),
            l.quantile_us(0.9),
            l.quantile_us(0.99),
            l.quantile_us(0.999),
            s.open_half.load.quantile_us(0.99),
            s.closed.cpu_us_per_request,
            l.body_bytes as f64 / l.requests.max(1) as f64 / 1024.0,
            s.rss_bytes as f64 / 1e6
        ));
    }
    let quick = if args.quick { " --quick" } else { "" };
    let markdown = format!(
        "{BEGIN}\n\n### Suite (`mirrorfleet-loadtest bench{quick}`)\n\n\
         {} s of measurement on {}; edge {}, pinned to CPU {}, load generator on the others; \
         phases of {:.0} s, two keep-alive HTTP/1.1 connections (open loop: eight); the \
         baseline server on the edge's core, answering bodies of the edge's mean size.\n\n\
         {table}\n{per_scale}\n\
         ![Latency percentiles per scale](bench-latency.svg)\n\
         ![Cost per request across scales](bench-scales.svg)\n\n\
         ```sh\nexport CARGO_TARGET_DIR=$HOME/.cache/mirrorfleet/target\n\
         cargo build --profile bench-release -p mirrorfleet-edge -p mirrorfleet-loadtest\n\
         $CARGO_TARGET_DIR/bench-release/mirrorfleet-loadtest bench{quick} \\\n    \
         --edge-bin $CARGO_TARGET_DIR/bench-release/mirrorfleet-edge --work /tmp/mfbench/suite\n```\n\n{END}\n",
        took.as_secs(),
        machine(),
        args.edge_bin.display(),
        edge_cpu.map_or("(not pinned)".to_string(), |c| c.to_string()),
        args.duration.as_secs_f64(),
    );
    Rendered {
        markdown,
        table,
        latency_svg: latency_svg(figures),
        scales_svg: scales_svg(figures),
    }
}

/// Replaces the part between the markers of `report`, or appends it.
pub fn write_report(report: &Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(report).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!(
            "{}{section}{}",
            &old[..a],
            &old[b + END.len()..].trim_start_matches('\n')
        ),
        _ if old.is_empty() => section.to_string(),
        _ => format!("{}\n\n## Suite\n\n{section}", old.trim_end()),
    };
    std::fs::write(report, new).with_context(|| format!("cannot write {}", report.display()))
}

const COLORS: [&str; 3] = ["#4e79a7", "#f28e2b", "#59a14f"];

/// Grouped bars: latency percentiles (closed loop) per scale, log scale.
fn latency_svg(figures: &[ScaleFigures]) -> String {
    let qs = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];
    let (w, h, left, bottom) = (640.0, 320.0, 60.0, 40.0);
    let max = figures
        .iter()
        .flat_map(|f| qs.iter().map(|(_, q)| f.closed.load.quantile_us(*q)))
        .max()
        .unwrap_or(1)
        .max(10) as f64;
    let top = 10f64.powf(max.log10().ceil());
    let y = |us: f64| (h - bottom) - (us.max(1.0).log10() / top.log10()) * (h - bottom - 20.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{left}\" y=\"14\">Latency, closed loop, realistic mix (µs, log scale)</text>\n"
    );
    let mut decade = 1.0;
    while decade <= top {
        svg.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/><text x=\"4\" y=\"{0:.1}\">{decade}</text>\n",
            y(decade)
        ));
        decade *= 10.0;
    }
    let group = (w - left) / qs.len() as f64;
    let bar = group / (figures.len() as f64 + 1.0);
    for (qi, (name, q)) in qs.iter().enumerate() {
        let x0 = left + qi as f64 * group;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            x0 + group / 2.0 - 10.0,
            h - bottom + 16.0
        ));
        for (fi, f) in figures.iter().enumerate() {
            let v = f.closed.load.quantile_us(*q) as f64;
            let x = x0 + bar * (fi as f64 + 0.5);
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {name}: {v} µs</title></rect>\n",
                y(v),
                bar * 0.9,
                (h - bottom) - y(v),
                COLORS[fi % COLORS.len()],
                f.scale
            ));
        }
    }
    legend(&mut svg, figures, w);
    svg.push_str("</svg>\n");
    svg
}

/// Bars: CPU µs per request per scale, with the answer size.
fn scales_svg(figures: &[ScaleFigures]) -> String {
    let (w, h, left, bottom) = (640.0, 320.0, 60.0, 40.0);
    let max = figures
        .iter()
        .map(|f| f.closed.cpu_us_per_request)
        .fold(1.0, f64::max)
        * 1.2;
    let y = |v: f64| (h - bottom) - v / max * (h - bottom - 30.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{left}\" y=\"14\">Edge CPU per request (µs), realistic mix, by dataset scale</text>\n\
         <line x1=\"{left}\" x2=\"{w}\" y1=\"{0}\" y2=\"{0}\" stroke=\"#999\"/>\n",
        h - bottom
    );
    let slot = (w - left) / figures.len().max(1) as f64;
    for (i, f) in figures.iter().enumerate() {
        let v = f.closed.cpu_us_per_request;
        let kib = f.closed.load.body_bytes as f64 / f.closed.load.requests.max(1) as f64 / 1024.0;
        let x = left + slot * i as f64 + slot * 0.25;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\">{v:.1} µs</text>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\">{} ({kib:.1} KiB)</text>\n",
            y(v),
            slot * 0.5,
            (h - bottom) - y(v),
            COLORS[i % COLORS.len()],
            y(v) - 4.0,
            h - bottom + 16.0,
            f.scale
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

fn legend(svg: &mut String, figures: &[ScaleFigures], w: f64) {
    for (i, f) in figures.iter().enumerate() {
        let y = 30.0 + 14.0 * i as f64;
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            w - 90.0,
            y - 9.0,
            COLORS[i % COLORS.len()],
            w - 75.0,
            y,
            f.scale
        ));
    }
}
