//! The edge under test: started as a process with a generated configuration,
//! polled until ready, stopped (SIGTERM, then SIGKILL) when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::Args;
use crate::util::{self, http_get};

/// The edge under test; killed on drop.
pub(super) struct EdgeProcess {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
    pub(super) log: PathBuf,
    pub(super) config: PathBuf,
}

impl EdgeProcess {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn stop(&mut self) {
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
        // Its tail is in every error message that needs it.
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub(super) fn start_edge(args: &Args, geoip: Option<&Path>) -> anyhow::Result<EdgeProcess> {
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
    let mut command = Command::new(&args.edge_bin);
    if let Some(cpu) = args.edge_cpu {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only sched_setaffinity runs (async-signal-safe).
        unsafe {
            command.pre_exec(move || util::pin_to(&[cpu]));
        }
    }
    let child = command
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
pub(super) async fn wait_ready(
    edge: &mut EdgeProcess,
    started: Instant,
) -> anyhow::Result<Duration> {
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
pub(super) async fn explain(addr: SocketAddr, target: &str) -> anyhow::Result<(u64, String)> {
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
