//! The appliance's health-check responder: what GWLB's (or sluice's) health checks reach.
//!
//! It listens with ordinary kernel sockets on each port's own address (the port's TAP
//! interface carries it; sluice's exception path brings the checks there) and answers:
//!
//! - `TCP`: accept and close. A TCP check can only tell that the kernel side is reachable;
//!   the data plane's health needs `HTTP`.
//! - `HTTP`: `200 OK` while the data plane is healthy (every worker reporting, every port's
//!   link up), `503 Service Unavailable` while it is not or while sluice stops. A request
//!   whose target has a `detail` query parameter (`GET /?detail`) gets the same code with a
//!   JSON body of per-worker counters, in the spirit of AWS's tunnel handler status page.
//!
//! Bounded against slow or hostile clients: every read and write has a timeout, a request
//! head is at most [`ResponderLimits::max_request`] bytes, at most
//! [`ResponderLimits::max_connections`] are served at once (more are closed at once), and
//! nothing a client sends can make it panic. One listener thread per address accepts
//! without blocking (polling a stop flag every few milliseconds); each HTTP connection is
//! served on a short-lived thread with a small stack. All of them run on the control core.

use std::io::{self, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use sluice_config::schema::appliance::ApplianceHealthCheckProtocol;

use super::HealthError;

/// How long the listener naps when no connection is waiting.
const ACCEPT_NAP: Duration = Duration::from_millis(10);
/// A connection thread's stack.
const STACK_SIZE: usize = 64 * 1024;

/// The data plane's health as the control thread last saw it, shared with the responder.
#[derive(Debug)]
pub struct DataPlaneStatus {
    healthy: AtomicBool,
    detail: Mutex<String>,
}

/// The responder's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponderLimits {
    /// The most bytes of a request head (request line and headers).
    pub max_request: usize,
    /// The most connections served at once.
    pub max_connections: usize,
    /// The longest a read or a write may wait.
    pub io_timeout: Duration,
}

/// A running responder; dropping it (or [`Responder::stop`]) stops listening.
#[derive(Debug)]
pub struct Responder {
    stop: Arc<AtomicBool>,
    listeners: Vec<JoinHandle<()>>,
    addresses: Vec<SocketAddrV4>,
}

impl DataPlaneStatus {
    /// A status that says "unhealthy" until the control thread says otherwise.
    pub fn new() -> Self {
        Self {
            healthy: AtomicBool::new(false),
            detail: Mutex::new("{}".to_owned()),
        }
    }

    /// Sets whether the data plane is healthy and the JSON document `?detail` returns.
    pub fn set(&self, healthy: bool, detail: String) {
        self.healthy.store(healthy, Ordering::Relaxed);
        *self.detail.lock().unwrap_or_else(PoisonError::into_inner) = detail;
    }

    /// Marks the data plane unhealthy (sluice is stopping), keeping the detail.
    pub fn set_unhealthy(&self) {
        self.healthy.store(false, Ordering::Relaxed);
    }

    /// Whether the data plane is healthy.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn detail(&self) -> String {
        self.detail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Default for DataPlaneStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for ResponderLimits {
    fn default() -> Self {
        Self {
            max_request: 8 * 1024,
            max_connections: 64,
            io_timeout: Duration::from_secs(2),
        }
    }
}

impl Responder {
    /// Listens on every address of `addresses` (port 0 picks a free one: see
    /// [`Responder::addresses`]) and answers with `protocol`.
    ///
    /// # Errors
    ///
    /// When an address cannot be listened on or a thread cannot start; nothing keeps
    /// running then.
    pub fn start(
        protocol: ApplianceHealthCheckProtocol,
        addresses: &[SocketAddrV4],
        status: Arc<DataPlaneStatus>,
        limits: ResponderLimits,
    ) -> Result<Self, HealthError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut responder = Self {
            stop: Arc::clone(&stop),
            listeners: Vec::new(),
            addresses: Vec::new(),
        };
        for &address in addresses {
            let listen_error = |source| HealthError::Listen { address, source };
            let listener = TcpListener::bind(address).map_err(listen_error)?;
            listener.set_nonblocking(true).map_err(listen_error)?;
            let bound = match listener.local_addr().map_err(listen_error)? {
                std::net::SocketAddr::V4(a) => a,
                std::net::SocketAddr::V6(_) => address,
            };
            let (stop, status) = (Arc::clone(&stop), Arc::clone(&status));
            let handle = std::thread::Builder::new()
                .name(format!("responder {bound}"))
                .spawn(move || listen(&listener, protocol, &status, limits, &stop))
                .map_err(|source| HealthError::Thread {
                    what: format!("the health-check responder on {bound}"),
                    source,
                })?;
            responder.listeners.push(handle);
            responder.addresses.push(bound);
        }
        Ok(responder)
    }

    /// The addresses listened on, in the order given, with the ports the kernel chose.
    pub fn addresses(&self) -> &[SocketAddrV4] {
        &self.addresses
    }

    /// Stops listening and waits for the listeners (connections being served finish within
    /// the I/O timeout on their own).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.listeners.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A listener thread.
fn listen(
    listener: &TcpListener,
    protocol: ApplianceHealthCheckProtocol,
    status: &Arc<DataPlaneStatus>,
    limits: ResponderLimits,
    stop: &AtomicBool,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_NAP);
                continue;
            }
            // ECONNABORTED, EMFILE and the like: the next accept may work.
            Err(_) => {
                std::thread::sleep(ACCEPT_NAP);
                continue;
            }
        };
        if protocol == ApplianceHealthCheckProtocol::Tcp {
            // Accept and close.
            continue;
        }
        if active.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
            active.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (status, active2) = (Arc::clone(status), Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name("responder conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                serve(stream, &status, limits);
                active2.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Serves one HTTP connection: one request, one answer, closed.
fn serve(mut stream: TcpStream, status: &DataPlaneStatus, limits: ResponderLimits) {
    // The listener is non-blocking; the connection must block, within the timeouts.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(limits.io_timeout)).is_err()
        || stream.set_write_timeout(Some(limits.io_timeout)).is_err()
    {
        return;
    }
    let answer = match read_head(&mut stream, limits.max_request) {
        Ok(head) => respond(&head, status),
        Err(HeadError::TooLarge) => response(
            431,
            "Request Header Fields Too Large",
            "text/plain",
            "request too large\n",
        ),
        Err(HeadError::Io) => return,
    };
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Why a request head could not be read.
enum HeadError {
    /// Longer than the cap.
    TooLarge,
    /// Timed out, reset or closed early.
    Io,
}

/// Reads a request head (up to the blank line) of at most `max` bytes.
fn read_head(stream: &mut impl Read, max: usize) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0_u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > max {
            return Err(HeadError::TooLarge);
        }
        match stream.read(&mut buf) {
            // A signal to the process, not the client's doing.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => {
                // A client that sent its request line and closed its side still gets an
                // answer; anything else is dropped.
                return if head.contains(&b'\n') {
                    Ok(head)
                } else {
                    Err(HeadError::Io)
                };
            }
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// The answer to a request head.
fn respond(head: &[u8], status: &DataPlaneStatus) -> String {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return response(400, "Bad Request", "text/plain", "bad request\n");
    };
    if !version.starts_with("HTTP/1.")
        || parts.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
    {
        return response(400, "Bad Request", "text/plain", "bad request\n");
    }
    if method != "GET" && method != "HEAD" {
        return response(405, "Method Not Allowed", "text/plain", "GET only\n");
    }
    let healthy = status.healthy();
    let (code, reason) = if healthy {
        (200, "OK")
    } else {
        (503, "Service Unavailable")
    };
    let detail = target.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|p| p == "detail" || p.starts_with("detail="))
    });
    let answer = if detail {
        response(
            code,
            reason,
            "application/json",
            &format!("{}\n", status.detail()),
        )
    } else {
        response(
            code,
            reason,
            "text/plain",
            if healthy { "OK\n" } else { "unhealthy\n" },
        )
    };
    if method == "HEAD" {
        // The head only: the blank line ends it.
        match answer.find("\r\n\r\n") {
            Some(end) => answer[..end + 4].to_owned(),
            None => answer,
        }
    } else {
        answer
    }
}

/// A complete HTTP/1.1 response that closes the connection.
fn response(code: u16, reason: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(healthy: bool) -> DataPlaneStatus {
        let s = DataPlaneStatus::new();
        s.set(healthy, r#"{"workers":[]}"#.into());
        s
    }

    #[test]
    fn answers_by_health() {
        let up = status(true);
        assert!(respond(b"GET / HTTP/1.1\r\n\r\n", &up).starts_with("HTTP/1.1 200 OK\r\n"));
        let down = status(false);
        assert!(respond(b"GET / HTTP/1.1\r\n\r\n", &down).starts_with("HTTP/1.1 503 "));
        let head = respond(b"HEAD /health HTTP/1.0\r\n\r\n", &up);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn detail_is_json() {
        let up = status(true);
        for target in ["/?detail", "/status?x=1&detail", "/?detail=1"] {
            let a = respond(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes(), &up);
            assert!(a.contains("application/json"), "{target}: {a}");
            assert!(a.ends_with("{\"workers\":[]}\n"), "{target}: {a}");
        }
        let a = respond(b"GET /detail HTTP/1.1\r\n\r\n", &up);
        assert!(a.contains("text/plain"), "{a}");
    }

    #[test]
    fn bad_requests_are_answered_not_panicked_on() {
        let up = status(true);
        for head in [
            &b""[..],
            b"\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / \r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"\xff\xfe\xfd / HTTP/1.1\r\n\r\n",
        ] {
            assert!(respond(head, &up).starts_with("HTTP/1.1 400 "), "{head:?}");
        }
        assert!(respond(b"POST / HTTP/1.1\r\n\r\n", &up).starts_with("HTTP/1.1 405 "));
    }

    #[test]
    fn heads_are_capped() {
        let mut big = io::Cursor::new(vec![b'a'; 100_000]);
        assert!(matches!(
            read_head(&mut big, 8192),
            Err(HeadError::TooLarge)
        ));
        let mut ok = io::Cursor::new(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec());
        assert!(read_head(&mut ok, 8192).is_ok());
        let mut cut = io::Cursor::new(b"GET / HT".to_vec());
        assert!(matches!(read_head(&mut cut, 8192), Err(HeadError::Io)));
    }
}
