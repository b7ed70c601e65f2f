//! Prerequisite tools and bounded child processes.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// True when running under CI (`CI=true`, also `1`/`yes`, any case): missing prerequisites are
/// then failures, never skips.
pub fn is_ci() -> bool {
    std::env::var("CI")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// Full path of an executable found on `PATH`, if any.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &std::path::Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Writes a line straight to the process's stderr, past libtest's output capture, so a skip is
/// visible in a normal `cargo test` run.
pub fn loud(msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{msg}");
    let _ = err.flush();
}

/// Checks that prerequisite binary `name` is on `PATH`.
///
/// Present: returns true. Missing under CI (`CI=true`): panics, failing the test, because CI must
/// not silently skip the end-to-end tests. Missing elsewhere: prints a loud `SKIP` line (past
/// the test harness's output capture) and returns false; the test should then return early.
pub fn require_tool(name: &str) -> bool {
    require_tools(&[name])
}

/// [`require_tool`] for several tools at once: true only when all are present; one failure or
/// SKIP line names every missing one.
pub fn require_tools(names: &[&str]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| find_in_path(n).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let list = missing
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    const HINT: &str = "Debian: apt-get install dnf createrepo-c rpm";
    if is_ci() {
        panic!(
            "required tool(s) {list} not installed (not on PATH); under CI=true the end-to-end \
             tests must not be skipped ({HINT})"
        );
    }
    let test = thread::current().name().unwrap_or("?").to_string();
    loud(&format!(
        "\n**************** SKIP {test}: required tool(s) {list} not on PATH ({HINT}); \
         under CI=true this fails ****************\n"
    ));
    false
}

/// What a bounded child process did.
#[derive(Debug)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status; `None` when it was killed for running past its timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CmdOutput {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Killed after its timeout.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// Panics with the full command, status and output unless it succeeded; returns self.
    #[track_caller]
    pub fn assert_success(self) -> Self {
        if !self.success() {
            panic!("command failed:\n{self}");
        }
        self
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after timeout ({:.1?})", self.elapsed),
        };
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "status: {status} ({:.1?})", self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains([' ', '\'', '"', '*', '&', '?']) {
            s.push('\'');
            s.push_str(&a.replace('\'', "'\\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to completion with stdin closed and stdout/stderr captured, killing it (and its
/// process group) when it runs longer than `timeout`. Never hangs; spawn failures panic.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let command = describe(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    let pipe = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        rx
    };
    let out = pipe(Box::new(child.stdout.take().expect("piped stdout")));
    let err = pipe(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for `{command}`: {e}"),
        }
    };
    // The pipes close when their last writer exits. A background grandchild could keep them
    // open after the child is gone: then stop reading after a grace period instead of hanging.
    let grace = Instant::now() + Duration::from_secs(10);
    let collect = |rx: mpsc::Receiver<String>| {
        rx.recv_timeout(grace.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                "<output not closed in time; a background process kept it open>".into()
            })
    };
    let stdout = collect(out);
    let stderr = collect(err);
    CmdOutput {
        command,
        status,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}

/// SIGKILL to the process group `pgid` (a child started by [`run_with_timeout`] leads its own).
pub(crate) fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
