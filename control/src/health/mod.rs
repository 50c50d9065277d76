//! Health: the gateway's checks of its targets and the appliance's answer to them.
//!
//! - [`state`]: the sans-IO judgement of check outcomes — GWLB's thresholds, target states
//!   (`initial`, `healthy`, `unhealthy`, `unavailable`) and their `Elb.*` / `Target.*` reason
//!   codes. No clock, no socket: a sequence of outcomes gives a sequence of states.
//! - [`probe`]: one check of one target (TCP connect, HTTP or HTTPS GET judged by the
//!   matcher), on a fresh connection bound to the gateway's own address and closed after it,
//!   bounded by the check's timeout from start to end.
//! - [`checker`]: a thread per target that probes every interval and hands outcomes to the
//!   control thread, which polls them without blocking and feeds [`state`].
//! - [`responder`]: the appliance's side, the listener GWLB's checks reach: TCP accept and
//!   close, or HTTP `200`/`503` by the data plane's health, with counters at `?detail`.
//!
//! None of this runs on a worker core: the threads are started by the control thread, whose
//! CPU affinity (EAL's main lcore, the control core) they inherit.

pub mod checker;
pub mod probe;
pub mod responder;
pub mod state;

pub use checker::{Change, Checker};
pub use probe::{Outcome, Source};
pub use responder::{DataPlaneStatus, Responder, ResponderLimits};
pub use state::{Reason, Settings, TargetHealth, state_name};

/// Why a health checker or responder could not start.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The TLS client configuration for HTTPS checks could not be built.
    #[error("health checks: TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A thread could not be started.
    #[error("health checks: starting a thread for {what}: {source}")]
    Thread {
        /// What the thread was for.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The responder could not listen on an address.
    #[error(
        "health-check responder: listening on {address}: {source}\n  hint: another process (or a second sluice) may hold the port; change appliance.health_check.port or stop it"
    )]
    Listen {
        /// The address.
        address: std::net::SocketAddrV4,
        /// The operating system's error.
        source: std::io::Error,
    },
}
