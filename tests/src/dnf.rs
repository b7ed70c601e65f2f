//! Running the real dnf in an isolated installroot.
//!
//! Everything dnf reads or writes stays in one temporary directory: its own `dnf.conf`
//! (`--config`), its own repo files (`reposdir`), its own cache (`cachedir`), and the
//! installroot, which holds the rpm database, dnf's history and logs. Plugins are off, so
//! nothing from the host's dnf configuration, repositories or rpm database is used or changed.
//! Proxy variables are removed so requests to 127.0.0.1 go straight to the test servers.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::tools::{CmdOutput, run_with_timeout};

/// Time limit for one dnf command.
pub const DNF_TIMEOUT: Duration = Duration::from_secs(120);

/// dnf.conf for the tests: no plugins, no weak deps, no countme, short network timeouts, and
/// `skip_if_unavailable=False` so an unusable repository is an error and not a warning.
const DNF_CONF: &str = "\
[main]
gpgcheck=0
repo_gpgcheck=0
localpkg_gpgcheck=0
plugins=0
install_weak_deps=False
skip_if_unavailable=False
countme=False
fastestmirror=False
keepcache=False
tsflags=nodocs
timeout=15
minrate=0
retries=2
best=True
zchunk=False
check_config_file_age=False
";

/// An isolated dnf installation target.
pub struct DnfRoot {
    dir: tempfile::TempDir,
}

impl DnfRoot {
    pub fn new() -> DnfRoot {
        let dir = tempfile::tempdir().expect("temp dir for dnf");
        for d in ["installroot", "repos.d", "cache"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("dnf.conf"), DNF_CONF).unwrap();
        DnfRoot { dir }
    }

    pub fn installroot(&self) -> PathBuf {
        self.dir.path().join("installroot")
    }

    pub fn reposdir(&self) -> PathBuf {
        self.dir.path().join("repos.d")
    }

    pub fn cachedir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("dnf.conf")
    }

    /// Replaces every repository with one, `[id]`, whose source line is `source`
    /// (`baseurl=…`, `metalink=…` or `mirrorlist=…`), gpgcheck off, and clears dnf's cache so
    /// the next command fetches everything anew.
    pub fn set_repo(&self, id: &str, source: &str) {
        for e in fs::read_dir(self.reposdir()).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
        fs::write(
            self.reposdir().join(format!("{id}.repo")),
            format!(
                "[{id}]\nname={id}\n{source}\ngpgcheck=0\nrepo_gpgcheck=0\nenabled=1\nmetadata_expire=0\n"
            ),
        )
        .unwrap();
        self.clear_cache();
    }

    /// Empties dnf's cache directory.
    pub fn clear_cache(&self) {
        let c = self.cachedir();
        let _ = fs::remove_dir_all(&c);
        fs::create_dir_all(&c).unwrap();
    }

    /// The dnf command with the isolation options, before the subcommand.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("dnf");
        cmd.arg(format!("--installroot={}", self.installroot().display()))
            .arg(format!("--config={}", self.config().display()))
            .arg(format!("--setopt=reposdir={}", self.reposdir().display()))
            .arg(format!("--setopt=cachedir={}", self.cachedir().display()))
            .arg("--releasever=40")
            .arg("--noplugins")
            .arg("--assumeyes")
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "C.UTF-8");
        for v in [
            "http_proxy",
            "https_proxy",
            "ftp_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "FTP_PROXY",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ] {
            cmd.env_remove(v);
        }
        cmd
    }

    /// `dnf … ARGS` with [`DNF_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_timeout(&mut cmd, DNF_TIMEOUT)
    }

    /// `NAME-VERSION-RELEASE.ARCH` of installed package `name` in the installroot, per
    /// `rpm --root`, or `None`.
    pub fn installed(&self, name: &str) -> Option<String> {
        let mut cmd = Command::new("rpm");
        cmd.arg("--root")
            .arg(self.installroot())
            .args([
                "-q",
                "--qf",
                "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n",
                name,
            ])
            .env("LC_ALL", "C.UTF-8");
        let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
        out.success().then(|| out.stdout.trim().to_string())
    }

    /// A file inside the installroot (`rel` without leading `/`).
    pub fn root_file(&self, rel: &str) -> PathBuf {
        self.installroot().join(rel.trim_start_matches('/'))
    }

    /// Removes the installroot's content (rpm database included), so the next install starts
    /// from an empty system.
    pub fn reset_installroot(&self) {
        let r = self.installroot();
        let _ = fs::remove_dir_all(&r);
        fs::create_dir_all(&r).unwrap();
        self.clear_cache();
    }

    /// The temporary directory holding everything.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for DnfRoot {
    fn default() -> Self {
        Self::new()
    }
}
