//! The management API server: HTTP/1.1 on the Unix socket `management.socket`, and on
//! `management.tls.listen` with TLS when configured.
//!
//! # A request's way through
//!
//! 1. The head (request line and headers, at most [`ApiLimits::max_head`] bytes) is read:
//!    `400 MalformedRequest`, `408 RequestTimeout` or `431 RequestHeaderFieldsTooLarge`. A
//!    connection closed before sending a byte is no request and is not audited.
//! 2. Authentication ([`super::auth`]): `401`. Nothing more is read from an
//!    unauthenticated caller, so strangers cannot make the server buffer bodies.
//! 3. Routing: `POST /v1/<Action>` with an action of [`super::ACTIONS`]; anything else is
//!    `404 UnknownOperation` (`405 MethodNotAllowed` for a known action without `POST`).
//! 4. The body: `Content-Length` at most [`ApiLimits::max_body`] (`413
//!    RequestEntityTooLarge`; `411 LengthRequired` for chunked bodies), empty or a JSON
//!    object (`400 ValidationError`). `Expect: 100-continue` is honoured.
//! 5. Authorization of the action on [`super::resource_for`] with the backend's current
//!    names: `403 AccessDenied`.
//! 6. Execution by the [`Backend`]: `200` with `{"result": …}`, or the backend's error.
//!
//! Every request that got past step 1's first byte is then written to the audit log
//! ([`super::audit`]) with its final result, and only then answered.
//!
//! # When the audit log cannot be written
//!
//! Audit wins over availability: while the last audit write failed
//! ([`AuditLog::is_writable`]), requests are refused with `503 AuditUnavailable` before
//! they execute, so nothing changes unrecorded; each refusal tries to write its own line,
//! and the first that succeeds lets requests through again. A request that had already
//! executed when its line failed is answered with its real result (it happened; a `503`
//! would invite a retry of something done), and its line goes to stderr with the error so
//! that the record survives in the service's journal. Every failure is counted
//! ([`ApiServer::audit_failures`]).
//!
//! # Bounds
//!
//! Reads and writes time out after [`ApiLimits::io_timeout`]; at most
//! [`ApiLimits::max_connections`] connections are served at once on both listeners
//! together, and more are answered `503 ServiceUnavailable` (on the Unix socket; TLS
//! connections are closed) without reading a request, so unaudited; one request per
//! connection. A TLS handshake that fails (TLS 1.1 or older, `min_version = "1.3"` against
//! a TLS 1.2 client, not TLS at all) ends the connection with rustls's alert, before any
//! request, so unaudited too.
//!
//! # Threads
//!
//! One listener thread per listener accepts without blocking, polling a stop flag every few
//! milliseconds; each connection is served on a thread of its own. They are plain threads
//! started by the caller (the control thread), whose CPU affinity they inherit: never a
//! worker core.

use std::fs::{self, DirBuilder};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};
use sluice_config::schema::management::{Management, Tls, TlsVersion};

use super::audit::{AuditEntry, AuditError, AuditLog, AuditResult};
use super::auth::AccessControl;
use super::{ACTIONS, ApiError, Backend, Request, resource_for};

/// How long a listener naps when no connection is waiting.
const ACCEPT_NAP: Duration = Duration::from_millis(10);
/// A connection thread's stack: JSON bodies nest up to serde_json's depth limit of 128.
const STACK_SIZE: usize = 1024 * 1024;
/// How long, at most, a connection is drained after its answer ([`linger`]).
const LINGER: Duration = Duration::from_secs(1);
/// The mode of the socket file: the owner only.
const SOCKET_MODE: u32 = 0o600;
/// The mode of a directory created for the socket.
const DIR_MODE: u32 = 0o700;

/// The server's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// The most bytes of a request head (request line and headers). Default: 16 KiB.
    pub max_head: usize,
    /// The most bytes of a request body. Default: 1 MiB.
    pub max_body: usize,
    /// The longest a read or a write may wait. Default: 5 s.
    pub io_timeout: Duration,
    /// The longest the TLS handshake, or the whole request (head and body), may take to
    /// arrive, against clients that trickle bytes. Default: 30 s.
    pub request_timeout: Duration,
    /// The most connections served at once, over both listeners. Default: 32.
    pub max_connections: usize,
}

/// A running management API server. [`ApiServer::shutdown`] stops it; dropping it only
/// tells its threads to stop.
pub struct ApiServer {
    shared: Arc<Shared>,
    listeners: Vec<JoinHandle<()>>,
    socket: PathBuf,
    /// The (device, inode) of the socket file made, so that shutdown removes only it.
    socket_id: (u64, u64),
    tls_address: Option<SocketAddr>,
}

/// Why the server could not start. Nothing keeps running then.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    /// The socket's directory could not be created.
    #[error("management API: creating the directory {} of management.socket: {source}", path.display())]
    SocketDirectory {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Another process accepts connections on the socket.
    #[error(
        "management API: {} is in use by a running process\n  hint: another sluice may be running; stop it, or set management.socket to another path",
        path.display()
    )]
    SocketInUse {
        /// The socket.
        path: PathBuf,
    },
    /// The socket path names something other than a socket.
    #[error(
        "management API: {} exists and is not a socket; remove it or set management.socket to another path",
        path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The socket could not be made, checked, bound or restricted to 0600.
    #[error("management API: {what} {}: {source}", path.display())]
    Socket {
        /// What was being done.
        what: &'static str,
        /// The socket.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The audit log could not be opened.
    #[error("management API: {0}")]
    Audit(#[from] AuditError),
    /// The certificate chain could not be read.
    #[error("management API: management.tls.certificate {}: {detail}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The private key could not be read.
    #[error("management API: management.tls.private_key {}: {detail}", path.display())]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the certificate and key (a key that does not match the certificate,
    /// an unsupported key type).
    #[error(
        "management API: TLS with certificate {} and private key {}: {source}",
        certificate.display(),
        private_key.display()
    )]
    Tls {
        /// The certificate file.
        certificate: PathBuf,
        /// The private key file.
        private_key: PathBuf,
        /// rustls's error.
        source: rustls::Error,
    },
    /// The TLS listener could not listen.
    #[error(
        "management API: listening on management.tls.listen {address}: {source}\n  hint: another process may hold the port; change management.tls.listen or stop it"
    )]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// A listener thread could not start.
    #[error("management API: starting the listener thread for {what}: {source}")]
    Thread {
        /// The listener.
        what: String,
        /// The operating system's error.
        source: io::Error,
    },
}

/// What the listener and connection threads share.
struct Shared {
    access: RwLock<Arc<AccessControl>>,
    audit: AuditLog,
    backend: Arc<dyn Backend>,
    limits: ApiLimits,
    active: AtomicUsize,
    refused: AtomicU64,
    stop: AtomicBool,
}

/// A request head, as far as the server cares.
#[derive(Debug, Default)]
struct Head {
    method: String,
    target: String,
    authorization: Option<String>,
    content_length: Option<usize>,
    chunked: bool,
    expect_continue: bool,
}

/// A stream whose reads fail with `TimedOut` once a deadline has passed.
struct Deadline<S> {
    inner: S,
    until: Instant,
}

/// One request's record as it goes through: what the audit line and the answer are made of.
struct Exchange {
    received: SystemTime,
    principal: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    params: Option<Value>,
    outcome: Result<Value, ApiError>,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_head: 16 * 1024,
            max_body: 1024 * 1024,
            io_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_connections: 32,
        }
    }
}

impl ApiServer {
    /// Starts the server of `management` with the default [`ApiLimits`]: opens the audit
    /// log, listens on the Unix socket (and the TLS address, if configured) and hands
    /// authorized requests to `backend`. Reports on stderr an audit log that had to be
    /// restricted to 0600.
    ///
    /// # Errors
    ///
    /// See [`ApiStartError`]; nothing keeps running then.
    pub fn start(
        management: &Management,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, ApiStartError> {
        Self::start_with_limits(management, backend, ApiLimits::default())
    }

    /// [`ApiServer::start`] with other bounds.
    ///
    /// # Errors
    ///
    /// See [`ApiStartError`]; nothing keeps running then.
    pub fn start_with_limits(
        management: &Management,
        backend: Arc<dyn Backend>,
        limits: ApiLimits,
    ) -> Result<Self, ApiStartError> {
        // Everything that can fail on bad configuration comes before the socket exists.
        let tls = management.tls.as_ref().map(tls_config).transpose()?;
        let (audit, tightened) = AuditLog::open(&management.audit_log)?;
        if let Some(tightened) = tightened {
            eprintln!("sluice: {tightened}");
        }
        let tls_listener = match &management.tls {
            Some(t) => {
                let listen_error = |source| ApiStartError::Listen {
                    address: t.listen,
                    source,
                };
                let listener = TcpListener::bind(t.listen).map_err(listen_error)?;
                listener.set_nonblocking(true).map_err(listen_error)?;
                let bound = listener.local_addr().map_err(listen_error)?;
                Some((listener, bound))
            }
            None => None,
        };
        let (unix_listener, socket_id) = bind_socket(&management.socket)?;
        let shared = Arc::new(Shared {
            access: RwLock::new(Arc::new(AccessControl::new(management))),
            audit,
            backend,
            limits,
            active: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let mut server = Self {
            shared: Arc::clone(&shared),
            listeners: Vec::new(),
            socket: management.socket.clone(),
            socket_id,
            tls_address: tls_listener.as_ref().map(|(_, bound)| *bound),
        };
        let thread_error = |what: String| move |source| ApiStartError::Thread { what, source };
        let unix_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("api unix".into())
            .spawn(move || listen_unix(&unix_listener, &unix_shared))
            .map_err(thread_error(management.socket.display().to_string()));
        match handle {
            Ok(h) => server.listeners.push(h),
            Err(e) => {
                server.shutdown();
                return Err(e);
            }
        }
        if let (Some((listener, bound)), Some(config)) = (tls_listener, tls) {
            let tls_shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("api tls {bound}"))
                .spawn(move || listen_tls(&listener, &config, &tls_shared))
                .map_err(thread_error(bound.to_string()));
            match handle {
                Ok(h) => server.listeners.push(h),
                Err(e) => {
                    server.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(server)
    }

    /// Replaces the principals and policies with those of `management` (on a reload).
    /// Requests already authenticated finish under the old ones. The listeners and the
    /// audit log keep their paths and addresses until a restart.
    pub fn update(&self, management: &Management) {
        let access = Arc::new(AccessControl::new(management));
        *self
            .shared
            .access
            .write()
            .unwrap_or_else(PoisonError::into_inner) = access;
    }

    /// The Unix socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The TLS listener's address, with the port the kernel chose for port 0.
    pub fn tls_address(&self) -> Option<SocketAddr> {
        self.tls_address
    }

    /// How many audit lines could not be written.
    pub fn audit_failures(&self) -> u64 {
        self.shared.audit.failures()
    }

    /// How many connections were refused because [`ApiLimits::max_connections`] were being
    /// served.
    pub fn refused_connections(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Stops listening, waits for the listeners and, up to twice the I/O timeout, for the
    /// connections being served; then removes the socket file if it is still the one this
    /// server made.
    pub fn shutdown(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for handle in self.listeners.drain(..) {
            let _ = handle.join();
        }
        let deadline = Instant::now() + 2 * self.shared.limits.io_timeout;
        while self.shared.active.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(ACCEPT_NAP);
        }
        let ours = fs::symlink_metadata(&self.socket)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.socket_id);
        if ours {
            let _ = fs::remove_file(&self.socket);
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("socket", &self.socket)
            .field("tls_address", &self.tls_address)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

impl<S: Read> Read for Deadline<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.until {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Deadline<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Shared {
    /// Takes a connection slot, or `None` when all are in use.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        if self.active.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections {
            self.active.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Slot(Arc::clone(self)))
    }

    /// Serves one request on `stream` from `source` and answers it.
    fn serve(&self, stream: impl Read + Write, source: &str) {
        let mut stream = Deadline {
            inner: stream,
            until: Instant::now() + self.limits.request_timeout,
        };
        let stream = &mut stream;
        let Some(exchange) = self.exchange(stream, source) else {
            return;
        };
        let (principal, action) = (exchange.principal.as_deref(), exchange.action.as_deref());
        let (status, error_code, result) = match &exchange.outcome {
            Ok(_) => (200, None, AuditResult::Allowed),
            Err(e) if matches!(e.status, 401 | 403) => {
                (e.status, Some(e.code.as_str()), AuditResult::Denied)
            }
            Err(e) => (e.status, Some(e.code.as_str()), AuditResult::Error),
        };
        let entry = AuditEntry {
            time: exchange.received,
            principal,
            source,
            action,
            resource: exchange.resource.as_deref(),
            parameters: exchange.params.as_ref(),
            result,
            status,
            error_code,
        };
        if let Err(e) = self.audit.record(&entry) {
            eprintln!("sluice: {e}; the entry was: {}", entry.to_line());
        }
        let _ = stream.write_all(&response(&exchange.outcome));
        let _ = stream.flush();
    }

    /// Reads, authenticates, authorizes and executes one request; `None` for a connection
    /// that sent nothing.
    fn exchange(&self, stream: &mut (impl Read + Write), source: &str) -> Option<Exchange> {
        let received = SystemTime::now();
        let mut exchange = Exchange {
            received,
            principal: None,
            action: None,
            resource: None,
            params: None,
            outcome: Ok(Value::Null),
        };
        let (head, body_start) = match read_head(stream, self.limits.max_head) {
            Ok(Some(read)) => read,
            Ok(None) => return None,
            Err(e) => {
                exchange.outcome = Err(e);
                return Some(exchange);
            }
        };
        let asked = head.target.strip_prefix("/v1/").filter(|a| !a.is_empty());
        exchange.action = asked.map(|a| a.chars().take(128).collect());
        // Known before authentication, so that refusals say what was attempted.
        if let Some(action) = asked.filter(|a| ACTIONS.contains(a)) {
            exchange.resource = Some(resource_for(action, &self.backend.names()));
        }
        exchange.outcome = self.execute(stream, &head, body_start, source, &mut exchange);
        Some(exchange)
    }

    /// Steps 2 to 6 of the module documentation; fills in what the audit line needs.
    fn execute(
        &self,
        stream: &mut (impl Read + Write),
        head: &Head,
        body_start: Vec<u8>,
        source: &str,
        exchange: &mut Exchange,
    ) -> Result<Value, ApiError> {
        let access = Arc::clone(&*self.access.read().unwrap_or_else(PoisonError::into_inner));
        let now = exchange
            .received
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let principal = access
            .authenticate(head.authorization.as_deref(), now)?
            .to_owned();
        exchange.principal = Some(principal.clone());

        let action = exchange
            .action
            .as_deref()
            .filter(|a| ACTIONS.contains(a))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "UnknownOperation",
                    format!(
                        "{} {} is not an operation: POST /v1/<Action>, the actions being {}",
                        head.method,
                        head.target.chars().take(200).collect::<String>(),
                        ACTIONS.join(", ")
                    ),
                )
            })?
            .to_owned();
        if head.method != "POST" {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{action} takes POST, not {}", head.method),
            ));
        }

        let body = read_body(stream, head, body_start, self.limits.max_body)?;
        let params = parse_params(&body)?;
        exchange.params = Some(params.clone());

        let resource = exchange
            .resource
            .get_or_insert_with(|| resource_for(&action, &self.backend.names()))
            .clone();
        access.authorize(&principal, &action, &resource)?;

        if !self.audit.is_writable() {
            return Err(ApiError::new(
                503,
                "AuditUnavailable",
                format!(
                    "the audit log {} cannot be written, so no request is executed; see \
                     sluice's standard error, free disk space or fix the file, and retry",
                    self.audit.path().display()
                ),
            ));
        }
        self.backend.execute(&Request {
            action,
            params,
            principal,
            source: source.to_owned(),
        })
    }
}

/// A connection slot; returns itself when dropped.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The rustls configuration of `tls`: its versions, certificate chain and key.
fn tls_config(tls: &Tls) -> Result<Arc<ServerConfig>, ApiStartError> {
    let certificate_error = |detail: String| ApiStartError::Certificate {
        path: tls.certificate.clone(),
        detail,
    };
    let chain = CertificateDer::pem_file_iter(&tls.certificate)
        .map_err(|e| certificate_error(pem_problem(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(pem_problem(&e)))?;
    if chain.is_empty() {
        return Err(certificate_error(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.private_key).map_err(|e| {
        let detail = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file".to_owned()
            }
            other => pem_problem(&other),
        };
        ApiStartError::PrivateKey {
            path: tls.private_key.clone(),
            detail,
        }
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let tls_error = |source| ApiStartError::Tls {
        certificate: tls.certificate.clone(),
        private_key: tls.private_key.clone(),
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    Ok(Arc::new(config))
}

/// A PEM error as a sentence.
fn pem_problem(error: &rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(e) => format!("cannot read it: {e}"),
        other => format!("not valid PEM: {other}"),
    }
}

/// Makes the Unix socket at `path`: its directory if missing (mode 0700), a stale socket
/// file removed (only when nothing accepts on it), mode 0600. Returns the listener (not
/// blocking) and the socket file's (device, inode).
fn bind_socket(path: &Path) -> Result<(UnixListener, (u64, u64)), ApiStartError> {
    let socket_error = |what| {
        move |source| ApiStartError::Socket {
            what,
            path: path.to_owned(),
            source,
        }
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|source| ApiStartError::SocketDirectory {
                path: dir.to_owned(),
                source,
            })?;
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(ApiStartError::SocketInUse {
                    path: path.to_owned(),
                });
            }
            // Nothing listens: left behind by a process that died.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                fs::remove_file(path).map_err(socket_error("removing the stale socket"))?;
            }
            Err(e) => return Err(socket_error("checking the existing socket")(e)),
        },
        Ok(_) => {
            return Err(ApiStartError::NotASocket {
                path: path.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(socket_error("checking")(e)),
    }
    let listener = UnixListener::bind(path).map_err(socket_error("binding"))?;
    // Until this, the socket has the umask's mode; a caller connecting in that instant still
    // needs a token.
    fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(socket_error("restricting to mode 0600"))?;
    let metadata = fs::metadata(path).map_err(socket_error("checking"))?;
    listener
        .set_nonblocking(true)
        .map_err(socket_error("setting up"))?;
    Ok((listener, (metadata.dev(), metadata.ino())))
}

/// The Unix socket's listener thread.
fn listen_unix(listener: &UnixListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            // WouldBlock, or ECONNABORTED, EMFILE and the like: the next accept may work.
            Err(_) => {
                std::thread::sleep(ACCEPT_NAP);
                continue;
            }
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let Some(slot) = shared.admit() else {
            let _ = stream.set_write_timeout(Some(ACCEPT_NAP));
            let busy = ApiError::new(
                503,
                "ServiceUnavailable",
                format!(
                    "{} requests are being served; retry shortly",
                    shared.limits.max_connections
                ),
            );
            let _ = stream.write_all(&response(&Err(busy)));
            continue;
        };
        let spawned = std::thread::Builder::new()
            .name("api conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let shared = &slot.0;
                if set_timeouts(&stream, shared.limits.io_timeout).is_ok() {
                    let source = unix_source(&stream);
                    shared.serve(&mut stream, &source);
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    if stream.set_read_timeout(Some(ACCEPT_NAP)).is_ok() {
                        linger(&mut stream);
                    }
                }
            });
        // The closure (and the slot) is dropped when the thread cannot start.
        drop(spawned);
    }
}

/// The TLS listener's thread.
fn listen_tls(listener: &TcpListener, config: &Arc<ServerConfig>, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) => {
                std::thread::sleep(ACCEPT_NAP);
                continue;
            }
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let Some(slot) = shared.admit() else {
            // No TLS handshake for a refusal: just close.
            continue;
        };
        let config = Arc::clone(config);
        let spawned = std::thread::Builder::new()
            .name("api conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let shared = &slot.0;
                let timeouts = stream
                    .set_read_timeout(Some(shared.limits.io_timeout))
                    .and_then(|()| stream.set_write_timeout(Some(shared.limits.io_timeout)));
                if timeouts.is_ok() {
                    serve_tls(stream, peer, config, shared);
                }
            });
        drop(spawned);
    }
}

/// Serves one TLS connection: the handshake, one request, `close_notify`.
fn serve_tls(stream: TcpStream, peer: SocketAddr, config: Arc<ServerConfig>, shared: &Shared) {
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, stream);
    // The handshake first, so that a refused one (an old TLS version) is no request. On
    // failure rustls has already sent its alert.
    let until = Instant::now() + shared.limits.request_timeout;
    while tls.conn.is_handshaking() {
        let progress = tls.conn.complete_io(&mut tls.sock);
        if !matches!(progress, Ok((r, w)) if r + w > 0) || Instant::now() >= until {
            let _ = tls.sock.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    shared.serve(&mut tls, &format!("tcp:{peer}"));
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    let _ = tls.sock.shutdown(std::net::Shutdown::Write);
    if tls.sock.set_read_timeout(Some(ACCEPT_NAP)).is_ok() {
        linger(&mut tls.sock);
    }
}

/// Reads and discards what the client still sends, until it closes, for at most [`LINGER`]
/// (the stream's read timeout must be short). Closing a socket with unread data resets
/// the connection, and a reset can destroy the answer before the client reads it (a body
/// refused as too large, say); so the server closes only once the client has had time to
/// read.
fn linger(stream: &mut impl Read) {
    let until = Instant::now() + LINGER;
    let mut sink = [0_u8; 4096];
    while Instant::now() < until {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(_) => return,
        }
    }
}

/// Sets a Unix stream's read and write timeouts.
fn set_timeouts(stream: &UnixStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

/// `unix:uid=U,pid=P` from the connection's peer credentials (`SO_PEERCRED`: the process
/// that connected), or `unix:` if the kernel does not say.
fn unix_source(stream: &UnixStream) -> String {
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(cred) => format!(
            "unix:uid={},pid={}",
            cred.uid.as_raw(),
            cred.pid.as_raw_nonzero()
        ),
        Err(_) => "unix:".to_owned(),
    }
}

/// Reads a request head of at most `max` bytes and parses it. Returns the head and the
/// bytes read past it (the start of the body), or `None` if the connection ended (or timed
/// out) before a byte arrived.
fn read_head(stream: &mut impl Read, max: usize) -> Result<Option<(Head, Vec<u8>)>, ApiError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some((end, skip)) = head_end(&buf) {
            if end > max {
                break;
            }
            let rest = buf.split_off(end + skip);
            buf.truncate(end);
            return parse_head(&buf).map(|head| Some((head, rest)));
        }
        if buf.len() > max + 4 {
            break;
        }
        match stream.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) => {
                return Err(ApiError::new(
                    400,
                    "MalformedRequest",
                    "the connection ended inside the request head",
                ));
            }
            Err(e) => return Err(read_failure(&e, "the request head")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Err(ApiError::new(
        431,
        "RequestHeaderFieldsTooLarge",
        format!("the request head is over {max} bytes"),
    ))
}

/// Where the head ends (before the blank line) and the length of the blank line's bytes.
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The error for a failed read of `what`.
fn read_failure(error: &io::Error, what: &str) -> ApiError {
    if matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        ApiError::new(
            408,
            "RequestTimeout",
            format!("{what} did not arrive in time"),
        )
    } else {
        ApiError::new(400, "MalformedRequest", format!("reading {what}: {error}"))
    }
}

/// Parses a request head (without its blank line).
fn parse_head(bytes: &[u8]) -> Result<Head, ApiError> {
    let malformed = |what: &str| ApiError::new(400, "MalformedRequest", what.to_owned());
    let text =
        std::str::from_utf8(bytes).map_err(|_| malformed("the request head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("the request line is not METHOD TARGET HTTP/1.1"));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0")
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || !target.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(malformed("the request line is not METHOD TARGET HTTP/1.1"));
    }
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        ..Head::default()
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed("a header line has no colon"));
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(malformed("a header name is not an HTTP token"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("authorization") {
            if head.authorization.is_some() {
                return Err(malformed("Authorization appears twice"));
            }
            head.authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse::<usize>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
            match (head.content_length, length) {
                (_, None) => return Err(malformed("Content-Length is not a number")),
                (Some(a), Some(b)) if a != b => {
                    return Err(malformed("Content-Length appears twice, differently"));
                }
                (_, length) => head.content_length = length,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    Ok(head)
}

/// An HTTP `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads the body `head` announces, of which `start` has arrived with the head.
fn read_body(
    stream: &mut (impl Read + Write),
    head: &Head,
    mut start: Vec<u8>,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    if head.chunked {
        return Err(ApiError::new(
            411,
            "LengthRequired",
            "chunked bodies are not accepted: send the body with Content-Length",
        ));
    }
    let length = head.content_length.unwrap_or(0);
    if length > max {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("the body is {length} bytes; the most is {max}"),
        ));
    }
    if head.expect_continue && start.len() < length {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| stream.flush())
            .map_err(|e| read_failure(&e, "the body"))?;
    }
    // One request per connection: bytes past the body are ignored.
    start.truncate(length);
    let have = start.len();
    start.resize(length, 0);
    stream
        .read_exact(&mut start[have..])
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ApiError::new(
                400,
                "MalformedRequest",
                format!("the body ended before its Content-Length of {length} bytes"),
            ),
            _ => read_failure(&e, "the body"),
        })?;
    Ok(start)
}

/// The parameters of a body: `{}` for an empty one, else a JSON object.
fn parse_params(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::validation(
            "the body must be a JSON object of parameters, such as {}",
        )),
        Err(e) => Err(ApiError::validation(format!("the body is not JSON: {e}"))),
    }
}

/// The complete HTTP response to an outcome; the connection closes after it.
fn response(outcome: &Result<Value, ApiError>) -> Vec<u8> {
    let (status, body) = match outcome {
        Ok(result) => (200, json!({ "result": result })),
        Err(e) => (
            e.status,
            json!({ "error": { "code": e.code, "message": e.message } }),
        ),
    };
    let body = format!("{body}\n");
    let mut extra = String::new();
    if status == 401 {
        extra.push_str("WWW-Authenticate: Bearer realm=\"sluice\"\r\n");
    }
    if status == 405 {
        extra.push_str("Allow: POST\r\n");
    }
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n{extra}\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

/// The reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, ApiError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn heads_parse_what_the_server_needs() {
        let h = head(
            "POST /v1/DescribeFlows HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer abc \r\n\
             Content-Length: 12\r\nExpect: 100-continue",
        );
        let h = h.unwrap_or_default();
        assert_eq!(
            (h.method.as_str(), h.target.as_str()),
            ("POST", "/v1/DescribeFlows")
        );
        assert_eq!(h.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(h.content_length, Some(12));
        assert!(h.expect_continue && !h.chunked);
        let h = head("GET / HTTP/1.0\nTransfer-Encoding: chunked").unwrap_or_default();
        assert!(h.chunked);
        for bad in [
            "",
            "GET",
            "GET /",
            "GET / HTTP/2",
            "GET / HTTP/1.1 x",
            "get / HTTP/1.1",
            "GET x HTTP/1.1",
            "POST / HTTP/1.1\r\nNo colon",
            "POST / HTTP/1.1\r\nBad Name: x",
            "POST / HTTP/1.1\r\n continued: x",
            "POST / HTTP/1.1\r\nContent-Length: -1",
            "POST / HTTP/1.1\r\nContent-Length: +1",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2",
            "POST / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b",
            "POST /\u{e9} HTTP/1.1",
        ] {
            let code = head(bad).err().map(|e| (e.status, e.code));
            assert_eq!(code, Some((400, "MalformedRequest".into())), "{bad:?}");
        }
        assert!(parse_head(b"GET /\xff HTTP/1.1").is_err());
        let same = head("POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1");
        assert_eq!(same.map(|h| h.content_length).ok(), Some(Some(1)));
    }

    #[test]
    fn heads_are_capped_and_the_body_start_kept() {
        let mut big = io::Cursor::new(vec![b'a'; 100_000]);
        let error = read_head(&mut big, 16 * 1024).err().map(|e| e.status);
        assert_eq!(error, Some(431));
        let mut ok = io::Cursor::new(b"POST /v1/X HTTP/1.1\r\nA: b\r\n\r\n{\"a\"".to_vec());
        let read = read_head(&mut ok, 1024).ok().flatten();
        let (h, rest) = read.unwrap_or_default();
        assert_eq!(h.target, "/v1/X");
        assert_eq!(rest, b"{\"a\"");
        let mut empty = io::Cursor::new(Vec::new());
        assert!(matches!(read_head(&mut empty, 1024), Ok(None)));
        let mut cut = io::Cursor::new(b"POST /v1/X HT".to_vec());
        let error = read_head(&mut cut, 1024).err().map(|e| e.status);
        assert_eq!(error, Some(400));
    }

    #[test]
    fn bodies_are_json_objects() {
        assert_eq!(parse_params(b""), Ok(json!({})));
        assert_eq!(parse_params(b" \r\n"), Ok(json!({})));
        assert_eq!(parse_params(b"{\"a\": 1}"), Ok(json!({"a": 1})));
        for bad in [&b"[]"[..], b"1", b"\"x\"", b"null", b"{", b"{} {}", b"\xff"] {
            let code = parse_params(bad).err().map(|e| (e.status, e.code));
            assert_eq!(code, Some((400, "ValidationError".into())), "{bad:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse_params(deep.as_bytes()).is_err());
    }

    #[test]
    fn responses_close_the_connection() {
        let ok = String::from_utf8(response(&Ok(json!({"x": 1})))).unwrap_or_default();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Connection: close\r\n")
                && ok.ends_with("\r\n\r\n{\"result\":{\"x\":1}}\n")
        );
        let denied = ApiError::new(401, "ExpiredToken", "m");
        let text = String::from_utf8(response(&Err(denied))).unwrap_or_default();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("WWW-Authenticate: Bearer realm=\"sluice\"\r\n"));
        assert!(text.ends_with("{\"error\":{\"code\":\"ExpiredToken\",\"message\":\"m\"}}\n"));
        let length = text
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse::<usize>().ok());
        let body = text.split("\r\n\r\n").nth(1).map(str::len);
        assert_eq!(length, body);
    }
}
