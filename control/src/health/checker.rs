//! The gateway's health checker: one thread per registered target, polled by the control
//! thread.
//!
//! Why threads and not an async runtime: a check is a handful of blocking calls each bounded
//! by the check's timeout, GWLB allows at most 300 targets per group, and checks run every
//! 5–300 s, so a thread per target costs little (a small stack, asleep nearly always) and
//! keeps the probe plain sequential code with std sockets and rustls' blocking stream; an
//! async runtime would add a large dependency and a second way of doing I/O for no gain at
//! this scale. The threads are spawned by the control thread and so share its core (EAL's
//! main lcore), never a worker's.
//!
//! The control thread never blocks on them: [`Checker::poll`] drains a channel of outcomes
//! with `try_recv`, judges them ([`super::state`]) and returns the state changes, which the
//! runtime turns into a new snapshot at once — within one interval of the check that
//! decided it. Each thread checks right away, then every interval from the start of its
//! previous check; it sleeps on its command channel, so new settings reach it immediately
//! and a removed target's thread ends after its current check (whose late outcome is
//! ignored: outcomes carry the thread's generation).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rustls::ClientConfig;
use sluice_engine::maglev::TargetState;

use super::HealthError;
use super::probe::{self, Outcome, Source};
use super::state::{Reason, Settings, TargetHealth};

/// A check thread's stack: a check needs a TLS handshake's worth, not a default 2 MiB.
const STACK_SIZE: usize = 256 * 1024;

/// A target's change of state, for the runtime to print and publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The target.
    pub target: Ipv4Addr,
    /// The state before.
    pub from: TargetState,
    /// The state now.
    pub to: TargetState,
    /// The reason code now (`None` when healthy).
    pub reason: Option<Reason>,
}

/// What a check thread is told.
enum Command {
    /// Check with these settings from now on.
    Update(Arc<(Settings, Source)>),
}

/// The control thread's handle on one target's check thread.
struct Checked {
    health: TargetHealth,
    /// Which thread's outcomes count (a re-registered target gets a new thread).
    generation: u64,
    /// Dropping it ends the thread after its current check.
    commands: Option<Sender<Command>>,
}

/// Health checks of a set of targets.
pub struct Checker {
    spec: Arc<(Settings, Source)>,
    tls: Arc<ClientConfig>,
    targets: BTreeMap<Ipv4Addr, Checked>,
    next_generation: u64,
    outcomes_tx: Sender<(Ipv4Addr, u64, Outcome)>,
    outcomes: Receiver<(Ipv4Addr, u64, Outcome)>,
}

impl Checker {
    /// A checker with no targets yet.
    ///
    /// # Errors
    ///
    /// When the TLS configuration of HTTPS checks cannot be built.
    pub fn new(settings: Settings, source: Source) -> Result<Self, HealthError> {
        let (outcomes_tx, outcomes) = crossbeam_channel::unbounded();
        Ok(Self {
            spec: Arc::new((settings, source)),
            tls: probe::tls_config()?,
            targets: BTreeMap::new(),
            next_generation: 0,
            outcomes_tx,
            outcomes,
        })
    }

    /// The current settings.
    pub fn settings(&self) -> &Settings {
        &self.spec.0
    }

    /// Checks exactly `targets` from now on: new ones start `initial` and are checked at
    /// once; ones no longer listed stop being checked and lose their state (registering
    /// them again starts over, as in GWLB).
    ///
    /// # Errors
    ///
    /// When a thread cannot be started; that target is then `unavailable`
    /// (`Elb.InternalError`) and the others are set up all the same.
    pub fn set_targets(&mut self, targets: &[Ipv4Addr]) -> Result<(), HealthError> {
        self.targets.retain(|ip, _| targets.contains(ip));
        let mut first_error = None;
        for &ip in targets {
            if self.targets.contains_key(&ip) {
                continue;
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            let checked = match self.spawn(ip, generation) {
                Ok(commands) => Checked {
                    health: TargetHealth::new(),
                    generation,
                    commands: Some(commands),
                },
                Err(e) => {
                    let checked = Checked {
                        health: TargetHealth::unavailable(e.to_string()),
                        generation,
                        commands: None,
                    };
                    first_error.get_or_insert(e);
                    checked
                }
            };
            self.targets.insert(ip, checked);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Applies new settings or a new source to every target from its next check on; the
    /// targets keep their state and counts.
    pub fn update(&mut self, settings: Settings, source: Source) {
        if self.spec.0 == settings && self.spec.1 == source {
            return;
        }
        self.spec = Arc::new((settings, source));
        for checked in self.targets.values() {
            if let Some(tx) = &checked.commands {
                let _ = tx.send(Command::Update(Arc::clone(&self.spec)));
            }
        }
    }

    /// Takes in every outcome that arrived, without blocking, and returns the state changes.
    pub fn poll(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        while let Ok((ip, generation, outcome)) = self.outcomes.try_recv() {
            let Some(checked) = self.targets.get_mut(&ip) else {
                continue;
            };
            if checked.generation != generation {
                continue;
            }
            if let Some(from) = checked.health.record(&outcome, &self.spec.0) {
                changes.push(Change {
                    target: ip,
                    from,
                    to: checked.health.state(),
                    reason: checked.health.reason(),
                });
            }
        }
        changes
    }

    /// A checked target's health, `None` for a target not checked.
    pub fn health(&self, target: Ipv4Addr) -> Option<&TargetHealth> {
        self.targets.get(&target).map(|c| &c.health)
    }

    /// Every checked target's health, by address.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, &TargetHealth)> {
        self.targets.iter().map(|(ip, c)| (*ip, &c.health))
    }

    /// Starts the check thread of `target`.
    fn spawn(&self, target: Ipv4Addr, generation: u64) -> Result<Sender<Command>, HealthError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let spec = Arc::clone(&self.spec);
        let tls = Arc::clone(&self.tls);
        let outcomes = self.outcomes_tx.clone();
        std::thread::Builder::new()
            .name(format!("health {target}"))
            .stack_size(STACK_SIZE)
            .spawn(move || check_loop(target, generation, spec, &tls, &rx, &outcomes))
            .map_err(|source| HealthError::Thread {
                what: format!("target {target}"),
                source,
            })?;
        Ok(tx)
    }
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("settings", &self.spec.0)
            .field("source", &self.spec.1)
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A check thread: check, report, sleep until the next interval (or a command), until the
/// control thread drops its end of the command channel or of the outcome channel.
fn check_loop(
    target: Ipv4Addr,
    generation: u64,
    mut spec: Arc<(Settings, Source)>,
    tls: &Arc<ClientConfig>,
    commands: &Receiver<Command>,
    outcomes: &Sender<(Ipv4Addr, u64, Outcome)>,
) {
    loop {
        let started = Instant::now();
        let outcome = probe::check(target, &spec.0, &spec.1, tls);
        if outcomes.send((target, generation, outcome)).is_err() {
            return;
        }
        loop {
            let next = started + spec.0.interval;
            match commands.recv_deadline(next) {
                Ok(Command::Update(new)) => spec = new,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
