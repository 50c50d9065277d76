//! The API commands (`sluice status`, `targets`, `register`, …) as users run them: the real
//! binary against a fake management API on a Unix socket in a temporary directory (and, with
//! the `dpdk` feature, over TLS). The fake records each request (method, path, headers, JSON
//! body) and answers with canned bytes, so the tests pin what the CLI sends for each flag,
//! what it prints in text and JSON, and its exit code for every kind of failure.

#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "tok-3f2a9c";

/// A request as the fake server received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sluice-cli-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake management API: answers one connection per canned answer, in order, then stops.
struct FakeApi {
    dir: TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Recorded>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApi {
    fn start(answers: Vec<Vec<u8>>) -> Self {
        let dir = TempDir::new();
        let socket = dir.path("sluice.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            for answer in answers {
                let mut stream = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => return,
                    }
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                if let Some(r) = read_request(&mut stream) {
                    recorded.lock().unwrap().push(r);
                }
                let _ = stream.write_all(&answer);
            }
        });
        Self {
            dir,
            socket,
            requests,
            thread: Some(thread),
        }
    }

    /// Runs `sluice ARGS --socket SOCKET` with the token in SLUICE_TOKEN.
    fn sluice(&self, args: &[&str]) -> Output {
        sluice(
            args.iter()
                .copied()
                .chain(["--socket", self.socket.to_str().unwrap()]),
            Some(TOKEN),
        )
    }

    /// The requests received, once the server has served every answer (or given up).
    fn requests(mut self) -> Vec<Recorded> {
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.requests.lock().unwrap().clone()
    }
}

/// Reads a request: the head, then `Content-Length` bytes of JSON body.
fn read_request(stream: &mut impl Read) -> Option<Recorded> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// Runs the real binary; `token` goes to SLUICE_TOKEN (none: the variable is unset).
fn sluice<'a>(args: impl IntoIterator<Item = &'a str>, token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(args).env_remove("SLUICE_TOKEN");
    if let Some(token) = token {
        cmd.env("SLUICE_TOKEN", token);
    }
    cmd.output().expect("run sluice")
}

/// `200` with `{"result": result}`.
fn ok(result: &Value) -> Vec<u8> {
    answer(200, "OK", &json!({ "result": result }).to_string())
}

/// An API error.
fn error(status: u16, code: &str, message: &str) -> Vec<u8> {
    answer(
        status,
        "Error",
        &json!({"error": {"code": code, "message": message}}).to_string(),
    )
}

/// An HTTP answer with a JSON body.
fn answer(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Asserts the exit code, showing the output when it differs.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn target_health() -> Value {
    json!({"targets": [
        {"ip": "10.0.1.11", "zone": "use1-az1", "state": "healthy", "reason": null,
         "description": null, "draining_seconds_left": null},
        {"ip": "10.0.2.12", "zone": "use1-az2", "state": "unhealthy",
         "reason": "Target.Timeout", "description": "Request timed out",
         "draining_seconds_left": null},
        {"ip": "10.0.1.13", "zone": "use1-az1", "state": "draining",
         "reason": "Target.DeregistrationInProgress", "description": null,
         "draining_seconds_left": 212},
    ]})
}

fn metrics(uptime: f64, rx: u64, created: u64, no_target: u64) -> Value {
    json!({
        "uptime_seconds": uptime,
        "rx_packets": rx, "rx_bytes": rx * 100, "tx_packets": rx, "tx_bytes": rx * 168,
        "drops": {"no_target": no_target, "tcp_no_flow": 0, "unknown_cookie": 2},
        "flows": {"active": 42, "created": created, "expired": 7},
        "rates": {"pps": 1500.0, "bps": 1_200_000.0},
        "latency": {
            "packet_ns": {"p50": 120.0, "p90": 180.0, "p99": 450.0, "p99_9": 900.0, "max": 1200.0},
            "burst_ns": {"p50": 3200.0, "p90": 4100.0, "p99": 9000.0, "p99_9": 15000.0, "max": 21000.0},
        },
        "targets": {"healthy": 1, "unhealthy": 1, "total": 3},
        "policy": null,
    })
}

#[test]
fn targets_sends_the_token_and_prints_a_table_or_the_result() {
    let api = FakeApi::start(vec![ok(&target_health()), ok(&target_health())]);
    let text = api.sluice(&["targets"]);
    assert_exit(&text, 0);
    let json_out = api.sluice(&["targets", "--output", "json"]);
    assert_exit(&json_out, 0);
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/DescribeTargetHealth")
    );
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, json!({}));
    assert_eq!(
        stdout(&text),
        "TARGET     ZONE      STATE      REASON                           DRAINING  DESCRIPTION\n\
         10.0.1.11  use1-az1  healthy    -                                -         -\n\
         10.0.2.12  use1-az2  unhealthy  Target.Timeout                   -         Request timed out\n\
         10.0.1.13  use1-az1  draining   Target.DeregistrationInProgress  212s      -\n\
         3 targets, 1 healthy\n"
    );
    let printed: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(printed, target_health());
}

#[test]
fn register_and_deregister_send_the_targets() {
    let api = FakeApi::start(vec![
        ok(&json!({"registered": ["10.0.1.14", "10.0.2.14"]})),
        ok(&json!({"deregistered": ["10.0.1.11"]})),
    ]);
    let reg = api.sluice(&[
        "register",
        "--target",
        "10.0.1.14,use1-az1",
        "--target",
        "10.0.2.14",
    ]);
    assert_exit(&reg, 0);
    assert_eq!(stdout(&reg), "registered 10.0.1.14, 10.0.2.14\n");
    let dereg = api.sluice(&["deregister", "--target", "10.0.1.11"]);
    assert_exit(&dereg, 0);
    assert_eq!(stdout(&dereg), "deregistered 10.0.1.11\n");
    let requests = api.requests();
    assert_eq!(requests[0].path, "/v1/RegisterTargets");
    assert_eq!(
        requests[0].body,
        json!({"targets": [{"ip": "10.0.1.14", "zone": "use1-az1"}, {"ip": "10.0.2.14"}]})
    );
    assert_eq!(requests[1].path, "/v1/DeregisterTargets");
    assert_eq!(requests[1].body, json!({"targets": [{"ip": "10.0.1.11"}]}));
}

#[test]
fn endpoints_list_accept_and_reject() {
    let list = json!({"endpoints": [
        {"id": "vpce-0a1b2c3d4e5f60718", "state": "available", "principal": "acct-1",
         "port": "uplink", "vlan": null, "zone": "use1-az1"},
        {"id": "vpce-0fedcba9876543210", "state": "pendingAcceptance", "principal": null,
         "port": "uplink", "vlan": 100, "zone": "use1-az1"},
    ]});
    let accepted = json!({"endpoints": [{"id": "vpce-0fedcba9876543210", "state": "available"}],
                          "unsuccessful": []});
    let rejected = json!({"endpoints": [],
                          "unsuccessful": [{"id": "vpce-0000000000000000a",
                                            "error": "no such endpoint"}]});
    let api = FakeApi::start(vec![ok(&list), ok(&accepted), ok(&rejected)]);
    let l = api.sluice(&["endpoints"]);
    assert_exit(&l, 0);
    assert!(
        stdout(&l).starts_with(
            "ENDPOINT                STATE              PRINCIPAL  PORT    VLAN  ZONE\n\
             vpce-0a1b2c3d4e5f60718  available          acct-1     uplink  -     use1-az1\n\
             vpce-0fedcba9876543210  pendingAcceptance  -          uplink  100   use1-az1\n"
        ),
        "{}",
        stdout(&l)
    );
    assert!(
        stdout(&l).contains("1 pending acceptance"),
        "{}",
        stdout(&l)
    );
    let a = api.sluice(&["endpoints", "accept", "vpce-0fedcba9876543210"]);
    assert_exit(&a, 0);
    assert_eq!(stdout(&a), "vpce-0fedcba9876543210  available\n");
    let r = api.sluice(&[
        "endpoints",
        "reject",
        "vpce-0000000000000000a",
        "-o",
        "json",
    ]);
    assert_exit(&r, 1);
    assert!(
        stderr(&r).contains("not changed: vpce-0000000000000000a: no such endpoint"),
        "{}",
        stderr(&r)
    );
    let printed: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(printed, rejected);
    let requests = api.requests();
    assert_eq!(requests[0].path, "/v1/DescribeEndpointConnections");
    assert_eq!(requests[1].path, "/v1/AcceptEndpointConnections");
    assert_eq!(
        requests[1].body,
        json!({"endpoint_ids": ["vpce-0fedcba9876543210"]})
    );
    assert_eq!(requests[2].path, "/v1/RejectEndpointConnections");
}

#[test]
fn flows_sends_every_filter() {
    let result = json!({
        "flows": [{"endpoint": "vpce-0a1b2c3d4e5f60718", "protocol": "tcp",
                   "a": "192.0.2.7:51000", "b": "198.51.100.1:443", "target": "10.0.1.11",
                   "verdict": null, "cookie": "0x00010002", "age_seconds": 12.4,
                   "idle_seconds": 0.2}],
        "scanned": 1000,
        "truncated": true,
    });
    let api = FakeApi::start(vec![
        ok(&result),
        ok(&json!({"flows": [], "scanned": 0, "truncated": false})),
    ]);
    let out = api.sluice(&[
        "flows",
        "--source",
        "192.0.2.0/24",
        "--destination",
        "198.51.100.1",
        "--protocol",
        "tcp",
        "--port",
        "443",
        "--target",
        "10.0.1.11",
        "--endpoint",
        "vpce-0a1b2c3d4e5f60718",
        "--limit",
        "5",
    ]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("ENDPOINT                PROTO  A                B                 TARGET     VERDICT  AGE  IDLE  COOKIE\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "1 flow shown (1000 scanned); more matched: narrow the filters or raise --limit\n"
        ),
        "{text}"
    );
    let empty = api.sluice(&["flows", "--protocol", "47"]);
    assert_exit(&empty, 0);
    assert_eq!(stdout(&empty), "0 flows shown (0 scanned)\n");
    let requests = api.requests();
    assert_eq!(requests[0].path, "/v1/DescribeFlows");
    assert_eq!(
        requests[0].body,
        json!({"source": "192.0.2.0/24", "destination": "198.51.100.1", "protocol": 6,
               "port": 443, "target": "10.0.1.11", "endpoint": "vpce-0a1b2c3d4e5f60718",
               "limit": 5})
    );
    assert_eq!(requests[1].body, json!({"protocol": 47}));
}

#[test]
fn bad_flags_are_usage_errors_and_send_nothing() {
    for args in [
        &["flows", "--protocol", "gre"][..],
        &["flows", "--source", "300.1.1.1"],
        &["flows", "--endpoint", "vpc-123"],
        &["flows", "--limit", "0"],
        &["register"],
        &["register", "--target", "10.0.0.1,"],
        &["endpoints", "accept"],
        &["top", "--interval", "0"],
        &["status", "--endpoint-url", "https://localhost:8443"],
        &[
            "status",
            "--endpoint-url",
            "http://localhost:8443",
            "--ca",
            "x",
        ],
        &["status", "--ca", "ca.pem"],
        &["status", "--timeout", "-1"],
    ] {
        let out = sluice(
            args.iter()
                .copied()
                .chain(["--socket", "/nonexistent/sluice.sock"]),
            Some(TOKEN),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn stats_prints_counters_and_latency_percentiles() {
    let m = metrics(3723.0, 1000, 50, 10);
    let api = FakeApi::start(vec![ok(&m), ok(&m), ok(&m)]);
    let plain = api.sluice(&["stats"]);
    assert_exit(&plain, 0);
    let text = stdout(&plain);
    assert!(
        text.starts_with("uptime      1h 02m 03s\nrx          1000 packets, 100000 bytes\n"),
        "{text}"
    );
    assert!(text.contains("drops       12\n  no_target"), "{text}");
    assert!(text.contains("  unknown_cookie"), "{text}");
    assert!(
        !text.contains("tcp_no_flow"),
        "zero reasons are left out: {text}"
    );
    assert!(!text.contains("LATENCY"), "{text}");
    let latency = api.sluice(&["stats", "--latency"]);
    assert_exit(&latency, 0);
    let text = stdout(&latency);
    assert!(
        text.ends_with(
            "LATENCY     P50     P90     P99     P99.9    MAX\n\
             per packet  120 ns  180 ns  450 ns  900 ns   1.2 µs\n\
             per burst   3.2 µs  4.1 µs  9.0 µs  15.0 µs  21.0 µs\n"
        ),
        "{text}"
    );
    let json_out = api.sluice(&["stats", "--output", "json"]);
    assert_exit(&json_out, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&json_out.stdout).unwrap(),
        m
    );
    let requests = api.requests();
    assert!(requests.iter().all(|r| r.path == "/v1/DescribeMetrics"));
}

#[test]
fn status_joins_metrics_and_target_health() {
    let m = metrics(90.0, 1000, 50, 10);
    let api = FakeApi::start(vec![
        ok(&m),
        ok(&target_health()),
        ok(&m),
        ok(&target_health()),
    ]);
    let text = api.sluice(&["status"]);
    assert_exit(&text, 0);
    let s = stdout(&text);
    assert!(s.starts_with("sluice is up 1m 30s\n"), "{s}");
    assert!(
        s.contains("  flows     42 active, 50 created, 7 expired\n"),
        "{s}"
    );
    assert!(
        s.contains("  drops     12 (no_target 10, unknown_cookie 2;"),
        "{s}"
    );
    assert!(
        s.contains("  targets   1 of 3 healthy, 1 unhealthy\n"),
        "{s}"
    );
    assert!(
        s.contains("10.0.2.12  use1-az2  unhealthy  Target.Timeout"),
        "{s}"
    );
    assert!(
        s.contains("  latency   per packet p50 120 ns, p99 450 ns;"),
        "{s}"
    );
    let json_out = api.sluice(&["status", "-o", "json"]);
    assert_exit(&json_out, 0);
    let printed: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(printed, json!({"metrics": m, "targets": target_health()}));
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/v1/DescribeMetrics",
            "/v1/DescribeTargetHealth",
            "/v1/DescribeMetrics",
            "/v1/DescribeTargetHealth"
        ]
    );
}

#[test]
fn status_of_an_appliance_asks_no_target_health() {
    let mut m = metrics(5.0, 10, 1, 0);
    m["targets"] = Value::Null;
    m["policy"] = json!({"generation": 2, "rules": 3});
    let api = FakeApi::start(vec![ok(&m)]);
    let out = api.sluice(&["status"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("  policy    generation 2, rules 3\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(api.requests().len(), 1);
}

#[test]
fn reload_reports_the_epoch_or_why_not() {
    let api = FakeApi::start(vec![
        ok(&json!({"reloaded": true, "epoch": 4})),
        error(
            400,
            "ValidationError",
            "/etc/sluice/gateway.toml:12:1: target_group.port: 6082 is not 6081; sluice keeps running on the old configuration",
        ),
    ]);
    let good = api.sluice(&["reload"]);
    assert_exit(&good, 0);
    assert_eq!(stdout(&good), "configuration reloaded (epoch 4)\n");
    let bad = api.sluice(&["reload"]);
    assert_exit(&bad, 1);
    assert_eq!(
        stderr(&bad),
        "sluice reload: ReloadConfiguration: ValidationError: /etc/sluice/gateway.toml:12:1: \
         target_group.port: 6082 is not 6081; sluice keeps running on the old configuration \
         (HTTP 400)\nhint: check the arguments: see `--help`\n"
    );
    assert_eq!(api.requests()[0].path, "/v1/ReloadConfiguration");
}

#[test]
fn exit_codes_say_what_failed() {
    // 403: authorization, with the policy hint.
    let api = FakeApi::start(vec![
        error(
            403,
            "AccessDenied",
            "principal ops may not call sluice:RegisterTargets on targetgroup/appliances",
        ),
        error(401, "AuthFailure", "the token is not known"),
        error(500, "InternalError", "the control thread did not answer"),
        b"this is not HTTP at all".to_vec(),
        answer(200, "OK", "<html>not json</html>"),
        answer(200, "OK", r#"{"no": "result"}"#),
    ]);
    let denied = api.sluice(&["register", "--target", "10.0.1.20"]);
    assert_exit(&denied, 4);
    let e = stderr(&denied);
    assert!(e.starts_with("sluice register: RegisterTargets: AccessDenied: principal ops may not call sluice:RegisterTargets on targetgroup/appliances (HTTP 403)\n"), "{e}");
    assert!(e.contains("hint: the token's principal may not call sluice:RegisterTargets: a [[management.policy]] must allow it"), "{e}");
    let unauthenticated = api.sluice(&["targets"]);
    assert_exit(&unauthenticated, 4);
    assert!(
        stderr(&unauthenticated)
            .contains("hint: the token was not accepted: set SLUICE_TOKEN or --token-file")
    );
    let failed = api.sluice(&["targets"]);
    assert_exit(&failed, 1);
    assert!(
        stderr(&failed).contains("InternalError: the control thread did not answer (HTTP 500)")
    );
    let garbage = api.sluice(&["targets"]);
    assert_exit(&garbage, 5);
    assert!(
        stderr(&garbage).contains("bad response from sluice at"),
        "{}",
        stderr(&garbage)
    );
    let not_json = api.sluice(&["targets"]);
    assert_exit(&not_json, 5);
    assert!(
        stderr(&not_json).contains("not JSON"),
        "{}",
        stderr(&not_json)
    );
    let no_result = api.sluice(&["targets"]);
    assert_exit(&no_result, 5);
    assert_eq!(api.requests().len(), 6);
}

#[test]
fn no_socket_is_exit_3_with_a_hint() {
    let dir = TempDir::new();
    let socket = dir.path("absent.sock");
    let out = sluice(
        ["targets", "--socket", socket.to_str().unwrap()],
        Some(TOKEN),
    );
    assert_exit(&out, 3);
    let e = stderr(&out);
    assert!(
        e.contains(&format!("cannot reach sluice at {}", socket.display())),
        "{e}"
    );
    assert!(
        e.contains("hint: is `sluice run` running? check management.socket in the config"),
        "{e}"
    );
    // A socket file nobody listens on: refused, the same.
    let listener = UnixListener::bind(&socket).unwrap();
    drop(listener);
    let refused = sluice(
        ["targets", "--socket", socket.to_str().unwrap()],
        Some(TOKEN),
    );
    assert_exit(&refused, 3);
}

#[test]
fn a_silent_server_times_out_with_exit_3() {
    let dir = TempDir::new();
    let socket = dir.path("silent.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let started = Instant::now();
    let out = sluice(
        [
            "targets",
            "--socket",
            socket.to_str().unwrap(),
            "--timeout",
            "0.3",
        ],
        Some(TOKEN),
    );
    assert_exit(&out, 3);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        stderr(&out).contains("did not answer in time"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_token_comes_from_a_file_or_the_environment_only() {
    let api = FakeApi::start(vec![ok(&target_health())]);
    let token_file = api.dir.path("token");
    std::fs::write(&token_file, "tok-from-file\n").unwrap();
    let out = sluice(
        [
            "targets",
            "--socket",
            api.socket.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        Some("tok-from-env"),
    );
    assert_exit(&out, 0);
    // Without either: exit 4 before anything is sent.
    let none = sluice(["targets", "--socket", api.socket.to_str().unwrap()], None);
    assert_exit(&none, 4);
    assert!(
        stderr(&none).contains("SLUICE_TOKEN is not set"),
        "{}",
        stderr(&none)
    );
    let missing = sluice(
        [
            "targets",
            "--socket",
            api.socket.to_str().unwrap(),
            "--token-file",
            "/nonexistent/token",
        ],
        None,
    );
    assert_exit(&missing, 2);
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("Authorization"),
        Some("Bearer tok-from-file")
    );
    // And there is no --token.
    let flag = sluice(["targets", "--token", "x"], None);
    assert_exit(&flag, 2);
    let help = stdout(&sluice(["targets", "--help"], None));
    assert!(
        help.contains("There is no --token option on purpose"),
        "{help}"
    );
}

#[test]
fn the_socket_comes_from_the_configuration() {
    let api = FakeApi::start(vec![ok(&target_health())]);
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/minimal-gateway.toml");
    let mut config = std::fs::read_to_string(example).unwrap();
    assert!(!config.contains("[management]"));
    config.push_str(&format!(
        "\n[management]\nsocket = {:?}\n",
        api.socket.to_str().unwrap()
    ));
    let file = api.dir.path("gateway.toml");
    std::fs::write(&file, config).unwrap();
    let out = sluice(["targets", "--config", file.to_str().unwrap()], Some(TOKEN));
    assert_exit(&out, 0);
    assert_eq!(api.requests().len(), 1);
    let bad = sluice(
        ["targets", "--config", "/nonexistent/gateway.toml"],
        Some(TOKEN),
    );
    assert_exit(&bad, 2);
    assert!(
        stderr(&bad).contains("sluice check-config"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn top_prints_rates_between_successive_metrics() {
    let answers = vec![
        ok(&metrics(100.0, 1000, 10, 0)),
        ok(&metrics(101.0, 3000, 15, 4)),
        ok(&metrics(102.0, 6000, 25, 4)),
    ];
    let api = FakeApi::start(answers.clone());
    let out = api.sluice(&["top", "--count", "2", "--interval", "0.1"]);
    assert_exit(&out, 0);
    assert_eq!(api.requests().len(), 3);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Rates over the server's uptime: 2000 packets in 1 s, 200 kB = 1.6 Mbit.
    assert!(
        lines[0].ends_with("rx 2.00 kpps 1.60 Mbit/s  tx 2.00 kpps 2.69 Mbit/s  new flows 5/s  active 42  drops 4/s"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("rx 3.00 kpps"), "{}", lines[1]);
    assert!(lines[1].ends_with("drops 0/s"), "{}", lines[1]);

    let api = FakeApi::start(answers);
    let out = api.sluice(&["top", "--count", "2", "--interval", "0.1", "-o", "json"]);
    assert_exit(&out, 0);
    let views: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(views.len(), 2);
    assert_eq!(views[0]["rates"]["rx_pps"], 2000.0);
    assert_eq!(
        views[0]["rates"]["drops_per_second_by_reason"],
        json!({"no_target": 4.0})
    );
    assert_eq!(views[1]["interval_seconds"], 1.0);
    assert_eq!(views[1]["metrics"]["rx_packets"], 6000);
}

#[cfg(feature = "dpdk")]
mod tls {
    //! `--endpoint-url https://…` against a TLS server whose certificate a test CA signed.

    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::net::TcpListener;

    /// A CA (PEM) and a server configuration for `localhost` signed by it.
    fn pki() -> (String, Arc<rustls::ServerConfig>) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
        (ca.pem(), Arc::new(config))
    }

    #[test]
    fn tls_with_the_ca_works_and_a_wrong_ca_is_exit_3() {
        let (ca_pem, config) = pki();
        let (other_ca, _) = pki();
        let dir = TempDir::new();
        let (ca, wrong) = (dir.path("ca.pem"), dir.path("other.pem"));
        std::fs::write(&ca, ca_pem).unwrap();
        std::fs::write(&wrong, other_ca).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (mut tcp, _) = listener.accept().unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
                if let Some(r) = read_request(&mut tls) {
                    let _ = tls.write_all(&ok(&target_health()));
                    let _ = tls.flush();
                    seen.push(r);
                }
                conn.send_close_notify();
                let _ = conn.complete_io(&mut tcp);
            }
            seen
        });
        let url = format!("https://localhost:{port}");
        let good = sluice(
            [
                "targets",
                "--endpoint-url",
                &url,
                "--ca",
                ca.to_str().unwrap(),
            ],
            Some(TOKEN),
        );
        assert_exit(&good, 0);
        assert!(stdout(&good).ends_with("3 targets, 1 healthy\n"));
        let bad = sluice(
            [
                "targets",
                "--endpoint-url",
                &url,
                "--ca",
                wrong.to_str().unwrap(),
            ],
            Some(TOKEN),
        );
        assert_exit(&bad, 3);
        assert!(stderr(&bad).contains("TLS"), "{}", stderr(&bad));
        assert!(
            stderr(&bad).contains("hint: --ca must be the CA certificate"),
            "{}",
            stderr(&bad)
        );
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/v1/DescribeTargetHealth");
        assert_eq!(
            seen[0].header("Authorization"),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(seen[0].header("Host"), Some(&*format!("localhost:{port}")));
    }
}
