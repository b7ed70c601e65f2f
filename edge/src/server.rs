//! HTTP serving (E6, E7, E66, E84–E86): listeners, connection limits,
//! timeouts, HTTP/1 and h2c through hyper, common headers, panic safety and
//! graceful shutdown. Everything about a request's meaning is in `service`.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::metrics::Endpoint;
use crate::render;
use crate::service::{Answer, ctype, handle};
use crate::state::Edge;

/// Connection phases for the watchdog.
const IDLE: u8 = 0;
const READING: u8 = 1;
const SERVING: u8 = 2;

/// Activity of one connection, shared by its IO wrapper, its service and its watchdog.
struct Activity {
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds since `epoch` of the last phase change or byte.
    since: AtomicU64,
    /// Milliseconds since `epoch` when a write started waiting (0 = none).
    write_blocked: AtomicU64,
}

impl Activity {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn set(&self, phase: u8) {
        self.phase.store(phase, Ordering::Relaxed);
        self.since.store(self.now_ms(), Ordering::Relaxed);
    }
}

/// A socket that reports reads and writes to [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && self.activity.phase.load(Ordering::Relaxed) == IDLE {
            // First bytes of a new request: the header-read clock starts.
            self.activity.set(READING);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Watched {
    fn note_write<T>(&self, r: &Poll<std::io::Result<T>>) {
        let a = &self.activity;
        match r {
            Poll::Pending => {
                let _ = a.write_blocked.compare_exchange(
                    0,
                    a.now_ms(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            Poll::Ready(_) => {
                a.write_blocked.store(0, Ordering::Relaxed);
                if a.phase.load(Ordering::Relaxed) == SERVING {
                    // The answer is going out; the connection is idle again.
                    a.set(IDLE);
                }
            }
        }
    }
}

/// Binds every listen address; errors name the address (E88).
pub async fn bind(edge: &Edge) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for addr in &edge.config.server.listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("server.listen: cannot listen on {addr}: {e}"))?;
        out.push(l);
    }
    Ok(out)
}

/// Serves until `shutdown` turns true, then drains within `shutdown.grace`.
pub async fn serve(
    edge: Arc<Edge>,
    listeners: Vec<TcpListener>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = &edge.config.limits;
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .auto_date_header(false)
        .keep_alive(true)
        // hyper's own limits sit above ours, so ordinary oversize requests get our typed answer (E66).
        .max_headers(limits.max_headers.max(1) * 4 + 16)
        .max_buf_size((limits.max_header_bytes + limits.max_uri).max(8192) * 4);
    builder
        .http2()
        .auto_date_header(false)
        .max_concurrent_streams(edge.config.limits.h2_max_streams)
        .max_header_list_size((limits.max_header_bytes * 4) as u32);
    let builder = if edge.config.server.h2c {
        builder
    } else {
        builder.http1_only()
    };
    let builder = Arc::new(builder);
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel::<(
        TcpStream,
        SocketAddr,
        tokio::sync::OwnedSemaphorePermit,
    )>();
    for listener in listeners {
        let tx = conn_tx.clone();
        let permits = permits.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                // At max_connections, stop accepting until one closes (E84).
                let permit = tokio::select! {
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                    _ = stop.changed() => return,
                };
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop.changed() => return,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        if tx.send((stream, peer, permit)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    drop(conn_tx);
    loop {
        tokio::select! {
            next = conn_rx.recv() => {
                let Some((stream, peer, permit)) = next else { break };
                let _ = stream.set_nodelay(true);
                spawn_connection(&edge, &builder, &graceful, stream, peer, permit);
            }
            _ = shutdown.changed() => break,
        }
    }
    let grace = edge.config.shutdown.grace;
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!(grace = ?grace, "shutdown grace expired; closing remaining connections"),
    }
}

fn spawn_connection(
    edge: &Arc<Edge>,
    builder: &Arc<Builder<TokioExecutor>>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    stream: TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity {
        epoch: Instant::now(),
        phase: AtomicU8::new(IDLE),
        since: AtomicU64::new(1),
        write_blocked: AtomicU64::new(0),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let svc_edge = edge.clone();
    let svc_activity = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        svc_activity.set(SERVING);
        let response = respond(&svc_edge, req, peer);
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let builder = builder.clone();
    let edge = edge.clone();
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        edge.metrics.connection_opened();
        let conn = builder.serve_connection(io, service);
        let conn = watcher.watch(conn.into_owned());
        tokio::pin!(conn);
        let limits = &edge.config.limits;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                res = &mut conn => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = tick.tick() => {
                    if let Some(kind) = expired(&activity, limits) {
                        edge.metrics.timeout(kind);
                        tracing::debug!(kind, "connection timed out");
                        break;
                    }
                }
            }
        }
        edge.metrics.connection_closed();
        drop(permit);
    });
}

/// Which timeout, if any, this connection has passed (E84).
fn expired(a: &Activity, limits: &crate::config::LimitsConfig) -> Option<&'static str> {
    let now = a.now_ms();
    let since = now.saturating_sub(a.since.load(Ordering::Relaxed));
    let blocked = a.write_blocked.load(Ordering::Relaxed);
    if blocked != 0 && now.saturating_sub(blocked) > limits.write_timeout.as_millis() as u64 {
        return Some("write");
    }
    match a.phase.load(Ordering::Relaxed) {
        IDLE if since > limits.idle_timeout.as_millis() as u64 => Some("idle"),
        READING if since > limits.header_read_timeout.as_millis() as u64 => Some("header_read"),
        _ => None,
    }
}

/// Runs the service, catching panics (E85), and frames the answer (E66).
fn respond(edge: &Edge, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (parts, _body) = req.into_parts();
    let started = Instant::now();
    let answer = match std::panic::catch_unwind(AssertUnwindSafe(|| handle(edge, &parts, peer))) {
        Ok(a) => a,
        Err(_) => {
            edge.metrics.panic();
            tracing::error!(path = parts.uri.path(), "request handler panicked");
            internal_error(&parts)
        }
    };
    let mut answer = answer;
    if answer.snapshot_version.is_none() {
        // E66: every answer names the snapshot being served, or `none`.
        answer.snapshot_version = edge.snapshot.load().as_ref().map(|l| l.snap.version());
    }
    edge.metrics.request(
        answer.endpoint,
        answer.status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    // E7: a request that declared a body is answered, then the connection closes.
    let has_body = parts.headers.get(header::TRANSFER_ENCODING).is_some()
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let close = has_body || edge.is_shutting_down();
    frame(answer, parts.method == Method::HEAD, close)
}

fn internal_error(parts: &hyper::http::request::Parts) -> Answer {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let path = parts.uri.path();
    let mut body = Vec::new();
    let (content_type, endpoint) = if path.ends_with("/metalink") {
        render::metalink_failure(&mut body, false, now, &["error: internal error"]);
        (ctype::METALINK3, Endpoint::Metalink)
    } else {
        body.extend_from_slice(b"error: internal error\n");
        (
            ctype::TEXT,
            if path.ends_with("/mirrorlist") {
                Endpoint::Mirrorlist
            } else {
                Endpoint::Other
            },
        )
    };
    let mut a = Answer::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        content_type,
        body,
        endpoint,
        now,
    );
    a.vary_accept = path.ends_with("/metalink");
    a
}

/// Builds the HTTP response with the E66 headers.
pub fn frame(answer: Answer, head: bool, close: bool) -> Response<Full<Bytes>> {
    let len = answer.body.len();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(answer.body)
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = answer.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let mut date = Vec::with_capacity(29);
    render::http_date(&mut date, answer.now);
    if let Ok(v) = HeaderValue::from_bytes(&date) {
        h.insert(header::DATE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let version = match answer.snapshot_version {
        Some(v) => HeaderValue::from(v),
        None => HeaderValue::from_static("none"),
    };
    h.insert("x-mirrorlist-snapshot", version);
    if answer.vary_accept {
        h.insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    if let Some(s) = answer.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    if answer.allow {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    if let Some(loc) = answer.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}
