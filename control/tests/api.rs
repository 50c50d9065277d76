//! The management API server end to end: a real Unix socket in a temporary directory, real
//! TLS on 127.0.0.1 with certificates from rcgen, and a fake backend that records what it
//! is asked to execute.
//!
//! The authorization matrix (allowed, denied for want of an allow, an explicit deny beating
//! an allow, no token, a bad token, an expired principal, a principal removed by a reload)
//! asserts for each request the HTTP status, the error code, whether the backend ran, and
//! every field of its audit line. Then the bounds (head and body sizes, connections), the
//! refusals of malformed requests, the audit log's failure mode, the socket's life cycle,
//! and TLS: 1.2 and 1.3 clients served, a TLS 1.1 ClientHello refused with an alert, and a
//! TLS 1.2 client refused under `min_version = "1.3"`.

#![cfg(feature = "dpdk")]
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use serde_json::{Value, json};
use sluice::api::audit::rfc3339_millis;
use sluice::api::auth::token_digest;
use sluice::api::{ApiError, ApiLimits, ApiServer, ApiStartError, Backend, Request, ResourceNames};
use sluice_config::schema::management::{
    AccessPolicy, Effect, Management, Principal, Timestamp, Tls, TlsVersion,
};

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

/// A backend that records every request and answers with its action, or with an error
/// when the parameters hold `"fail"`.
struct FakeBackend {
    calls: Mutex<Vec<Request>>,
}

/// A server, its directory and its backend.
struct Fixture {
    dir: TempDir,
    backend: Arc<FakeBackend>,
    server: Option<ApiServer>,
    management: Management,
}

/// An HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Value,
}

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sluice-api-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Backend for FakeBackend {
    fn execute(&self, request: &Request) -> Result<Value, ApiError> {
        self.calls.lock().unwrap().push(request.clone());
        if request.params.get("fail").is_some() {
            return Err(ApiError::new(409, "TargetNotFound", "no such target"));
        }
        Ok(json!({ "done": request.action }))
    }

    fn names(&self) -> ResourceNames {
        ResourceNames {
            load_balancer: Some("edge".into()),
            target_group: Some("fw".into()),
        }
    }
}

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789";
const CAROL: &str = "carol-token-0123456789";
const DAVE: &str = "dave-token-0123456789";

fn principal(name: &str, token: &str, expires: Option<u64>) -> Principal {
    Principal {
        name: name.into(),
        token_sha256: token_digest(token)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        expires: expires.map(|s| Timestamp::from_unix_seconds(s).unwrap()),
    }
}

fn policy(
    principals: &[&str],
    effect: Effect,
    actions: &[&str],
    resources: &[&str],
) -> AccessPolicy {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    AccessPolicy {
        principals: owned(principals),
        effect,
        actions: owned(actions),
        resources: owned(resources),
    }
}

/// alice may describe anything and register targets in `fw`; bob may do anything but
/// register targets (an explicit deny); carol expired in 1970; dave has no policy.
fn management(dir: &Path) -> Management {
    Management {
        socket: dir.join("run").join("api.sock"),
        audit_log: dir.join("log").join("audit.jsonl"),
        principals: vec![
            principal("alice", ALICE, Some(4_102_444_800)),
            principal("bob", BOB, None),
            principal("carol", CAROL, Some(1_000_000)),
            principal("dave", DAVE, None),
        ],
        policies: vec![
            policy(&["alice"], Effect::Allow, &["sluice:Describe*"], &["*"]),
            policy(
                &["alice"],
                Effect::Allow,
                &["sluice:RegisterTargets"],
                &["targetgroup/fw"],
            ),
            policy(&["bob", "carol"], Effect::Allow, &["*"], &["*"]),
            policy(&["*"], Effect::Deny, &["sluice:RegisterTargets"], &["*"]),
            policy(
                &["alice"],
                Effect::Allow,
                &["sluice:RegisterTargets"],
                &["*"],
            ),
        ],
        ..Management::defaults_for("/etc/sluice/gateway.toml")
    }
}

impl Fixture {
    fn start() -> Self {
        Self::start_with(|_| {}, ApiLimits::default())
    }

    fn start_with(edit: impl FnOnce(&mut Management), limits: ApiLimits) -> Self {
        let dir = TempDir::new();
        let mut management = management(&dir.0);
        edit(&mut management);
        let backend = Arc::new(FakeBackend {
            calls: Mutex::new(Vec::new()),
        });
        let server = ApiServer::start_with_limits(
            &management,
            Arc::clone(&backend) as Arc<dyn Backend>,
            limits,
        )
        .unwrap();
        Self {
            dir,
            backend,
            server: Some(server),
            management,
        }
    }

    fn server(&self) -> &ApiServer {
        self.server.as_ref().unwrap()
    }

    /// Sends `raw` on a new connection to the Unix socket and reads the answer.
    fn send(&self, raw: &[u8]) -> Reply {
        let mut stream = UnixStream::connect(&self.management.socket).unwrap();
        exchange(&mut stream, raw)
    }

    fn post(&self, action: &str, token: Option<&str>, body: &str) -> Reply {
        self.send(&post(action, token, body))
    }

    fn calls(&self) -> Vec<Request> {
        self.backend.calls.lock().unwrap().clone()
    }

    fn audit(&self) -> Vec<Value> {
        let text = fs::read_to_string(&self.management.audit_log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The audit line of the latest request, checked to be the only new one since `before`
    /// lines, with its time between `since` and now.
    fn last_audit(&self, before: usize, since: SystemTime) -> Value {
        let mut lines = self.audit();
        assert_eq!(lines.len(), before + 1, "one line per request: {lines:#?}");
        let mut line = lines.pop().unwrap();
        let time = line["time"].as_str().unwrap().to_owned();
        assert!(
            rfc3339_millis(since) <= time && time <= rfc3339_millis(SystemTime::now()),
            "{time}"
        );
        assert_eq!(time.len(), "2026-01-01T00:00:00.000Z".len(), "{time}");
        line["time"] = Value::Null;
        line
    }

    /// `unix:uid=U,pid=P` of this process.
    fn unix_source(&self) -> String {
        let uid = fs::metadata(&self.dir.0).unwrap().uid();
        format!("unix:uid={uid},pid={}", std::process::id())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

/// A `POST /v1/<action>` request.
fn post(action: &str, token: Option<&str>, body: &str) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "POST /v1/{action} HTTP/1.1\r\nHost: sluice\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes `raw` (as far as the server reads it) and reads the answer to the end.
fn exchange(stream: &mut (impl Read + Write), raw: &[u8]) -> Reply {
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // A server that answers before reading everything sent (a refusal) may reset
            // the connection after its answer.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) && !answer.is_empty() =>
            {
                break;
            }
            Err(e) => panic!("reading the answer: {e} after {answer:?}"),
        }
    }
    parse_reply(&answer)
}

fn parse_reply(answer: &[u8]) -> Reply {
    let text = String::from_utf8(answer.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, body.len(), "{text}");
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    Reply {
        status,
        head: head.to_owned(),
        body: serde_json::from_str(body).unwrap(),
    }
}

/// The error code of a reply, or `None` for success.
fn code(reply: &Reply) -> Option<&str> {
    reply.body["error"]["code"].as_str()
}

/// An audit line without its time.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the line"
)]
fn line(
    principal: Option<&str>,
    source: &str,
    action: Option<&str>,
    resource: Option<&str>,
    parameters: Value,
    result: &str,
    status: u16,
    error_code: Option<&str>,
) -> Value {
    json!({
        "time": null,
        "principal": principal,
        "source": source,
        "action": action,
        "resource": resource,
        "parameters": parameters,
        "result": result,
        "status": status,
        "error_code": error_code,
    })
}

#[test]
fn the_authorization_matrix() {
    let f = Fixture::start();
    let source = f.unix_source();
    let params = r#"{"targets": [{"ip": "10.0.0.9", "zone": "use1-az1"}]}"#;
    let params_json: Value = serde_json::from_str(params).unwrap();
    struct Case {
        name: &'static str,
        token: Option<&'static str>,
        action: &'static str,
        status: u16,
        code: Option<&'static str>,
        principal: Option<&'static str>,
        resource: &'static str,
        logged_params: bool,
        result: &'static str,
    }
    let cases = [
        Case {
            name: "allowed",
            token: Some(ALICE),
            action: "DescribeTargetHealth",
            status: 200,
            code: None,
            principal: Some("alice"),
            resource: "targetgroup/fw",
            logged_params: true,
            result: "allowed",
        },
        Case {
            name: "denied: no policy allows it",
            token: Some(ALICE),
            action: "DeregisterTargets",
            status: 403,
            code: Some("AccessDenied"),
            principal: Some("alice"),
            resource: "targetgroup/fw",
            logged_params: true,
            result: "denied",
        },
        Case {
            name: "an explicit deny beats two allows",
            token: Some(ALICE),
            action: "RegisterTargets",
            status: 403,
            code: Some("AccessDenied"),
            principal: Some("alice"),
            resource: "targetgroup/fw",
            logged_params: true,
            result: "denied",
        },
        Case {
            name: "an explicit deny beats a wildcard allow",
            token: Some(BOB),
            action: "RegisterTargets",
            status: 403,
            code: Some("AccessDenied"),
            principal: Some("bob"),
            resource: "targetgroup/fw",
            logged_params: true,
            result: "denied",
        },
        Case {
            name: "a wildcard allow",
            token: Some(BOB),
            action: "ModifyListenerAttributes",
            status: 200,
            code: None,
            principal: Some("bob"),
            resource: "listener/edge",
            logged_params: true,
            result: "allowed",
        },
        Case {
            name: "no policy at all",
            token: Some(DAVE),
            action: "DescribeMetrics",
            status: 403,
            code: Some("AccessDenied"),
            principal: Some("dave"),
            resource: "loadbalancer/edge",
            logged_params: true,
            result: "denied",
        },
        Case {
            name: "no token",
            token: None,
            action: "DescribeTargetHealth",
            status: 401,
            code: Some("MissingAuthenticationToken"),
            principal: None,
            resource: "targetgroup/fw",
            logged_params: false,
            result: "denied",
        },
        Case {
            name: "bad token",
            token: Some("not-a-known-token"),
            action: "DescribeTargetHealth",
            status: 401,
            code: Some("InvalidClientTokenId"),
            principal: None,
            resource: "targetgroup/fw",
            logged_params: false,
            result: "denied",
        },
        Case {
            name: "expired principal (whose policy allows everything)",
            token: Some(CAROL),
            action: "DescribeTargetHealth",
            status: 401,
            code: Some("ExpiredToken"),
            principal: None,
            resource: "targetgroup/fw",
            logged_params: false,
            result: "denied",
        },
    ];
    for case in cases {
        let (before, since) = (f.audit().len(), SystemTime::now());
        let calls_before = f.calls().len();
        let reply = f.post(case.action, case.token, params);
        assert_eq!(reply.status, case.status, "{}: {reply:?}", case.name);
        assert_eq!(code(&reply), case.code, "{}: {reply:?}", case.name);
        let calls = f.calls();
        if case.status == 200 {
            assert_eq!(calls.len(), calls_before + 1, "{}", case.name);
            assert_eq!(
                calls.last(),
                Some(&Request {
                    action: case.action.into(),
                    params: params_json.clone(),
                    principal: case.principal.unwrap().into(),
                    source: source.clone(),
                }),
                "{}",
                case.name
            );
            assert_eq!(reply.body, json!({"result": {"done": case.action}}));
        } else {
            assert_eq!(calls.len(), calls_before, "{}: the backend ran", case.name);
        }
        if case.status == 403 {
            let message = reply.body["error"]["message"].as_str().unwrap();
            let principal = case.principal.unwrap();
            let expected = format!(
                "principal \"{principal}\" is not authorized to perform sluice:{} on resource {}",
                case.action, case.resource
            );
            assert!(message.starts_with(&expected), "{}: {message}", case.name);
        }
        if case.status == 401 {
            assert!(
                reply.head.contains("WWW-Authenticate: Bearer"),
                "{}",
                case.name
            );
        }
        let parameters = if case.logged_params {
            params_json.clone()
        } else {
            Value::Null
        };
        assert_eq!(
            f.last_audit(before, since),
            line(
                case.principal,
                &source,
                Some(case.action),
                Some(case.resource),
                parameters,
                case.result,
                case.status,
                case.code
            ),
            "{}",
            case.name
        );
    }

    // A reload that removes alice and lets dave describe: alice's token no longer
    // authenticates, dave's policy applies at once.
    let mut reloaded = f.management.clone();
    reloaded.principals.retain(|p| p.name != "alice");
    reloaded.policies = vec![policy(
        &["dave"],
        Effect::Allow,
        &["sluice:Describe*"],
        &["*"],
    )];
    f.server().update(&reloaded);
    let (before, since) = (f.audit().len(), SystemTime::now());
    let calls_before = f.calls().len();
    let reply = f.post("DescribeTargetHealth", Some(ALICE), "{}");
    assert_eq!(
        (reply.status, code(&reply)),
        (401, Some("InvalidClientTokenId"))
    );
    assert_eq!(f.calls().len(), calls_before);
    assert_eq!(
        f.last_audit(before, since),
        line(
            None,
            &source,
            Some("DescribeTargetHealth"),
            Some("targetgroup/fw"),
            Value::Null,
            "denied",
            401,
            Some("InvalidClientTokenId")
        )
    );
    let reply = f.post("DescribeMetrics", Some(DAVE), "");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(f.calls().len(), calls_before + 1);
    assert_eq!(f.calls().last().unwrap().params, json!({}));
}

#[test]
fn backend_errors_and_secrets_in_the_audit_log() {
    let f = Fixture::start();
    let (before, since) = (f.audit().len(), SystemTime::now());
    let body = r#"{"targets": [{"ip": "10.0.0.9"}], "fail": true, "api_token": "hunter2", "x": {"Password": "p"}}"#;
    let reply = f.post("DescribeFlows", Some(BOB), body);
    assert_eq!((reply.status, code(&reply)), (409, Some("TargetNotFound")));
    assert_eq!(f.calls().len(), 1);
    assert_eq!(
        f.calls()[0].params["api_token"],
        "hunter2",
        "the backend gets them"
    );
    assert_eq!(
        f.last_audit(before, since),
        line(
            Some("bob"),
            &f.unix_source(),
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
            json!({"targets": [{"ip": "10.0.0.9"}], "fail": true, "api_token": "***", "x": {"Password": "***"}}),
            "error",
            409,
            Some("TargetNotFound")
        )
    );
    // Neither the parameter's secret nor any bearer token reaches the file.
    let text = fs::read_to_string(&f.management.audit_log).unwrap();
    assert!(!text.contains("hunter2") && !text.contains(BOB) && !text.contains("Bearer"));
}

#[test]
fn malformed_and_unknown_requests_are_refused_and_audited() {
    let f = Fixture::start();
    let source = f.unix_source();
    let auth = format!("Authorization: Bearer {BOB}\r\n");
    for (name, raw, status, error_code, action, resource) in [
        (
            "GET /v1/",
            format!("GET /v1/ HTTP/1.1\r\n{auth}\r\n"),
            404,
            "UnknownOperation",
            None,
            None,
        ),
        (
            "an unknown action",
            format!("POST /v1/DeleteLoadBalancer HTTP/1.1\r\n{auth}Content-Length: 2\r\n\r\n{{}}"),
            404,
            "UnknownOperation",
            Some("DeleteLoadBalancer"),
            None,
        ),
        (
            "GET of a known action",
            format!("GET /v1/DescribeFlows HTTP/1.1\r\n{auth}\r\n"),
            405,
            "MethodNotAllowed",
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
        ),
        (
            "a JSON array",
            format!("POST /v1/DescribeFlows HTTP/1.1\r\n{auth}Content-Length: 2\r\n\r\n[]"),
            400,
            "ValidationError",
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
        ),
        (
            "not JSON",
            format!("POST /v1/DescribeFlows HTTP/1.1\r\n{auth}Content-Length: 3\r\n\r\n{{x}}"),
            400,
            "ValidationError",
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
        ),
        (
            "chunked",
            format!(
                "POST /v1/DescribeFlows HTTP/1.1\r\n{auth}Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
            ),
            411,
            "LengthRequired",
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
        ),
        (
            "not HTTP",
            "HELLO\r\n\r\n".to_owned(),
            400,
            "MalformedRequest",
            None,
            None,
        ),
    ] {
        let (before, since) = (f.audit().len(), SystemTime::now());
        let reply = f.send(raw.as_bytes());
        assert_eq!(
            (reply.status, code(&reply)),
            (status, Some(error_code)),
            "{name}: {reply:?}"
        );
        let principal = (error_code != "MalformedRequest").then_some("bob");
        assert_eq!(
            f.last_audit(before, since),
            line(
                principal,
                &source,
                action,
                resource,
                Value::Null,
                "error",
                status,
                Some(error_code)
            ),
            "{name}"
        );
    }
    assert!(f.calls().is_empty());
    // A connection that sends nothing is no request: nothing is logged.
    let before = f.audit().len();
    drop(UnixStream::connect(&f.management.socket).unwrap());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(f.audit().len(), before);
}

#[test]
fn heads_and_bodies_are_bounded() {
    let f = Fixture::start();
    let source = f.unix_source();

    // A head over 16 KiB.
    let (before, since) = (f.audit().len(), SystemTime::now());
    let pad = "a".repeat(17 * 1024);
    let raw = format!("POST /v1/DescribeFlows HTTP/1.1\r\nX-Pad: {pad}\r\n\r\n");
    let reply = f.send(raw.as_bytes());
    assert_eq!(
        (reply.status, code(&reply)),
        (431, Some("RequestHeaderFieldsTooLarge"))
    );
    let expected = line(
        None,
        &source,
        None,
        None,
        Value::Null,
        "error",
        431,
        Some("RequestHeaderFieldsTooLarge"),
    );
    assert_eq!(f.last_audit(before, since), expected);
    // Just under is fine.
    let pad = "a".repeat(15 * 1024);
    let raw = format!(
        "POST /v1/DescribeFlows HTTP/1.1\r\nAuthorization: Bearer {BOB}\r\nX-Pad: {pad}\r\n\r\n"
    );
    assert_eq!(f.send(raw.as_bytes()).status, 200);

    // A body over 1 MiB is refused from its Content-Length, before it is sent.
    let (before, since) = (f.audit().len(), SystemTime::now());
    let raw = format!(
        "POST /v1/DescribeFlows HTTP/1.1\r\nAuthorization: Bearer {BOB}\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    let reply = f.send(raw.as_bytes());
    assert_eq!(
        (reply.status, code(&reply)),
        (413, Some("RequestEntityTooLarge"))
    );
    let expected = line(
        Some("bob"),
        &source,
        Some("DescribeFlows"),
        Some("loadbalancer/edge"),
        Value::Null,
        "error",
        413,
        Some("RequestEntityTooLarge"),
    );
    assert_eq!(f.last_audit(before, since), expected);

    // 1 MiB exactly is read whole (with 100-continue, as curl sends large bodies).
    let filler = "x".repeat(1024 * 1024 - 14);
    let body = format!(r#"{{"filler": "{filler}"}}"#);
    assert_eq!(body.len(), 1024 * 1024);
    let raw = format!(
        "POST /v1/DescribeFlows HTTP/1.1\r\nAuthorization: Bearer {BOB}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = UnixStream::connect(&f.management.socket).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut interim = [0_u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    let reply = exchange(&mut stream, body.as_bytes());
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        f.calls().last().unwrap().params["filler"]
            .as_str()
            .map(str::len),
        Some(filler.len())
    );

    // A body that never comes ends in 408 within the request deadline.
    let limits = ApiLimits {
        io_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(600),
        ..ApiLimits::default()
    };
    let slow = Fixture::start_with(|_| {}, limits);
    let mut stream = UnixStream::connect(&slow.management.socket).unwrap();
    let raw = format!(
        "POST /v1/DescribeFlows HTTP/1.1\r\nAuthorization: Bearer {BOB}\r\nContent-Length: 10\r\n\r\n{{"
    );
    let reply = exchange(&mut stream, raw.as_bytes());
    assert_eq!((reply.status, code(&reply)), (408, Some("RequestTimeout")));
    assert!(slow.calls().is_empty());
}

#[test]
fn connections_beyond_the_limit_are_refused() {
    let limits = ApiLimits {
        max_connections: 1,
        ..ApiLimits::default()
    };
    let f = Fixture::start_with(|_| {}, limits);
    let idle = UnixStream::connect(&f.management.socket).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let reply = f.post("DescribeFlows", Some(BOB), "{}");
    assert_eq!(
        (reply.status, code(&reply)),
        (503, Some("ServiceUnavailable"))
    );
    assert_eq!(f.server().refused_connections(), 1);
    assert!(f.calls().is_empty());
    drop(idle);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
}

#[test]
fn nothing_executes_while_the_audit_log_cannot_be_written() {
    let f = Fixture::start();
    let log_dir = f.management.audit_log.parent().unwrap().to_owned();
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);

    // The log's directory disappears: the request that executes while it happens is
    // answered (it did happen) and counted; the next is refused before executing.
    fs::remove_dir_all(&log_dir).unwrap();
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
    assert_eq!(f.server().audit_failures(), 1);
    assert_eq!(f.calls().len(), 2);
    let reply = f.post("DescribeFlows", Some(BOB), "{}");
    assert_eq!(
        (reply.status, code(&reply)),
        (503, Some("AuditUnavailable"))
    );
    assert_eq!(f.calls().len(), 2);
    assert_eq!(f.server().audit_failures(), 2);

    // Back: the first refusal that gets written reopens the way.
    fs::create_dir_all(&log_dir).unwrap();
    let (before, since) = (0, SystemTime::now());
    let reply = f.post("DescribeFlows", Some(BOB), "{}");
    assert_eq!(
        (reply.status, code(&reply)),
        (503, Some("AuditUnavailable"))
    );
    assert_eq!(
        f.last_audit(before, since),
        line(
            Some("bob"),
            &f.unix_source(),
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
            json!({}),
            "error",
            503,
            Some("AuditUnavailable")
        )
    );
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
    assert_eq!(f.calls().len(), 3);
    assert_eq!(f.audit().len(), 2);
    let mode = fs::metadata(&f.management.audit_log).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn the_socket_and_the_audit_log_are_private() {
    let f = Fixture::start();
    let socket = fs::symlink_metadata(&f.management.socket).unwrap();
    assert!(socket.file_type().is_socket());
    assert_eq!(socket.mode() & 0o777, 0o600);
    let run_dir = f.management.socket.parent().unwrap();
    assert_eq!(fs::metadata(run_dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
    let audit = fs::metadata(&f.management.audit_log).unwrap();
    assert_eq!(audit.mode() & 0o777, 0o600);
    assert_eq!(f.server().socket_path(), f.management.socket);
}

#[test]
fn the_socket_file_is_managed_safely() {
    let mut f = Fixture::start();
    let socket = f.management.socket.clone();
    // A second server refuses a socket in use, and leaves it alone.
    let second = ApiServer::start(&f.management, Arc::clone(&f.backend) as Arc<dyn Backend>);
    assert!(
        matches!(second, Err(ApiStartError::SocketInUse { .. })),
        "{second:?}"
    );
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
    // Shutdown removes it.
    f.server.take().unwrap().shutdown();
    assert!(!socket.exists());

    // A stale socket (nobody listening) is replaced.
    drop(UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let server =
        ApiServer::start(&f.management, Arc::clone(&f.backend) as Arc<dyn Backend>).unwrap();
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
    server.shutdown();

    // Anything else at the path is not touched.
    fs::write(&socket, "data").unwrap();
    let error = ApiServer::start(&f.management, Arc::clone(&f.backend) as Arc<dyn Backend>)
        .err()
        .unwrap();
    assert!(matches!(error, ApiStartError::NotASocket { .. }));
    assert!(error.to_string().contains(&socket.display().to_string()));
    assert_eq!(fs::read_to_string(&socket).unwrap(), "data");
}

#[test]
fn an_existing_loose_audit_log_is_restricted() {
    let dir = TempDir::new();
    let management = management(&dir.0);
    let log_dir = management.audit_log.parent().unwrap();
    fs::create_dir_all(log_dir).unwrap();
    fs::write(&management.audit_log, "").unwrap();
    fs::set_permissions(&management.audit_log, fs::Permissions::from_mode(0o644)).unwrap();
    let backend = Arc::new(FakeBackend {
        calls: Mutex::new(Vec::new()),
    });
    let server = ApiServer::start(&management, backend).unwrap();
    let mode = fs::metadata(&management.audit_log).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
    server.shutdown();
}

/// A CA and a `localhost` certificate it signed, written as PEM into `dir`; returns the
/// CA's certificate (DER) for clients to trust.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, rustls::pki_types::CertificateDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    fs::write(&cert_path, leaf.pem() + &ca.as_ref().pem()).unwrap();
    fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, ca.as_ref().der().clone())
}

/// A fixture with a TLS listener on 127.0.0.1 (a free port) at `min_version`.
fn tls_fixture(min_version: TlsVersion) -> (Fixture, rustls::pki_types::CertificateDer<'static>) {
    let certs = TempDir::new();
    let (certificate, private_key, ca) = certificates(&certs.0);
    let f = Fixture::start_with(
        |m| {
            m.tls = Some(Tls {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                certificate,
                private_key,
                min_version,
            });
        },
        ApiLimits::default(),
    );
    (f, ca)
}

/// A rustls client speaking only `version` and trusting `ca`.
fn tls_client(
    ca: &rustls::pki_types::CertificateDer<'static>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Sends `raw` over TLS to `address`: the reply and the version spoken, or the TLS error.
fn tls_send(
    address: SocketAddr,
    config: Arc<ClientConfig>,
    raw: &[u8],
) -> Result<(Reply, rustls::ProtocolVersion), std::io::Error> {
    let mut conn =
        ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut sock = TcpStream::connect(address)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(raw)?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)?;
    let version = conn.protocol_version().unwrap();
    Ok((parse_reply(&answer), version))
}

#[test]
fn tls_1_2_and_1_3_clients_are_served() {
    let (f, ca) = tls_fixture(TlsVersion::Tls12);
    let address = f.server().tls_address().unwrap();
    assert_ne!(address.port(), 0);
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let (before, since) = (f.audit().len(), SystemTime::now());
        let (reply, spoken) = tls_send(
            address,
            tls_client(&ca, version),
            &post("DescribeFlows", Some(BOB), "{}"),
        )
        .unwrap();
        assert_eq!(spoken, expected);
        assert_eq!(reply.status, 200, "{reply:?}");
        let request = f.calls().pop().unwrap();
        assert!(
            request.source.starts_with("tcp:127.0.0.1:"),
            "{}",
            request.source
        );
        let expected_line = line(
            Some("bob"),
            &request.source,
            Some("DescribeFlows"),
            Some("loadbalancer/edge"),
            json!({}),
            "allowed",
            200,
            None,
        );
        assert_eq!(f.last_audit(before, since), expected_line);
    }
    // Unauthenticated over TLS too.
    let (reply, _) = tls_send(
        address,
        tls_client(&ca, &rustls::version::TLS13),
        &post("DescribeFlows", None, "{}"),
    )
    .unwrap();
    assert_eq!(
        (reply.status, code(&reply)),
        (401, Some("MissingAuthenticationToken"))
    );
}

/// A TLS 1.1 ClientHello: record and legacy versions 0x0302, no `supported_versions`
/// extension, TLS 1.0/1.1 cipher suites; with `signature_algorithms` (a TLS 1.2 extension
/// some clients send anyway) or, as OpenSSL's `s_client -tls1_1` does, without.
fn tls11_client_hello(signature_algorithms: bool) -> Vec<u8> {
    let mut hello = vec![0x03, 0x02]; // client_version: TLS 1.1
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.push(0); // session_id
    let suites: [u16; 4] = [0xc014, 0xc013, 0x0035, 0x002f];
    hello.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
    for suite in suites {
        hello.extend_from_slice(&suite.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]); // compression: null
    // Extensions: server_name "localhost", supported_groups, ec_point_formats.
    let mut extensions = Vec::new();
    let name = b"localhost";
    extensions.extend_from_slice(&[0x00, 0x00]);
    extensions.extend_from_slice(&u16::try_from(name.len() + 5).unwrap().to_be_bytes());
    extensions.extend_from_slice(&u16::try_from(name.len() + 3).unwrap().to_be_bytes());
    extensions.push(0);
    extensions.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
    extensions.extend_from_slice(name);
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x1d]);
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    if signature_algorithms {
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
        extensions.extend_from_slice(&[0x00, 0x0d, 0x00, 0x08, 0x00, 0x06]);
        extensions.extend_from_slice(&[0x04, 0x03, 0x08, 0x04, 0x04, 0x01]);
    }
    hello.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
    hello.extend_from_slice(&extensions);

    let mut handshake = vec![0x01]; // ClientHello
    handshake.extend_from_slice(&u32::try_from(hello.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x02]; // handshake record, TLS 1.1
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn a_tls_1_1_client_is_refused() {
    let (f, _) = tls_fixture(TlsVersion::Tls12);
    let address = f.server().tls_address().unwrap();
    // Without signature_algorithms rustls refuses before it looks at the version
    // (handshake_failure, 40); with it, for the version (protocol_version, 70).
    for (signature_algorithms, alert) in [(false, 40), (true, 70)] {
        let mut sock = TcpStream::connect(address).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock.write_all(&tls11_client_hello(signature_algorithms))
            .unwrap();
        let mut answer = Vec::new();
        let _ = sock.read_to_end(&mut answer);
        // One record, an alert (21), fatal (level 2), then the connection closes: no
        // ServerHello (a handshake record, 22) ever.
        assert_eq!(answer.len(), 7, "{answer:02x?}");
        assert_eq!(answer[0], 21, "not an alert: {answer:02x?}");
        assert_eq!(&answer[5..], &[2, alert], "{answer:02x?}");
    }
    assert!(f.calls().is_empty());
    assert!(f.audit().is_empty(), "a refused handshake is no request");
    // The listener carries on.
    assert_eq!(f.post("DescribeFlows", Some(BOB), "{}").status, 200);
}

#[test]
fn min_version_1_3_refuses_tls_1_2_clients() {
    let (f, ca) = tls_fixture(TlsVersion::Tls13);
    let address = f.server().tls_address().unwrap();
    let request = post("DescribeFlows", Some(BOB), "{}");
    let refused = tls_send(address, tls_client(&ca, &rustls::version::TLS12), &request);
    let error = refused.err().unwrap();
    let alert = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .cloned();
    assert_eq!(
        alert,
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::ProtocolVersion
        )),
        "{error}"
    );
    assert!(f.calls().is_empty());
    let (reply, version) =
        tls_send(address, tls_client(&ca, &rustls::version::TLS13), &request).unwrap();
    assert_eq!(
        (reply.status, version),
        (200, rustls::ProtocolVersion::TLSv1_3)
    );
}

#[test]
fn tls_files_are_named_in_errors() {
    let dir = TempDir::new();
    let (certificate, private_key, _) = certificates(&dir.0);
    let backend: Arc<dyn Backend> = Arc::new(FakeBackend {
        calls: Mutex::new(Vec::new()),
    });
    let start = |certificate: &Path, private_key: &Path| {
        let mut m = management(&dir.0);
        m.tls = Some(Tls {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            certificate: certificate.to_owned(),
            private_key: private_key.to_owned(),
            min_version: TlsVersion::Tls12,
        });
        ApiServer::start(&m, Arc::clone(&backend))
            .err()
            .map(|e| e.to_string())
    };
    let missing = dir.0.join("missing.pem");
    let error = start(&missing, &private_key).unwrap();
    assert!(
        error.starts_with(&format!(
            "management API: management.tls.certificate {}: cannot read it",
            missing.display()
        )),
        "{error}"
    );
    let error = start(&private_key, &private_key).unwrap();
    assert!(error.contains("no PEM certificate"), "{error}");
    let error = start(&certificate, &certificate).unwrap();
    assert!(
        error.starts_with(&format!(
            "management API: management.tls.private_key {}: no PEM private key",
            certificate.display()
        )),
        "{error}"
    );
    // Nothing was left listening.
    assert!(!management(&dir.0).socket.exists());
}
