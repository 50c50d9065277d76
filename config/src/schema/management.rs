//! The `[management]` section: the management API's listeners, its principals and access
//! policies, the audit log and the state file.
//!
//! Tokens are never stored in clear: a principal carries the SHA-256 of its bearer token.
//! Access policies follow IAM's shape (principals, effect, actions, resources) with
//! `sluice:` action names; an explicit deny wins over any allow.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::types::keyword_enum;

/// `[management]`: the management API and its records. Optional; all fields default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Management {
    /// `socket`: the Unix socket of the management API, an absolute path.
    /// Default: `/run/sluice/sluice.sock`.
    pub socket: PathBuf,
    /// `metrics_listen`: the address of the Prometheus/OpenMetrics endpoint, such as
    /// `127.0.0.1:9090`. Optional (no metrics listener).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// `audit_log`: the append-only JSON-lines audit log, an absolute path.
    /// Default: `/var/log/sluice/audit.jsonl`.
    pub audit_log: PathBuf,
    /// `state_file`: where changes made through the API are persisted, an absolute path.
    /// Default: beside the configuration file, named after it with the extension `.state`
    /// (`/etc/sluice/gateway.toml` → `/etc/sluice/gateway.state`).
    pub state_file: PathBuf,
    /// `[management.tls]`: an additional TCP listener with TLS. Optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// `[[management.principal]]`: who may call the API. Default: none.
    #[serde(rename = "principal")]
    pub principals: Vec<Principal>,
    /// `[[management.policy]]`: what they may do. Default: none (everything is denied).
    #[serde(rename = "policy")]
    pub policies: Vec<AccessPolicy>,
}

/// `[management.tls]`: a TLS listener for the management API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// `listen`: the socket address, such as `0.0.0.0:8443`. Required; differs from
    /// `metrics_listen`.
    pub listen: SocketAddr,
    /// `certificate`: the PEM certificate chain, an absolute path. Required.
    pub certificate: PathBuf,
    /// `private_key`: the PEM private key, an absolute path. Required.
    pub private_key: PathBuf,
    /// `min_version`: the lowest TLS version accepted, `"1.2"` or `"1.3"`. Default: `"1.2"`.
    pub min_version: TlsVersion,
}

/// `[[management.principal]]`: an API caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// `name`: 1–64 characters of ASCII letters, digits, `_`, `.`, `@` and `-`. Required,
    /// unique.
    pub name: String,
    /// `token_sha256`: the SHA-256 of the principal's bearer token as 64 lowercase hex
    /// digits (for example the output of `printf %s "$TOKEN" | sha256sum`). Required, unique.
    pub token_sha256: String,
}

/// `[[management.policy]]`: an IAM-style access policy statement.
///
/// Actions are `sluice:` followed by an API operation name in ELB's spelling
/// (`sluice:RegisterTargets`, `sluice:DescribeTargetHealth`, …); `*` wildcards match any
/// run of characters (`sluice:Describe*`), and `*` alone matches every action.
///
/// Resources are `*` or `TYPE/NAME`, with `*` wildcards allowed in NAME. The types are
/// `loadbalancer/<load balancer name>`, `listener/<load balancer name>`,
/// `targetgroup/<target group name>`, `endpointservice/<load balancer name>`,
/// `endpoint/<vpce id>`, `appliance/<appliance section, such as policy>` and
/// `management/<principal or policy>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessPolicy {
    /// `principals`: names of `[[management.principal]]` entries, or `*` for all. Required,
    /// non-empty.
    pub principals: Vec<String>,
    /// `effect`: `allow` or `deny`. Required.
    pub effect: Effect,
    /// `actions`: action patterns as described above. Required, non-empty.
    pub actions: Vec<String>,
    /// `resources`: resource patterns as described above. Required, non-empty.
    pub resources: Vec<String>,
}

keyword_enum! {
    /// `management.tls.min_version`.
    pub enum TlsVersion {
        /// TLS 1.2 and later.
        Tls12 = "1.2",
        /// TLS 1.3 only.
        Tls13 = "1.3",
    }
    rejected {
        "1.0" => "TLS 1.0 is insecure; the management API requires TLS 1.2 or later",
        "1.1" => "TLS 1.1 is insecure; the management API requires TLS 1.2 or later",
    }
}

keyword_enum! {
    /// `management.policy.effect`.
    pub enum Effect {
        /// Grant the actions.
        Allow = "allow",
        /// Refuse the actions, whatever else allows them.
        Deny = "deny",
    }
}

impl Management {
    /// Default `socket`.
    pub const DEFAULT_SOCKET: &'static str = "/run/sluice/sluice.sock";
    /// Default `audit_log`.
    pub const DEFAULT_AUDIT_LOG: &'static str = "/var/log/sluice/audit.jsonl";
    /// The resource types a policy's `resources` may name.
    pub const RESOURCE_TYPES: [&'static str; 7] = [
        "loadbalancer",
        "listener",
        "targetgroup",
        "endpointservice",
        "endpoint",
        "appliance",
        "management",
    ];

    /// The management defaults for a configuration read from `config_file`.
    pub fn defaults_for(config_file: &str) -> Self {
        Self {
            socket: PathBuf::from(Self::DEFAULT_SOCKET),
            metrics_listen: None,
            audit_log: PathBuf::from(Self::DEFAULT_AUDIT_LOG),
            state_file: Self::default_state_file(config_file),
            tls: None,
            principals: Vec::new(),
            policies: Vec::new(),
        }
    }

    /// The default `state_file` for a configuration read from `config_file`: the same path
    /// with the extension replaced by `state`.
    pub fn default_state_file(config_file: &str) -> PathBuf {
        PathBuf::from(config_file).with_extension("state")
    }
}

impl Tls {
    /// Default `min_version`.
    pub const DEFAULT_MIN_VERSION: TlsVersion = TlsVersion::Tls12;
}
