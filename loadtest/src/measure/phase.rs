//! One measured phase: a load run with the edge's CPU time read before and after.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::edge::EdgeProcess;
use crate::load::{self, LoadResult, LoadSpec};
use crate::util::{process_cpu, self_cpu};

/// One measured phase.
pub(super) struct Phase {
    pub(super) name: String,
    pub(super) load: LoadResult,
    pub(super) edge_cpu_s: f64,
    pub(super) edge_sys_s: f64,
    pub(super) client_cpu_s: f64,
    pub(super) instructions: Option<u64>,
}

impl Phase {
    pub(super) fn cpu_us_per_request(&self) -> f64 {
        self.edge_cpu_s * 1e6 / self.load.requests.max(1) as f64
    }

    /// The kernel's part (system time): sockets, wake-ups; on loopback also the
    /// delivery of the answer into the client's socket.
    pub(super) fn sys_us_per_request(&self) -> f64 {
        self.edge_sys_s * 1e6 / self.load.requests.max(1) as f64
    }

    pub(super) fn json(&self) -> Value {
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

pub(super) async fn phase(
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
    let mut spec = LoadSpec::closed(edge.addr, duration, concurrency, Arc::new(targets));
    spec.progress = Some(name.to_string());
    let load = load::run(spec).await;
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
