//! The HTTP load generator: N connections (HTTP/1.1 keep-alive or h2c, hyper client, one
//! request in flight per connection, no pipelining), each cycling through the request list
//! from its own offset, bounded by a duration and optionally a request count; latencies go
//! into an HDR histogram (µs).
//!
//! Two ways to pace ([`Pace`]):
//! - **closed loop**: each connection sends its next request as soon as the previous answer is
//!   read; the rate is whatever the server sustains. Latency is send → last byte.
//! - **open loop** at a fixed rate: request k is *due* at start + k / rate, whichever
//!   connection is free takes it, and its latency is measured from when it was due, not from
//!   when it could be sent. A server that stalls therefore shows its stall in every request
//!   that waited behind it (no coordinated omission), as a user arriving at that rate would
//!   see it. With too few connections for the rate, requests fall behind schedule and the
//!   latencies say so.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The HTTP version spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (the edge's `server.h2c`), one stream in
    /// flight per connection.
    H2c,
}

impl Protocol {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1.1",
            Protocol::H2c => "h2c",
        }
    }
}

/// How requests are paced (module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the answers come.
    Closed,
    /// A fixed rate, requests per second, latency from each request's due time.
    Open { rate: f64 },
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many requests (all connections together).
    pub max_requests: Option<u64>,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Request targets, cycled.
    pub targets: Arc<Vec<String>>,
    /// Label for progress lines; `None` prints none.
    pub progress: Option<String>,
    /// HTTP/1.1 or h2c.
    pub protocol: Protocol,
    /// Closed or open loop.
    pub pace: Pace,
    /// Stops the run early when set (besides the duration and the count).
    pub stop: Option<Arc<AtomicBool>>,
}

impl LoadSpec {
    /// A closed-loop HTTP/1.1 run (the benchmark's default).
    pub fn closed(
        addr: SocketAddr,
        duration: Duration,
        concurrency: usize,
        targets: Arc<Vec<String>>,
    ) -> LoadSpec {
        LoadSpec {
            addr,
            duration,
            max_requests: None,
            concurrency,
            targets,
            progress: None,
            protocol: Protocol::Http1,
            pace: Pace::Closed,
            stop: None,
        }
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Completed requests (a response was read in full).
    pub requests: u64,
    /// Connection or protocol errors.
    pub errors: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Body bytes received.
    pub body_bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency, µs (open loop: from the due time).
    pub latency: Histogram<u64>,
    /// Open loop: the most a request started after its due time, µs (0 in closed loop).
    pub max_lag_us: u64,
}

/// The quantiles every report shows.
pub const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];

impl LoadResult {
    /// Completed requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency quantile in µs (`1.0`: the maximum).
    pub fn quantile_us(&self, q: f64) -> u64 {
        if q >= 1.0 {
            self.latency.max()
        } else {
            self.latency.value_at_quantile(q)
        }
    }

    /// Responses with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// One human line.
    pub fn summary(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let latency: Vec<String> = QUANTILES
            .iter()
            .map(|(name, q)| format!("{name} {}", self.quantile_us(*q)))
            .collect();
        format!(
            "{} requests in {:.2} s = {:.0} req/s; latency µs {}; statuses {{{}}}; errors {}; {:.1} KiB/response",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.rate(),
            latency.join(" "),
            statuses.join(", "),
            self.errors,
            self.body_bytes as f64 / self.requests.max(1) as f64 / 1024.0,
        )
    }

    /// The figures as JSON (`--json`).
    pub fn to_json(&self) -> Value {
        let latency: serde_json::Map<String, Value> = QUANTILES
            .iter()
            .map(|(name, q)| (name.to_string(), Value::from(self.quantile_us(*q))))
            .chain([("mean".to_string(), Value::from(self.latency.mean()))])
            .collect();
        json!({
            "requests": self.requests,
            "errors": self.errors,
            "server_errors": self.server_errors(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rate_per_s": self.rate(),
            "latency_us": latency,
            "statuses": self.statuses.iter().map(|(s, n)| (s.to_string(), Value::from(*n))).collect::<serde_json::Map<_, _>>(),
            "body_bytes": self.body_bytes,
            "max_lag_us": self.max_lag_us,
        })
    }
}

struct Shared {
    external_stop: Option<Arc<AtomicBool>>,
    started: Instant,
    deadline: Instant,
    budget: Option<AtomicU64>,
    completed: AtomicU64,
    stop: AtomicBool,
    /// Open loop: the next request number to take.
    next_due: AtomicU64,
}

impl Shared {
    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || Instant::now() >= self.deadline
            || self
                .external_stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Takes one request from the count budget.
    fn take(&self) -> bool {
        match &self.budget {
            None => true,
            Some(b) => b
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Waits until `due`, to the microsecond: tokio's timer has a resolution of 1 ms, which would
/// add up to a millisecond of client-made latency to every open-loop request (measured from
/// its due time), so the last stretch is spent yielding instead of sleeping. The load
/// generator has its own cores; the spinning costs only them.
async fn wait_until(due: Instant) {
    const SPIN: Duration = Duration::from_micros(1500);
    if let Some(sleep) = due.checked_duration_since(Instant::now())
        && sleep > SPIN
    {
        tokio::time::sleep_until((due - SPIN).into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

/// When request `k` is due in an open loop at `rate` per second, after `start`.
pub fn due_time(start: Instant, k: u64, rate: f64) -> Instant {
    start + Duration::from_secs_f64(k as f64 / rate.max(1e-9))
}

struct WorkerOut {
    requests: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    body_bytes: u64,
    latency: Histogram<u64>,
    max_lag_us: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// A connection's request sender, whichever the protocol.
enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn connect(addr: SocketAddr, protocol: Protocol) -> Option<Sender> {
        let stream = TcpStream::connect(addr).await.ok()?;
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        match protocol {
            Protocol::Http1 => {
                let (s, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Some(Sender::H1(s))
            }
            Protocol::H2c => {
                let (s, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .ok()?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Some(Sender::H2(s))
            }
        }
    }

    async fn send(
        &mut self,
        req: Request<Empty<Bytes>>,
    ) -> Result<Response<hyper::body::Incoming>, hyper::Error> {
        match self {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }
}

async fn worker(index: usize, spec: Arc<LoadSpec>, shared: Arc<Shared>) -> WorkerOut {
    let mut out = WorkerOut {
        requests: 0,
        errors: 0,
        statuses: BTreeMap::new(),
        body_bytes: 0,
        latency: histogram(),
        max_lag_us: 0,
    };
    let targets = &spec.targets;
    let mut next = index * targets.len() / spec.concurrency.max(1);
    let host = HeaderValue::from_str(&spec.addr.to_string()).expect("an address is a valid header");
    'connect: while !shared.over() {
        let Some(mut sender) = Sender::connect(spec.addr, spec.protocol).await else {
            out.errors += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        loop {
            if shared.over() || !shared.take() {
                shared.stop.store(true, Ordering::Relaxed);
                break 'connect;
            }
            // Closed loop: now. Open loop: the due time of the next request number.
            let due = match spec.pace {
                Pace::Closed => None,
                Pace::Open { rate } => {
                    let k = shared.next_due.fetch_add(1, Ordering::Relaxed);
                    let due = due_time(shared.started, k, rate);
                    if due >= shared.deadline {
                        break 'connect;
                    }
                    wait_until(due).await;
                    Some(due)
                }
            };
            let target = &targets[next % targets.len()];
            next += 1;
            let req = match Request::get(target.as_str())
                .header(HOST, host.clone())
                .body(Empty::<Bytes>::new())
            {
                Ok(r) => r,
                Err(_) => {
                    out.errors += 1;
                    continue;
                }
            };
            let sent = Instant::now();
            let started = due.unwrap_or(sent);
            if let Some(d) = due {
                out.max_lag_us = out
                    .max_lag_us
                    .max(sent.saturating_duration_since(d).as_micros() as u64);
            }
            let resp = match sender.send(req).await {
                Ok(r) => r,
                Err(_) => {
                    out.errors += 1;
                    break;
                }
            };
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            let mut ok = true;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            out.body_bytes += d.len() as u64;
                        }
                    }
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                out.errors += 1;
                break;
            }
            let us = started.elapsed().as_micros().max(1) as u64;
            let _ = out.latency.record(us.min(120_000_000));
            *out.statuses.entry(status).or_default() += 1;
            out.requests += 1;
            shared.completed.fetch_add(1, Ordering::Relaxed);
        }
    }
    out
}

/// Runs one load and returns what it measured.
pub async fn run(spec: LoadSpec) -> LoadResult {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        external_stop: spec.stop.clone(),
        started,
        deadline: started + spec.duration,
        budget: spec.max_requests.map(AtomicU64::new),
        completed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        next_due: AtomicU64::new(0),
    });
    let spec = Arc::new(spec);
    let progress = spec.progress.clone().map(|label| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = 0u64;
            loop {
                tick.tick().await;
                let done = shared.completed.load(Ordering::Relaxed);
                eprintln!(
                    "  [{label}] {:>4.0} s  {:>10} requests  {:>8} req/s",
                    started.elapsed().as_secs_f64(),
                    done,
                    done - last
                );
                last = done;
            }
        })
    });
    let workers: Vec<_> = (0..spec.concurrency.max(1))
        .map(|i| tokio::spawn(worker(i, spec.clone(), shared.clone())))
        .collect();
    let mut result = LoadResult {
        requests: 0,
        errors: 0,
        statuses: BTreeMap::new(),
        body_bytes: 0,
        elapsed: Duration::ZERO,
        latency: histogram(),
        max_lag_us: 0,
    };
    for w in workers {
        match w.await {
            Ok(o) => {
                result.requests += o.requests;
                result.errors += o.errors;
                result.body_bytes += o.body_bytes;
                result.max_lag_us = result.max_lag_us.max(o.max_lag_us);
                for (s, n) in o.statuses {
                    *result.statuses.entry(s).or_default() += n;
                }
                let _ = result.latency.add(&o.latency);
            }
            Err(_) => result.errors += 1,
        }
    }
    result.elapsed = started.elapsed();
    if let Some(p) = progress {
        p.abort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_with(latencies: impl IntoIterator<Item = u64>) -> LoadResult {
        let mut latency = histogram();
        let mut n = 0;
        for l in latencies {
            latency.record(l).unwrap();
            n += 1;
        }
        LoadResult {
            requests: n,
            errors: 0,
            statuses: BTreeMap::from([(200, n - 1), (503, 1)]),
            body_bytes: n * 1024,
            elapsed: Duration::from_secs(2),
            latency,
            max_lag_us: 0,
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        // 1..=10,000 µs, once each: the q-quantile is q × 10,000 (within the histogram's
        // three significant digits).
        let r = result_with(1..=10_000);
        let close = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
        assert!(close(r.quantile_us(0.50), 5_000), "{}", r.quantile_us(0.50));
        assert!(close(r.quantile_us(0.90), 9_000), "{}", r.quantile_us(0.90));
        assert!(close(r.quantile_us(0.99), 9_900), "{}", r.quantile_us(0.99));
        assert!(
            close(r.quantile_us(0.999), 9_990),
            "{}",
            r.quantile_us(0.999)
        );
        assert!(close(r.quantile_us(1.0), 10_000));
        assert_eq!(r.rate(), 5_000.0);
        assert_eq!(r.server_errors(), 1);
        let j = r.to_json();
        assert_eq!(j["requests"], 10_000);
        assert_eq!(j["statuses"]["503"], 1);
        assert_eq!(j["rate_per_s"], 5_000.0);
        assert!((j["latency_us"]["mean"].as_f64().unwrap() - 5_000.5).abs() < 10.0);
        assert!(r.summary().contains("p90 "), "{}", r.summary());
    }

    #[test]
    fn open_loop_schedule() {
        let t0 = Instant::now();
        assert_eq!(due_time(t0, 0, 1000.0), t0);
        assert_eq!(due_time(t0, 1000, 1000.0), t0 + Duration::from_secs(1));
        assert_eq!(due_time(t0, 5, 2.0), t0 + Duration::from_millis(2500));
    }
}
