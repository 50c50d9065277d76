//! The appliance's flow log: one JSON object per line for every flow that ends, written by
//! the control thread from the totals the workers counted
//! ([`sluice_engine::flow_stats::FlowStats`]).
//!
//! A record ([`FlowLogRecord`]) holds the GWLB endpoint, the flow's protocol, addresses and
//! ports as its initiator sent them, packets and bytes each way, the verdict and the rule
//! that decided it, start and end, and why it ended. Never a payload byte: the record has no
//! field that could hold one, and the engine hands over counts only.
//!
//! # Guarantees
//!
//! - **Private.** Flow logs name every client and server, so the file is created with mode
//!   0600 (set by `open(2)` itself, so it is never readable by others, not even for an
//!   instant); an existing file with group or other permissions is restricted to 0600, and
//!   [`FlowLogWriter::open`] says so. Rotated files keep the mode.
//! - **Bounded.** Before a record would take the file past `max_bytes`, the file is rotated
//!   (`path` to `path.1`, `path.1` to `path.2`, …, up to `path.<max_files>`, the oldest
//!   being replaced) and a new one started. A single record larger than `max_bytes` goes
//!   into a file of its own.
//! - **Whole lines.** Every record is one line. If a write stopped part-way (disk full), or
//!   an earlier process died mid-line, the next write starts a new line first, so a reader
//!   loses that one record and never reads two glued together.
//! - **Errors are counted, never fatal.** A failed write (disk full, the directory removed)
//!   loses the records it held, counts them ([`FlowLogStats`]) and returns the error for the
//!   caller to report; the next flush reopens the file (creating it again if it was
//!   removed or renamed away, as log rotators do) and carries on.
//!
//! # Buffering
//!
//! Records are encoded into a buffer and written with one `write(2)` when it holds
//! [`FlowLogWriter::BUFFER_BYTES`] or when the caller calls [`FlowLogWriter::flush`], which
//! the control loop does on its periodic tick and at shutdown ([`FlowLogWriter::close`]).
//! So a busy appliance pays one system call per many flows, and a record waits at most one
//! tick. Each flush first checks that `path` still names the open file (one `stat(2)`).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use sluice_config::schema::appliance::PolicyAction;
use sluice_config::schema::types::IpProtocol;
use std::sync::Arc;

use sluice_engine::appliance::{FlowRecords, recorded_endpoint};
use sluice_engine::flow::{Direction, FlowKey};
use sluice_engine::flow_stats::{FlowStats, Retired};
use sluice_engine::flow_table::Expired;
use sluice_engine::policy::{Action, FlowVerdict, Policy};
use sluice_wire::gwlb::EndpointId;

/// The mode of flow log files: read and write for the owner only.
const MODE: u32 = 0o600;

/// One line of the flow log: a flow that ended.
///
/// There is no payload field, and none will be added: flow logs say who talked to whom, how
/// much and with what verdict, never what was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowLogRecord<'a> {
    /// The GWLB endpoint the flow came through (GENEVE option type 1), written `vpce-…`.
    #[serde(serialize_with = "display")]
    pub endpoint: EndpointId,
    /// The IP protocol, by name (`tcp`, `udp`, `icmp`, `icmpv6`) or number.
    pub protocol: IpProtocol,
    /// The initiator's address: the source of the flow's first packet.
    pub src: IpAddr,
    /// The initiator's port; 0 for protocols without ports.
    pub src_port: u16,
    /// The responder's address.
    pub dst: IpAddr,
    /// The responder's port; 0 for protocols without ports.
    pub dst_port: u16,
    /// Packets from the initiator.
    pub packets_forward: u64,
    /// Bytes from the initiator: what the workers counted for each packet, the inner IP
    /// packet's length (its headers included, GENEVE's not).
    pub bytes_forward: u64,
    /// Packets from the responder.
    pub packets_reverse: u64,
    /// Bytes from the responder.
    pub bytes_reverse: u64,
    /// What the policy decided for the flow: `allow`, `deny` or `reject`.
    pub verdict: PolicyAction,
    /// The name of the rule that decided, or `None` (`null`) for the default action.
    pub rule: Option<&'a str>,
    /// When the flow started, in nanoseconds since the Unix epoch; written as RFC 3339 in
    /// UTC with milliseconds (`2024-02-29T12:00:00.123Z`).
    #[serde(rename = "start", serialize_with = "rfc3339")]
    pub start_unix_ns: u64,
    /// When the flow ended (its last packet, or the moment it was closed), the same way.
    #[serde(rename = "end", serialize_with = "rfc3339")]
    pub end_unix_ns: u64,
    /// Why the flow ended.
    pub reason: FlowEndReason,
}

/// Why a flow ended, as written in [`FlowLogRecord::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowEndReason {
    /// Idle past its timeout and removed by the expiry sweep.
    Expired,
    /// Idle past its timeout and evicted by a new flow that needed its slot.
    Evicted,
    /// Still open when sluice stopped.
    Shutdown,
    /// Closed by the protocol (TCP FIN or RST) or by the policy.
    Closed,
}

/// The writer's counters, since [`FlowLogWriter::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FlowLogStats {
    /// Records written to the file.
    pub records: u64,
    /// Bytes written to the file.
    pub bytes: u64,
    /// Records lost to write errors (they were in a write that failed).
    pub lost: u64,
    /// Failed opens, writes and rotations.
    pub errors: u64,
    /// Rotations done.
    pub rotations: u64,
    /// Times the file was opened again: after an error, or because `path` no longer named
    /// it (removed or renamed away).
    pub reopened: u64,
    /// Times an existing file had group or other permissions and was restricted to 0600.
    pub tightened: u64,
}

/// An existing flow log file was readable or writable by others and has been restricted to
/// mode 0600; [`FlowLogWriter::open`] returns it for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsTightened {
    /// The file.
    pub path: PathBuf,
    /// Its permission bits before (such as `0o644`).
    pub mode: u32,
}

/// Why the flow log could not be opened, written or rotated. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FlowLogError {
    /// `max_bytes` or `max_files` is 0.
    #[error("flow log {}: max_bytes and max_files must be at least 1", path.display())]
    BadLimits {
        /// The flow log.
        path: PathBuf,
    },
    /// The file could not be opened or created.
    #[error("cannot open flow log {}: {source}{}", path.display(), hint(source))]
    Open {
        /// The flow log.
        path: PathBuf,
        /// What `open(2)` said.
        source: io::Error,
    },
    /// The path names something other than a regular file.
    #[error("flow log {} is not a regular file", path.display())]
    NotAFile {
        /// The flow log.
        path: PathBuf,
    },
    /// The file has group or other permissions and could not be restricted to 0600.
    #[error("cannot restrict flow log {} to mode 0600: {source}", path.display())]
    Permissions {
        /// The flow log.
        path: PathBuf,
        /// What `fchmod(2)` said.
        source: io::Error,
    },
    /// A write failed; the records it held are lost.
    #[error("cannot write flow log {}: {source} ({lost} records lost)", path.display())]
    Write {
        /// The flow log.
        path: PathBuf,
        /// What `write(2)` said.
        source: io::Error,
        /// The records the failed write held.
        lost: u64,
    },
    /// A rotation's rename failed; the current file grows on until the next try.
    #[error("cannot rotate flow log {} to {}: {source}", from.display(), to.display())]
    Rotate {
        /// The file being renamed.
        from: PathBuf,
        /// The name it was to get.
        to: PathBuf,
        /// What `rename(2)` said.
        source: io::Error,
    },
    /// A record could not be encoded (not expected: every field encodes).
    #[error("cannot encode a flow log record for {}: {source}", path.display())]
    Encode {
        /// The flow log.
        path: PathBuf,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

/// Appends [`FlowLogRecord`]s to a file as JSON lines, with size-based rotation. See the
/// module documentation.
#[derive(Debug)]
pub struct FlowLogWriter {
    /// The flow log.
    path: PathBuf,
    /// The size a file may reach.
    max_bytes: u64,
    /// Rotated files kept.
    max_files: u32,
    /// The open file, or `None` after an error (the next flush reopens it).
    file: Option<OpenFile>,
    /// Bytes in the open file, written ones only.
    size: u64,
    /// Encoded records not yet written.
    buffer: Vec<u8>,
    /// How many records `buffer` holds.
    buffered: u64,
    /// The record being encoded.
    line: Vec<u8>,
    /// The counters.
    stats: FlowLogStats,
}

/// The open file and its identity, to notice when `path` names another file.
#[derive(Debug)]
struct OpenFile {
    file: File,
    dev: u64,
    ino: u64,
    /// The file does not end with a newline (a torn write): write one before the next record.
    needs_newline: bool,
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 in UTC with milliseconds.
struct Rfc3339(u64);

impl FlowLogRecord<'_> {
    /// The protocol and the (address, port) of the source and the destination of the flow
    /// `key` as its initiator sent them, for [`FlowLogRecord`]'s `protocol`, `src`,
    /// `src_port`, `dst` and `dst_port`. `initiator` is the direction of the flow's first
    /// packet relative to the key
    /// ([`sluice_engine::flow_stats::FlowTotals::initiator`]).
    #[must_use]
    pub fn initiator_view(
        key: &FlowKey,
        initiator: Direction,
    ) -> (IpProtocol, (IpAddr, u16), (IpAddr, u16)) {
        let (src, dst) = key.endpoints(initiator);
        (IpProtocol::from_number(key.protocol()), src, dst)
    }
}

impl FlowLogWriter {
    /// How many bytes of records are buffered before they are written without waiting for
    /// [`FlowLogWriter::flush`].
    pub const BUFFER_BYTES: usize = 64 * 1024;

    /// Opens (creating it with mode 0600 if needed) the flow log `path` for appending, to be
    /// rotated before it would exceed `max_bytes`, keeping `max_files` rotated files. The
    /// directory must exist. Returns a warning to print when an existing file had group or
    /// other permissions and was restricted to 0600.
    ///
    /// # Errors
    ///
    /// [`FlowLogError::BadLimits`] for a zero limit; [`FlowLogError::Open`],
    /// [`FlowLogError::NotAFile`] or [`FlowLogError::Permissions`] when the file cannot be
    /// opened as a private regular file.
    pub fn open(
        path: impl Into<PathBuf>,
        max_bytes: u64,
        max_files: u32,
    ) -> Result<(Self, Option<PermissionsTightened>), FlowLogError> {
        let path = path.into();
        if max_bytes == 0 || max_files == 0 {
            return Err(FlowLogError::BadLimits { path });
        }
        let (file, size, tightened) = open_private(&path)?;
        let mut writer = Self {
            path,
            max_bytes,
            max_files,
            file: Some(file),
            size,
            buffer: Vec::with_capacity(Self::BUFFER_BYTES),
            buffered: 0,
            line: Vec::with_capacity(512),
            stats: FlowLogStats::default(),
        };
        if tightened.is_some() {
            writer.stats.tightened += 1;
        }
        Ok((writer, tightened))
    }

    /// The flow log's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The counters since the writer was opened.
    #[must_use]
    pub fn stats(&self) -> FlowLogStats {
        self.stats
    }

    /// Appends `record` to the log: buffered, and written once the buffer is full or on the
    /// next [`FlowLogWriter::flush`]. Rotates first when the record would take the file past
    /// `max_bytes`.
    ///
    /// # Errors
    ///
    /// Whatever the flush or rotation this triggers returns; the error is counted, and the
    /// record is kept for the next flush unless the failed write held it.
    pub fn write(&mut self, record: &FlowLogRecord<'_>) -> Result<(), FlowLogError> {
        self.line.clear();
        if let Err(source) = serde_json::to_writer(&mut self.line, record) {
            self.stats.errors += 1;
            return Err(FlowLogError::Encode {
                path: self.path.clone(),
                source,
            });
        }
        self.line.push(b'\n');
        let pending = self.size + self.buffer.len() as u64;
        let mut result = Ok(());
        if pending > 0 && pending + self.line.len() as u64 > self.max_bytes {
            result = self.rotate();
        }
        self.buffer.extend_from_slice(&self.line);
        self.buffered += 1;
        if result.is_ok() && self.buffer.len() >= Self::BUFFER_BYTES {
            result = self.flush();
        }
        result
    }

    /// Writes the buffered records. Reopens the file first when an earlier error closed it,
    /// or when `path` no longer names it (removed, or renamed by a log rotator).
    ///
    /// # Errors
    ///
    /// [`FlowLogError::Write`] or the errors of [`FlowLogWriter::open`]; the buffered
    /// records are then lost and counted, and the next flush tries again.
    pub fn flush(&mut self) -> Result<(), FlowLogError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = self.write_buffer();
        if result.is_err() {
            self.stats.errors += 1;
            self.stats.lost += self.buffered;
        }
        self.buffer.clear();
        self.buffered = 0;
        result
    }

    /// Flushes and closes the log, returning the final counters.
    ///
    /// # Errors
    ///
    /// As [`FlowLogWriter::flush`].
    pub fn close(mut self) -> Result<FlowLogStats, FlowLogError> {
        self.flush()?;
        Ok(self.stats)
    }

    /// Writes the buffer to the file, (re)opening it as needed. Counts nothing on failure.
    fn write_buffer(&mut self) -> Result<(), FlowLogError> {
        self.check_path();
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let (file, size, tightened) = open_private(&self.path)?;
                self.stats.reopened += 1;
                self.stats.tightened += u64::from(tightened.is_some());
                self.size = size;
                self.file.insert(file)
            }
        };
        if file.needs_newline {
            self.buffer.insert(0, b'\n');
        }
        let mut written = 0;
        let failure = loop {
            if written == self.buffer.len() {
                break None;
            }
            match file.file.write(&self.buffer[written..]) {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        self.size += written as u64;
        self.stats.bytes += written as u64;
        match failure {
            None => {
                file.needs_newline = false;
                self.stats.records += self.buffered;
                Ok(())
            }
            Some(source) => {
                // A torn line is ended by the next write to this file; a reopened file is
                // checked afresh.
                self.file = None;
                Err(FlowLogError::Write {
                    path: self.path.clone(),
                    source,
                    lost: self.buffered,
                })
            }
        }
    }

    /// Closes the open file when `path` no longer names it, so that the next write opens
    /// (or creates) the file that `path` names now.
    fn check_path(&mut self) {
        let Some(file) = &self.file else {
            return;
        };
        let same =
            fs::metadata(&self.path).is_ok_and(|m| m.dev() == file.dev && m.ino() == file.ino);
        if !same {
            self.file = None;
        }
    }

    /// Writes what is buffered to the current file, then renames `path.(N-1)` to `path.N`,
    /// …, `path` to `path.1` and starts a new file.
    fn rotate(&mut self) -> Result<(), FlowLogError> {
        self.flush()?;
        self.file = None;
        for n in (1..self.max_files).rev() {
            rename_if_present(&numbered(&self.path, n), &numbered(&self.path, n + 1))
                .inspect_err(|_| self.stats.errors += 1)?;
        }
        rename_if_present(&self.path, &numbered(&self.path, 1))
            .inspect_err(|_| self.stats.errors += 1)?;
        self.stats.rotations += 1;
        self.size = 0;
        // A new file at once, so that readers following `path` see it; if that fails, the
        // next flush tries again.
        let (file, size, tightened) =
            open_private(&self.path).inspect_err(|_| self.stats.errors += 1)?;
        self.stats.tightened += u64::from(tightened.is_some());
        self.size = size;
        self.file = Some(file);
        Ok(())
    }
}

impl Drop for FlowLogWriter {
    /// Writes what is still buffered; errors are ignored (use [`FlowLogWriter::close`] to
    /// see them).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Opens `path` for appending as a private regular file, creating it with mode 0600; returns
/// the file, its size and, if it had to be restricted to 0600, the permissions it had.
fn open_private(
    path: &Path,
) -> Result<(OpenFile, u64, Option<PermissionsTightened>), FlowLogError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(MODE)
        .open(path)
        .map_err(|source| FlowLogError::Open {
            path: path.to_owned(),
            source,
        })?;
    let metadata = file.metadata().map_err(|source| FlowLogError::Open {
        path: path.to_owned(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(FlowLogError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = metadata.mode() & 0o7777;
    let tightened = if mode & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(MODE))
            .map_err(|source| FlowLogError::Permissions {
                path: path.to_owned(),
                source,
            })?;
        Some(PermissionsTightened {
            path: path.to_owned(),
            mode,
        })
    } else {
        None
    };
    let size = metadata.len();
    let mut last = [0u8; 1];
    let needs_newline = size > 0
        && file
            .read_at(&mut last, size - 1)
            .is_ok_and(|n| n == 1 && last[0] != b'\n');
    let open = OpenFile {
        file,
        dev: metadata.dev(),
        ino: metadata.ino(),
        needs_newline,
    };
    Ok((open, size, tightened))
}

/// `path.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Renames `from` to `to`, replacing `to`; a missing `from` is not an error.
fn rename_if_present(from: &Path, to: &Path) -> Result<(), FlowLogError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FlowLogError::Rotate {
            from: from.to_owned(),
            to: to.to_owned(),
            source,
        }),
    }
}

/// A hint for an open error.
fn hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::NotFound => "\n  hint: create the directory, or set appliance.flow_log.path",
        io::ErrorKind::PermissionDenied => {
            "\n  hint: sluice needs write access to the file and its directory"
        }
        _ => "",
    }
}

/// Serializes with `Display`.
fn display<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Serializes nanoseconds since the Unix epoch as RFC 3339.
fn rfc3339<S: Serializer>(unix_ns: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&Rfc3339(*unix_ns))
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sluice_config::time::rfc3339_millis(self.0))
    }
}

/// How many earlier policies [`FlowLogger`] keeps to name the rules of flows decided before a
/// reload.
const POLICY_HISTORY: usize = 8;

/// The control thread's side of flow logs: turns flows the flow table gives up (expired, or
/// all of them at shutdown) into records, with their totals from [`FlowStats`], their GWLB
/// endpoint from the header records, and their verdict and rule from the flow's value.
#[derive(Debug)]
pub struct FlowLogger {
    writer: FlowLogWriter,
    /// Unix time, in nanoseconds, when the engine's clock read zero.
    unix_base_ns: u64,
    /// The current policy and a few before it, newest last.
    policies: Vec<Arc<Policy>>,
    /// Flows whose totals were gone (taken already, or their slot reused): not logged.
    missed: u64,
}

impl FlowLogger {
    /// A logger writing through `writer`; `engine_now_ns` is the engine's clock now.
    pub fn new(writer: FlowLogWriter, engine_now_ns: u64) -> Self {
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        FlowLogger {
            writer,
            unix_base_ns: unix_now.saturating_sub(engine_now_ns),
            policies: Vec::new(),
            missed: 0,
        }
    }

    /// Remembers the policy of a published snapshot, so that flows it decided can name their
    /// rules after the next reload.
    pub fn note_policy(&mut self, policy: &Arc<Policy>) {
        if self.policies.last().is_some_and(|p| Arc::ptr_eq(p, policy)) {
            return;
        }
        self.policies.push(Arc::clone(policy));
        if self.policies.len() > POLICY_HISTORY {
            self.policies.remove(0);
        }
    }

    /// Logs a flow the table gave up at `now` (engine nanoseconds).
    ///
    /// # Errors
    ///
    /// The writer's error when a full buffer could not be written (the records are counted
    /// as lost; the logger carries on).
    pub fn ended(
        &mut self,
        flow: &Expired,
        stats: &FlowStats,
        records: &FlowRecords,
        reason: FlowEndReason,
        now: u64,
    ) -> Result<(), FlowLogError> {
        let Some(totals) = stats.take(flow.handle) else {
            self.missed += 1;
            return Ok(());
        };
        let endpoint = records
            .load(flow.handle.slot())
            .and_then(|r| recorded_endpoint(r.geneve_header()))
            .unwrap_or(0);
        let retired = Retired {
            key: flow.key,
            value: flow.value,
            last_seen: flow.last_seen,
            endpoint,
            totals,
        };
        self.write(&retired, reason, now)
    }

    /// Logs a flow a worker evicted from a full table (`reason: evicted`), drained from
    /// [`FlowStats::drain_retired`] at `now` (engine nanoseconds).
    ///
    /// # Errors
    ///
    /// As [`FlowLogger::ended`].
    pub fn evicted(&mut self, flow: &Retired, now: u64) -> Result<(), FlowLogError> {
        self.write(flow, FlowEndReason::Evicted, now)
    }

    /// Counts flows whose retirement was overwritten before the control thread read it.
    pub fn lost(&mut self, flows: u64) {
        self.missed += flows;
    }

    fn write(
        &mut self,
        flow: &Retired,
        reason: FlowEndReason,
        now: u64,
    ) -> Result<(), FlowLogError> {
        let totals = flow.totals;
        let (protocol, (src, src_port), (dst, dst_port)) =
            FlowLogRecord::initiator_view(&flow.key, totals.initiator);
        let verdict = FlowVerdict::from_value(flow.value);
        let (action, rule) = match verdict {
            Some(v) => {
                let policy = self
                    .policies
                    .iter()
                    .rev()
                    .find(|p| v.decided_under(p.generation()));
                let rule = v
                    .decision
                    .rule
                    .and_then(|i| policy.and_then(|p| p.rule_name(i)));
                (v.decision.action, rule)
            }
            None => (Action::Allow, None),
        };
        let end_ns = now.saturating_sub(flow.last_seen.elapsed_nanos(now));
        let record = FlowLogRecord {
            endpoint: EndpointId(flow.endpoint),
            protocol,
            src,
            src_port,
            dst,
            dst_port,
            packets_forward: totals.packets_forward,
            bytes_forward: totals.bytes_forward,
            packets_reverse: totals.packets_reverse,
            bytes_reverse: totals.bytes_reverse,
            verdict: match action {
                Action::Allow => PolicyAction::Allow,
                Action::Deny => PolicyAction::Deny,
                Action::Reject => PolicyAction::Reject,
            },
            rule,
            start_unix_ns: self.unix_base_ns + totals.start_ns,
            end_unix_ns: self.unix_base_ns + end_ns.max(totals.start_ns),
            reason,
        };
        self.writer.write(&record)
    }

    /// Writes what is buffered (the control loop's periodic tick).
    ///
    /// # Errors
    ///
    /// The writer's error; the records are counted as lost.
    pub fn flush(&mut self) -> Result<(), FlowLogError> {
        self.writer.flush()
    }

    /// Flows that ended without totals to log.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Flushes and closes the file.
    ///
    /// # Errors
    ///
    /// The last flush's error.
    pub fn close(self) -> Result<FlowLogStats, FlowLogError> {
        self.writer.close()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sluice_engine::flow::Stickiness;

    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "sluice-flow-log-{name}-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn record(n: u64) -> FlowLogRecord<'static> {
        FlowLogRecord {
            endpoint: EndpointId(0x0a1b_2c3d_4e5f_6071),
            protocol: IpProtocol::Tcp,
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
            src_port: 40_000,
            dst: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 5)),
            dst_port: 443,
            packets_forward: n,
            bytes_forward: 1500 * n,
            packets_reverse: n / 2,
            bytes_reverse: 40 * n,
            verdict: PolicyAction::Allow,
            rule: Some("allow-web"),
            start_unix_ns: 1_709_164_800_000_000_000,
            end_unix_ns: 1_709_164_800_000_000_000 + n * 1_000_000,
            reason: FlowEndReason::Expired,
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn records_are_json_lines_with_every_field() {
        let dir = TempDir::new("fields");
        let path = dir.file("flows.jsonl");
        let (mut writer, warning) = FlowLogWriter::open(&path, 1 << 20, 5).unwrap();
        assert_eq!(warning, None);
        writer.write(&record(4)).unwrap();
        let mut denied = record(1);
        denied.verdict = PolicyAction::Deny;
        denied.rule = None;
        denied.protocol = IpProtocol::Other(47);
        denied.reason = FlowEndReason::Shutdown;
        writer.write(&denied).unwrap();
        let stats = writer.close().unwrap();
        assert_eq!((stats.records, stats.lost, stats.errors), (2, 0, 0));

        let records = lines(&path);
        assert_eq!(
            records[0],
            serde_json::json!({
                "endpoint": "vpce-00a1b2c3d4e5f6071",
                "protocol": "tcp",
                "src": "192.168.1.10",
                "src_port": 40000,
                "dst": "10.20.0.5",
                "dst_port": 443,
                "packets_forward": 4,
                "bytes_forward": 6000,
                "packets_reverse": 2,
                "bytes_reverse": 160,
                "verdict": "allow",
                "rule": "allow-web",
                "start": "2024-02-29T00:00:00.000Z",
                "end": "2024-02-29T00:00:00.004Z",
                "reason": "expired",
            })
        );
        assert_eq!(records[1]["rule"], serde_json::Value::Null);
        assert_eq!(records[1]["verdict"], "deny");
        assert_eq!(records[1]["protocol"], 47);
        assert_eq!(records[1]["reason"], "shutdown");
        // Field order is the documented one, so the file reads the same to eyes and tools.
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"endpoint\":\"vpce-00a1b2c3d4e5f6071\",\"protocol\":\"tcp\","));
        assert_eq!(stats.bytes, text.len() as u64);
    }

    #[test]
    fn a_new_file_is_created_with_mode_0600() {
        let dir = TempDir::new("mode");
        let path = dir.file("flows.jsonl");
        let (mut writer, _) = FlowLogWriter::open(&path, 1 << 20, 5).unwrap();
        assert_eq!(mode(&path), 0o600);
        writer.write(&record(1)).unwrap();
        writer.flush().unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn an_existing_file_readable_by_others_is_tightened_and_kept() {
        let dir = TempDir::new("tighten");
        let path = dir.file("flows.jsonl");
        let earlier = serde_json::to_string(&record(9)).unwrap() + "\n";
        fs::write(&path, &earlier).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (mut writer, warning) = FlowLogWriter::open(&path, 1 << 20, 5).unwrap();
        assert_eq!(
            warning,
            Some(PermissionsTightened {
                path: path.clone(),
                mode: 0o644
            })
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(writer.stats().tightened, 1);
        writer.write(&record(1)).unwrap();
        writer.close().unwrap();
        let records = lines(&path);
        assert_eq!(records.len(), 2, "appended to what was there");
        assert_eq!(records[0]["packets_forward"], 9);
    }

    #[test]
    fn rotation_keeps_max_files_each_within_max_bytes_and_private() {
        let dir = TempDir::new("rotate");
        let path = dir.file("flows.jsonl");
        let line_len = |n| serde_json::to_string(&record(n)).unwrap().len() as u64 + 1;
        // Three records of 10–29 packets fit in a file, four never do.
        let max_bytes = 3 * line_len(29) + 2;
        assert!(4 * line_len(10) > max_bytes);
        let (mut writer, _) = FlowLogWriter::open(&path, max_bytes, 3).unwrap();
        for n in 10..30 {
            writer.write(&record(n)).unwrap();
        }
        let stats = writer.close().unwrap();
        // 20 records: 6 full files rotated, 2 records in the current one.
        assert_eq!(stats.rotations, 6);
        assert_eq!(stats.records, 20);
        let mut kept = Vec::new();
        for name in [
            "flows.jsonl.3",
            "flows.jsonl.2",
            "flows.jsonl.1",
            "flows.jsonl",
        ] {
            let file = dir.file(name);
            assert_eq!(mode(&file), 0o600, "{name}");
            assert!(fs::metadata(&file).unwrap().len() <= max_bytes, "{name}");
            kept.extend(
                lines(&file)
                    .iter()
                    .map(|r| r["packets_forward"].as_u64().unwrap()),
            );
        }
        assert!(
            !dir.file("flows.jsonl.4").exists(),
            "the oldest were dropped"
        );
        assert_eq!(kept, (19..30).collect::<Vec<_>>(), "newest 11, in order");
    }

    #[test]
    fn a_record_larger_than_max_bytes_gets_a_file_of_its_own() {
        let dir = TempDir::new("large");
        let path = dir.file("flows.jsonl");
        let (mut writer, _) = FlowLogWriter::open(&path, 10, 2).unwrap();
        writer.write(&record(1)).unwrap();
        writer.write(&record(2)).unwrap();
        writer.close().unwrap();
        assert_eq!(lines(&dir.file("flows.jsonl.1")).len(), 1);
        assert_eq!(lines(&path).len(), 1);
    }

    #[test]
    fn a_vanished_directory_is_counted_then_recovered() {
        let dir = TempDir::new("vanish");
        let sub = dir.file("logs");
        fs::create_dir(&sub).unwrap();
        let path = sub.join("flows.jsonl");
        let (mut writer, _) = FlowLogWriter::open(&path, 1 << 20, 5).unwrap();
        writer.write(&record(1)).unwrap();
        writer.flush().unwrap();

        fs::remove_dir_all(&sub).unwrap();
        writer.write(&record(2)).unwrap();
        writer.write(&record(3)).unwrap();
        let error = writer.flush().unwrap_err();
        assert!(matches!(error, FlowLogError::Open { .. }), "{error}");
        assert!(
            error.to_string().contains(&*path.to_string_lossy()),
            "{error}"
        );
        let stats = writer.stats();
        assert_eq!((stats.records, stats.lost, stats.errors), (1, 2, 1));

        // Nothing to write: nothing tried. Then the directory comes back.
        writer.flush().unwrap();
        fs::create_dir(&sub).unwrap();
        writer.write(&record(4)).unwrap();
        writer.flush().unwrap();
        assert_eq!(lines(&path).len(), 1);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(writer.stats().reopened, 1);
    }

    #[test]
    fn a_file_renamed_away_is_followed_by_a_new_one() {
        let dir = TempDir::new("renamed");
        let path = dir.file("flows.jsonl");
        let (mut writer, _) = FlowLogWriter::open(&path, 1 << 20, 5).unwrap();
        writer.write(&record(1)).unwrap();
        writer.flush().unwrap();
        fs::rename(&path, dir.file("flows.jsonl.old")).unwrap();
        writer.write(&record(2)).unwrap();
        writer.flush().unwrap();
        assert_eq!(lines(&dir.file("flows.jsonl.old")).len(), 1);
        assert_eq!(lines(&path)[0]["packets_forward"], 2);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_torn_last_line_is_ended_before_the_next_record() {
        let dir = TempDir::new("torn");
        let path = dir.file("flows.jsonl");
        fs::write(&path, "{\"endpoint\":\"vpce-0").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let (mut writer, warning) = FlowLogWriter::open(&path, 1 << 20, 5).unwrap();
        assert_eq!(warning, None);
        writer.write(&record(1)).unwrap();
        writer.close().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(last["packets_forward"], 1);
    }

    #[test]
    fn open_errors_name_the_path() {
        let dir = TempDir::new("errors");
        let missing = dir.file("no-such-dir").join("flows.jsonl");
        let error = FlowLogWriter::open(&missing, 1 << 20, 5).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&*missing.to_string_lossy()), "{text}");
        assert!(text.contains("hint"), "{text}");
        let error = FlowLogWriter::open(&dir.0, 1 << 20, 5).unwrap_err();
        assert!(
            error.to_string().contains(&*dir.0.to_string_lossy()),
            "{error}"
        );
        assert!(matches!(
            FlowLogWriter::open(dir.file("x"), 0, 5),
            Err(FlowLogError::BadLimits { .. })
        ));
    }

    #[test]
    fn the_initiator_is_the_source() {
        let client = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
        let server = IpAddr::V4(Ipv4Addr::new(10, 20, 0, 5));
        // The server's address sorts first, so the client's packets go in the key's reverse
        // direction.
        let (key, direction) = FlowKey::new(
            0,
            client,
            server,
            6,
            40_000,
            443,
            Stickiness::FiveTuple,
            false,
        );
        assert_eq!(direction, Direction::Reverse);
        assert_eq!(
            FlowLogRecord::initiator_view(&key, direction),
            (IpProtocol::Tcp, (client, 40_000), (server, 443))
        );
        assert_eq!(
            FlowLogRecord::initiator_view(&key, direction.reverse()),
            (IpProtocol::Tcp, (server, 443), (client, 40_000))
        );
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00.000Z"),
            (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123Z"),
            (1_709_164_799_999_999_999, "2024-02-28T23:59:59.999Z"),
            (4_102_444_799_000_000_000, "2099-12-31T23:59:59.000Z"),
            (4_107_542_400_000_000_000, "2100-03-01T00:00:00.000Z"),
        ];
        for (ns, text) in cases {
            assert_eq!(Rfc3339(ns).to_string(), text, "{ns}");
        }
        assert_eq!(Rfc3339(u64::MAX).to_string(), "2554-07-21T23:34:33.709Z");
    }
}
