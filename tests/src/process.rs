//! The one way the tests run a `mirrorfleet-edge`: [`EdgeChild::spawn`] starts it in a temporary
//! working directory of its own with its output in files there, and [`start_on_free_port`]
//! picks a free port of 127.0.0.1, spawns, and waits until a probe (`/readyz` or `/healthz`)
//! answers 200, trying another port when the chosen one was taken in the meantime.
//!
//! Every edge leads its own process group and is killed with it on drop; it is also killed when
//! the test process exits, even when that is killed itself (`PR_SET_PDEATHSIG`, plus an
//! `atexit` hook for edges that are never dropped).

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::bins::free_port;
use crate::http::{HttpResponse, Listening, http_get};

/// A spawned edge (see the module documentation). Its methods take `&self`, so an edge shared
/// between threads or tests can be signalled, waited for and killed.
pub struct EdgeChild {
    child: Mutex<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl EdgeChild {
    /// Spawns `cmd` (built to run in `dir`) as an edge that will listen on `addr`: stdin
    /// closed, stdout and stderr to `stdout.log` and `stderr.log` in `dir`, its own process
    /// group. Waits for nothing. Panics when it cannot be started.
    pub fn spawn(mut cmd: Command, dir: tempfile::TempDir, addr: SocketAddr) -> EdgeChild {
        let log = |n: &str| File::create(dir.path().join(n)).expect("create a log file");
        cmd.stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"));
        let program = Path::new(cmd.get_program()).display().to_string();
        let child = spawn_guarded(cmd).unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        // A shared edge is never dropped, so neither is its TempDir: removed at exit instead.
        LIVE_DIRS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(dir.path().to_path_buf());
        EdgeChild {
            child: Mutex::new(child),
            addr,
            dir,
        }
    }

    /// Waits until GET `probe` answers 200; an error when the edge exits first or `timeout`
    /// passes.
    pub fn wait_for(&self, probe: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return Err(format!("exited before {probe} answered 200 ({status})"));
            }
            let last = match http_get(self.addr, probe, Duration::from_secs(2)) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("{probe} answered {}: {}", r.status, r.text().trim()),
                Err(e) => format!("{probe}: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!("{probe} not 200 after {timeout:?} (last: {last})"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The working directory (holds the logs, and whatever the caller wrote there).
    pub fn cwd(&self) -> &Path {
        self.dir.path()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.lock().id()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the edge process; panics when that fails.
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.pid()).expect("pid fits i32");
        // SAFETY: kill(2) with a pid this test spawned and has not reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            io::Error::last_os_error()
        );
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&self) -> Option<ExitStatus> {
        self.lock().try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the edge to exit; its status, or `None` if still running.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the edge (its process group) and reaps it.
    pub fn kill(&self) {
        let mut child = self.lock();
        if let Ok(None) = child.try_wait() {
            // SAFETY: SIGKILL to the process group this test created for the edge.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.kill();
        }
        let _ = child.wait();
        forget_live(child.id());
    }

    /// The edge's stdout and stderr so far.
    pub fn logs(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- edge stdout ---\n{}\n--- edge stderr ---\n{}",
            read("stdout.log").trim_end(),
            read("stderr.log").trim_end()
        )
    }

    /// GET `target` (path and query) with [`http_get`], 10 s timeout; panics on a transport
    /// error.
    pub fn get(&self, target: &str) -> HttpResponse {
        http_get(self.addr, target, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {target} from the edge: {e}\n{}", self.logs()))
    }

    /// The `/metrics` text (panics unless 200).
    pub fn metrics(&self) -> String {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        r.text()
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Listening for EdgeChild {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EdgeChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why [`start_on_free_port`] gave up.
#[derive(Debug)]
pub struct StartFailure {
    /// The address of the last attempt.
    pub addr: SocketAddr,
    /// What went wrong (exited, or not ready in time).
    pub message: String,
    /// The edge's output ([`EdgeChild::logs`]).
    pub logs: String,
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.message, self.logs)
    }
}

/// Starts an edge on a free port of 127.0.0.1: `launch(addr)` spawns it (with
/// [`EdgeChild::spawn`]), then GET `probe` must answer 200 within `timeout`. When the edge lost
/// the port to someone else (its logs say the address is in use), up to two more ports are
/// tried. On failure the edge is killed and its logs returned.
pub fn start_on_free_port<T: Deref<Target = EdgeChild>>(
    probe: &str,
    timeout: Duration,
    mut launch: impl FnMut(SocketAddr) -> T,
) -> Result<T, StartFailure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let edge = launch(addr);
        match edge.wait_for(probe, timeout) {
            Ok(()) => return Ok(edge),
            Err(message) => {
                let logs = edge.logs();
                let lost_port = logs.contains("in use") || logs.contains("AddrInUse");
                drop(edge);
                if lost_port && attempt < 3 {
                    continue;
                }
                return Err(StartFailure {
                    addr,
                    message,
                    logs,
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spawning from one long-lived thread with PR_SET_PDEATHSIG (the signal follows the spawning
// *thread*), and killing by an atexit hook since shared edges are never dropped.
// ---------------------------------------------------------------------------------------------

type SpawnReq = (Command, mpsc::Sender<io::Result<Child>>);

static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Working directories of the edges started by this process, removed by the exit hook (those
/// of dropped edges are gone already).
static LIVE_DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnReq>>> = OnceLock::new();
    static ATEXIT: Once = Once::new();
    ATEXIT.call_once(|| unsafe {
        libc::atexit(kill_live_at_exit);
    });
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.process_group(0).pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let tx = SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnReq>();
            thread::Builder::new()
                .name("edge-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .expect("spawner thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    let child = reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))??;
    LIVE.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(child.id());
    Ok(child)
}

extern "C" fn kill_live_at_exit() {
    if let Ok(live) = LIVE.try_lock() {
        for &pid in live.iter() {
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
        }
    }
    if let Ok(dirs) = LIVE_DIRS.try_lock() {
        for dir in dirs.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn forget_live(pid: u32) {
    LIVE.lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|&p| p != pid);
}
