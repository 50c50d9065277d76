//! Health checks and the health-check responder against real sockets on 127.0.0.1: a TCP
//! listener, a small HTTP server answering chosen codes, HTTPS servers (rustls, self-signed
//! certificates from rcgen) speaking only TLS 1.2 or only TLS 1.3, a silent server for
//! timeouts, a closed port; then the checker's threads end to end, and the appliance's
//! responder as a client sees it.

#![cfg(feature = "dpdk")]
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sluice::health::probe::{self, Outcome};
use sluice::health::{
    Checker, DataPlaneStatus, Reason, Responder, ResponderLimits, Settings, Source,
};
use sluice_config::schema::appliance::ApplianceHealthCheckProtocol;
use sluice_config::schema::gateway::{HealthCheck, HealthCheckProtocol};
use sluice_engine::maglev::TargetState;

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A test server on 127.0.0.1 that serves connections until dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves each accepted connection with `serve` (on the accepting thread: checks come
    /// one at a time).
    fn start(serve: impl Fn(TcpStream) + Send + 'static) -> Self {
        let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                        serve(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers every HTTP request with `code`.
    fn http(code: u16) -> Self {
        Self::start(move |mut s| {
            let _ = read_request(&mut s);
            let _ = write!(
                s,
                "HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        })
    }

    /// Accepts and says nothing until the client gives up.
    fn silent() -> Self {
        Self::start(|mut s| {
            let mut buf = [0_u8; 1024];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        })
    }

    /// Answers every HTTPS request with `code`, speaking only `version`.
    fn https(code: u16, version: &'static rustls::SupportedProtocolVersion) -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let config = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[version])
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap(),
        );
        Self::start(move |mut s| {
            let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                return;
            };
            let mut tls = rustls::Stream::new(&mut conn, &mut s);
            if read_request(&mut tls).is_err() {
                return;
            }
            let _ = write!(
                tls,
                "HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tls.flush();
            conn.send_close_notify();
            let _ = conn.complete_io(&mut s);
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads an HTTP request head and returns its request line.
fn read_request(s: &mut impl Read) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0_u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    TcpListener::bind((LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn settings(protocol: HealthCheckProtocol, port: u16, matcher: &str) -> Settings {
    Settings {
        protocol,
        port,
        path: "/health".into(),
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: matcher.parse().unwrap(),
    }
}

fn check(settings: &Settings) -> Outcome {
    let tls = probe::tls_config().unwrap();
    probe::check(LOCALHOST, settings, &Source::default(), &tls)
}

#[test]
fn tcp_connect_is_healthy_and_refused_is_a_failure() {
    let server = Server::start(drop);
    let s = settings(HealthCheckProtocol::Tcp, server.port, "200");
    assert_eq!(check(&s), Outcome::Healthy { code: None });

    let s = settings(HealthCheckProtocol::Tcp, closed_port(), "200");
    let outcome = check(&s);
    assert!(
        matches!(&outcome, Outcome::Failed(why) if why.contains("refused")),
        "{outcome:?}"
    );
    assert_eq!(Reason::of(&outcome), Some(Reason::FailedHealthChecks));
}

#[test]
fn http_codes_are_judged_by_the_matcher() {
    for (code, matcher, healthy) in [
        (200, "200", true),
        (202, "200,202", true),
        (204, "200-299", true),
        (302, "200-399", true),
        (201, "200,202", false),
        (404, "200-399", false),
        (500, "200-299", false),
    ] {
        let server = Server::http(code);
        let outcome = check(&settings(HealthCheckProtocol::Http, server.port, matcher));
        if healthy {
            assert_eq!(
                outcome,
                Outcome::Healthy { code: Some(code) },
                "{code} vs {matcher}"
            );
        } else {
            assert_eq!(
                outcome,
                Outcome::ResponseCodeMismatch(code),
                "{code} vs {matcher}"
            );
            assert_eq!(Reason::of(&outcome), Some(Reason::ResponseCodeMismatch));
        }
    }
}

#[test]
fn http_checks_send_the_path_and_close_the_connection() {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = Server::start(move |mut s| {
        let line = read_request(&mut s).unwrap_or_default();
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        // The checker closes its side after the answer: the next read sees the end.
        let mut rest = [0_u8; 16];
        let closed = matches!(s.read(&mut rest), Ok(0));
        let _ = tx.send((line, closed));
    });
    let outcome = check(&settings(HealthCheckProtocol::Http, server.port, "200"));
    assert_eq!(outcome, Outcome::Healthy { code: Some(200) });
    let (line, closed) = rx.recv_timeout(Duration::from_secs(3)).unwrap();
    assert_eq!(line, "GET /health HTTP/1.1");
    assert!(closed, "the check's connection was not closed");
}

#[test]
fn garbage_and_early_close_are_failures() {
    let server = Server::start(|mut s| {
        let _ = read_request(&mut s);
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
    });
    let outcome = check(&settings(HealthCheckProtocol::Http, server.port, "200"));
    assert!(
        matches!(&outcome, Outcome::Failed(w) if w.contains("not an HTTP status line")),
        "{outcome:?}"
    );

    let server = Server::start(|mut s| {
        let _ = read_request(&mut s);
    });
    let outcome = check(&settings(HealthCheckProtocol::Http, server.port, "200"));
    assert!(
        matches!(&outcome, Outcome::Failed(w) if w.contains("without an answer")),
        "{outcome:?}"
    );
}

#[test]
fn a_silent_target_times_out_within_the_timeout() {
    let server = Server::silent();
    for protocol in [HealthCheckProtocol::Http, HealthCheckProtocol::Https] {
        let s = settings(protocol, server.port, "200");
        let started = Instant::now();
        let outcome = check(&s);
        let took = started.elapsed();
        assert!(
            matches!(outcome, Outcome::Timeout(_)),
            "{protocol:?}: {outcome:?}"
        );
        assert_eq!(Reason::of(&outcome), Some(Reason::Timeout));
        assert!(
            took >= Duration::from_millis(450),
            "{protocol:?}: gave up after {took:?}"
        );
        assert!(took < Duration::from_secs(2), "{protocol:?}: took {took:?}");
    }
}

#[test]
fn https_with_tls_1_2_and_1_3_and_any_certificate() {
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let server = Server::https(200, version);
        let outcome = check(&settings(HealthCheckProtocol::Https, server.port, "200"));
        assert_eq!(outcome, Outcome::Healthy { code: Some(200) }, "{version:?}");
        let server = Server::https(503, version);
        let outcome = check(&settings(
            HealthCheckProtocol::Https,
            server.port,
            "200-399",
        ));
        assert_eq!(outcome, Outcome::ResponseCodeMismatch(503), "{version:?}");
    }
}

#[test]
fn https_against_plain_http_is_a_tls_failure() {
    // A plain-HTTP server that answers at once, whatever it was sent.
    let server = Server::start(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let outcome = check(&settings(
        HealthCheckProtocol::Https,
        server.port,
        "200-499",
    ));
    assert!(
        matches!(&outcome, Outcome::Failed(w) if w.starts_with("TLS")),
        "{outcome:?}"
    );
}

#[test]
fn binding_an_address_the_host_lacks_is_an_internal_error() {
    let server = Server::start(drop);
    let tls = probe::tls_config().unwrap();
    let source = Source {
        // TEST-NET-3: never a local address.
        address: Some(Ipv4Addr::new(203, 0, 113, 7)),
        device: None,
    };
    let outcome = probe::check(
        LOCALHOST,
        &settings(HealthCheckProtocol::Tcp, server.port, "200"),
        &source,
        &tls,
    );
    assert!(matches!(outcome, Outcome::Internal(_)), "{outcome:?}");
    assert_eq!(Reason::of(&outcome), Some(Reason::InternalError));
    // The loopback address itself binds and connects.
    let source = Source {
        address: Some(LOCALHOST),
        device: None,
    };
    let outcome = probe::check(
        LOCALHOST,
        &settings(HealthCheckProtocol::Tcp, server.port, "200"),
        &source,
        &tls,
    );
    assert_eq!(outcome, Outcome::Healthy { code: None });
}

/// Polls `checker` until `target` reaches `state` or `within` passes; returns the changes
/// seen.
fn wait_for(
    checker: &mut Checker,
    target: Ipv4Addr,
    state: TargetState,
    within: Duration,
) -> Vec<sluice::health::Change> {
    let deadline = Instant::now() + within;
    let mut changes = Vec::new();
    while Instant::now() < deadline {
        changes.extend(checker.poll());
        if checker.health(target).map(|h| h.state()) == Some(state) {
            return changes;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "{target} did not become {state:?} within {within:?}: {:?}; changes {changes:?}",
        checker.health(target)
    );
}

#[test]
fn the_checker_follows_a_target_through_its_states() {
    // One server whose answer the test switches between 200 and 500.
    let code = Arc::new(std::sync::atomic::AtomicU16::new(200));
    let answer = Arc::clone(&code);
    let server = Server::start(move |mut s| {
        let _ = read_request(&mut s);
        let c = answer.load(Ordering::Relaxed);
        let _ = write!(s, "HTTP/1.1 {c} X\r\nContent-Length: 0\r\n\r\n");
    });
    let s = settings(HealthCheckProtocol::Http, server.port, "200");
    let mut checker = Checker::new(s, Source::default()).unwrap();
    checker.set_targets(&[LOCALHOST]).unwrap();
    assert_eq!(
        checker.health(LOCALHOST).map(|h| h.state()),
        Some(TargetState::Initial)
    );
    assert_eq!(
        checker.health(LOCALHOST).and_then(|h| h.reason()),
        Some(Reason::RegistrationInProgress)
    );

    let changes = wait_for(
        &mut checker,
        LOCALHOST,
        TargetState::Healthy,
        Duration::from_secs(3),
    );
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].from, changes[0].to),
        (TargetState::Initial, TargetState::Healthy)
    );
    assert!(checker.health(LOCALHOST).unwrap().checks() >= 2);

    code.store(500, Ordering::Relaxed);
    let changes = wait_for(
        &mut checker,
        LOCALHOST,
        TargetState::Unhealthy,
        Duration::from_secs(3),
    );
    let last = changes.last().unwrap();
    assert_eq!(
        (last.from, last.to),
        (TargetState::Healthy, TargetState::Unhealthy)
    );
    assert_eq!(last.reason, Some(Reason::ResponseCodeMismatch));

    code.store(200, Ordering::Relaxed);
    wait_for(
        &mut checker,
        LOCALHOST,
        TargetState::Healthy,
        Duration::from_secs(3),
    );

    // New settings reach the running thread: a matcher that refuses 200.
    let mut strict = settings(HealthCheckProtocol::Http, server.port, "204");
    strict.unhealthy_threshold = 3;
    checker.update(strict, Source::default());
    wait_for(
        &mut checker,
        LOCALHOST,
        TargetState::Unhealthy,
        Duration::from_secs(3),
    );

    // Removed, the target is no longer checked; registered again, it starts over.
    checker.set_targets(&[]).unwrap();
    assert!(checker.health(LOCALHOST).is_none());
    checker.set_targets(&[LOCALHOST]).unwrap();
    assert_eq!(
        checker.health(LOCALHOST).map(|h| h.state()),
        Some(TargetState::Initial)
    );
}

#[test]
fn the_checker_marks_a_silent_target_unhealthy_with_target_timeout() {
    let server = Server::silent();
    let mut s = settings(HealthCheckProtocol::Http, server.port, "200");
    s.timeout = Duration::from_millis(100);
    let mut checker = Checker::new(s, Source::default()).unwrap();
    checker.set_targets(&[LOCALHOST]).unwrap();
    let changes = wait_for(
        &mut checker,
        LOCALHOST,
        TargetState::Unhealthy,
        Duration::from_secs(3),
    );
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].from, TargetState::Initial);
    assert_eq!(changes[0].reason, Some(Reason::Timeout));
}

#[test]
fn gwlb_defaults_check_tcp_on_port_80() {
    let s = Settings::from_config(&HealthCheck::default());
    assert_eq!((s.protocol, s.port), (HealthCheckProtocol::Tcp, 80));
}

/// Sends `request` to the responder and returns the whole answer.
fn ask(addr: SocketAddrV4, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

fn responder(
    protocol: ApplianceHealthCheckProtocol,
    limits: ResponderLimits,
) -> (Responder, Arc<DataPlaneStatus>) {
    let status = Arc::new(DataPlaneStatus::new());
    let r = Responder::start(
        protocol,
        &[SocketAddrV4::new(LOCALHOST, 0)],
        Arc::clone(&status),
        limits,
    )
    .unwrap();
    (r, status)
}

#[test]
fn the_responder_answers_200_while_healthy_and_503_otherwise() {
    let (r, status) = responder(
        ApplianceHealthCheckProtocol::Http,
        ResponderLimits::default(),
    );
    let addr = r.addresses()[0];
    assert_ne!(addr.port(), 0);
    // Before the control thread has judged anything: not healthy.
    assert!(ask(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503 "));
    status.set(
        true,
        r#"{"status":"healthy","workers":[{"worker":0,"rx_packets":7,"tx_packets":6,"drops":1}]}"#
            .into(),
    );
    assert!(ask(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 200 OK\r\n"));

    let detail = ask(addr, b"GET /?detail HTTP/1.1\r\n\r\n");
    assert!(detail.starts_with("HTTP/1.1 200 OK\r\n"), "{detail}");
    let body = detail.split("\r\n\r\n").nth(1).unwrap();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["workers"][0]["rx_packets"], 7);
    assert_eq!(json["workers"][0]["drops"], 1);

    status.set_unhealthy();
    assert!(ask(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503 "));
    // The checker's own HTTP check agrees.
    let outcome = probe::check(
        LOCALHOST,
        &settings(HealthCheckProtocol::Http, addr.port(), "200-399"),
        &Source::default(),
        &probe::tls_config().unwrap(),
    );
    assert_eq!(outcome, Outcome::ResponseCodeMismatch(503));
    r.stop();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after stop"
    );
}

#[test]
fn the_responder_is_bounded_against_bad_clients() {
    let limits = ResponderLimits {
        max_request: 1024,
        max_connections: 2,
        io_timeout: Duration::from_millis(300),
    };
    let (r, status) = responder(ApplianceHealthCheckProtocol::Http, limits);
    status.set(true, "{}".into());
    let addr = r.addresses()[0];

    // Too large a request: refused with 431, not read forever.
    let big = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(4096));
    assert!(ask(addr, big.as_bytes()).starts_with("HTTP/1.1 431 "));
    // Garbage: 400.
    assert!(ask(addr, b"\x00\x01\x02 garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));

    // Two clients that send nothing hold both slots; a third is closed at once.
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let answer = ask(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(answer, "", "served beyond the connection cap");
    // The idle ones time out and free their slots.
    std::thread::sleep(Duration::from_millis(500));
    assert!(ask(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
    drop(idle);
    r.stop();
}

#[test]
fn the_tcp_responder_accepts_and_closes() {
    let (r, _status) = responder(
        ApplianceHealthCheckProtocol::Tcp,
        ResponderLimits::default(),
    );
    let addr = r.addresses()[0];
    let outcome = probe::check(
        LOCALHOST,
        &settings(HealthCheckProtocol::Tcp, addr.port(), "200"),
        &Source::default(),
        &probe::tls_config().unwrap(),
    );
    assert_eq!(outcome, Outcome::Healthy { code: None });
    // Closed by the responder: the client reads the end.
    assert_eq!(ask(addr, b"GET / HTTP/1.1\r\n\r\n"), "");
    r.stop();
}
