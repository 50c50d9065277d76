//! The audit log of the management API: one JSON object per line for every request,
//! allowed, denied or failed.
//!
//! A line ([`AuditEntry::to_line`]) holds `time` (when the request arrived, RFC 3339 in UTC
//! with milliseconds), `principal` (`null` unless the request authenticated), `source`
//! (`unix:uid=…,pid=…` or `tcp:ADDRESS:PORT`), `action` (the operation asked for, `null`
//! if none could be read), `resource` (`null` for an unknown action), `parameters` (the
//! request's JSON object with the value of every key containing `token`, `secret`,
//! `password` or `private_key` replaced by `"***"`, at any depth; `null` when the body was
//! not read or not a JSON object), `result` (`allowed`, `denied` for 401 and 403, `error`
//! for everything else), `status` (the HTTP status answered) and `error_code` (`null` on
//! success). Headers are never logged, so neither is the bearer token.
//!
//! # Guarantees
//!
//! - **Private.** The file is created with mode 0600 by `open(2)` itself; an existing file
//!   with group or other permissions is restricted to 0600 and [`AuditLog::open`] says so.
//!   A missing directory is created with mode 0700.
//! - **Append-only, whole lines.** The file is opened `O_APPEND`; every line goes out in
//!   one `write(2)`. If a write stopped part-way (disk full), or an earlier process died
//!   mid-line, the next line starts with a newline, so a reader loses that one entry and
//!   never reads two glued together.
//! - **Durable.** Each line is followed by `fdatasync(2)`: an entry that was written
//!   survives a crash of sluice or of the machine. Management requests are rare, so the
//!   cost (a disk flush per request) is paid where it buys something.
//! - **Rotation-friendly.** Before each line, `path` is checked to still name the open file
//!   (one `stat(2)`); if a log rotator moved or removed it, the file is created again.
//! - **Never panics.** A failed write is counted ([`AuditLog::failures`]), marks the log
//!   unwritable ([`AuditLog::is_writable`]) until a write succeeds again, and is returned
//!   for the caller to report; the server then refuses to execute requests (see
//!   [`super::server`]).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The mode of the audit log: read and write for the owner only.
const MODE: u32 = 0o600;
/// The mode of a directory created for it.
const DIR_MODE: u32 = 0o700;
/// What redacted values are replaced with.
const REDACTED: &str = "***";
/// Parts of parameter names whose values are never logged (compared in lower case).
const SECRET_KEYS: [&str; 4] = ["token", "secret", "password", "private_key"];

/// The append-only JSON-lines audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<OpenFile>>,
    writable: AtomicBool,
    failures: AtomicU64,
}

/// The open file and its identity, to notice when `path` names another file.
#[derive(Debug)]
struct OpenFile {
    file: File,
    dev: u64,
    ino: u64,
    /// The file does not end with a newline (a torn write): write one before the next line.
    needs_newline: bool,
}

/// One request as the audit log records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry<'a> {
    /// When the request arrived.
    pub time: SystemTime,
    /// The authenticated principal, if any.
    pub principal: Option<&'a str>,
    /// Where the request came from.
    pub source: &'a str,
    /// The operation asked for, if a request line could be read.
    pub action: Option<&'a str>,
    /// The resource the operation acts on, for known operations.
    pub resource: Option<&'a str>,
    /// The request's parameters, unredacted (they are redacted when the line is made).
    pub parameters: Option<&'a Value>,
    /// How the request ended.
    pub result: AuditResult,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, if any.
    pub error_code: Option<&'a str>,
}

/// How a request ended, for the audit log's `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditResult {
    /// Authenticated, authorized and executed successfully.
    Allowed,
    /// Refused by authentication (401) or authorization (403).
    Denied,
    /// Anything else: a malformed request, an unknown operation, a failed execution.
    Error,
}

/// An existing audit log that had group or other permissions and was restricted to 0600.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "audit log {} had mode {mode:04o}; restricted it to 0600 (audit entries name principals, sources and parameters)",
    path.display()
)]
pub struct Tightened {
    /// The file.
    pub path: PathBuf,
    /// Its mode before.
    pub mode: u32,
}

/// Why the audit log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The directory could not be created.
    #[error("audit log {}: creating its directory: {source}", path.display())]
    Directory {
        /// The audit log.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file could not be opened or created.
    #[error("audit log {}: opening it for appending: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The path names something other than a regular file.
    #[error("audit log {}: not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file has group or other permissions and could not be restricted to 0600.
    #[error("audit log {}: cannot restrict it to mode 0600: {source}", path.display())]
    Restrict {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A line could not be written (or flushed to disk) whole.
    #[error("audit log {}: writing an entry: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

impl AuditLog {
    /// Opens `path` for appending, creating it (mode 0600) and its directory (mode 0700) if
    /// needed. Returns the log and, if an existing file was restricted to 0600, what to tell
    /// the operator.
    ///
    /// # Errors
    ///
    /// When the directory or the file cannot be created or opened, `path` is not a regular
    /// file, or it cannot be restricted to 0600.
    pub fn open(path: &Path) -> Result<(Self, Option<Tightened>), AuditError> {
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|source| AuditError::Directory {
                    path: path.to_owned(),
                    source,
                })?;
        }
        let (open, tightened) = open_private(path)?;
        let log = Self {
            path: path.to_owned(),
            file: Mutex::new(Some(open)),
            writable: AtomicBool::new(true),
            failures: AtomicU64::new(0),
        };
        Ok((log, tightened))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line, flushed to disk.
    ///
    /// # Errors
    ///
    /// When the line could not be written whole or flushed; the failure is counted and the
    /// log is marked unwritable until a later line succeeds.
    pub fn record(&self, entry: &AuditEntry<'_>) -> Result<(), AuditError> {
        let result = self.append(&entry.to_line());
        self.writable.store(result.is_ok(), Ordering::Release);
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Whether the last line was written (true before the first).
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// How many lines could not be written since the log was opened.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Writes `line` (without its newline) to the file `path` names now.
    fn append(&self, line: &str) -> Result<(), AuditError> {
        let write_error = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        let mut slot = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let current = fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        let stale = match slot.as_ref() {
            Some(open) => current != Some((open.dev, open.ino)),
            None => true,
        };
        if stale {
            // Moved away, removed, or never reopened after a failure: start a new file.
            *slot = None;
            let (open, _) = open_private(&self.path).map_err(|e| match e {
                AuditError::Open { source, .. } | AuditError::Restrict { source, .. } => {
                    write_error(source)
                }
                other => other,
            })?;
            *slot = Some(open);
        }
        let Some(open) = slot.as_mut() else {
            return Err(write_error(io::ErrorKind::NotFound.into()));
        };
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if open.needs_newline {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // One write(2): with O_APPEND the line lands whole after whatever is there, unless
        // the disk fills up part-way.
        let written = loop {
            match open.file.write(&bytes) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match written {
            Ok(n) if n == bytes.len() => open.needs_newline = false,
            Ok(n) => {
                open.needs_newline = n > 0;
                return Err(write_error(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("only {n} of {} bytes written", bytes.len()),
                )));
            }
            Err(e) => return Err(write_error(e)),
        }
        open.file.sync_data().map_err(write_error)
    }
}

impl AuditEntry<'_> {
    /// The entry as one line of JSON, without the newline, parameters redacted.
    pub fn to_line(&self) -> String {
        let result = match self.result {
            AuditResult::Allowed => "allowed",
            AuditResult::Denied => "denied",
            AuditResult::Error => "error",
        };
        json!({
            "time": rfc3339_millis(self.time),
            "principal": self.principal,
            "source": self.source,
            "action": self.action,
            "resource": self.resource,
            "parameters": self.parameters.map(redact),
            "result": result,
            "status": self.status,
            "error_code": self.error_code,
        })
        .to_string()
    }
}

/// `value` with the value of every object key that contains `token`, `secret`, `password`
/// or `private_key` (in any case) replaced by `"***"`, at any depth.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let lower = key.to_ascii_lowercase();
                    let value = if SECRET_KEYS.iter().any(|s| lower.contains(s)) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact(value)
                    };
                    (key.clone(), value)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// `time` as RFC 3339 in UTC with milliseconds (`2026-03-01T12:00:00.250Z`); times before
/// the epoch print as the epoch.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    sluice_config::time::rfc3339_millis(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

/// Opens `path` for appending as a private regular file, creating it with mode 0600;
/// returns it and, if it had to be restricted to 0600, the mode it had.
fn open_private(path: &Path) -> Result<(OpenFile, Option<Tightened>), AuditError> {
    let open_error = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    // Read as well as append: to see whether the file ends with a newline.
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(MODE)
        .open(path)
        .map_err(open_error)?;
    let metadata = file.metadata().map_err(open_error)?;
    if !metadata.is_file() {
        return Err(AuditError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = metadata.mode() & 0o7777;
    let tightened = if mode & 0o077 == 0 {
        None
    } else {
        file.set_permissions(fs::Permissions::from_mode(MODE))
            .map_err(|source| AuditError::Restrict {
                path: path.to_owned(),
                source,
            })?;
        Some(Tightened {
            path: path.to_owned(),
            mode,
        })
    };
    let mut last = [0_u8; 1];
    let needs_newline = match metadata.len().checked_sub(1) {
        Some(offset) => file.read_exact_at(&mut last, offset).is_ok() && last[0] != b'\n',
        None => false,
    };
    let open = OpenFile {
        file,
        dev: metadata.dev(),
        ino: metadata.ino(),
        needs_newline,
    };
    Ok((open, tightened))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A fresh directory under the system's temporary directory.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sluice-audit-{name}-{}-{:?}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn entry<'a>(parameters: Option<&'a Value>) -> AuditEntry<'a> {
        AuditEntry {
            time: UNIX_EPOCH + Duration::from_millis(1_798_761_600_250),
            principal: Some("alice"),
            source: "unix:uid=0,pid=1",
            action: Some("RegisterTargets"),
            resource: Some("targetgroup/fw"),
            parameters,
            result: AuditResult::Allowed,
            status: 200,
            error_code: None,
        }
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_868_800_007);
        assert_eq!(rfc3339_millis(t), "2000-03-01T00:00:00.007Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_999);
        assert_eq!(rfc3339_millis(t), "2024-02-29T23:59:59.999Z");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(rfc3339_millis(before), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let params = json!({
            "targets": [{"ip": "10.0.0.1", "Api_Token": "t"}],
            "attributes": {"client_secret": {"nested": 1}, "name": "x"},
            "password": 5,
            "tls": {"private_key": "-----BEGIN", "privatekey": "kept"},
            "tokens": ["a", "b"],
        });
        assert_eq!(
            redact(&params),
            json!({
                "targets": [{"ip": "10.0.0.1", "Api_Token": "***"}],
                "attributes": {"client_secret": "***", "name": "x"},
                "password": "***",
                "tls": {"private_key": "***", "privatekey": "kept"},
                "tokens": "***",
            })
        );
        assert_eq!(redact(&json!([1, "token"])), json!([1, "token"]));
    }

    #[test]
    fn lines_hold_every_field() {
        let params = json!({"targets": [{"ip": "10.0.0.1"}], "token": "x"});
        let line = entry(Some(&params)).to_line();
        let value: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "time": "2027-01-01T00:00:00.250Z",
                "principal": "alice",
                "source": "unix:uid=0,pid=1",
                "action": "RegisterTargets",
                "resource": "targetgroup/fw",
                "parameters": {"targets": [{"ip": "10.0.0.1"}], "token": "***"},
                "result": "allowed",
                "status": 200,
                "error_code": null,
            })
        );
        assert!(!line.contains('\n'));
        let denied = AuditEntry {
            principal: None,
            action: None,
            resource: None,
            result: AuditResult::Denied,
            status: 401,
            error_code: Some("MissingAuthenticationToken"),
            ..entry(None)
        };
        let value: Value = serde_json::from_str(&denied.to_line()).unwrap_or_default();
        assert_eq!(value["principal"], Value::Null);
        assert_eq!(value["parameters"], Value::Null);
        assert_eq!(value["result"], "denied");
        assert_eq!(value["error_code"], "MissingAuthenticationToken");
    }

    #[test]
    fn the_file_is_private_append_only_and_whole_lines() -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp_dir("file");
        let path = dir.join("nested").join("audit.jsonl");
        // The directory is created, private.
        let (log, tightened) = AuditLog::open(&path)?;
        assert_eq!(tightened, None);
        assert_eq!(fs::metadata(dir.join("nested"))?.mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&path)?.mode() & 0o777, 0o600);
        log.record(&entry(None))?;
        log.record(&entry(None))?;
        drop(log);
        let text = fs::read_to_string(&path)?;
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with('\n'));

        // A torn last line (a crash mid-write) and loose permissions: restricted, said so,
        // and the next line starts on a line of its own.
        fs::write(&path, format!("{text}{{\"torn"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        let (log, tightened) = AuditLog::open(&path)?;
        assert_eq!(
            tightened.map(|t| t.to_string()),
            Some(format!(
                "audit log {} had mode 0644; restricted it to 0600 (audit entries name \
                 principals, sources and parameters)",
                path.display()
            ))
        );
        assert_eq!(fs::metadata(&path)?.mode() & 0o777, 0o600);
        log.record(&entry(None))?;
        let text = fs::read_to_string(&path)?;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2], "{\"torn");
        assert_eq!(lines[3], entry(None).to_line());

        // Rotated away: the next line goes to a new file at the path, private again.
        fs::rename(&path, dir.join("audit.jsonl.1"))?;
        log.record(&entry(None))?;
        assert_eq!(fs::read_to_string(&path)?.lines().count(), 1);
        assert_eq!(fs::metadata(&path)?.mode() & 0o777, 0o600);
        assert!(log.is_writable());
        assert_eq!(log.failures(), 0);

        // The directory gone: the write fails, is counted, and the log says unwritable
        // until a write works again.
        fs::remove_dir_all(dir.join("nested"))?;
        assert!(matches!(
            log.record(&entry(None)),
            Err(AuditError::Write { .. })
        ));
        assert!(!log.is_writable());
        assert_eq!(log.failures(), 1);
        fs::create_dir_all(dir.join("nested"))?;
        log.record(&entry(None))?;
        assert!(log.is_writable());
        fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn only_regular_files_are_logs() -> Result<(), Box<dyn std::error::Error>> {
        let dir = temp_dir("dir");
        fs::create_dir_all(dir.join("audit.jsonl"))?;
        let error = AuditLog::open(&dir.join("audit.jsonl")).err();
        assert!(matches!(
            error,
            Some(AuditError::Open { .. } | AuditError::NotAFile { .. })
        ));
        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
