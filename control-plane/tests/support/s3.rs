//! A real S3-compatible server for the tests: moto (`moto.server`, installed by
//! `ops/dev-setup.sh`) on 127.0.0.1 at a free port, one per test, killed when the guard goes
//! away. Missing moto → FAIL under `CI=true`, a loud SKIP line otherwise (as `postgres_db()`).
//!
//! moto accepts any access key; buckets are created with an unsigned `PUT /BUCKET` over a plain
//! TCP connection (no HTTP client in the dev-dependencies).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mirrorfleet_control::publish::{ConditionalPut, S3Config};

/// What tests pass as credentials (moto checks neither).
pub const ACCESS_KEY_ID: &str = "AKIAMIRRORFLEETTEST";
pub const SECRET_ACCESS_KEY: &str = "mirrorfleet-test-secret-do-not-print";

/// A running moto server.
pub struct Moto {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `moto.server` with its arguments, after one fix to moto's IAM signature check
/// (used only when [`Moto::enforce_iam`] turns the checks on): moto hands the check a decoded
/// query string (`prefix=a/b/` instead of `prefix=a%2Fb%2F`), so every signed ListObjectsV2
/// with a delimiter or a prefix, boto3's as well as ours, is refused with SignatureDoesNotMatch.
/// The query is re-encoded as SigV4 signs it. Nothing else of moto is touched.
const MOTO_BOOTSTRAP: &str = r#"
import sys
from urllib.parse import quote, unquote
import moto.iam.access_control as ac
from moto.server import main
_create = getattr(ac.IAMRequestBase, "_create_aws_request", None)
if _create is not None:
    def _create_aws_request(self):
        path, sep, query = self._path.partition("?")
        if sep:
            q = lambda s: quote(unquote(s), safe="-_.~")
            self._path = path + "?" + "&".join(
                q(k) + eq + q(v) for k, eq, v in (p.partition("=") for p in query.split("&")))
        return _create(self)
    ac.IAMRequestBase._create_aws_request = _create_aws_request
main(sys.argv[1:])
"#;

fn python() -> String {
    std::env::var("MIRRORFLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Missing prerequisite: a panic under `CI=true`, else a SKIP line and `None`.
fn missing(why: &str) -> Option<Moto> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("moto (S3 test server) is required under CI=true but {why}; run ops/dev-setup.sh");
    }
    // Straight to the process's stderr, past the test harness's output capture.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIP: S3 test not run: {why}\n*** install it with: ops/dev-setup.sh \
         (pip install 'moto[server]')\n"
    );
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One raw, unsigned HTTP/1.1 request to the server: (status, response text).
pub fn raw_request(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    raw_request_body(port, method, path, "")
}

/// [`raw_request`] with a body.
pub fn raw_request_body(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|t| t.get(2..5))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

/// Starts moto on loopback and waits until it answers; `None` (after a SKIP line) when moto
/// or Python is missing outside CI.
pub fn moto() -> Option<Moto> {
    let mut last = String::new();
    // A port found free can be taken before moto binds it: a few tries.
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("moto.log");
        let out = File::create(&log).expect("moto log file");
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.args([
            "-c",
            MOTO_BOOTSTRAP,
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out);
        // SAFETY: prctl only, between fork and exec. moto dies with the thread that started
        // it even when the test process is killed without running destructors.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return missing(&format!("{} is not installed", python()));
            }
            Err(e) => panic!("cannot start {}: {e}", python()),
        };
        let mut m = Moto {
            child,
            port,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok((200, _)) = raw_request(port, "GET", "/") {
                return Some(m);
            }
            if let Ok(Some(status)) = m.child.try_wait() {
                last = format!("exited with {status}: {}", m.log_text());
                if last.contains("No module named") {
                    return missing("the Python module moto.server is not installed");
                }
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "moto did not answer on 127.0.0.1:{port} within 60 s: {}",
                    m.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("moto did not start: {last}");
}

impl Moto {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server logged (one line per request).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates `bucket` (an unsigned `PUT /bucket`).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, text) =
            raw_request(self.port, "PUT", &format!("/{bucket}")).expect("create bucket");
        assert_eq!(status, 200, "creating bucket {bucket}: {text}");
    }

    /// Turns moto's IAM checks on (every request must be signed with a key of an IAM user and
    /// be allowed by its policy) or off (the default: anything goes).
    pub fn enforce_iam(&self, on: bool) {
        let count = if on { "0" } else { "inf" };
        let (status, text) =
            raw_request_body(self.port, "POST", "/moto-api/reset-auth", count).expect("reset-auth");
        assert_eq!(status, 200, "{text}");
    }

    /// Creates IAM user `name` with an inline policy of `statements` (a JSON array) and an
    /// access key: (access key id, secret). Uses boto3, which moto depends on; call it while
    /// IAM checks are off.
    pub fn iam_user(&self, name: &str, statements: &str) -> (String, String) {
        const SCRIPT: &str = r#"
import boto3, json, sys
endpoint, name, statements = sys.argv[1:4]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName=name)
iam.put_user_policy(UserName=name, PolicyName="test", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": json.loads(statements)}))
key = iam.create_access_key(UserName=name)["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;
        let out = Command::new(python())
            .args(["-c", SCRIPT, &self.endpoint(), name, statements])
            .output()
            .expect("run python3 for IAM setup");
        assert!(
            out.status.success(),
            "creating IAM user {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (id, secret) = text.trim().split_once(' ').expect("key id and secret");
        (id.to_string(), secret.to_string())
    }

    /// Settings for this server: path-style, plain http, test credentials, ETag condition.
    pub fn settings(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            access_key_id: Some(ACCESS_KEY_ID.into()),
            secret_access_key: Some(SECRET_ACCESS_KEY.into()),
            session_token: None,
            allow_http: true,
            virtual_hosted: false,
            conditional_put: ConditionalPut::Etag,
        }
    }
}
