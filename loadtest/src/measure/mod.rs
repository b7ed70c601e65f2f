//! `measure`: starts an edge on a snapshot, checks the workloads with
//! `explain=1`, drives load phases and reads the edge's CPU time and memory
//! from `/proc`, then reports against the goals of docs/benchmarks.md.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use mirrorfleet_snapshot::Snapshot;
use serde_json::{Value, json};

use crate::mix;
use crate::plan::Plan;
use crate::util::{http_get, mib, process_cpu, process_memory};

mod e81;
mod edge;
mod phase;

use self::e81::{E81Pair, E81Side};
use self::edge::{explain, start_edge, wait_ready};
use self::phase::{Phase, phase};

/// Goals (docs/benchmarks.md).
pub const GOAL_SNAPSHOT_BYTES: u64 = 100_000_000;
/// RSS after load.
pub const GOAL_RSS_BYTES: u64 = 300_000_000;
/// Snapshot load time.
pub const GOAL_LOAD_MS: f64 = 250.0;
/// CPU per full metalink request.
pub const GOAL_CPU_US: f64 = 40.0;
/// First vs last directory.
pub const GOAL_E81_PCT: f64 = 10.0;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Args {
    /// The edge binary.
    pub edge_bin: PathBuf,
    /// The snapshot file.
    pub snapshot: PathBuf,
    /// GeoIP file (default `<snapshot>.geoip.mmdb` when present).
    pub geoip: Option<PathBuf>,
    /// Length of each measured phase.
    pub duration: Duration,
    /// Connections of the CPU phases (1 = one request at a time).
    pub concurrency: usize,
    /// Seed of the request mixes.
    pub seed: u64,
    /// Count user-space instructions with `perf stat` too.
    pub perf: bool,
    /// Write the figures as JSON here.
    pub json: Option<PathBuf>,
    /// Run the edge on this CPU only (the caller has pinned itself to the others).
    pub edge_cpu: Option<usize>,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Runs the whole measurement.
pub async fn measure(args: Args) -> anyhow::Result<()> {
    let geoip = match &args.geoip {
        Some(g) => Some(g.clone()),
        None => {
            let guess = PathBuf::from(format!("{}.geoip.mmdb", args.snapshot.display()));
            guess.exists().then_some(guess)
        }
    };
    if geoip.is_none() {
        eprintln!(
            "warning: no GeoIP file: clients have no country, so answers use the global tier only"
        );
    }
    let snapshot_size = std::fs::metadata(&args.snapshot)
        .with_context(|| format!("cannot read {}", args.snapshot.display()))?
        .len();

    // Start the edge and wait for it.
    eprintln!(
        "starting {} on {} …",
        args.edge_bin.display(),
        args.snapshot.display()
    );
    let started = Instant::now();
    let mut edge = start_edge(&args, geoip.as_deref())?;
    let ready_after = wait_ready(&mut edge, started).await?;
    let pid = edge.pid();
    eprintln!(
        "ready after {:.0} ms (pid {pid}, {})",
        ready_after.as_secs_f64() * 1000.0,
        edge.addr
    );
    let (_, status_body) = http_get(edge.addr, "/snapshot").await?;
    let status: Value = serde_json::from_str(&status_body).context("/snapshot is not JSON")?;
    let load_ms = status["snapshot"]["load_duration_ms"]
        .as_f64()
        .context("/snapshot has no snapshot.load_duration_ms")?;
    let (_, metrics) = http_get(edge.addr, "/metrics").await?;
    let metric_load_s = metrics
        .lines()
        .find(|l| l.starts_with("mirrorfleet_edge_snapshot_load_duration_seconds "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    let (rss_idle, hwm_idle) = process_memory(pid)?;
    let cpu_at_ready = {
        let (u, s) = process_cpu(pid)?;
        u + s
    };
    eprintln!(
        "load_duration_ms {load_ms:.1} (metric {}), RSS {} (peak {}), CPU to ready {:.0} ms",
        metric_load_s.map_or("absent".into(), |s| format!("{:.1} ms", s * 1000.0)),
        mib(rss_idle * 1024),
        mib(hwm_idle * 1024),
        cpu_at_ready * 1000.0
    );

    // Workloads, from the same snapshot and the fixed address plan.
    eprintln!("reading the snapshot for the request mixes …");
    let snap = Snapshot::read_file(&args.snapshot).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = Plan::new();
    let realistic = mix::realistic(&snap, &plan, args.seed, 50_000);
    let (prefix, arch) =
        mix::newest_updates(&snap).context("no updates-released-fN/x86_64 repository")?;
    let ((first_i, first_dir), (last_i, last_dir)) =
        mix::metalink_ends(&snap).context("no directory with repomd.xml")?;
    let directories = snap.payload().directories.len();
    let abs_first = snap.payload().directories[0].name.to_string();
    let abs_last = snap.payload().directories[directories - 1].name.to_string();
    let counts = status["snapshot"]["counts"].clone();
    drop(snap);

    // Full metalinks: keep the clients whose answer reaches the cap, checked with explain.
    let candidates = mix::clients_in(&plan, mix::FULL_COUNTRIES, args.seed, 300);
    let mut full_clients: Vec<IpAddr> = Vec::new();
    let mut seen_hosts: Vec<u64> = Vec::new();
    for ip in &candidates {
        let target = format!("/metalink?repo={prefix}&arch={arch}&ip={ip}");
        let (hosts, _) = explain(edge.addr, &target).await?;
        seen_hosts.push(hosts);
        if hosts >= 95 && full_clients.len() < 64 {
            full_clients.push(*ip);
        }
    }
    seen_hosts.sort_unstable();
    eprintln!(
        "explain: {prefix}/{arch} from {} candidate clients in {}: hosts min {} median {} max {}; {} clients with ≥ 95 hosts kept",
        candidates.len(),
        mix::FULL_COUNTRIES.join(","),
        seen_hosts[0],
        seen_hosts[seen_hosts.len() / 2],
        seen_hosts[seen_hosts.len() - 1],
        full_clients.len()
    );
    if full_clients.is_empty() {
        eprintln!("warning: no client reaches 95 hosts; using every candidate");
        full_clients = candidates.clone();
    }
    let full: Vec<String> = full_clients
        .iter()
        .map(|ip| format!("/metalink?repo={prefix}&arch={arch}&ip={ip}"))
        .collect();
    let mut full_hosts_sum = 0u64;
    for t in &full {
        full_hosts_sum += explain(edge.addr, t).await?.0;
    }
    let full_hosts_mean = full_hosts_sum as f64 / full.len() as f64;

    // E81 pairs: the same clients, the first and the last directory of the sorted list.
    // (1) metalink: the first and last directories that have a repomd.xml;
    // (2) selection only: the absolute first and last directory as a 302 redirect
    //     (every tier and the full ordering run, one URL is rendered), so a
    //     difference in answer size cannot hide or fake a position effect.
    let mut pairs = vec![
        E81Pair::new(
            "metalink",
            (first_i, first_dir.clone()),
            (last_i, last_dir.clone()),
            &full_clients,
            mix::directory_metalink,
        ),
        E81Pair::new(
            "redirect",
            (0, abs_first),
            (directories - 1, abs_last),
            &full_clients,
            |d, ip| format!("/mirrorlist?path={d}&redirect=1&ip={ip}"),
        ),
    ];
    for pair in &mut pairs {
        for (a, b) in pair.first_targets.iter().zip(&pair.last_targets) {
            pair.first_hosts += explain(edge.addr, a).await?.0 as f64;
            pair.last_hosts += explain(edge.addr, b).await?.0 as f64;
        }
        pair.first_hosts /= full_clients.len() as f64;
        pair.last_hosts /= full_clients.len() as f64;
        eprintln!(
            "E81 {}: first #{} {} ({:.1} hosts), last #{} of {directories} {} ({:.1} hosts)",
            pair.kind,
            pair.first.0,
            pair.first.1,
            pair.first_hosts,
            pair.last.0,
            pair.last.1,
            pair.last_hosts
        );
    }

    // Warm-up, then the measured phases.
    let c = args.concurrency.max(1);
    let d = args.duration;
    let _ = phase(
        &edge,
        "warm-up",
        realistic.clone(),
        Duration::from_secs(2).min(d),
        c,
        false,
    )
    .await?;
    let mut phases = Vec::new();
    phases.push(phase(&edge, "realistic", realistic.clone(), d, c, args.perf).await?);
    phases.push(phase(&edge, "realistic-c2", realistic, d, 2, false).await?);
    // The floor: an HTTP round trip that selects and renders nothing.
    phases.push(phase(&edge, "healthz", vec!["/healthz".to_string()], d, c, false).await?);
    // Repeated, interleaved rounds: at one request in flight the figures move
    // by a few per cent with scheduling; the reported value is the mean.
    for round in 1..=2 {
        let name = format!("full-metalink-r{round}");
        phases.push(phase(&edge, &name, full.clone(), d, c, args.perf).await?);
    }
    // Saturation: two connections keep the edge's core busy (CPU per request on one core).
    phases.push(phase(&edge, "full-metalink-c2", full.clone(), d, 2, false).await?);
    for pair in &pairs {
        for round in 1..=3 {
            let k = pair.kind;
            phases.push(
                phase(
                    &edge,
                    &format!("e81-{k}-first-{round}"),
                    pair.first_targets.clone(),
                    d,
                    c,
                    args.perf,
                )
                .await?,
            );
            phases.push(
                phase(
                    &edge,
                    &format!("e81-{k}-last-{round}"),
                    pair.last_targets.clone(),
                    d,
                    c,
                    args.perf,
                )
                .await?,
            );
        }
    }
    let (rss, hwm) = process_memory(pid)?;
    edge.stop();

    // Figures.
    let mean = |prefix: &str| {
        let ps: Vec<&Phase> = phases
            .iter()
            .filter(|p| p.name.starts_with(prefix))
            .collect();
        let cpu: f64 = ps.iter().map(|p| p.edge_cpu_s).sum();
        let sys: f64 = ps.iter().map(|p| p.edge_sys_s).sum();
        let req: u64 = ps.iter().map(|p| p.load.requests).sum();
        let bytes: u64 = ps.iter().map(|p| p.load.body_bytes).sum();
        let ins: Option<u64> = ps.iter().map(|p| p.instructions).sum();
        E81Side {
            cpu_us: cpu * 1e6 / req.max(1) as f64,
            sys_us: sys * 1e6 / req.max(1) as f64,
            bytes: bytes as f64 / req.max(1) as f64,
            instructions: ins.map(|i| i as f64 / req.max(1) as f64),
        }
    };
    let full_side = mean("full-metalink-r");
    let (full_cpu, full_sys) = (full_side.cpu_us, full_side.sys_us);
    for pair in &mut pairs {
        pair.first_side = mean(&format!("e81-{}-first", pair.kind));
        pair.last_side = mean(&format!("e81-{}-last", pair.kind));
    }
    let rss_bytes = rss * 1024;

    println!("## mirrorfleet edge benchmark");
    println!();
    println!(
        "snapshot            {} ({} bytes), {directories} directories",
        mib(snapshot_size),
        snapshot_size
    );
    println!("counts              {counts}");
    println!(
        "edge CPU            {}",
        args.edge_cpu.map_or("not pinned".to_string(), |c| format!(
            "pinned to CPU {c} (load generator on the others)"
        ))
    );
    println!(
        "ready after spawn   {:.0} ms",
        ready_after.as_secs_f64() * 1000.0
    );
    println!(
        "load_duration_ms    {load_ms:.1} ms (metric snapshot_load_duration_seconds: {})",
        metric_load_s.map_or("absent".into(), |s| format!("{s:.4} s"))
    );
    println!(
        "RSS idle after load {} (VmHWM {})",
        mib(rss_idle * 1024),
        mib(hwm_idle * 1024)
    );
    println!(
        "RSS after the load  {} (VmHWM {})",
        mib(rss_bytes),
        mib(hwm * 1024)
    );
    println!();
    println!(
        "| phase | conc. | requests | req/s | p50 µs | p99 µs | p99.9 µs | statuses | errors | KiB/resp | edge CPU µs/req | of which sys | client CPU µs/req | instr/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &phases {
        let statuses: Vec<String> = p
            .load
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        let conc = if p.name.ends_with("-c2") { 2 } else { c };
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            p.name,
            conc,
            p.load.requests,
            p.load.rate(),
            p.load.quantile_us(0.5),
            p.load.quantile_us(0.99),
            p.load.quantile_us(0.999),
            statuses.join(" "),
            p.load.errors,
            p.load.body_bytes as f64 / p.load.requests.max(1) as f64 / 1024.0,
            p.cpu_us_per_request(),
            p.sys_us_per_request(),
            p.client_cpu_s * 1e6 / p.load.requests.max(1) as f64,
            p.instructions.map_or("-".into(), |i| format!(
                "{:.0}",
                i as f64 / p.load.requests.max(1) as f64
            )),
        );
    }
    println!();
    println!(
        "full metalink       {prefix}/{arch}, {} clients in {}, {full_hosts_mean:.1} hosts per answer",
        full.len(),
        mix::FULL_COUNTRIES.join(",")
    );
    for pair in &pairs {
        for (label, (i, dir), hosts, side) in [
            ("first", &pair.first, pair.first_hosts, &pair.first_side),
            ("last", &pair.last, pair.last_hosts, &pair.last_side),
        ] {
            println!(
                "E81 {:<8} {:<5}  #{i} {dir}: {hosts:.1} hosts, {:.0} bytes/answer, {:.2} µs/req{}",
                pair.kind,
                label,
                side.bytes,
                side.cpu_us,
                side.instructions
                    .map_or(String::new(), |x| format!(", {x:.0} instructions/req"))
            );
        }
    }
    println!();
    println!("| goal | target | measured | |");
    println!("|---|---|---|---|");
    println!(
        "| snapshot size | ≤ 100 MB | {:.1} MB | {} |",
        snapshot_size as f64 / 1e6,
        verdict(snapshot_size <= GOAL_SNAPSHOT_BYTES)
    );
    println!(
        "| RSS after load | ≤ 300 MB | {:.1} MB (peak {:.1} MB) | {} |",
        rss_bytes as f64 / 1e6,
        hwm as f64 * 1024.0 / 1e6,
        verdict(rss_bytes <= GOAL_RSS_BYTES)
    );
    println!(
        "| snapshot load | ≤ 250 ms | {load_ms:.1} ms | {} |",
        verdict(load_ms <= GOAL_LOAD_MS)
    );
    println!(
        "| CPU per full metalink ({full_hosts_mean:.0} hosts) | ≤ 40 µs | {full_cpu:.1} µs ({:.1} user + {full_sys:.1} system) | {} |",
        full_cpu - full_sys,
        verdict(full_cpu <= GOAL_CPU_US)
    );
    for pair in &pairs {
        let pct = pair.cpu_pct();
        println!(
            "| E81 last vs first directory ({}) | within 10 % | {pct:+.1} % CPU ({:.2} vs {:.2} µs){} | {} |",
            pair.kind,
            pair.last_side.cpu_us,
            pair.first_side.cpu_us,
            pair.instructions_pct()
                .map_or(String::new(), |p| format!(", {p:+.2} % instructions")),
            verdict(pct.abs() <= GOAL_E81_PCT)
        );
    }
    if args.perf && phases.iter().all(|p| p.instructions.is_none()) {
        println!();
        println!(
            "(perf stat gave no instruction counts: hardware counters are not available here)"
        );
    }

    if let Some(path) = &args.json {
        let report = json!({
            "snapshot": {"path": args.snapshot.display().to_string(), "bytes": snapshot_size, "directories": directories, "counts": counts},
            "ready_after_spawn_ms": ready_after.as_secs_f64() * 1000.0,
            "load_duration_ms": load_ms,
            "metric_load_duration_s": metric_load_s,
            "rss_idle_kib": rss_idle, "hwm_idle_kib": hwm_idle,
            "rss_after_kib": rss, "hwm_after_kib": hwm,
            "concurrency": c,
            "edge_cpu": args.edge_cpu,
            "full_metalink": {"repo": prefix, "arch": arch, "clients": full.len(), "hosts_mean": full_hosts_mean, "cpu_us": full_cpu, "sys_us": full_sys},
            "e81": pairs.iter().map(E81Pair::json).collect::<Vec<_>>(),
            "phases": phases.iter().map(Phase::json).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
