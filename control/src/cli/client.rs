//! The management API's client: one `POST /v1/<Action>` per connection, with the bearer
//! token, over the Unix socket or (with the `dpdk` feature, which brings rustls) TLS; the
//! answer's `result`, or a [`CallError`] that knows its exit code and what to tell the user.
//!
//! HTTP/1.1 is spoken by hand, as little of it as the API uses: a request with
//! `Content-Length` and `Connection: close`; an answer read up to its `Content-Length`, its
//! last chunk, or the end of the connection, never more than [`MAX_RESPONSE`] bytes and
//! never waiting longer than the timeout for any read or write.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{EXIT_AUTH, EXIT_BAD_RESPONSE, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE};

/// The largest answer read (`DescribeFlows` with a high `--limit` is the big one).
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Where the API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The Unix socket (`management.socket`).
    Unix(PathBuf),
    /// The TLS listener (`management.tls`), trusting the certificates of a CA file.
    Tls {
        /// The host name or address, as the server's certificate names it.
        host: String,
        /// The TCP port.
        port: u16,
        /// The PEM file of the CA certificates to trust.
        ca: PathBuf,
    },
}

/// A client of one sluice instance's management API.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Transport,
    token: String,
    timeout: Duration,
}

/// Why a call did not return a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The command line cannot be acted on (a file it names cannot be read, say).
    #[error("{0}")]
    Usage(String),
    /// No connection could be made, or the server did not answer in time.
    #[error("cannot reach sluice at {at}: {source}")]
    Unreachable {
        /// The socket or address.
        at: String,
        /// What the system said.
        source: io::Error,
    },
    /// The TLS handshake failed (an untrusted certificate, a name that does not match).
    #[error("cannot reach sluice at {at}: TLS: {message}")]
    Tls {
        /// The address.
        at: String,
        /// What rustls said.
        message: String,
    },
    /// No usable token, or the server answered 401 or 403.
    #[error("{code}: {message}")]
    Denied {
        /// The HTTP status (0 when the request was never sent).
        status: u16,
        /// The API's error code (`AuthFailure`, `AccessDenied`, …).
        code: String,
        /// The API's message.
        message: String,
    },
    /// The server refused or failed the request (any other 4xx or 5xx).
    #[error("{code}: {message}")]
    Failed {
        /// The HTTP status.
        status: u16,
        /// The API's error code (`ValidationError`, `TargetNotFound`, …).
        code: String,
        /// The API's message.
        message: String,
    },
    /// The answer is not the API's protocol (not HTTP, not JSON, no `result`).
    #[error("bad response from sluice at {at}: {what}")]
    BadResponse {
        /// The socket or address.
        at: String,
        /// What is wrong with it.
        what: String,
    },
}

/// A connection to the API.
enum Stream {
    Unix(UnixStream),
    #[cfg(feature = "dpdk")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>),
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl Transport {
    /// The socket path or `https://HOST:PORT`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Transport::Unix(path) => path.display().to_string(),
            Transport::Tls { host, port, .. } => format!("https://{host}:{port}"),
        }
    }
}

impl Client {
    /// A client that reaches the API through `transport` with `token`, waiting at most
    /// `timeout` for each connect, read and write.
    ///
    /// # Errors
    ///
    /// [`CallError::Denied`] when the token is empty or holds characters an HTTP header
    /// cannot carry (whitespace, control characters, non-ASCII).
    pub fn new(transport: Transport, token: &str, timeout: Duration) -> Result<Self, CallError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(CallError::Denied {
                status: 0,
                code: "MissingToken".into(),
                message: "the token is empty".into(),
            });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CallError::Denied {
                status: 0,
                code: "MalformedToken".into(),
                message: "the token holds whitespace, control or non-ASCII characters".into(),
            });
        }
        Ok(Self {
            transport,
            token: token.to_owned(),
            timeout,
        })
    }

    /// Where the client connects.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Calls `action` with `params` (a JSON object) and returns the answer's `result`.
    ///
    /// # Errors
    ///
    /// A [`CallError`] saying why there is no result.
    pub fn call(&self, action: &str, params: &Value) -> Result<Value, CallError> {
        let at = self.transport.describe();
        let body = params.to_string();
        let host = match &self.transport {
            Transport::Unix(_) => "localhost".to_owned(),
            Transport::Tls { host, port, .. } => format!("{host}:{port}"),
        };
        let request = format!(
            "POST /v1/{action} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sluice/{}\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            env!("CARGO_PKG_VERSION"),
            self.token,
            body.len()
        );
        let mut stream = self.connect()?;
        let unreachable = |source: io::Error| CallError::Unreachable {
            at: at.clone(),
            source,
        };
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.flush())
            .map_err(|e| tls_or(e, &at, unreachable))?;
        let response = read_response(&mut stream, &at)?;
        interpret(&response, &at)
    }

    /// Opens a connection with the timeouts set.
    fn connect(&self) -> Result<Stream, CallError> {
        let at = self.transport.describe();
        match &self.transport {
            Transport::Unix(path) => {
                let stream =
                    UnixStream::connect(path).map_err(|source| CallError::Unreachable {
                        at: at.clone(),
                        source,
                    })?;
                stream
                    .set_read_timeout(Some(self.timeout))
                    .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
                    .map_err(|source| CallError::Unreachable { at, source })?;
                Ok(Stream::Unix(stream))
            }
            #[cfg(feature = "dpdk")]
            Transport::Tls { host, port, ca } => {
                super::tls::connect(host, *port, ca, self.timeout).map(|s| Stream::Tls(Box::new(s)))
            }
            #[cfg(not(feature = "dpdk"))]
            Transport::Tls { .. } => Err(CallError::Usage(
                "this sluice was built without TLS (the `dpdk` feature): reach the API on its \
                 Unix socket with --socket PATH"
                    .into(),
            )),
        }
    }
}

impl CallError {
    /// The exit code that says what happened (see the module documentation of
    /// [`crate::cli`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CallError::Usage(_) => EXIT_USAGE,
            CallError::Unreachable { .. } | CallError::Tls { .. } => EXIT_UNREACHABLE,
            CallError::Denied { .. } => EXIT_AUTH,
            CallError::Failed { .. } => EXIT_FAILED,
            CallError::BadResponse { .. } => EXIT_BAD_RESPONSE,
        }
    }

    /// What to do about it, for `action` (an API action name).
    pub fn hint(&self, action: &str) -> Option<String> {
        match self {
            CallError::Usage(_) => None,
            CallError::Unreachable { source, at } => Some(match source.kind() {
                io::ErrorKind::PermissionDenied => {
                    "the socket exists but this user may not open it: run as a user with \
                     write permission on management.socket (or with sudo)"
                        .into()
                }
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    "sluice did not answer in time: it may be busy or stuck; try again, or \
                     raise --timeout"
                        .into()
                }
                _ if at.starts_with("https://") => {
                    "is `sluice run` running, with management.tls.listen at this address and \
                     port, and no firewall between?"
                        .into()
                }
                _ => "is `sluice run` running? check management.socket in the config (or pass \
                      --socket PATH, or --config FILE to read it from there)"
                    .into(),
            }),
            CallError::Tls { .. } => Some(
                "--ca must be the CA certificate that signed management.tls.certificate, and \
                 HOST in --endpoint-url must be a name the certificate holds"
                    .into(),
            ),
            CallError::Denied { status: 0, .. } => Some(
                "put the principal's bearer token in the SLUICE_TOKEN environment variable or \
                 in a file passed with --token-file FILE"
                    .into(),
            ),
            CallError::Denied { status: 401, .. } => Some(
                "the token was not accepted: set SLUICE_TOKEN or --token-file FILE to a token \
                 whose SHA-256 is the token_sha256 of a [[management.principal]]"
                    .into(),
            ),
            CallError::Denied { .. } => Some(format!(
                "the token's principal may not call sluice:{action}: a [[management.policy]] \
                 must allow it on this resource, and no deny may match"
            )),
            CallError::Failed { status, code, .. } => match (status, code.as_str()) {
                (400, _) => Some("check the arguments: see `--help`".into()),
                (404, "UnknownAction") => Some(
                    "this sluice does not know the action: is it older than this command?".into(),
                ),
                (500..=599, _) => {
                    Some("the request failed inside sluice: see its log; it may be retried".into())
                }
                _ => None,
            },
            CallError::BadResponse { .. } => Some(
                "is the socket or address that of sluice's management API, and sluice of the \
                 same version as this command?"
                    .into(),
            ),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "dpdk")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "dpdk")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "dpdk")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// An I/O error as a [`CallError`]: a TLS failure as such, anything else through `other`.
fn tls_or(e: io::Error, at: &str, other: impl FnOnce(io::Error) -> CallError) -> CallError {
    #[cfg(feature = "dpdk")]
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return CallError::Tls {
            at: at.to_owned(),
            message: tls.to_string(),
        };
    }
    let _ = at;
    other(e)
}

/// Reads one HTTP response: the head, then the body by `Content-Length`, chunks, or to the
/// end of the connection.
fn read_response(stream: &mut impl Read, at: &str) -> Result<Response, CallError> {
    let bad = |what: String| CallError::BadResponse {
        at: at.to_owned(),
        what,
    };
    let mut data: Vec<u8> = Vec::with_capacity(4096);
    let mut buf = [0_u8; 16 * 1024];
    // (head length, status, content length, chunked) once the head is complete.
    let mut head: Option<(usize, u16, Option<usize>, bool)> = None;
    loop {
        if head.is_none() {
            if let Some(end) = find(&data, b"\r\n\r\n") {
                let (status, length, chunked) = parse_head(data.get(..end).unwrap_or_default())
                    .map_err(|what| bad(what.to_owned()))?;
                head = Some((end + 4, status, length, chunked));
            } else if data.len() > 64 * 1024 {
                return Err(bad("the response head is longer than 64 KiB".into()));
            }
        }
        if let Some((start, _, Some(length), false)) = head
            && data.len() >= start + length
        {
            data.truncate(start + length);
            break;
        }
        if data.len() > MAX_RESPONSE {
            return Err(bad(format!(
                "the response is larger than {MAX_RESPONSE} bytes"
            )));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A TLS peer that closes without close_notify: the data so far is what there is.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !data.is_empty() => break,
            Err(e) => {
                return Err(tls_or(e, at, |source| CallError::Unreachable {
                    at: at.to_owned(),
                    source,
                }));
            }
        }
    }
    let Some((start, status, length, chunked)) = head else {
        return Err(bad(if data.is_empty() {
            "the connection closed without an answer".into()
        } else {
            format!("not an HTTP response: {}", snippet(&data))
        }));
    };
    let raw = data.get(start..).unwrap_or_default();
    let body = if chunked {
        dechunk(raw).ok_or_else(|| bad("a broken chunked body".into()))?
    } else {
        if let Some(length) = length
            && raw.len() < length
        {
            return Err(bad(format!(
                "the body ended after {} of {length} bytes",
                raw.len()
            )));
        }
        raw.to_vec()
    };
    Ok(Response { status, body })
}

/// The status, `Content-Length` and whether the body is chunked, from a response head
/// (without the blank line).
fn parse_head(head: &[u8]) -> Result<(u16, Option<usize>, bool), &'static str> {
    let head = std::str::from_utf8(head).map_err(|_| "the response head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err("not an HTTP status line");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1 status line");
    }
    let status: u16 = code
        .parse()
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or("not an HTTP status code")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err("a malformed header line");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| "a malformed Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok((status, length, chunked))
}

/// Joins the chunks of a chunked body; `None` when it is malformed.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = find(raw, b"\r\n")?;
        let size_line = std::str::from_utf8(raw.get(..end)?).ok()?;
        let size_text = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        raw = raw.get(end + 2..)?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// What an answer means: the `result`, or the error it reports.
fn interpret(response: &Response, at: &str) -> Result<Value, CallError> {
    let bad = |what: String| CallError::BadResponse {
        at: at.to_owned(),
        what,
    };
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    if (200..300).contains(&response.status) {
        let Some(json) = json else {
            return Err(bad(format!(
                "HTTP {} with a body that is not JSON: {}",
                response.status,
                snippet(&response.body)
            )));
        };
        return match json.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(bad(format!(
                "HTTP {} without a \"result\": {}",
                response.status,
                snippet(&response.body)
            ))),
        };
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    let field = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (code, message) = match (field("code"), field("message")) {
        (Some(code), Some(message)) => (code, message),
        (code, _) => (
            code.unwrap_or_else(|| format!("HTTP{}", response.status)),
            format!(
                "HTTP {} with a body that is not an API error: {}",
                response.status,
                snippet(&response.body)
            ),
        ),
    };
    let status = response.status;
    Err(match status {
        401 | 403 => CallError::Denied {
            status,
            code,
            message,
        },
        400..=599 => CallError::Failed {
            status,
            code,
            message,
        },
        _ => CallError::BadResponse {
            at: at.to_owned(),
            what: format!("unexpected HTTP status {status}"),
        },
    })
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The start of a body, printable, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body.get(..body.len().min(120)).unwrap_or_default())
        .replace(|c: char| c.is_control(), " ");
    if body.len() > 120 {
        format!("{text:?}…")
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &[u8]) -> Result<Response, CallError> {
        read_response(&mut io::Cursor::new(raw.to_vec()), "test")
    }

    #[test]
    fn reads_by_length_chunks_or_to_the_end() {
        let r = read(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcdEXTRA").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcd"[..]));
        let r = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, b"abcde");
        let r = read(b"HTTP/1.0 500 Oops\r\nX: y\r\n\r\nto the end").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (500, &b"to the end"[..]));
    }

    #[test]
    fn garbage_is_a_bad_response() {
        for raw in [
            &b""[..],
            b"hello",
            b"SPDY/3 200 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(
                matches!(read(raw), Err(CallError::BadResponse { .. })),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn answers_map_to_exit_codes() {
        let answer = |status, body: &str| {
            interpret(
                &Response {
                    status,
                    body: body.as_bytes().to_vec(),
                },
                "test",
            )
        };
        assert_eq!(answer(200, r#"{"result":{"a":1}}"#).unwrap()["a"], 1);
        let code = |r: Result<Value, CallError>| r.unwrap_err().exit_code();
        assert_eq!(code(answer(200, "not json")), EXIT_BAD_RESPONSE);
        assert_eq!(code(answer(200, r#"{"no":"result"}"#)), EXIT_BAD_RESPONSE);
        let e = r#"{"error":{"code":"C","message":"M"}}"#;
        assert_eq!(code(answer(401, e)), EXIT_AUTH);
        assert_eq!(code(answer(403, e)), EXIT_AUTH);
        assert_eq!(code(answer(400, e)), EXIT_FAILED);
        assert_eq!(code(answer(503, "<html>")), EXIT_FAILED);
        assert_eq!(code(answer(302, e)), EXIT_BAD_RESPONSE);
        let err = answer(409, e).unwrap_err();
        assert_eq!(err.to_string(), "C: M");
    }

    #[test]
    fn tokens_must_fit_a_header() {
        let t = || Transport::Unix("/nonexistent".into());
        assert!(Client::new(t(), "abc\n", Duration::from_secs(1)).is_ok());
        for bad in ["", "  ", "a b", "a\r\nX: y", "é"] {
            let e = Client::new(t(), bad, Duration::from_secs(1)).unwrap_err();
            assert_eq!(e.exit_code(), EXIT_AUTH, "{bad:?}");
        }
    }
}
