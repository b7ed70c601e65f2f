//! The HTTP/1.1 load generator: N keep-alive connections (hyper client, one
//! request in flight per connection, no pipelining), each cycling through the
//! request list from its own offset, bounded by a duration and optionally a
//! request count; latencies go into an HDR histogram (µs).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::{HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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
    /// Latency, µs.
    pub latency: Histogram<u64>,
}

impl LoadResult {
    /// Completed requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency quantile in µs.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }

    /// One human line.
    pub fn summary(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        format!(
            "{} requests in {:.2} s = {:.0} req/s; latency µs p50 {} p99 {} p99.9 {} max {}; statuses {{{}}}; errors {}; {:.1} KiB/response",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.quantile_us(0.50),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            self.latency.max(),
            statuses.join(", "),
            self.errors,
            self.body_bytes as f64 / self.requests.max(1) as f64 / 1024.0,
        )
    }
}

struct Shared {
    deadline: Instant,
    budget: Option<AtomicU64>,
    completed: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline
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

struct WorkerOut {
    requests: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    body_bytes: u64,
    latency: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

async fn worker(index: usize, spec: Arc<LoadSpec>, shared: Arc<Shared>) -> WorkerOut {
    let mut out = WorkerOut {
        requests: 0,
        errors: 0,
        statuses: BTreeMap::new(),
        body_bytes: 0,
        latency: histogram(),
    };
    let targets = &spec.targets;
    let mut next = index * targets.len() / spec.concurrency.max(1);
    let host = HeaderValue::from_str(&spec.addr.to_string()).expect("an address is a valid header");
    'connect: while !shared.over() {
        let stream = match TcpStream::connect(spec.addr).await {
            Ok(s) => s,
            Err(_) => {
                out.errors += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(x) => x,
                Err(_) => {
                    out.errors += 1;
                    continue;
                }
            };
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        loop {
            if shared.over() || !shared.take() {
                shared.stop.store(true, Ordering::Relaxed);
                break 'connect;
            }
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
            if sender.ready().await.is_err() {
                out.errors += 1;
                break;
            }
            let started = Instant::now();
            let resp = match sender.send_request(req).await {
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
        drop(sender);
        let _ = conn.await;
    }
    out
}

/// Runs one load and returns what it measured.
pub async fn run(spec: LoadSpec) -> LoadResult {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: started + spec.duration,
        budget: spec.max_requests.map(AtomicU64::new),
        completed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
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
    };
    for w in workers {
        match w.await {
            Ok(o) => {
                result.requests += o.requests;
                result.errors += o.errors;
                result.body_bytes += o.body_bytes;
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
