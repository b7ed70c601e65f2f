//! The workspace's binaries: locating (and building once) `mirrorfleet` and `mirrorfleet-edge`,
//! building snapshots, running an edge.

use std::net::TcpListener;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{EdgeChild, start_on_free_port};
use crate::tools::{CmdOutput, run_with_timeout};

/// `SOURCE_DATE_EPOCH` given to `mirrorfleet snapshot build` (the snapshot's `created_at`).
pub const FIXTURE_EPOCH: u64 = 1_713_200_000;

/// How long the one-time `cargo build` of the binaries may take (cold, two cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent")
        .to_path_buf()
}

/// The profile directory the running test was built into (`…/target/debug`): the test
/// executable lives in its `deps/`. Falls back to `$CARGO_TARGET_DIR/debug`, then
/// `<workspace>/target/debug`.
pub fn profile_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(profile) = deps.parent()
    {
        return profile.to_path_buf();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if !t.is_empty() => PathBuf::from(t).join("debug"),
        _ => workspace_root().join("target/debug"),
    }
}

/// Path of workspace binary `name` (`mirrorfleet`, `mirrorfleet-edge`, `mirrorfleet-loadtest`).
///
/// `env!("CARGO_BIN_EXE_…")` only exists for a package's own binaries, so the binary is looked
/// up in the profile directory of the running test ([`profile_dir`]). The first call in a test
/// process runs `cargo build -p mirrorfleet-control -p mirrorfleet-edge -p mirrorfleet-loadtest --bins` (guarded by a
/// `OnceLock`; a no-op when up to date), so a test never runs a stale binary. With
/// `MIRRORFLEET_BIN_DIR` set, binaries are taken from that directory and nothing is built.
/// Panics when the build fails or the binary is missing.
pub fn binary_path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("MIRRORFLEET_BIN_DIR").filter(|d| !d.is_empty()) {
        let p = PathBuf::from(dir).join(name);
        assert!(p.is_file(), "MIRRORFLEET_BIN_DIR has no {}", p.display());
        return p;
    }
    let dir = profile_dir();
    let built = BUILD.get_or_init(|| build_binaries(&dir));
    let p = dir.join(name);
    if let Err(msg) = built {
        if p.is_file() && msg.starts_with("cargo not found") {
            return p;
        }
        panic!("building the workspace binaries failed, cannot run {name}:\n{msg}");
    }
    assert!(
        p.is_file(),
        "{} does not exist after `cargo build`; is `{name}` a binary of mirrorfleet-control or \
         mirrorfleet-edge?",
        p.display()
    );
    p
}

static BUILD: OnceLock<Result<(), String>> = OnceLock::new();

fn build_binaries(profile: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if crate::tools::find_in_path(&cargo.to_string_lossy()).is_none() {
        return Err(format!("cargo not found ({cargo:?})"));
    }
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "-p",
        "mirrorfleet-control",
        "-p",
        "mirrorfleet-edge",
        "-p",
        "mirrorfleet-loadtest",
        "--bins",
    ]);
    match profile.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(target) = profile.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let out = run_with_timeout(&mut cmd, BUILD_TIMEOUT);
    if out.success() {
        Ok(())
    } else {
        Err(out.to_string())
    }
}

/// A command for workspace binary `name` that runs in `cwd` with no `MIRRORFLEET*` variables
/// inherited (so no stray configuration is picked up).
pub fn binary_command(name: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(binary_path(name));
    cmd.current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MIRRORFLEET") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `mirrorfleet snapshot build --inventory INVENTORY --out OUT [EXTRA…]` with
/// `SOURCE_DATE_EPOCH` = [`FIXTURE_EPOCH`], run in a temporary directory with a 120 s timeout.
/// Panics unless it exits 0 and `out` exists; returns its output (warnings are on stderr).
pub fn build_snapshot(inventory: &Path, out: &Path, extra: &[&str]) -> CmdOutput {
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut cmd = binary_command("mirrorfleet", cwd.path());
    cmd.args(["snapshot", "build", "--inventory"])
        .arg(inventory)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", FIXTURE_EPOCH.to_string());
    let res = run_with_timeout(&mut cmd, Duration::from_secs(120)).assert_success();
    assert!(
        out.is_file(),
        "`mirrorfleet snapshot build` exited 0 but wrote no {}\n{res}",
        out.display()
    );
    res
}

/// A free TCP port on 127.0.0.1 (bound and released; a small race is accepted, and
/// [`start_on_free_port`] retries when an edge loses it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A running `mirrorfleet-edge --snapshot FILE --listen 127.0.0.1:PORT`, ready (GET `/readyz`
/// answered 200). Killed on drop. Everything else ([`EdgeChild::get`], [`EdgeChild::logs`],
/// [`Listening::url`](crate::Listening::url), …) is the [`EdgeChild`]'s.
pub struct EdgeProcess(EdgeChild);

/// How long an edge may take to answer `/readyz` with 200.
pub const EDGE_READY_TIMEOUT: Duration = Duration::from_secs(20);

impl EdgeProcess {
    /// Starts an edge serving `snapshot`. Panics (with the edge's output) when it exits or is not
    /// ready within [`EDGE_READY_TIMEOUT`].
    pub fn start(snapshot: &Path) -> EdgeProcess {
        Self::start_with(snapshot, &[])
    }

    /// As [`EdgeProcess::start`], with extra flags (e.g. `["--geoip", FILE]`, `["--config",
    /// FILE]`).
    pub fn start_with(snapshot: &Path, extra: &[&str]) -> EdgeProcess {
        start_on_free_port("/readyz", EDGE_READY_TIMEOUT, |addr| {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut cmd = binary_command("mirrorfleet-edge", dir.path());
            cmd.arg("--snapshot")
                .arg(snapshot)
                .arg("--listen")
                .arg(addr.to_string())
                .args(extra);
            EdgeProcess(EdgeChild::spawn(cmd, dir, addr))
        })
        .unwrap_or_else(|f| {
            panic!(
                "mirrorfleet-edge --snapshot {} --listen {} {}: {f}",
                snapshot.display(),
                f.addr,
                extra.join(" ")
            )
        })
    }
}

impl Deref for EdgeProcess {
    type Target = EdgeChild;

    fn deref(&self) -> &EdgeChild {
        &self.0
    }
}
