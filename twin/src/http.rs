//! A small HTTP/1.1 server and client over std's TCP, for the twin's Kubernetes
//! API subset and its node agents. One thread per connection, keep-alive,
//! `Content-Length` bodies, and chunked responses for watches.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET, POST, PATCH, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Query parameters, percent-decoded.
    pub query: BTreeMap<String, String>,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Produces a watch's chunks through `send` until `send` returns false or it is done.
pub type Producer = Box<dyn FnMut(&mut dyn FnMut(&[u8]) -> bool) + Send>;

/// What a handler answers.
pub enum Response {
    /// A whole body.
    Full {
        /// Status code.
        status: u16,
        /// Content type.
        content_type: &'static str,
        /// Body.
        body: Vec<u8>,
    },
    /// A stream of chunks (a watch), produced by the function until it returns false.
    Stream(Producer),
}

impl Response {
    /// JSON with status 200.
    pub fn json(v: &serde_json::Value) -> Response {
        Response::status_json(200, v)
    }

    /// JSON with `status`.
    pub fn status_json(status: u16, v: &serde_json::Value) -> Response {
        Response::Full {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                if let Ok(v) =
                    u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(16 << 20)];
    r.read_exact(&mut body).ok()?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: decode(path),
        query,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Error",
    }
}

/// Serves `handler` on `listener` until the process ends.
pub fn serve(listener: TcpListener, handler: Arc<dyn Fn(&Request) -> Response + Send + Sync>) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let handler = handler.clone();
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let Ok(read_half) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(read_half);
            let mut w = stream;
            while let Some(req) = read_request(&mut reader) {
                match handler(&req) {
                    Response::Full {
                        status,
                        content_type,
                        body,
                    } => {
                        let head = format!(
                            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                            reason(status),
                            body.len()
                        );
                        if w.write_all(head.as_bytes())
                            .and_then(|_| w.write_all(&body))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Response::Stream(mut produce) => {
                        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                        if w.write_all(head.as_bytes()).is_err() {
                            return;
                        }
                        let mut send = |chunk: &[u8]| -> bool {
                            let frame = format!("{:x}\r\n", chunk.len());
                            w.write_all(frame.as_bytes())
                                .and_then(|_| w.write_all(chunk))
                                .and_then(|_| w.write_all(b"\r\n"))
                                .and_then(|_| w.flush())
                                .is_ok()
                        };
                        produce(&mut send);
                        let _ = w.write_all(b"0\r\n\r\n");
                        return;
                    }
                }
            }
        });
    }
}

/// A blocking JSON call to `addr` (host:port): method, path, body. No timeout
/// when `timeout` is `None` (a long poll held by the server costs no CPU here).
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Option<Duration>,
) -> std::io::Result<(u16, serde_json::Value)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(timeout)?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut len = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut buf = Vec::new();
    match len {
        Some(n) => {
            buf.resize(n, 0);
            r.read_exact(&mut buf)?;
        }
        None => {
            r.read_to_end(&mut buf)?;
        }
    }
    let v = serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null);
    Ok((code, v))
}
