//! `measure`: starts an edge on a snapshot, checks the workloads with
//! `explain=1`, drives load phases and reads the edge's CPU time and memory
//! from `/proc`, then reports against the goals of docs/benchmarks.md.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mirrorfleet_snapshot::Snapshot;
use serde_json::{Value, json};

use crate::load::{self, LoadResult, LoadSpec};
use crate::mix;
use crate::plan::Plan;
use crate::util::{http_get, mib, process_cpu, process_memory, self_cpu};

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
}

/// The edge under test; killed on drop.
struct EdgeProcess {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    config: PathBuf,
}

impl EdgeProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
        let _ = std::fs::remove_file(&self.config);
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn start_edge(args: &Args, geoip: Option<&Path>) -> anyhow::Result<EdgeProcess> {
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let tmp = std::env::temp_dir();
    let config = tmp.join(format!(
        "mirrorfleet-loadtest-edge-{}-{port}.toml",
        std::process::id()
    ));
    let log = tmp.join(format!(
        "mirrorfleet-loadtest-edge-{}-{port}.log",
        std::process::id()
    ));
    let mut text = String::from(
        "# written by mirrorfleet-loadtest measure\n[server]\nip_param_networks = [\"127.0.0.0/8\"]\n\n\
         [shutdown]\ndrain_delay = \"0s\"\ngrace = \"2s\"\n\n[log]\nlevel = \"warn\"\n",
    );
    if let Some(g) = geoip {
        text.push_str(&format!(
            "\n[geoip]\npath = {:?}\n",
            g.display().to_string()
        ));
    }
    std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
    let log_file = std::fs::File::create(&log)?;
    let child = Command::new(&args.edge_bin)
        .arg("--snapshot")
        .arg(&args.snapshot)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", args.edge_bin.display()))?;
    Ok(EdgeProcess {
        child,
        addr,
        log,
        config,
    })
}

/// Polls `/readyz` until 200; returns the wall time from spawn.
async fn wait_ready(edge: &mut EdgeProcess, started: Instant) -> anyhow::Result<Duration> {
    let deadline = started + Duration::from_secs(180);
    loop {
        if let Ok(Some(status)) = edge.child.try_wait() {
            bail!(
                "the edge exited ({status}) before it was ready; its log:\n{}",
                edge.log_tail()
            );
        }
        if let Ok((200, _)) = http_get(edge.addr, "/readyz").await {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!(
                "the edge was not ready after 180 s; its log:\n{}",
                edge.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `(answer.hosts, location.country)` of a request, asked with `explain=1`.
async fn explain(addr: SocketAddr, target: &str) -> anyhow::Result<(u64, String)> {
    let (status, body) = http_get(addr, &format!("{target}&explain=1")).await?;
    anyhow::ensure!(
        status == 200,
        "explain for {target} answered {status}: {}",
        body.trim()
    );
    let v: Value = serde_json::from_str(&body).context("explain is not JSON")?;
    let hosts = v["answer"]["hosts"]
        .as_u64()
        .context("explain has no answer.hosts")?;
    let country = v["location"]["country"].as_str().unwrap_or("-").to_string();
    Ok((hosts, country))
}

/// One measured phase.
struct Phase {
    name: String,
    load: LoadResult,
    edge_cpu_s: f64,
    edge_sys_s: f64,
    client_cpu_s: f64,
    instructions: Option<u64>,
}

impl Phase {
    fn cpu_us_per_request(&self) -> f64 {
        self.edge_cpu_s * 1e6 / self.load.requests.max(1) as f64
    }

    /// The kernel's part (system time): sockets, wake-ups; on loopback also the
    /// delivery of the answer into the client's socket.
    fn sys_us_per_request(&self) -> f64 {
        self.edge_sys_s * 1e6 / self.load.requests.max(1) as f64
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "requests": self.load.requests,
            "errors": self.load.errors,
            "seconds": self.load.elapsed.as_secs_f64(),
            "requests_per_s": self.load.rate(),
            "latency_us": {"p50": self.load.quantile_us(0.5), "p99": self.load.quantile_us(0.99), "p999": self.load.quantile_us(0.999), "max": self.load.latency.max()},
            "statuses": self.load.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "body_bytes_per_response": self.load.body_bytes as f64 / self.load.requests.max(1) as f64,
            "edge_cpu_s": self.edge_cpu_s,
            "edge_cpu_us_per_request": self.cpu_us_per_request(),
            "edge_user_us_per_request": self.cpu_us_per_request() - self.sys_us_per_request(),
            "edge_sys_us_per_request": self.sys_us_per_request(),
            "client_cpu_us_per_request": self.client_cpu_s * 1e6 / self.load.requests.max(1) as f64,
            "instructions_per_request": self.instructions.map(|i| i as f64 / self.load.requests.max(1) as f64),
        })
    }
}

/// `perf stat` attached to the edge for one phase.
struct Perf {
    child: Child,
}

impl Perf {
    fn start(pid: u32) -> Option<Perf> {
        let child = Command::new("perf")
            .args([
                "stat",
                "-x",
                ",",
                "-e",
                "instructions:u",
                "-p",
                &pid.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(150));
        Some(Perf { child })
    }

    fn stop(self) -> Option<u64> {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let out = self.child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains("instructions"))
            .and_then(|l| l.split(',').next()?.trim().parse().ok())
    }
}

async fn phase(
    edge: &EdgeProcess,
    name: &str,
    targets: Vec<String>,
    duration: Duration,
    concurrency: usize,
    perf: bool,
) -> anyhow::Result<Phase> {
    eprintln!(
        "phase {name}: {} s, concurrency {concurrency}, {} distinct targets",
        duration.as_secs_f64(),
        targets.len()
    );
    let perf = if perf { Perf::start(edge.pid()) } else { None };
    let (user0, sys0) = process_cpu(edge.pid())?;
    let self0 = self_cpu();
    let load = load::run(LoadSpec {
        addr: edge.addr,
        duration,
        max_requests: None,
        concurrency,
        targets: Arc::new(targets),
        progress: Some(name.to_string()),
    })
    .await;
    let (user1, sys1) = process_cpu(edge.pid())?;
    let self1 = self_cpu();
    let instructions = perf.and_then(Perf::stop);
    let p = Phase {
        name: name.into(),
        load,
        edge_cpu_s: (user1 + sys1) - (user0 + sys0),
        edge_sys_s: sys1 - sys0,
        client_cpu_s: self1 - self0,
        instructions,
    };
    eprintln!("  {}", p.load.summary());
    eprintln!(
        "  edge CPU {:.2} s = {:.1} µs/request ({:.1} µs system){}",
        p.edge_cpu_s,
        p.cpu_us_per_request(),
        p.sys_us_per_request(),
        p.instructions
            .map(|i| format!(
                ", {:.0} instructions/request",
                i as f64 / p.load.requests.max(1) as f64
            ))
            .unwrap_or_default()
    );
    Ok(p)
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
    phases.push(phase(&edge, "full-metalink", full.clone(), d, c, args.perf).await?);
    for pair in &pairs {
        for round in 1..=2 {
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
    let get = |name: &str| phases.iter().find(|p| p.name == name).expect("phase ran");
    let full_cpu = get("full-metalink").cpu_us_per_request();
    let full_sys = get("full-metalink").sys_us_per_request();
    let mean = |prefix: &str| {
        let ps: Vec<&Phase> = phases
            .iter()
            .filter(|p| p.name.starts_with(prefix))
            .collect();
        let cpu: f64 = ps.iter().map(|p| p.edge_cpu_s).sum();
        let req: u64 = ps.iter().map(|p| p.load.requests).sum();
        let bytes: u64 = ps.iter().map(|p| p.load.body_bytes).sum();
        let ins: Option<u64> = ps.iter().map(|p| p.instructions).sum();
        E81Side {
            cpu_us: cpu * 1e6 / req.max(1) as f64,
            bytes: bytes as f64 / req.max(1) as f64,
            instructions: ins.map(|i| i as f64 / req.max(1) as f64),
        }
    };
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
        let conc = if p.name == "realistic-c2" { 2 } else { c };
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

/// Per-request averages of one side of an E81 pair.
#[derive(Clone, Copy, Debug, Default)]
struct E81Side {
    cpu_us: f64,
    bytes: f64,
    instructions: Option<f64>,
}

/// The first and the last directory, asked the same way by the same clients.
struct E81Pair {
    kind: &'static str,
    first: (usize, String),
    last: (usize, String),
    first_targets: Vec<String>,
    last_targets: Vec<String>,
    first_hosts: f64,
    last_hosts: f64,
    first_side: E81Side,
    last_side: E81Side,
}

impl E81Pair {
    fn new(
        kind: &'static str,
        first: (usize, String),
        last: (usize, String),
        clients: &[IpAddr],
        target: impl Fn(&str, IpAddr) -> String,
    ) -> E81Pair {
        let first_targets = clients.iter().map(|ip| target(&first.1, *ip)).collect();
        let last_targets = clients.iter().map(|ip| target(&last.1, *ip)).collect();
        E81Pair {
            kind,
            first,
            last,
            first_targets,
            last_targets,
            first_hosts: 0.0,
            last_hosts: 0.0,
            first_side: E81Side::default(),
            last_side: E81Side::default(),
        }
    }

    fn cpu_pct(&self) -> f64 {
        (self.last_side.cpu_us - self.first_side.cpu_us) / self.first_side.cpu_us * 100.0
    }

    fn instructions_pct(&self) -> Option<f64> {
        Some(
            (self.last_side.instructions? - self.first_side.instructions?)
                / self.first_side.instructions?
                * 100.0,
        )
    }

    fn json(&self) -> Value {
        let side = |(i, d): &(usize, String), hosts: f64, s: &E81Side| json!({"index": i, "dir": d, "hosts": hosts, "cpu_us": s.cpu_us, "bytes": s.bytes, "instructions": s.instructions});
        json!({
            "kind": self.kind,
            "first": side(&self.first, self.first_hosts, &self.first_side),
            "last": side(&self.last, self.last_hosts, &self.last_side),
            "cpu_pct": self.cpu_pct(),
            "instructions_pct": self.instructions_pct(),
        })
    }
}
