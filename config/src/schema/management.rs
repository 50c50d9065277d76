//! The `[management]` section: the management API's listeners, its principals and access
//! policies, the audit log and the state file.
//!
//! Tokens are never stored in clear: a principal carries the SHA-256 of its bearer token,
//! and may carry an expiry ([`Timestamp`]) after which the token no longer authenticates.
//! Access policies follow IAM's shape (principals, effect, actions, resources) with
//! `sluice:` action names; an explicit deny wins over any allow.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::types::keyword_enum;
use crate::time::{civil_from_days, days_from_civil};

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
    /// `expires`: the instant from which the token no longer authenticates, an RFC 3339 UTC
    /// timestamp such as `"2027-01-01T00:00:00Z"` (a TOML date-time such as
    /// `2027-01-01T00:00:00Z` without quotes is accepted too), 1970–9999, to the second.
    /// Default: never. A principal past its expiry stays in the configuration (its policies
    /// still name it) and is refused with `401 ExpiredToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

/// An instant in UTC to the second, written as RFC 3339 (`2027-01-01T00:00:00Z`): what
/// `management.principal.expires` holds.
///
/// Only UTC is accepted (`Z`, or the offset `+00:00`), without fractional seconds, in the
/// years 1970–9999: an expiry is read by people, and a local offset or a fraction would only
/// make it easier to misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    unix_seconds: u64,
}

/// Why a text is not a [`Timestamp`]; `Display` says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not shaped `YYYY-MM-DDTHH:MM:SS` followed by a zone.
    #[error("write it as YYYY-MM-DDTHH:MM:SSZ")]
    Format,
    /// A zone other than UTC.
    #[error("write it in UTC, ending in Z")]
    NotUtc,
    /// Fractional seconds.
    #[error("fractional seconds are not supported")]
    Fraction,
    /// A field out of its range.
    #[error("{field} {value} is out of range {allowed}")]
    Range {
        /// `year`, `month`, `hour`, `minute` or `second`.
        field: &'static str,
        /// The value written.
        value: u64,
        /// The allowed range, such as `1–12`.
        allowed: &'static str,
    },
    /// A day the month does not have.
    #[error("day {day} does not exist in {year:04}-{month:02}")]
    Day {
        /// The year.
        year: u64,
        /// The month.
        month: u64,
        /// The day written.
        day: u64,
    },
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

impl Timestamp {
    /// The latest timestamp: 9999-12-31T23:59:59Z.
    pub const MAX: Self = Self {
        unix_seconds: 253_402_300_799,
    };

    /// The timestamp `unix_seconds` after 1970-01-01T00:00:00Z, or `None` past
    /// [`Timestamp::MAX`].
    pub const fn from_unix_seconds(unix_seconds: u64) -> Option<Self> {
        if unix_seconds > Self::MAX.unix_seconds {
            None
        } else {
            Some(Self { unix_seconds })
        }
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub const fn unix_seconds(self) -> u64 {
        self.unix_seconds
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let b = text.as_bytes();
        // YYYY-MM-DDTHH:MM:SS, then the zone.
        let shaped = b.len() >= 19
            && b[4] == b'-'
            && b[7] == b'-'
            && matches!(b[10], b'T' | b't')
            && b[13] == b':'
            && b[16] == b':';
        if !shaped {
            return Err(TimestampError::Format);
        }
        let number = |from: usize, to: usize| -> Result<u64, TimestampError> {
            b[from..to].iter().try_fold(0_u64, |n, &c| {
                if c.is_ascii_digit() {
                    Ok(n * 10 + u64::from(c - b'0'))
                } else {
                    Err(TimestampError::Format)
                }
            })
        };
        let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        match &b[19..] {
            b"Z" | b"z" | b"+00:00" => {}
            [b'.', ..] => return Err(TimestampError::Fraction),
            [b'+' | b'-', ..] => return Err(TimestampError::NotUtc),
            _ => return Err(TimestampError::Format),
        }
        let range = |field, value, allowed| TimestampError::Range {
            field,
            value,
            allowed,
        };
        for (field, value, low, high, allowed) in [
            ("year", year, 1970, 9999, "1970–9999"),
            ("month", month, 1, 12, "1–12"),
            ("hour", hour, 0, 23, "0–23"),
            ("minute", minute, 0, 59, "0–59"),
            ("second", second, 0, 59, "0–59"),
        ] {
            if !(low..=high).contains(&value) {
                return Err(range(field, value, allowed));
            }
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(TimestampError::Day { year, month, day });
        }
        let days = days_from_civil(year, month, day);
        Ok(Self {
            unix_seconds: days * 86_400 + hour * 3600 + minute * 60 + second,
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.unix_seconds / 86_400);
        let second_of_day = self.unix_seconds % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The days of `month` (1–12) in `year`, by the proleptic Gregorian calendar.
fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<u64, TimestampError> {
        text.parse::<Timestamp>().map(Timestamp::unix_seconds)
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2027-01-01T00:00:00Z"), Ok(1_798_761_600));
        assert_eq!(parse("2024-02-29t12:34:56z"), Ok(1_709_210_096));
        assert_eq!(parse("2000-03-01T00:00:00+00:00"), Ok(951_868_800));
        assert_eq!(
            parse("9999-12-31T23:59:59Z"),
            Ok(Timestamp::MAX.unix_seconds())
        );
        for (text, error) in [
            ("2027-01-01", TimestampError::Format),
            ("2027-01-01 00:00:00Z", TimestampError::Format),
            ("2027-01-01T00:00:00", TimestampError::Format),
            ("2027-01-01T00:00:00Zulu", TimestampError::Format),
            ("2027-1-01T00:00:00Z", TimestampError::Format),
            ("2027-01-01T00:00:00+01:00", TimestampError::NotUtc),
            ("2027-01-01T00:00:00.5Z", TimestampError::Fraction),
            (
                "2027-02-29T00:00:00Z",
                TimestampError::Day {
                    year: 2027,
                    month: 2,
                    day: 29,
                },
            ),
            (
                "1900-02-29T00:00:00Z",
                TimestampError::Range {
                    field: "year",
                    value: 1900,
                    allowed: "1970–9999",
                },
            ),
            (
                "2027-13-01T00:00:00Z",
                TimestampError::Range {
                    field: "month",
                    value: 13,
                    allowed: "1–12",
                },
            ),
            (
                "2027-12-31T23:59:60Z",
                TimestampError::Range {
                    field: "second",
                    value: 60,
                    allowed: "0–59",
                },
            ),
            ("２027-01-01T00:00:00Z", TimestampError::Format),
        ] {
            assert_eq!(parse(text), Err(error), "{text}");
        }
    }

    /// `expires` is read as a string or as a TOML date-time, shown in the effective
    /// configuration as written, and absent means never.
    #[test]
    fn principals_may_expire() {
        let config = |principal: &str| {
            let text = format!(
                "role = \"gateway\"\n[dataplane]\nworker_cores = [1]\n[[dataplane.port]]\n\
                 name = \"uplink\"\ndevice = \"net_af_packet0,iface=veth-gw\"\n\
                 address = \"10.0.0.1/24\"\n[load_balancer]\nname = \"gwlb-1\"\n\
                 zone = \"use1-az1\"\n[target_group]\nname = \"appliances\"\n\
                 [[management.principal]]\nname = \"ops\"\n\
                 token_sha256 = \"{}\"\n{principal}",
                "0".repeat(64)
            );
            crate::parse(&text, "/etc/sluice/gateway.toml")
                .map_err(|d| d.to_string())
                .map(|c| c.management.principals[0].expires)
        };
        let expected = "2027-01-01T00:00:00Z".parse::<Timestamp>().ok();
        assert_eq!(config("expires = \"2027-01-01T00:00:00Z\""), Ok(expected));
        assert_eq!(config("expires = 2027-01-01T00:00:00Z"), Ok(expected));
        assert_eq!(config(""), Ok(None));
        let shown = serde_json::to_value(Principal {
            name: "ops".into(),
            token_sha256: String::new(),
            expires: expected,
        })
        .map(|v| v["expires"].clone())
        .ok();
        assert_eq!(shown, Some(serde_json::json!("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn timestamps_print_as_they_parse() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2027-01-01T00:00:00Z",
            "2100-03-01T08:09:10Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t: Timestamp = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.to_string(), text);
        }
        // Every day from 1970 to 2400 round-trips through the calendar.
        for days in 0..157_000 {
            let (y, m, d) = civil_from_days(days);
            assert!(d >= 1 && d <= days_in_month(y, m), "{days}");
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(Timestamp::from_unix_seconds(253_402_300_800), None);
    }
}
