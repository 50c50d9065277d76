//! The judgement of health-check outcomes, as GWLB makes it (`gwlb-spec.md` §3.2, §3.3).
//!
//! A target starts `initial` (`Elb.RegistrationInProgress`, then `Elb.InitialHealthChecking`
//! once its first check has answered). `healthy_threshold` consecutive successes make it
//! `healthy`; `unhealthy_threshold` consecutive failures make it `unhealthy`, from `initial`
//! as from `healthy`, with the reason of the latest failure: `Target.Timeout` (no answer
//! within the timeout), `Target.ResponseCodeMismatch` (an HTTP code the matcher refuses) or
//! `Target.FailedHealthChecks` (refused, reset, a TLS or HTTP error). Failures on the load
//! balancer's own side (no socket, no source address, no route) count the same way but lead
//! to `unavailable` (`Elb.InternalError`): the target's health is then unknown, not bad.
//! Any success resets the failure count and any failure the success count, so thresholds
//! count *consecutive* results. `draining` and `unused` come from deregistration, which the
//! runtime tracks; their reason codes are here so every state has its code in one place.

use std::time::Duration;

use sluice_config::schema::gateway::{HealthCheck, HealthCheckProtocol};
use sluice_config::schema::types::StatusMatcher;
use sluice_engine::maglev::TargetState;

use super::probe::Outcome;

/// How targets are checked: `[target_group.health_check]` in the units the checker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// TCP, HTTP or HTTPS.
    pub protocol: HealthCheckProtocol,
    /// The port probed on each target.
    pub port: u16,
    /// The HTTP(S) request path (unused for TCP).
    pub path: String,
    /// Time from the start of one check to the start of the next.
    pub interval: Duration,
    /// The longest a check may take, connection included.
    pub timeout: Duration,
    /// Consecutive successes that make a target healthy.
    pub healthy_threshold: u8,
    /// Consecutive failures that make a target unhealthy.
    pub unhealthy_threshold: u8,
    /// The HTTP codes that count as success (unused for TCP).
    pub matcher: StatusMatcher,
}

/// A target health reason code, as ELB reports it (`Elb.*` from the load balancer's side,
/// `Target.*` from the target's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `Elb.RegistrationInProgress`: registered, no check has answered yet.
    RegistrationInProgress,
    /// `Elb.InitialHealthChecking`: checks answer, the healthy threshold is not reached yet.
    InitialHealthChecking,
    /// `Target.ResponseCodeMismatch`: the HTTP code is not one the matcher accepts.
    ResponseCodeMismatch,
    /// `Target.Timeout`: no connection or no answer within the timeout.
    Timeout,
    /// `Target.FailedHealthChecks`: refused, reset, or a TLS or HTTP error.
    FailedHealthChecks,
    /// `Elb.InternalError`: the check could not be made on the load balancer's side.
    InternalError,
    /// `Target.DeregistrationInProgress`: deregistered, draining.
    DeregistrationInProgress,
    /// `Target.NotRegistered`: deregistered and drained.
    NotRegistered,
}

/// One target's health as the checks have shown it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    state: TargetState,
    reason: Option<Reason>,
    successes: u8,
    failures: u8,
    checks: u64,
    /// What the latest check found, for people.
    last: Option<String>,
}

impl Settings {
    /// The settings of a validated `[target_group.health_check]` (absent, it holds GWLB's
    /// defaults: TCP on port 80 every 10 s, 5 s timeout, thresholds 5 and 2).
    pub fn from_config(hc: &HealthCheck) -> Self {
        Self {
            protocol: hc.protocol,
            port: hc.port,
            path: hc
                .path
                .clone()
                .unwrap_or_else(|| HealthCheck::DEFAULT_PATH.to_owned()),
            interval: Duration::from_secs(u64::from(hc.interval_seconds)),
            timeout: Duration::from_secs(u64::from(hc.timeout_seconds)),
            healthy_threshold: hc.healthy_threshold_count.max(1),
            unhealthy_threshold: hc.unhealthy_threshold_count.max(1),
            matcher: hc.matcher.clone().unwrap_or_default(),
        }
    }

    /// One line for people: `HTTP :8080 "/" every 5 s, timeout 2 s, thresholds 2/2`.
    pub fn describe(&self) -> String {
        let what = match self.protocol {
            HealthCheckProtocol::Tcp => format!("TCP :{}", self.port),
            HealthCheckProtocol::Http => format!("HTTP :{} {:?}", self.port, self.path),
            HealthCheckProtocol::Https => format!("HTTPS :{} {:?}", self.port, self.path),
        };
        format!(
            "{what} every {:?}, timeout {:?}, healthy after {}, unhealthy after {}",
            self.interval, self.timeout, self.healthy_threshold, self.unhealthy_threshold
        )
    }
}

impl Reason {
    /// The reason code as ELB spells it.
    pub fn code(self) -> &'static str {
        match self {
            Self::RegistrationInProgress => "Elb.RegistrationInProgress",
            Self::InitialHealthChecking => "Elb.InitialHealthChecking",
            Self::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Self::Timeout => "Target.Timeout",
            Self::FailedHealthChecks => "Target.FailedHealthChecks",
            Self::InternalError => "Elb.InternalError",
            Self::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Self::NotRegistered => "Target.NotRegistered",
        }
    }

    /// The reason a failed outcome gives, or `None` for a success.
    pub fn of(outcome: &Outcome) -> Option<Self> {
        match outcome {
            Outcome::Healthy { .. } => None,
            Outcome::Timeout(_) => Some(Self::Timeout),
            Outcome::ResponseCodeMismatch(_) => Some(Self::ResponseCodeMismatch),
            Outcome::Failed(_) => Some(Self::FailedHealthChecks),
            Outcome::Internal(_) => Some(Self::InternalError),
        }
    }
}

impl TargetHealth {
    /// A newly registered target: `initial`, `Elb.RegistrationInProgress`.
    pub fn new() -> Self {
        Self {
            state: TargetState::Initial,
            reason: Some(Reason::RegistrationInProgress),
            successes: 0,
            failures: 0,
            checks: 0,
            last: None,
        }
    }

    /// A target whose checks cannot run at all: `unavailable`, `Elb.InternalError`.
    pub fn unavailable(why: String) -> Self {
        Self {
            state: TargetState::Unavailable,
            reason: Some(Reason::InternalError),
            last: Some(why),
            ..Self::new()
        }
    }

    /// The current state.
    pub fn state(&self) -> TargetState {
        self.state
    }

    /// The current reason code (`None` when healthy).
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// How many check outcomes were recorded.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// What the latest check found (`None` before the first one).
    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// Records one check's outcome under `settings`' thresholds and returns the previous
    /// state when the state changed.
    pub fn record(&mut self, outcome: &Outcome, settings: &Settings) -> Option<TargetState> {
        let before = self.state;
        self.checks += 1;
        self.last = Some(outcome.to_string());
        match Reason::of(outcome) {
            None => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.successes >= settings.healthy_threshold {
                    self.state = TargetState::Healthy;
                    self.reason = None;
                } else if self.state == TargetState::Initial {
                    self.reason = Some(Reason::InitialHealthChecking);
                }
            }
            Some(reason) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.failures >= settings.unhealthy_threshold {
                    self.state = if reason == Reason::InternalError {
                        TargetState::Unavailable
                    } else {
                        TargetState::Unhealthy
                    };
                    self.reason = Some(reason);
                } else if self.state == TargetState::Initial {
                    self.reason = Some(Reason::InitialHealthChecking);
                }
            }
        }
        (self.state != before).then_some(before)
    }
}

impl Default for TargetHealth {
    fn default() -> Self {
        Self::new()
    }
}

/// A target state as ELB's API spells it (`initial`, `healthy`, ...).
pub fn state_name(state: TargetState) -> &'static str {
    match state {
        TargetState::Initial => "initial",
        TargetState::Healthy => "healthy",
        TargetState::Unhealthy => "unhealthy",
        TargetState::Draining => "draining",
        TargetState::Unused => "unused",
        TargetState::Unavailable => "unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(healthy: u8, unhealthy: u8) -> Settings {
        Settings {
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            ..Settings::from_config(&HealthCheck::default())
        }
    }

    fn ok() -> Outcome {
        Outcome::Healthy { code: None }
    }

    fn timeout() -> Outcome {
        Outcome::Timeout("no answer".into())
    }

    #[test]
    fn defaults_are_gwlb_s() {
        let s = Settings::from_config(&HealthCheck::default());
        assert_eq!(s.protocol, HealthCheckProtocol::Tcp);
        assert_eq!(s.port, 80);
        assert_eq!(s.interval, Duration::from_secs(10));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!((s.healthy_threshold, s.unhealthy_threshold), (5, 2));
        assert_eq!(s.matcher, StatusMatcher::default());
        assert!(s.matcher.matches(200) && s.matcher.matches(399) && !s.matcher.matches(400));
    }

    #[test]
    fn initial_until_the_healthy_threshold() {
        let s = settings(3, 2);
        let mut h = TargetHealth::new();
        assert_eq!(h.state(), TargetState::Initial);
        assert_eq!(h.reason(), Some(Reason::RegistrationInProgress));
        assert_eq!(h.record(&ok(), &s), None);
        assert_eq!(h.reason(), Some(Reason::InitialHealthChecking));
        assert_eq!(h.record(&ok(), &s), None);
        assert_eq!(h.state(), TargetState::Initial);
        assert_eq!(h.record(&ok(), &s), Some(TargetState::Initial));
        assert_eq!(h.state(), TargetState::Healthy);
        assert_eq!(h.reason(), None);
        assert_eq!(h.checks(), 3);
    }

    #[test]
    fn thresholds_count_consecutive_results() {
        let s = settings(2, 3);
        let mut h = TargetHealth::new();
        h.record(&ok(), &s);
        h.record(&ok(), &s);
        assert_eq!(h.state(), TargetState::Healthy);
        // Two failures, a success, two failures: never three in a row.
        for o in [timeout(), timeout(), ok(), timeout(), timeout()] {
            assert_eq!(h.record(&o, &s), None);
        }
        assert_eq!(h.state(), TargetState::Healthy);
        assert_eq!(h.record(&timeout(), &s), Some(TargetState::Healthy));
        assert_eq!(h.state(), TargetState::Unhealthy);
        assert_eq!(h.reason(), Some(Reason::Timeout));
        // Back: one success is not enough, an interleaved failure restarts the count.
        assert_eq!(h.record(&ok(), &s), None);
        assert_eq!(h.record(&timeout(), &s), None);
        assert_eq!(h.record(&ok(), &s), None);
        assert_eq!(h.record(&ok(), &s), Some(TargetState::Unhealthy));
        assert_eq!(h.state(), TargetState::Healthy);
    }

    #[test]
    fn an_initial_target_that_fails_turns_unhealthy() {
        let s = settings(5, 2);
        let mut h = TargetHealth::new();
        assert_eq!(h.record(&Outcome::Failed("refused".into()), &s), None);
        assert_eq!(h.state(), TargetState::Initial);
        assert_eq!(h.reason(), Some(Reason::InitialHealthChecking));
        assert_eq!(
            h.record(&Outcome::Failed("refused".into()), &s),
            Some(TargetState::Initial)
        );
        assert_eq!(h.state(), TargetState::Unhealthy);
        assert_eq!(h.reason(), Some(Reason::FailedHealthChecks));
    }

    #[test]
    fn the_reason_is_the_latest_failure_s() {
        let s = settings(2, 2);
        let mut h = TargetHealth::new();
        h.record(&Outcome::ResponseCodeMismatch(500), &s);
        h.record(&Outcome::ResponseCodeMismatch(500), &s);
        assert_eq!(h.state(), TargetState::Unhealthy);
        assert_eq!(h.reason(), Some(Reason::ResponseCodeMismatch));
        assert_eq!(h.last(), Some("HTTP 500, not in the matcher"));
        // Still unhealthy, no state change, but the reason follows the target.
        assert_eq!(h.record(&timeout(), &s), None);
        assert_eq!(h.reason(), Some(Reason::Timeout));
        assert_eq!(h.record(&Outcome::Failed("reset".into()), &s), None);
        assert_eq!(h.reason(), Some(Reason::FailedHealthChecks));
    }

    #[test]
    fn load_balancer_side_errors_make_a_target_unavailable() {
        let s = settings(2, 2);
        let mut h = TargetHealth::new();
        h.record(&ok(), &s);
        h.record(&ok(), &s);
        let internal = Outcome::Internal("no source address".into());
        assert_eq!(h.record(&internal, &s), None);
        assert_eq!(h.record(&internal, &s), Some(TargetState::Healthy));
        assert_eq!(h.state(), TargetState::Unavailable);
        assert_eq!(h.reason(), Some(Reason::InternalError));
        // A real failure while unavailable is news about the target itself.
        assert_eq!(
            h.record(&timeout(), &s),
            Some(TargetState::Unavailable),
            "unavailable -> unhealthy"
        );
        assert_eq!(h.state(), TargetState::Unhealthy);
        let u = TargetHealth::unavailable("no thread".into());
        assert_eq!(u.state(), TargetState::Unavailable);
        assert_eq!(u.reason().map(Reason::code), Some("Elb.InternalError"));
    }

    #[test]
    fn reason_codes_are_elb_s() {
        assert_eq!(
            Reason::of(&timeout()).map(Reason::code),
            Some("Target.Timeout")
        );
        assert_eq!(
            Reason::of(&Outcome::ResponseCodeMismatch(404)).map(Reason::code),
            Some("Target.ResponseCodeMismatch")
        );
        assert_eq!(
            Reason::of(&Outcome::Failed("refused".into())).map(Reason::code),
            Some("Target.FailedHealthChecks")
        );
        assert_eq!(Reason::of(&ok()), None);
        assert_eq!(
            Reason::DeregistrationInProgress.code(),
            "Target.DeregistrationInProgress"
        );
        assert_eq!(Reason::NotRegistered.code(), "Target.NotRegistered");
        assert_eq!(state_name(TargetState::Unavailable), "unavailable");
    }

    #[test]
    fn matchers_parse_as_the_config_writes_them() {
        let m: StatusMatcher = "200".parse().unwrap();
        assert!(m.matches(200) && !m.matches(201));
        let m: StatusMatcher = "200,202".parse().unwrap();
        assert!(m.matches(200) && m.matches(202) && !m.matches(201));
        let m: StatusMatcher = "200-299".parse().unwrap();
        assert!(m.matches(200) && m.matches(250) && m.matches(299) && !m.matches(300));
        assert!("20x".parse::<StatusMatcher>().is_err());
        assert!("299-200".parse::<StatusMatcher>().is_err());
        // An HTTP check without a matcher takes GWLB's 200-399.
        let hc = HealthCheck {
            protocol: HealthCheckProtocol::Http,
            ..HealthCheck::default()
        };
        let s = Settings::from_config(&hc);
        assert_eq!(s.path, "/");
        assert!(s.matcher.matches(302) && !s.matcher.matches(404));
    }
}
