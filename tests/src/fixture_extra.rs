//! Extra fixture capability for the selection and operations tests (edge-protocol.md §7–§16):
//!
//! - [`RawEdge`]: an edge process under the test's full control (any flags and configuration,
//!   no snapshot needed to start, its pid for signals, its exit status).
//! - [`raw_exchange`], [`request`]: HTTP/1.1 requests with arbitrary headers and raw bytes,
//!   every exchange bounded by a timeout (the parsing is [`crate::http`]'s).
//! - [`metric`], [`metric_or_zero`]: one sample of the edge's Prometheus text.
//! - [`order_ref`]: an independent implementation of the §9 ordering (SplitMix64, Fisher–Yates,
//!   weighted sampling), checked against the spec's vectors.
//! - [`patch_snapshot`]: byte edits of a built snapshot file with the header hash recomputed, to
//!   craft snapshots the builder would never write (host bits in a prefix, duplicate keys).
//! - [`write_atomically`], [`parse_http_date`], [`rfc3339`]: small file and time helpers.
//!
//! Everything else (inventory, GeoIP and configuration variants, requests, metrics) is in
//! [`crate::fixture`].

use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::bins::binary_command;
use crate::http::{HttpResponse, Listening};
pub use crate::http::{parse_response, raw_exchange, read_response_bytes, request};
use crate::process::{EdgeChild, start_on_free_port};

// ---------------------------------------------------------------------------------------------
// An edge process under full control
// ---------------------------------------------------------------------------------------------

/// A `mirrorfleet-edge` started with the given arguments (plus `--listen 127.0.0.1:PORT` unless
/// the arguments name one), in its own temporary working directory, with its output in files.
/// Unlike [`crate::EdgeProcess`] it does not need a snapshot to be "up": [`RawEdge::start`]
/// waits for `/healthz` only. Killed (SIGKILL to its process group) on drop. Its pid, signals,
/// exit status, logs, `get` and `metrics` are the [`EdgeChild`]'s.
pub struct RawEdge(EdgeChild);

/// How long an edge may take to listen.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);

impl RawEdge {
    /// Starts `mirrorfleet-edge ARGS… --listen 127.0.0.1:PORT` and waits until `/healthz`
    /// answers 200. `config`, when given, is written to `edge.toml` in the working directory and
    /// passed with `--config`. Panics (with the edge's output) when it exits or does not listen
    /// within [`LISTEN_TIMEOUT`].
    pub fn start(args: &[&str], config: Option<&str>) -> RawEdge {
        start_on_free_port("/healthz", LISTEN_TIMEOUT, |addr| {
            Self::spawn(args, config, Some(addr))
        })
        .unwrap_or_else(|f| panic!("mirrorfleet-edge {} on {}: {f}", args.join(" "), f.addr))
    }

    /// Spawns the edge without waiting for anything. With `listen`, `--listen ADDR` is added
    /// (without, its address is taken to be the default 127.0.0.1:8081).
    pub fn spawn(args: &[&str], config: Option<&str>, listen: Option<SocketAddr>) -> RawEdge {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = binary_command("mirrorfleet-edge", dir.path());
        if let Some(text) = config {
            let path = dir.path().join("edge.toml");
            fs::write(&path, text).expect("write edge.toml");
            cmd.arg("--config").arg(&path);
        }
        cmd.args(args);
        if let Some(a) = listen {
            cmd.arg("--listen").arg(a.to_string());
        }
        let addr = listen.unwrap_or_else(|| "127.0.0.1:8081".parse().unwrap());
        RawEdge(EdgeChild::spawn(cmd, dir, addr))
    }

    /// Waits until `/healthz` answers 200 (the edge listens).
    pub fn wait_listening(&self, timeout: Duration) -> Result<(), String> {
        self.wait_for("/healthz", timeout)
    }

    /// Waits until `/readyz` answers 200 (a snapshot is loaded).
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        self.wait_for("/readyz", timeout)
    }

    /// GET `target` with extra header fields; panics on a transport error.
    pub fn get_with(&self, target: &str, headers: &[(&str, &[u8])]) -> HttpResponse {
        request(self.addr(), "GET", target, headers, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {target}: {e}\n{}", self.logs()))
    }
}

impl Deref for RawEdge {
    type Target = EdgeChild;

    fn deref(&self) -> &EdgeChild {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP with arbitrary headers
// ---------------------------------------------------------------------------------------------

/// The bytes of a bodiless request: `METHOD TARGET HTTP/1.1`, `Host`, `User-Agent`, `Accept:
/// */*` and `Connection: close` unless given, then the given fields
/// ([`crate::http::request_bytes`]).
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
) -> Vec<u8> {
    crate::http::request_bytes(addr, method, target, headers, None)
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// The value of the sample whose series (name and labels as written, e.g.
/// `mirrorfleet_edge_timeouts_total{kind="header_read"}`) is exactly `series`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let v = rest.strip_prefix(' ')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// [`metric`], 0 when the series is absent.
pub fn metric_or_zero(text: &str, series: &str) -> f64 {
    metric(text, series).unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// The §9 ordering, independently
// ---------------------------------------------------------------------------------------------

/// An independent implementation of edge-protocol.md §9 (E54–E56), from the spec text only.
pub mod order_ref {
    use super::*;

    /// SplitMix64 (E56).
    #[derive(Clone, Debug)]
    pub struct SplitMix64(pub u64);

    impl SplitMix64 {
        /// The next output.
        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// uniform(m): the high 64 bits of next() × m (E56).
        pub fn uniform(&mut self, m: u64) -> u64 {
            ((u128::from(self.next_u64()) * u128::from(m)) >> 64) as u64
        }
    }

    /// base = first 8 bytes (big-endian) of SHA-256(`mirrorfleet/order/v1` ‖ K ‖ version u64 BE
    /// ‖ t i64 BE ‖ client as 16 bytes, IPv4 as `::ffff:a.b.c.d`).
    pub fn base(key: &[u8; 32], version: u64, t: i64, client: IpAddr) -> u64 {
        let mut h = Sha256::new();
        h.update(b"mirrorfleet/order/v1");
        h.update(key);
        h.update(version.to_be_bytes());
        h.update(t.to_be_bytes());
        let octets = match client {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        h.update(octets);
        let d = h.finalize();
        u64::from_be_bytes(d[..8].try_into().unwrap())
    }

    /// Slot i's seed: output i (from 0) of a master SplitMix64 seeded with `base`.
    pub fn slot_seed(base: u64, slot: u64) -> u64 {
        let mut master = SplitMix64(base);
        let mut out = 0;
        for _ in 0..=slot {
            out = master.next_u64();
        }
        out
    }

    /// Slot i's stream.
    pub fn stream(base: u64, slot: u64) -> SplitMix64 {
        SplitMix64(slot_seed(base, slot))
    }

    /// Uniform order (E54): Fisher–Yates, i from len−1 down to 1, j = uniform(i+1).
    pub fn fisher_yates<T>(rng: &mut SplitMix64, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = rng.uniform(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// Weighted order (E55): successive sampling without replacement; returns indices into
    /// `weights` (source order) in answer order.
    pub fn weighted(rng: &mut SplitMix64, weights: &[u64]) -> Vec<usize> {
        let mut w: Vec<u64> = weights.to_vec();
        let mut total: u64 = w.iter().sum();
        let mut out = Vec::with_capacity(w.len());
        while out.len() < w.len() {
            let r = rng.uniform(total);
            let mut run = 0u64;
            let pick = w
                .iter()
                .position(|&x| {
                    run += x;
                    x > 0 && run > r
                })
                .expect("a candidate is left");
            out.push(pick);
            total -= w[pick];
            w[pick] = 0;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Crafted snapshots
// ---------------------------------------------------------------------------------------------

/// Replaces the single occurrence of `find` in the payload of snapshot `bytes` by `replace`
/// (same length) and recomputes the header's payload SHA-256, so only the semantic validation
/// can refuse the result. Panics unless `find` occurs exactly once in the payload.
pub fn patch_snapshot(bytes: &[u8], find: &[u8], replace: &[u8]) -> Vec<u8> {
    assert_eq!(find.len(), replace.len(), "a patch keeps the length");
    let header = mirrorfleet_snapshot::HEADER_LEN;
    let payload = &bytes[header..];
    let hits: Vec<usize> = payload
        .windows(find.len())
        .enumerate()
        .filter(|(_, w)| *w == find)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "the pattern {find:02x?} must occur exactly once in the snapshot payload (found at {hits:?})"
    );
    let mut out = bytes.to_vec();
    let at = header + hits[0];
    out[at..at + replace.len()].copy_from_slice(replace);
    rehash_snapshot(&mut out);
    out
}

/// Number of occurrences of `find` in the payload.
pub fn count_in_payload(bytes: &[u8], find: &[u8]) -> usize {
    bytes[mirrorfleet_snapshot::HEADER_LEN..]
        .windows(find.len())
        .filter(|w| *w == find)
        .count()
}

/// Recomputes the payload SHA-256 in the header (bytes 24..56).
pub fn rehash_snapshot(bytes: &mut [u8]) {
    let digest: [u8; 32] = Sha256::digest(&bytes[mirrorfleet_snapshot::HEADER_LEN..]).into();
    bytes[24..56].copy_from_slice(&digest);
}

/// The snapshot version the header states (bytes 56..64).
pub fn header_version(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[56..64].try_into().unwrap())
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then rename),
/// so a watcher never sees a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp: PathBuf = path.with_extension("tmp-write");
    fs::write(&tmp, bytes).expect("write temporary file");
    fs::rename(&tmp, path).expect("rename into place");
}

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Unix seconds of an IMF-fixdate (`Wed, 25 Nov 2026 10:00:03 GMT`), as in `Date`.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[2])? as i64 + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4]
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// RFC 3339 UTC text (`2026-11-25T10:00:03Z`) of Unix seconds.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

// ---------------------------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------------------------

/// A TCP connection to an IPv4 `addr` whose receive buffer was set to `rcvbuf` bytes before
/// connecting, so the peer can only send a small window at a time (a slow reader).
pub fn connect_with_rcvbuf(addr: SocketAddr, rcvbuf: i32) -> io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(a) = addr else {
        return Err(io::Error::other("IPv4 address expected"));
    };
    // SAFETY: plain socket calls on a descriptor this function owns until it is wrapped.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&rcvbuf as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: a.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stream)
    }
}
