//! A small static HTTP/1.1 file server standing in for a mirror.
//!
//! One thread accepts, one thread per connection answers (keep-alive supported). GET and HEAD
//! only, `Content-Length` always, 404 for anything that is not a regular file under the root.
//! Every request is recorded with the status it got, so a test can assert which mirror served
//! what. Binds 127.0.0.1 only; stops (and closes open connections) on drop.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::http::Listening;

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedRequest {
    pub method: String,
    /// The request path without query, percent-decoded (e.g. `/pub/fedora/linux/…/repomd.xml`).
    pub path: String,
    /// Status answered: 200, 404, 400 or 405.
    pub status: u16,
}

struct Shared {
    root: PathBuf,
    log: Mutex<Vec<ServedRequest>>,
    stop: AtomicBool,
    /// Open connections by id, so drop can close them.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// A static file server over `root` on `127.0.0.1:<ephemeral port>` (its address and URL:
/// [`Listening`]).
pub struct StaticServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Starts serving `root` (a directory) on 127.0.0.1 with a free port.
    pub fn start(root: impl AsRef<Path>) -> io::Result<StaticServer> {
        let root = root.as_ref().canonicalize()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root,
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("static-server-{}", addr.port()))
            .spawn(move || accept_loop(listener, s))?;
        Ok(StaticServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ServedRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Paths of every request so far, whatever the answer.
    pub fn requested_paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }

    /// Paths answered 200 to a GET (files actually handed out).
    pub fn served_paths(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200 && r.method == "GET")
            .map(|r| r.path)
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.log.lock().unwrap().clear();
    }
}

impl Listening for StaticServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, c) in self.shared.conns.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            shared.conns.lock().unwrap().insert(id, clone);
        }
        let s = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("static-server-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &s);
                s.conns.lock().unwrap().remove(&id);
            });
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    stream.set_write_timeout(Some(Duration::from_secs(15)))?;
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Request line (skip stray empty lines between pipelined requests).
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if !line.trim().is_empty() {
                break;
            }
        }
        let mut parts = line.split_whitespace();
        let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v.to_string()),
            _ => {
                respond(&mut writer, 400, "text/plain", b"bad request\n", true, true)?;
                return Ok(());
            }
        };
        let mut close = version == "HTTP/1.0";
        let mut body_len: u64 = 0;
        let mut header_bytes = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            header_bytes += h.len();
            if header_bytes > 64 * 1024 {
                respond(
                    &mut writer,
                    400,
                    "text/plain",
                    b"headers too large\n",
                    true,
                    true,
                )?;
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                match name.as_str() {
                    "connection" => {
                        let v = value.to_ascii_lowercase();
                        if v.contains("close") {
                            close = true;
                        } else if v.contains("keep-alive") {
                            close = false;
                        }
                    }
                    "content-length" => body_len = value.parse().unwrap_or(0),
                    "transfer-encoding" => close = true,
                    _ => {}
                }
            }
        }
        if body_len > 0 {
            // Mirrors take no bodies; read nothing and close after answering.
            close = true;
        }
        let raw_path = target.split(['?', '#']).next().unwrap_or("").to_string();
        let path = percent_decode(&raw_path).unwrap_or_else(|| raw_path.clone());
        let head = method == "HEAD";
        let (status, ctype, body): (u16, &str, Vec<u8>) = if method != "GET" && !head {
            (405, "text/plain", b"method not allowed\n".to_vec())
        } else {
            match resolve(&shared.root, &path) {
                Some(file) => match std::fs::read(&file) {
                    Ok(data) => (200, content_type(&file), data),
                    Err(_) => (404, "text/plain", b"not found\n".to_vec()),
                },
                None => (404, "text/plain", b"not found\n".to_vec()),
            }
        };
        shared.log.lock().unwrap().push(ServedRequest {
            method: method.clone(),
            path,
            status,
        });
        if status == 405 {
            close = true;
        }
        respond(&mut writer, status, ctype, &body, head, close)?;
        if close {
            let _ = writer.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

fn respond(
    w: &mut TcpStream,
    status: u16,
    ctype: &str,
    body: &[u8],
    head: bool,
    close: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Unknown",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    let mut msg = out.into_bytes();
    if !head {
        msg.extend_from_slice(body);
    }
    w.write_all(&msg)?;
    w.flush()
}

/// Maps a decoded URL path onto a regular file under `root`; `None` for anything else
/// (directories, `.`/`..` components, missing files, symlinks leaving the root).
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = path.strip_prefix('/')?;
    let mut p = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        if comp == "." || comp == ".." || comp.contains('\0') {
            return None;
        }
        p.push(comp);
    }
    let real = p.canonicalize().ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "xml" => "application/xml",
        "gz" => "application/gzip",
        "bz2" => "application/x-bzip2",
        "xz" => "application/x-xz",
        "zst" | "zck" => "application/octet-stream",
        "rpm" => "application/x-rpm",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// `%XX` decoding; `None` on a malformed escape or a non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{http_get, http_request};

    #[test]
    fn serves_files_and_records_requests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.txt"), "hello\n").unwrap();
        let srv = StaticServer::start(dir.path()).unwrap();
        let t = Duration::from_secs(5);

        let r = http_get(srv.addr(), "/a/b/c.txt?x=1", t).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello\n");
        assert_eq!(r.header("content-length"), Some("6"));

        let r = http_request(srv.addr(), "HEAD", "/a/b/c.txt", t).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("6"));
        assert!(r.body.is_empty());

        assert_eq!(http_get(srv.addr(), "/a/b", t).unwrap().status, 404);
        assert_eq!(
            http_get(srv.addr(), "/a/../a/b/c.txt", t).unwrap().status,
            404
        );
        assert_eq!(http_get(srv.addr(), "/nope", t).unwrap().status, 404);
        assert_eq!(http_get(srv.addr(), "/a/b/c%2Etxt", t).unwrap().status, 200);
        assert_eq!(
            http_request(srv.addr(), "POST", "/a/b/c.txt", t)
                .unwrap()
                .status,
            405
        );

        let reqs = srv.requests();
        assert_eq!(reqs.len(), 7);
        assert_eq!(reqs[0].path, "/a/b/c.txt");
        assert_eq!(srv.served_paths(), vec!["/a/b/c.txt", "/a/b/c.txt"]);

        let addr = srv.addr();
        drop(srv);
        assert!(http_get(addr, "/a/b/c.txt", Duration::from_secs(2)).is_err());
    }

    #[test]
    fn keep_alive_two_requests_one_connection() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let srv = StaticServer::start(dir.path()).unwrap();
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\nGET /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
        assert_eq!(srv.served_paths().len(), 2);
    }
}
