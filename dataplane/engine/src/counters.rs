//! Why packets are dropped, and the per-worker counters that say how often.
//!
//! Every failure on the packet path is a [`DropReason`], never a log line: one `#[repr(u16)]`
//! enum, a stable snake_case name for metrics and JSON, and a sentence for people. Each worker
//! owns a [`WorkerCounters`] of plain `u64`s (no atomics, no sharing: the worker is the only
//! writer), and the control thread reads copies the worker sends it at a fixed period, so
//! counting costs one add on the hot path.

use core::fmt;

/// Declares [`DropReason`] with its names and descriptions from one table, so the three can
/// never disagree.
macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $description:literal; )+) => {
        /// Why the engine dropped a packet.
        ///
        /// The discriminants are indices into [`WorkerCounters::drops`]; they are not stable
        /// across versions (names are: metrics use [`DropReason::name`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )+
        }

        impl DropReason {
            /// Every reason, in discriminant order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant),+];

            /// How many reasons there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The stable snake_case name used in metrics, JSON and `sluice simulate`.
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)+ }
            }

            /// A sentence saying what happened, for people.
            pub const fn description(self) -> &'static str {
                match self { $(DropReason::$variant => $description,)+ }
            }
        }
    };
}

drop_reasons! {
    /// The frame is shorter than an Ethernet header or its VLAN tags are broken.
    MalformedEthernet = "malformed_ethernet", "the Ethernet or VLAN header is truncated or malformed";
    /// The frame's destination MAC is neither the port's nor broadcast.
    NotOurMac = "not_our_mac", "the frame is addressed to another MAC address";
    /// The EtherType is neither IPv4, IPv6 nor ARP.
    UnsupportedEtherType = "unsupported_ethertype", "the EtherType is not IPv4, IPv6 or ARP";
    /// An ARP packet that is malformed, not IPv4-over-Ethernet, or not for an own address.
    ArpIgnored = "arp_ignored", "an ARP packet that is malformed or not about an own address";
    /// An IPv4 or IPv6 header (outer or inner) is truncated, lies about its length, or has a
    /// bad IPv4 header checksum.
    MalformedIp = "malformed_ip", "an IP header is truncated, lies about its length or has a bad checksum";
    /// A TCP, UDP or ICMP header is truncated or lies about its length.
    MalformedTransport = "malformed_transport", "a TCP, UDP or ICMP header is truncated or malformed";
    /// Traffic arrived on a port and VLAN that no endpoint is attached to.
    UnknownAttachment = "unknown_attachment", "no GWLB endpoint is attached to this port and VLAN";
    /// The endpoint exists but is not `available` (pending acceptance or rejected).
    EndpointNotAvailable = "endpoint_not_available", "the GWLB endpoint is pending acceptance or rejected";
    /// A TCP packet without SYN found no flow (after idle expiry, or never seen).
    TcpNoFlow = "tcp_no_flow", "a TCP packet that is not a SYN has no flow";
    /// The inner packet exceeds GWLB's 8,500-byte limit; never fragmented, no ICMP.
    InnerTooLarge = "inner_too_large", "the inner packet exceeds GWLB's 8500-byte limit";
    /// No registered target can take a new flow.
    NoTarget = "no_target", "no registered target can take a new flow";
    /// The flow table has no room for a new flow.
    FlowTableFull = "flow_table_full", "the flow table is full";
    /// Another worker inserting the same new flow stalled; the packet is dropped rather than
    /// waited for (the flow exists by the next packet).
    FlowTableBusy = "flow_table_busy", "another worker's insert of the same flow stalled";
    /// There is not enough headroom in the buffer to add the outer headers.
    NoHeadroom = "no_headroom", "the packet buffer has no headroom for the outer headers";
    /// The MAC address of the next hop is not known yet (ARP pending or failed).
    NoNeighbor = "no_neighbor", "the next hop's MAC address is not resolved";
    /// GENEVE (UDP 6081) from a source that is not a registered target or allowed GWLB.
    GeneveSourceNotAllowed = "geneve_source_not_allowed", "GENEVE from a source that is not a registered target or allowed GWLB";
    /// The GENEVE header is truncated, has version ≠ 0, or its options run past the packet.
    MalformedGeneve = "malformed_geneve", "the GENEVE header is truncated, of another version or has broken options";
    /// The GENEVE protocol type is neither IPv4 nor IPv6.
    GeneveNotIp = "geneve_not_ip", "the GENEVE payload is not an IPv4 or IPv6 packet";
    /// One of the three GWLB options is missing, repeated or of the wrong length.
    GwlbOptionsInvalid = "gwlb_options_invalid", "a GWLB option is missing, repeated or of the wrong length";
    /// The flow cookie names no live flow, or a flow since reused (stale generation).
    UnknownCookie = "unknown_cookie", "the flow cookie names no live flow (unknown or stale)";
    /// The cookie's flow is not the returned inner packet's flow.
    CookieFlowMismatch = "cookie_flow_mismatch", "the returned inner packet does not belong to the cookie's flow";
    /// The cookie's flow belongs to another target than the one that returned it.
    WrongTarget = "wrong_target", "the flow belongs to another target than the one that returned it";
    /// The endpoint ID in the returned options is not the flow's endpoint.
    WrongEndpoint = "wrong_endpoint", "the returned endpoint id is not the flow's endpoint";
    /// An IP packet addressed to none of the appliance's addresses (it routes nothing).
    NotForUs = "not_for_us", "the packet is addressed to an IP address that is not the appliance's";
    /// The appliance's inspection policy denies the flow (`deny`).
    PolicyDenied = "policy_denied", "the inspection policy denies the flow";
    /// The policy rejects the flow but the packet cannot be answered: a TCP RST, an ICMP
    /// error or a non-first fragment gets no reset or unreachable back.
    PolicyRejected = "policy_rejected", "the inspection policy rejects the flow and the packet gets no answer (a reset, an ICMP error or a fragment)";
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The counters one worker owns and bumps on its packet path.
///
/// Plain integers: the worker is the only writer. The control thread receives copies and
/// merges them with [`WorkerCounters::merge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets handed to a transmit queue.
    pub tx_packets: u64,
    /// Bytes handed to a transmit queue.
    pub tx_bytes: u64,
    /// Packets handed to the kernel through the exception path.
    pub exception_packets: u64,
    /// Flows created (GWLB's NewFlowCount).
    pub new_flows: u64,
    /// Flows removed by idle expiry.
    pub expired_flows: u64,
    /// TCP resets sent (GWLB's TCP_ELB_Reset_Count).
    pub tcp_resets: u64,
    /// Existing flows moved to another target (`target_failover.* = rebalance`).
    pub rebalanced_flows: u64,
    /// Inner bytes carried in either direction, excluding health checks (GWLB's
    /// ProcessedBytes).
    pub processed_bytes: u64,
    /// ARP requests answered for own addresses.
    pub arp_replies: u64,
    /// Packets of flows the appliance's policy rejects, answered with a TCP RST or an ICMP
    /// unreachable inside the tunnel.
    pub policy_rejects: u64,
    /// Drops, indexed by [`DropReason`] discriminant.
    pub drops: [u64; DropReason::COUNT],
    /// The appliance's decisions per GWLB endpoint.
    pub endpoints: EndpointCounters,
}

/// How many GWLB endpoints a worker counts apart; the decisions of any further ones are
/// pooled in [`EndpointCounters::other`].
pub const ENDPOINT_SLOTS: usize = 16;

/// The appliance's decisions about one GWLB endpoint's flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointCount {
    /// The endpoint id (GENEVE option type 1).
    pub endpoint: u64,
    /// Flows created.
    pub flows: u64,
    /// Packets the policy denied.
    pub denied: u64,
    /// Packets the policy rejected (answered or not).
    pub rejected: u64,
}

/// Per-endpoint counts, kept off the established-flow path: they move when a flow is created
/// or the policy stops a packet. A fixed table, so counting never allocates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCounters {
    slots: [EndpointCount; ENDPOINT_SLOTS],
    used: usize,
    /// Endpoints beyond the first [`ENDPOINT_SLOTS`], together (`endpoint` is 0).
    pub other: EndpointCount,
}

impl EndpointCounters {
    /// No endpoint counted yet.
    pub const fn new() -> Self {
        const ZERO: EndpointCount = EndpointCount {
            endpoint: 0,
            flows: 0,
            denied: 0,
            rejected: 0,
        };
        EndpointCounters {
            slots: [ZERO; ENDPOINT_SLOTS],
            used: 0,
            other: ZERO,
        }
    }

    /// The counts of `endpoint`, which get a slot of their own while there is one.
    pub fn entry(&mut self, endpoint: u64) -> &mut EndpointCount {
        let used = self.used;
        match self.slots[..used]
            .iter()
            .position(|c| c.endpoint == endpoint)
        {
            Some(i) => &mut self.slots[i],
            None if used < ENDPOINT_SLOTS => {
                self.used += 1;
                self.slots[used].endpoint = endpoint;
                &mut self.slots[used]
            }
            None => &mut self.other,
        }
    }

    /// Every endpoint counted, in order of appearance.
    pub fn iter(&self) -> impl Iterator<Item = &EndpointCount> {
        self.slots[..self.used].iter()
    }

    /// Adds another worker's counts to these.
    pub fn merge(&mut self, other: &EndpointCounters) {
        for theirs in other.iter() {
            let mine = self.entry(theirs.endpoint);
            mine.flows += theirs.flows;
            mine.denied += theirs.denied;
            mine.rejected += theirs.rejected;
        }
        self.other.flows += other.other.flows;
        self.other.denied += other.other.denied;
        self.other.rejected += other.other.rejected;
    }
}

impl Default for EndpointCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerCounters {
    /// All zero.
    pub const fn new() -> Self {
        WorkerCounters {
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            exception_packets: 0,
            new_flows: 0,
            expired_flows: 0,
            tcp_resets: 0,
            rebalanced_flows: 0,
            processed_bytes: 0,
            arp_replies: 0,
            policy_rejects: 0,
            drops: [0; DropReason::COUNT],
            endpoints: EndpointCounters::new(),
        }
    }

    /// Counts one drop.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// The count of one drop reason.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops together.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds another worker's counters to these.
    pub fn merge(&mut self, other: &WorkerCounters) {
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.tx_packets += other.tx_packets;
        self.tx_bytes += other.tx_bytes;
        self.exception_packets += other.exception_packets;
        self.new_flows += other.new_flows;
        self.expired_flows += other.expired_flows;
        self.tcp_resets += other.tcp_resets;
        self.rebalanced_flows += other.rebalanced_flows;
        self.processed_bytes += other.processed_bytes;
        self.arp_replies += other.arp_replies;
        self.policy_rejects += other.policy_rejects;
        for (mine, theirs) in self.drops.iter_mut().zip(other.drops.iter()) {
            *mine += theirs;
        }
        self.endpoints.merge(&other.endpoints);
    }

    /// The non-zero drop counters, by reason.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops_of(*r)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Default for WorkerCounters {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_counts_pool_beyond_their_slots_and_merge_by_id() {
        let mut a = EndpointCounters::new();
        for id in 0..(ENDPOINT_SLOTS as u64 + 3) {
            a.entry(100 + id).flows += 1;
        }
        a.entry(100).denied += 2;
        assert_eq!(a.iter().count(), ENDPOINT_SLOTS);
        assert_eq!(a.other.flows, 3, "the late endpoints, pooled");
        let mut b = EndpointCounters::new();
        b.entry(7).rejected += 1;
        b.entry(100).flows += 5;
        b.merge(&a);
        let of = |c: &EndpointCounters, id| c.iter().find(|e| e.endpoint == id).copied();
        assert_eq!(of(&b, 100).map(|e| (e.flows, e.denied)), Some((6, 2)));
        assert_eq!(of(&b, 7).map(|e| e.rejected), Some(1));
        assert_eq!(
            b.iter().count(),
            ENDPOINT_SLOTS,
            "7 took a slot, one more pooled"
        );
        assert_eq!(b.other.flows, 4);
    }

    use super::*;

    #[test]
    fn discriminants_index_the_table() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
    }

    #[test]
    fn names_are_unique_snake_case_and_described() {
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for reason in DropReason::ALL {
            let name = reason.name();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert!(!reason.description().is_empty());
            assert_eq!(reason.to_string(), name);
        }
    }

    #[test]
    fn counting_and_merging() {
        let mut a = WorkerCounters::new();
        a.drop(DropReason::TcpNoFlow);
        a.drop(DropReason::TcpNoFlow);
        a.rx_packets = 3;
        let mut b = WorkerCounters::new();
        b.drop(DropReason::FlowTableFull);
        b.rx_packets = 1;
        a.merge(&b);
        assert_eq!(a.rx_packets, 4);
        assert_eq!(a.drops_of(DropReason::TcpNoFlow), 2);
        assert_eq!(a.drops_of(DropReason::FlowTableFull), 1);
        assert_eq!(a.total_drops(), 3);
        let nonzero: Vec<_> = a.nonzero_drops().collect();
        assert_eq!(
            nonzero,
            [(DropReason::TcpNoFlow, 2), (DropReason::FlowTableFull, 1)]
        );
    }
}
