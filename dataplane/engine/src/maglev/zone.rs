//! Zone views: which registered targets a gateway node's new flows may go to, following GWLB
//! (`gwlb-spec.md` §2.5, §2.6, §3.3), and the Maglev table over them.
//!
//! The rules, in order:
//!
//! 1. **The view.** With cross-zone load balancing off, a node considers only the targets of
//!    its own zone; with it on, the targets of every zone, treated equally. "Load balancing
//!    and health check decisions are always independent among zones", so a view never spills
//!    into another zone, not even when its own zone has no healthy target.
//! 2. **New flows go to healthy targets.** The candidates are the view's
//!    [`TargetState::Healthy`] targets.
//! 3. **Fail open.** If the view has no healthy target, GWLB "picks a target at random and
//!    forwards traffic to it for the life of the flow". sluice's "random" is the Maglev table
//!    over the view's [`TargetState::Unhealthy`] and [`TargetState::Unavailable`] targets: the
//!    flow hash picks one, so every node picks the same one, and the flow table pins it for
//!    the flow's life. Draining and unused targets never take new flows (deregistration
//!    stops new flows at once; unused ones are not in service), nor do initial ones (a new
//!    target gets traffic only once it passes its initial health checks).
//! 4. **Nothing left.** A view with neither gives an empty table: lookups return `None` and
//!    the pipeline drops the new flow.
//!
//! A view depends on the set of (address, zone, state) records, never on their order, so
//! every node with the same registrations and health view picks the same target for a flow.

use core::net::Ipv4Addr;

use super::{Backend, BuildError, MAX_BACKENDS, MaglevTable};

/// A target's health state, as GWLB reports it (`gwlb-spec.md` §3.3).
///
/// Only [`Healthy`](Self::Healthy) targets receive new flows, except in fail-open, when no
/// target of the view is healthy and [`Unhealthy`](Self::Unhealthy) and
/// [`Unavailable`](Self::Unavailable) ones do (see [`build_view`]). Existing flows are not this
/// type's business: the flow table keeps them on their target whatever its state, unless
/// target failover says `rebalance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetState {
    /// Registering, or running its initial health checks (`Elb.RegistrationInProgress`,
    /// `Elb.InitialHealthChecking`). Receives no new flows, not even in fail-open.
    Initial,
    /// Passing health checks. Receives new flows.
    Healthy,
    /// Failing health checks (`Target.FailedHealthChecks`). Receives new flows only in
    /// fail-open.
    Unhealthy,
    /// Deregistering, for the deregistration delay (`Target.DeregistrationInProgress`).
    /// Receives no new flows.
    Draining,
    /// Not registered or not in use (`Target.NotRegistered`, `Target.NotInUse`, ...).
    /// Receives no new flows.
    Unused,
    /// Health unknown because of an error on the load balancer's side (`Elb.InternalError`).
    /// Receives new flows only in fail-open: it is no worse a bet than an unhealthy target.
    Unavailable,
}

/// One registered target as a zone view sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The target's address, which is also its identity for Maglev (see [`Backend`]).
    pub ip: Ipv4Addr,
    /// The availability zone the target is in, compared byte for byte with the node's zone.
    pub zone: String,
    /// The target's current health state.
    pub state: TargetState,
}

/// The targets a gateway node's new flows go to, and the Maglev table that picks among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneView {
    /// The table for new flows. Its values index the `targets` slice given to [`build_view`];
    /// it is empty (lookups return `None`) when there are no candidates.
    pub table: MaglevTable,
    /// True when the view has no healthy target and `table` spreads new flows over its
    /// unhealthy and unavailable targets instead. False when the candidates are healthy, and
    /// also when there are no candidates at all.
    pub fail_open: bool,
    /// The candidates, as indices into `targets`, in ascending order.
    pub candidates: Vec<u16>,
}

impl TargetState {
    /// Whether a target in this state receives new flows while its view has a healthy target:
    /// true only for [`Healthy`](Self::Healthy).
    #[must_use]
    pub const fn receives_new_flows(self) -> bool {
        matches!(self, Self::Healthy)
    }

    /// Whether a target in this state receives new flows when its view has no healthy target
    /// (fail-open): true for [`Unhealthy`](Self::Unhealthy) and
    /// [`Unavailable`](Self::Unavailable).
    #[must_use]
    pub const fn receives_new_flows_in_fail_open(self) -> bool {
        matches!(self, Self::Unhealthy | Self::Unavailable)
    }
}

/// Builds the view of the gateway node in `own_zone` over every registered target: who takes
/// new flows and the Maglev table of size `size` that picks among them.
///
/// With `cross_zone` false only the targets whose zone is `own_zone` are considered, with it
/// true all of them. The candidates are the considered targets that are healthy or, when there
/// are none, the unhealthy and unavailable ones (fail-open); the module documentation gives
/// the reasons. The table's values are indices into `targets`.
///
/// # Errors
///
/// [`BuildError::SizeNotPrime`] and [`BuildError::SizeTooLarge`] for a bad `size`,
/// [`BuildError::TooManyBackends`] if `targets` has more than [`MAX_BACKENDS`] entries or the
/// candidates do not fit the table, and [`BuildError::DuplicateBackend`] if two targets share
/// an address (checked over all of `targets`, so the error does not wait for a health change).
pub fn build_view(
    targets: &[TargetInfo],
    own_zone: &str,
    cross_zone: bool,
    size: usize,
) -> Result<ZoneView, BuildError> {
    if targets.len() > MAX_BACKENDS {
        return Err(BuildError::TooManyBackends {
            backends: targets.len(),
            limit: MAX_BACKENDS,
        });
    }
    let mut ips: Vec<Ipv4Addr> = targets.iter().map(|target| target.ip).collect();
    ips.sort_unstable();
    if let Some(pair) = ips.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(BuildError::DuplicateBackend { ip: pair[0] });
    }

    let in_view = |target: &TargetInfo| cross_zone || target.zone == own_zone;
    let select = |accept: fn(TargetState) -> bool| -> Vec<u16> {
        targets
            .iter()
            .zip(0..=u16::MAX)
            .filter(|(target, _)| in_view(target) && accept(target.state))
            .map(|(_, index)| index)
            .collect()
    };
    let mut candidates = select(TargetState::receives_new_flows);
    let mut fail_open = false;
    if candidates.is_empty() {
        candidates = select(TargetState::receives_new_flows_in_fail_open);
        fail_open = !candidates.is_empty();
    }

    let backends: Vec<Backend> = candidates
        .iter()
        .map(|&index| Backend::new(targets[usize::from(index)].ip))
        .collect();
    let mut table = MaglevTable::build(&backends, size)?;
    // The table indexes `backends`; the caller wants indices into `targets`.
    for entry in &mut table.entries {
        *entry = candidates[usize::from(*entry)];
    }
    Ok(ZoneView {
        table,
        fail_open,
        candidates,
    })
}
