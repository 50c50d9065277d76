//! One health check of one target, blocking, bounded by the check's timeout.
//!
//! Each check opens a new TCP connection — bound to the gateway's own address and, when
//! given, to its kernel interface, so that it leaves through sluice's exception path like
//! GWLB's checks leave its nodes — and closes it afterwards (GWLB closes the connection after
//! each check). TCP succeeds on connect. HTTP sends one `GET` and reads the status line;
//! HTTPS does the same over TLS 1.2 or 1.3. The timeout covers the whole check: every
//! connect, read and write gets what is left of it.
//!
//! HTTPS follows ELB: the target's certificate is not verified (targets commonly present
//! self-signed ones), no SNI is sent (the target is addressed by IP), and the handshake's
//! signatures are still checked, since that is TLS itself. sluice also offers TLS 1.3,
//! where AWS documents that GWLB's HTTPS checks need TLS 1.2 or earlier: a target that
//! speaks only TLS 1.3 passes here and would fail behind AWS's GWLB.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use sluice_config::schema::gateway::HealthCheckProtocol;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::state::Settings;

/// The most of an HTTP response read for its status line.
const MAX_STATUS_LINE: usize = 8 * 1024;
/// The `User-Agent` of HTTP(S) checks: ELB's, so appliances that recognise it keep working.
const USER_AGENT: &str = "ELB-HealthChecker/2.0 (sluice)";

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target passed: connected (TCP) or answered a code the matcher accepts.
    Healthy {
        /// The HTTP status code (`None` for TCP).
        code: Option<u16>,
    },
    /// No connection or no complete answer within the timeout.
    Timeout(String),
    /// The HTTP(S) answer's code is not one the matcher accepts.
    ResponseCodeMismatch(u16),
    /// The target refused or reset the connection, or its TLS or HTTP was broken.
    Failed(String),
    /// The check could not be made on the load balancer's side (socket, source address,
    /// interface, route).
    Internal(String),
}

/// Where checks leave from: the gateway's own address on the port facing the targets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    /// The source address to bind (the target port's address); `None` lets the kernel
    /// choose.
    pub address: Option<Ipv4Addr>,
    /// The kernel interface to bind to (the target port's TAP, named as the port); `None`
    /// leaves the choice to the kernel's routes.
    pub device: Option<String>,
}

/// Accepts any server certificate, as ELB's health checks do, while still checking that
/// the handshake is signed by the key of the certificate presented.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl Outcome {
    /// Returns whether the check passed.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Healthy { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Healthy { code: None } => f.write_str("connected"),
            Self::Healthy { code: Some(c) } => write!(f, "HTTP {c}"),
            Self::Timeout(what) => write!(f, "timed out {what}"),
            Self::ResponseCodeMismatch(c) => write!(f, "HTTP {c}, not in the matcher"),
            Self::Failed(what) | Self::Internal(what) => f.write_str(what),
        }
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client configuration of HTTPS checks: TLS 1.2 and 1.3 with the ring provider,
/// any certificate accepted.
///
/// # Errors
///
/// When rustls refuses the protocol versions for the provider (a build problem).
pub fn tls_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Checks `target` once as `settings` say, from `source`.
pub fn check(
    target: Ipv4Addr,
    settings: &Settings,
    source: &Source,
    tls: &Arc<ClientConfig>,
) -> Outcome {
    let deadline = Instant::now() + settings.timeout;
    let addr = SocketAddrV4::new(target, settings.port);
    let stream = match connect(addr, source, deadline) {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let result = match settings.protocol {
        HealthCheckProtocol::Tcp => Ok(Outcome::Healthy { code: None }),
        HealthCheckProtocol::Http => {
            let mut stream = Deadlined {
                inner: &stream,
                deadline,
            };
            http_get(&mut stream, addr, settings)
        }
        HealthCheckProtocol::Https => https_get(&stream, addr, settings, tls, deadline),
    };
    // Closed now, whatever happened (dropping the stream closes it too).
    let _ = stream.shutdown(std::net::Shutdown::Both);
    match result {
        Ok(outcome) => outcome,
        Err(e) => io_outcome(&e, "while reading the answer"),
    }
}

/// Opens the check's connection: a socket bound to the source, connected within the time
/// left.
fn connect(addr: SocketAddrV4, source: &Source, deadline: Instant) -> Result<TcpStream, Outcome> {
    let internal = |what: String| move |e: io::Error| Outcome::Internal(format!("{what}: {e}"));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(internal("creating a socket".into()))?;
    if let Some(device) = &source.device {
        socket
            .bind_device(Some(device.as_bytes()))
            .map_err(internal(format!("binding to interface {device}")))?;
    }
    if let Some(ip) = source.address {
        socket
            .bind(&SockAddr::from(SocketAddrV4::new(ip, 0)))
            .map_err(internal(format!("binding to {ip}")))?;
    }
    let left = left(deadline).ok_or_else(|| Outcome::Timeout("before connecting".into()))?;
    match socket.connect_timeout(&SockAddr::from(SocketAddr::V4(addr)), left) {
        Ok(()) => Ok(socket.into()),
        Err(e) => Err(match e.kind() {
            io::ErrorKind::NetworkUnreachable => Outcome::Internal(format!(
                "connecting to {addr}: {e} (no route from the gateway's interface)"
            )),
            _ => io_outcome(&e, &format!("connecting to {addr}")),
        }),
    }
}

/// The outcome an I/O error means: a timeout, or a failure of the target.
fn io_outcome(e: &io::Error, what: &str) -> Outcome {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::Timeout(what.to_owned()),
        io::ErrorKind::ConnectionRefused => Outcome::Failed(format!("{what}: connection refused")),
        _ => Outcome::Failed(format!("{what}: {e}")),
    }
}

/// The time left until `deadline`, `None` once it has passed.
fn left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// A stream whose every read and write is bounded by what is left of one deadline.
struct Deadlined<'s> {
    inner: &'s TcpStream,
    deadline: Instant,
}

// A signal to the process (sluice has several) interrupts a blocking call with EINTR:
// that is no answer from the target, so the call is made again with the time left.
impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = left(self.deadline).ok_or(io::ErrorKind::TimedOut)?;
            self.inner.set_read_timeout(Some(left))?;
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let left = left(self.deadline).ok_or(io::ErrorKind::TimedOut)?;
            self.inner.set_write_timeout(Some(left))?;
            match self.inner.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Sends the check's `GET` on `stream` and judges the status line of the answer.
fn http_get(
    stream: &mut impl ReadWrite,
    addr: SocketAddrV4,
    settings: &Settings,
) -> io::Result<Outcome> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        settings.path
    );
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0_u8; 512];
    loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            head.truncate(end);
            break;
        }
        if head.len() > MAX_STATUS_LINE {
            return Ok(Outcome::Failed(format!(
                "no HTTP status line in the first {MAX_STATUS_LINE} bytes"
            )));
        }
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A TLS peer that closes without close_notify after its answer: judge what came.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !head.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if head.is_empty() {
                return Ok(Outcome::Failed(
                    "the connection closed without an answer".into(),
                ));
            }
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(match parse_status_line(&head) {
        Some(code) if settings.matcher.matches(code) => Outcome::Healthy { code: Some(code) },
        Some(code) => Outcome::ResponseCodeMismatch(code),
        None => Outcome::Failed(format!(
            "not an HTTP status line: {:?}",
            String::from_utf8_lossy(&head[..head.len().min(64)])
        )),
    })
}

/// The code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse::<u16>().ok().filter(|c| (100..=599).contains(c))
}

/// The HTTPS check: TLS over the connection, then as HTTP.
fn https_get(
    stream: &TcpStream,
    addr: SocketAddrV4,
    settings: &Settings,
    tls: &Arc<ClientConfig>,
    deadline: Instant,
) -> io::Result<Outcome> {
    let name = ServerName::IpAddress(std::net::IpAddr::V4(*addr.ip()).into());
    let mut conn = match ClientConnection::new(Arc::clone(tls), name) {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Internal(format!("TLS: {e}"))),
    };
    let mut sock = Deadlined {
        inner: stream,
        deadline,
    };
    // The handshake first, so that its failures read as TLS failures.
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Ok(match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    Outcome::Timeout("during the TLS handshake".into())
                }
                _ => Outcome::Failed(format!("TLS handshake: {e}")),
            });
        }
    }
    let mut tls_stream = rustls::Stream::new(&mut conn, &mut sock);
    let outcome = http_get(&mut tls_stream, addr, settings);
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    outcome
}

/// What [`http_get`] reads and writes: a TCP or a TLS stream.
trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/2 200 OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 abc OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 999 Odd"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line(&[0xff, 0xfe]), None);
    }

    #[test]
    fn io_errors_map_to_outcomes() {
        let e = io::Error::from(io::ErrorKind::TimedOut);
        assert!(matches!(io_outcome(&e, "x"), Outcome::Timeout(_)));
        let e = io::Error::from(io::ErrorKind::WouldBlock);
        assert!(matches!(io_outcome(&e, "x"), Outcome::Timeout(_)));
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            io_outcome(&e, "connecting"),
            Outcome::Failed("connecting: connection refused".into())
        );
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(io_outcome(&e, "x"), Outcome::Failed(_)));
    }

    #[test]
    fn the_tls_config_builds() {
        assert!(tls_config().is_ok());
    }
}
