//! A real control plane for fleet tests: `mirrorfleet` on a SQLite database in a temporary data
//! directory, publishing to a given store; one-shot commands ([`ControlPlane::cli`]) and the
//! long-running `mirrorfleet serve` ([`ControlPlane::serve`]), each with the same environment.
//! Plus store-mode edges following that store ([`store_edge`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fixture::{Edge, Fixture, SnapshotMode};
use crate::process::{EdgeChild, start_on_free_port};
use crate::tools::{CmdOutput, run_with_timeout};
use crate::{binary_command, binary_path};

/// A running `mirrorfleet serve` (a child process like an edge's: logs, signals, killed on
/// drop).
pub struct ServeProcess(pub EdgeChild);

impl std::ops::Deref for ServeProcess {
    type Target = EdgeChild;

    fn deref(&self) -> &EdgeChild {
        &self.0
    }
}

/// A control plane's data directory and settings.
pub struct ControlPlane {
    pub dir: tempfile::TempDir,
    /// `MIRRORFLEET__…` variables given to every command.
    pub env: Vec<(String, String)>,
}

impl ControlPlane {
    /// `mirrorfleet init` on SQLite in a new data directory, publishing to `store_url`;
    /// `env` adds or overrides settings (`("MIRRORFLEET__PUBLISH__MIN_GAP", "1s")`).
    pub fn init(store_url: &str, env: &[(&str, &str)]) -> ControlPlane {
        let dir = tempfile::Builder::new()
            .prefix("mirrorfleet-cp-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let mut all: Vec<(String, String)> = vec![
            ("MIRRORFLEET__DATA__DIR".into(), data.display().to_string()),
            (
                "MIRRORFLEET__DATABASE__URL".into(),
                format!("sqlite://{}/mirrorfleet.db", data.display()),
            ),
            ("MIRRORFLEET__STORE__URL".into(), store_url.into()),
            // Tests publish many versions in seconds; retention must not race them.
            ("MIRRORFLEET__PUBLISH__KEEP_MIN_AGE".into(), "0".into()),
        ];
        for (k, v) in env {
            all.retain(|(name, _)| name != k);
            all.push((k.to_string(), v.to_string()));
        }
        let cp = ControlPlane { dir, env: all };
        cp.cli(&["init"]);
        cp
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = binary_command("mirrorfleet", self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `mirrorfleet ARGS…` (60 s at most) and asserts success.
    #[track_caller]
    pub fn cli(&self, args: &[&str]) -> CmdOutput {
        self.try_cli(args).assert_success()
    }

    /// Runs `mirrorfleet ARGS…` (60 s at most).
    pub fn try_cli(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_timeout(&mut cmd, Duration::from_secs(60))
    }

    /// Writes `inventory` to the data directory's parent and imports it.
    #[track_caller]
    pub fn import(&self, inventory: &serde_json::Value) -> CmdOutput {
        let path = self.dir.path().join("inventory.json");
        std::fs::write(&path, serde_json::to_vec_pretty(inventory).unwrap()).unwrap();
        self.cli(&["import", "inventory", &path.display().to_string()])
    }

    /// Starts `mirrorfleet serve` on a free port of 127.0.0.1 and waits for `/readyz`.
    /// Killed on drop.
    pub fn serve(&self) -> ServeProcess {
        let _ = binary_path("mirrorfleet");
        start_on_free_port("/readyz", Duration::from_secs(30), |addr| {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut cmd = self.command();
            cmd.current_dir(dir.path())
                .arg("serve")
                .env("MIRRORFLEET__SERVER__LISTEN", addr.to_string());
            ServeProcess(EdgeChild::spawn(cmd, dir, addr))
        })
        .unwrap_or_else(|f| panic!("mirrorfleet serve on {}: {f}", f.addr))
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

/// A fixture edge in store mode following `store_url`, caching in `cache`, polling every
/// `poll`; `env` adds variables (S3 settings, `MIRRORFLEET_EDGE__STORE__WRITE`, …). Ready
/// means `/healthz` (it may have nothing to serve yet).
pub fn store_edge(store_url: &str, cache: &Path, poll: &str, env: &[(&str, &str)]) -> Edge {
    let mut f = Fixture::new()
        .snapshot_mode(SnapshotMode::Custom)
        .arg("--store")
        .arg(store_url)
        .arg("--cache-dir")
        .arg(cache.display().to_string())
        .arg("--poll-interval")
        .arg(poll);
    for (k, v) in env {
        f = f.env(k, v);
    }
    f.start()
}
