//! A minimal blocking HTTP/1.1 client over `std::net`, enough to probe the edge and the mirrors,
//! and the one HTTP/1.x response parser of the tests ([`try_parse`], [`parse_response`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A server on a loopback address that the tests talk to: an edge or a mirror.
pub trait Listening {
    /// The address it listens on.
    fn addr(&self) -> SocketAddr;

    /// The port it listens on.
    fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `http://ADDR` (no trailing slash).
    fn url(&self) -> String {
        format!("http://{}", self.addr())
    }
}

/// `GET target` (path and query) on `addr`, `Connection: close`, everything bounded by `timeout`.
pub fn http_get(addr: SocketAddr, target: &str, timeout: Duration) -> io::Result<HttpResponse> {
    http_request(addr, "GET", target, timeout)
}

/// A request without body; the whole exchange must finish within `timeout`, and an incomplete
/// answer is an error (see [`parse_response`]).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    request(addr, method, target, &[], timeout)
}

/// As [`http_request`], with extra header fields (values as raw bytes; see [`request_bytes`]).
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let raw = raw_exchange(
        addr,
        &request_bytes(addr, method, target, headers, None),
        timeout,
    )?;
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

/// The bytes of an HTTP/1.1 request: the request line; `Host`, `User-Agent: mirrorfleet-tests`,
/// `Accept: */*` and `Connection: close` unless `headers` names them (case-insensitive);
/// `Content-Length` when there is a body and neither it nor `Transfer-Encoding` is given; then
/// `headers` in order (a name may repeat, values are raw bytes); then the body.
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    let mut s = format!("{method} {target} HTTP/1.1\r\n");
    if !has("host") {
        s.push_str(&format!("Host: {addr}\r\n"));
    }
    if !has("user-agent") {
        s.push_str("User-Agent: mirrorfleet-tests\r\n");
    }
    if !has("accept") {
        s.push_str("Accept: */*\r\n");
    }
    if !has("connection") {
        s.push_str("Connection: close\r\n");
    }
    if let Some(b) = body
        && !has("content-length")
        && !has("transfer-encoding")
    {
        s.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    let mut raw = s.into_bytes();
    for (n, v) in headers {
        raw.extend_from_slice(n.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(v);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        raw.extend_from_slice(b);
    }
    raw
}

/// Writes `bytes` on a new connection to `addr`, then reads one response with
/// [`read_response_bytes`] (until it is complete, the peer closes, or `timeout` passes); the
/// response has no body when `bytes` is a HEAD request.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(bytes)?;
    s.flush()?;
    read_response_bytes(&mut s, deadline, bytes.starts_with(b"HEAD "))
}

/// Reads one response from `s`: until [`try_parse`] finds it complete (so a keep-alive server
/// that ignores `Connection: close` does not stall us), the peer closes (then whatever
/// arrived), or `deadline` passes (an error).
pub fn read_response_bytes(
    s: &mut TcpStream,
    deadline: Instant,
    head: bool,
) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Ok(Some(parsed)) = try_parse(&raw, head, false) {
            raw.truncate(parsed.used);
            return Ok(raw);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP exchange timed out",
            ));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Parses one complete HTTP/1.x response, all of `raw`. An incomplete or non-UTF-8 head, a body
/// shorter than its `Content-Length` (or an unfinished chunked body), or bytes after the
/// response are errors (a dropped or garbled answer). Chunked bodies are decoded.
pub fn parse_response(raw: &[u8], head: bool) -> io::Result<HttpResponse> {
    let Some(end) = header_end(raw) else {
        return Err(invalid(format!(
            "incomplete HTTP response head ({} bytes: {:?})",
            raw.len(),
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        )));
    };
    std::str::from_utf8(&raw[..end]).map_err(|_| invalid("non-UTF-8 head".into()))?;
    match try_parse(raw, head, true)? {
        None => Err(invalid(format!(
            "body of {} bytes is incomplete (answer cut short): {:?}",
            raw.len() - end,
            String::from_utf8_lossy(&raw[..end])
        ))),
        Some(p) if !head && p.used != raw.len() => Err(invalid(format!(
            "body of {} bytes, but the answer ends after {} (Content-Length or chunks disagree)",
            raw.len() - end,
            p.used - end
        ))),
        Some(p) => Ok(p.response),
    }
}

/// One response found by [`try_parse`].
#[derive(Clone, Debug)]
pub struct Parsed {
    pub response: HttpResponse,
    /// Bytes of the buffer it took (head and body).
    pub used: usize,
    /// Its status line (`HTTP/1.1 200 OK`).
    pub status_line: String,
}

/// Parses one response from the start of `buf`: `Some` when it is complete, `None` when more
/// bytes are needed. `head`: the request was HEAD, so no body follows whatever `Content-Length`
/// says (nor after 1xx, 204 and 304). `eof`: the connection is closed, so a body without length
/// ends there. Chunked bodies are decoded.
pub fn try_parse(buf: &[u8], head: bool, eof: bool) -> io::Result<Option<Parsed>> {
    let Some(end) = header_end(buf) else {
        return Ok(None);
    };
    let head_text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or("").to_string();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let done = |body: Vec<u8>, used: usize| {
        let response = HttpResponse {
            status,
            headers: headers.clone(),
            body,
        };
        Ok(Some(Parsed {
            response,
            used,
            status_line: status_line.clone(),
        }))
    };
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if head || status / 100 == 1 || status == 204 || status == 304 {
        return done(Vec::new(), end);
    }
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return match dechunk(buf, end)? {
            Some((body, used)) => done(body, used),
            None => Ok(None),
        };
    }
    if let Some(cl) = find("content-length") {
        let cl: usize = cl
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {cl:?}")))?;
        if buf.len() < end + cl {
            return Ok(None);
        }
        return done(buf[end..end + cl].to_vec(), end + cl);
    }
    if eof {
        return done(buf[end..].to_vec(), buf.len());
    }
    Ok(None)
}

/// A chunked body starting at `at`: the decoded body and where it (with its trailers) ends, or
/// `None` when more bytes are needed.
fn dechunk(buf: &[u8], mut at: usize) -> io::Result<Option<(Vec<u8>, usize)>> {
    let mut body = Vec::new();
    loop {
        let Some(nl) = find_crlf(&buf[at..]) else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&buf[at..at + nl]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        at += nl + 2;
        if size == 0 {
            // Trailers end with an empty line.
            let Some(t) = find_crlf(&buf[at..]) else {
                return Ok(None);
            };
            if t == 0 {
                return Ok(Some((body, at + 2)));
            }
            return Ok(header_end(&buf[at..]).map(|te| (body, at + te)));
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

/// The end of the head (after its empty line).
fn header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn find_crlf(raw: &[u8]) -> Option<usize> {
    raw.windows(2).position(|w| w == b"\r\n")
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
