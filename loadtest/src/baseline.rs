//! The baseline server (`mirrorfleet-loadtest baseline`): hyper on tokio, HTTP/1.1 and h2c,
//! answering every request with one fixed body, computed once. It does everything an edge's
//! transport does and nothing of its work, so its throughput on a machine is the ceiling for
//! any server built on the same stack; the benchmark reports the edge as a fraction of it.
//!
//! `--stall-every N --stall D` makes one answer in N wait D first: a server with hiccups, to see
//! what open-loop load (`run --rate`) reports that closed-loop load hides.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A body of `size` bytes shaped like a metalink (an XML declaration, then filler lines), so
/// compression-free transfer costs what a real answer's does.
pub fn body(size: usize) -> Bytes {
    let mut b = String::with_capacity(size);
    b.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    while b.len() < size {
        b.push_str("<url protocol=\"https\" type=\"https\" location=\"SE\" preference=\"100\">https://mirror.example.org/pub/fedora/linux/</url>\n");
    }
    b.truncate(size);
    Bytes::from(b)
}

/// One answer in `every` waits `delay` first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    pub every: u64,
    pub delay: Duration,
}

/// Serves `body` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    body: Bytes,
    stall: Option<Stall>,
    mut stop: watch::Receiver<bool>,
) {
    let answered = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let (body, answered) = (body.clone(), answered.clone());
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let mut resp = Response::new(Full::new(body.clone()));
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/metalink+xml"),
                );
                let n = answered.fetch_add(1, Ordering::Relaxed) + 1;
                let wait = stall
                    .filter(|s| s.every > 0 && n.is_multiple_of(s.every))
                    .map(|s| s.delay);
                async move {
                    if let Some(d) = wait {
                        tokio::time::sleep(d).await;
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `addr` and serves until the process ends.
pub async fn run(addr: SocketAddr, body_size: usize, stall: Option<Stall>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    eprintln!(
        "baseline: {body_size}-byte answers on http://{} (HTTP/1.1 and h2c); Ctrl-C stops",
        listener.local_addr()?
    );
    let (_tx, rx) = watch::channel(false);
    serve(listener, body(body_size), stall, rx).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::load::{self, LoadSpec, Pace, Protocol};

    async fn start(size: usize, stall: Option<Stall>) -> (SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(false);
        tokio::spawn(serve(listener, body(size), stall, rx));
        (addr, tx)
    }

    #[test]
    fn bodies_have_the_asked_size() {
        for size in [0, 10, 23_552, 100_000] {
            assert_eq!(body(size).len(), size);
        }
        assert!(body(100).starts_with(b"<?xml"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn load_against_the_baseline_both_protocols_both_paces() {
        let (addr, stop) = start(4096, None).await;
        let targets = Arc::new(vec!["/metalink?repo=a&arch=b".to_string()]);
        for protocol in [Protocol::Http1, Protocol::H2c] {
            for pace in [Pace::Closed, Pace::Open { rate: 500.0 }] {
                let mut spec =
                    LoadSpec::closed(addr, Duration::from_millis(400), 2, targets.clone());
                spec.protocol = protocol;
                spec.pace = pace;
                spec.max_requests = Some(150);
                let r = load::run(spec).await;
                assert_eq!(r.errors, 0, "{protocol:?} {pace:?}: {}", r.summary());
                assert!(r.requests > 0, "{protocol:?} {pace:?}");
                assert_eq!(r.statuses.get(&200), Some(&r.requests));
                assert_eq!(r.body_bytes, r.requests * 4096);
                if let Pace::Open { .. } = pace {
                    // 500/s for 0.4 s, bounded by the count: at most 150, at least most of 200.
                    assert!(r.requests <= 150, "{}", r.summary());
                }
            }
        }
        let _ = stop.send(true);
    }

    /// Coordinated omission: one answer in 10 stalls 50 ms. A closed loop sends nothing while
    /// it waits, so only the stalled answers are slow (p50 stays tiny); an open loop at 100/s
    /// keeps its schedule, and the requests due during a stall wait behind it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_sees_what_closed_loop_omits() {
        let stall = Stall {
            every: 10,
            delay: Duration::from_millis(50),
        };
        let (addr, stop) = start(1024, Some(stall)).await;
        let targets = Arc::new(vec!["/".to_string()]);
        let closed = load::run(LoadSpec::closed(
            addr,
            Duration::from_millis(800),
            1,
            targets.clone(),
        ))
        .await;
        let mut spec = LoadSpec::closed(addr, Duration::from_millis(800), 1, targets);
        spec.pace = Pace::Open { rate: 100.0 };
        let open = load::run(spec).await;
        assert_eq!((closed.errors, open.errors), (0, 0));
        // Closed: 9 of 10 answers are fast; only the stalled tenth is slow.
        assert!(
            closed.quantile_us(0.7) < 10_000,
            "closed: {}",
            closed.summary()
        );
        // Open at 100/s (one due every 10 ms): the four due during each 50 ms stall wait
        // 40, 30, 20 and 10 ms behind it, so 5 of every 10 are slow, the 7th 20 ms.
        assert!(
            open.quantile_us(0.7) >= 15_000,
            "closed: {}\nopen: {}",
            closed.summary(),
            open.summary()
        );
        assert!(
            open.max_lag_us >= 10_000,
            "open: lag {} µs",
            open.max_lag_us
        );
        let _ = stop.send(true);
    }
}
