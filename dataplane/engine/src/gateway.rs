//! The gateway pipeline: GWLB's load-balancer role, one packet at a time, sans IO.
//!
//! Endpoint traffic in: a frame on an endpoint attachment (port + VLAN) addressed to the
//! port's MAC but not its IP is an endpoint's data traffic. Its flow is found or created (TCP
//! only on SYN), a target is chosen with Maglev over the snapshot's new-flow view and kept for
//! the flow's life, and the inner IP packet is encapsulated exactly as GWLB does — outer
//! IPv4/UDP 6081 (source port stable per flow), GENEVE v0 with VNI 0, protocol type by the
//! inner version, the three class-0x0108 options in order — in the buffer's headroom.
//!
//! Return path: GENEVE to the port's own address from a registered target is checked (the
//! options, the cookie names a live flow of that target and endpoint, the inner packet
//! belongs to that flow), decapsulated and sent out of the flow's endpoint attachment to the
//! endpoint's next hop, inner packet untouched.
//!
//! Everything else addressed to an own address goes to the exception path (the kernel);
//! ARP requests for own addresses are answered in place.
//!
//! [`Gateway::process_burst`] does the same for a burst, with the flow-table lookups of the
//! burst overlapped (see [`crate::burst`]).

use core::net::Ipv4Addr;

use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::gwlb::{self, GwlbOptions};
use sluice_wire::vlan::{VlanHeader, VlanRepr};

use crate::burst::{CHUNK, Chunk, Lookups, NoPrefetch, Prefetch};
use crate::counters::{DropReason, WorkerCounters};
use crate::flow::{FlowKey, entropy_port_for_hash};
use crate::flow_table::{FlowTable, Handle, InsertError};
pub use crate::local::Verdict;
use crate::local::{self, GeneveIn, Intake};
use crate::maglev::TargetState;
use crate::packet::PacketBuf;
use crate::parse::{self, IpFlow, LinkLayer, QuotedFlow};
use crate::rst;
use crate::snapshot::{Endpoint, GatewaySnapshot, PortInfo};

pub use crate::encap::{ENCAP_LEN, OUTER_TTL};

/// The gateway pipeline of one worker: shared flow state plus the worker's counters.
#[derive(Debug)]
pub struct Gateway<'a> {
    /// The flow table shared by all workers; a flow's value is its target's index.
    pub table: &'a FlowTable,
    /// This worker's counters.
    pub counters: WorkerCounters,
    /// Stage one's output for [`Gateway::process_burst`], reused from chunk to chunk.
    chunk: Option<Box<Chunk<Staged>>>,
}

impl<'a> Gateway<'a> {
    /// A pipeline over shared flow state, with zeroed counters.
    pub fn new(table: &'a FlowTable) -> Self {
        Gateway {
            table,
            counters: WorkerCounters::new(),
            chunk: Some(Chunk::new(Staged::Empty)),
        }
    }

    /// Processes one frame received on `port` at time `now` (nanoseconds), rewriting it in
    /// place, and says where it goes.
    pub fn process<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        now: u64,
    ) -> Verdict {
        let rx_len = packet.data().len();
        let result = self.classify(snapshot, ports, port, packet, now);
        Verdict::counted(result, &mut self.counters, rx_len, packet.data().len())
    }

    /// Processes a burst of frames received on `port` at time `now` as [`Gateway::process`]
    /// would one after the other, with the same verdicts, frames, counters and flows, and
    /// writes each frame's verdict to the same index of `verdicts`: `None` for an empty slot,
    /// which is skipped. Slots past the shorter of the two slices are left alone.
    ///
    /// The flow-table lookups of up to [`CHUNK`] frames are made together, so that their cache
    /// misses overlap (see [`crate::burst`]); nothing allocates.
    pub fn process_burst<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        packets: &mut [Option<P>],
        now: u64,
        verdicts: &mut [Option<Verdict>],
    ) {
        self.process_burst_with(snapshot, ports, port, packets, now, verdicts, &NoPrefetch);
    }

    /// [`Gateway::process_burst`] issuing `prefetch` for every flow-table line a chunk will
    /// read, before it reads any; the runtime passes the platform's
    /// prefetch instruction (see [`Prefetch`]). Same verdicts, frames, counters and flows.
    #[expect(
        clippy::too_many_arguments,
        reason = "process_burst's arguments and the prefetch"
    )]
    pub fn process_burst_with<P: PacketBuf, F: Prefetch>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        packets: &mut [Option<P>],
        now: u64,
        verdicts: &mut [Option<Verdict>],
        prefetch: &F,
    ) {
        // Taken out for the burst so that the pipeline's methods can borrow `self`; it is
        // missing only if a panic unwound through an earlier burst.
        let mut chunk = self
            .chunk
            .take()
            .unwrap_or_else(|| Chunk::new(Staged::Empty));
        let Chunk {
            links,
            flows,
            geneves,
            staged,
            rx_lens,
            lookups,
        } = &mut *chunk;
        for (packets, verdicts) in packets.chunks_mut(CHUNK).zip(verdicts.chunks_mut(CHUNK)) {
            // Stage one: every frame parsed, every endpoint flow's key hashed and staged.
            lookups.clear();
            for (k, slot) in packets.iter_mut().enumerate() {
                match slot {
                    Some(packet) => {
                        rx_lens[k] = packet.data().len();
                        self.stage(
                            snapshot,
                            ports,
                            port,
                            packet,
                            &mut links[k],
                            &mut flows[k],
                            &mut geneves[k],
                            lookups,
                            &mut staged[k],
                        );
                    }
                    None => staged[k] = Staged::Empty,
                }
            }
            // Stage two: every lookup at once, and every return's cookie read.
            lookups.run(self.table, prefetch);
            for (stage, geneve) in staged.iter().zip(geneves.iter()).take(packets.len()) {
                if F::ISSUES_PREFETCHES
                    && let Staged::Return { .. } = stage
                {
                    self.table
                        .prefetch_cookie(geneve.options.flow_cookie, prefetch);
                }
            }
            for (stage, geneve) in staged.iter_mut().zip(geneves.iter()).take(packets.len()) {
                if let Staged::Return { handle, .. } = stage {
                    *handle = self.table.by_cookie(geneve.options.flow_cookie);
                }
            }
            // Stage three: every frame finished, in order, against the table as it is now.
            for (k, (slot, verdict)) in packets.iter_mut().zip(verdicts.iter_mut()).enumerate() {
                let Some(packet) = slot else {
                    *verdict = None;
                    continue;
                };
                let (link, flow) = (&links[k], &flows[k]);
                let result = match staged[k] {
                    // Stage one staged every frame; an empty slot stays empty.
                    Staged::Empty => continue,
                    Staged::Settled(result) => result,
                    Staged::Endpoint { scope, lookup } => self.endpoint_finish(
                        snapshot,
                        ports,
                        port,
                        link,
                        packet,
                        flow,
                        scope,
                        lookups.key(lookup),
                        lookups.hash(lookup),
                        lookups.current(self.table, lookup),
                        now,
                    ),
                    Staged::Return { target, handle } => {
                        let geneve = &geneves[k];
                        let handle = match handle {
                            Some(handle) if self.table.is_live(handle) => Some(handle),
                            _ => self.table.by_cookie(geneve.options.flow_cookie),
                        };
                        self.return_finish(
                            snapshot, ports, link, packet, target, geneve, flow, handle, now,
                        )
                    }
                };
                *verdict = Some(Verdict::counted(
                    result,
                    &mut self.counters,
                    rx_lens[k],
                    packet.data().len(),
                ));
            }
        }
        self.chunk = Some(chunk);
    }

    /// Stage one of [`Gateway::process_burst`] for one frame: what [`Gateway::classify`] does
    /// up to the flow table. The result goes to `out`, where
    /// stage three reads it: returned instead, it would come back through memory and be
    /// re-read at once with wider loads than the stores that wrote it, a store-forwarding
    /// stall per frame.
    #[expect(
        clippy::too_many_arguments,
        reason = "the slots stage one fills, each in its own array"
    )]
    #[inline(never)]
    fn stage<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        link: &mut LinkLayer,
        flow: &mut IpFlow,
        geneve: &mut GeneveIn,
        lookups: &mut Lookups,
        out: &mut Staged,
    ) {
        let staged = (|| -> Result<Staged, DropReason> {
            if let Some(target) =
                canonical_target(snapshot, ports, port, packet, geneve, flow, link)
            {
                return Ok(Staged::Return {
                    target: target?,
                    handle: None,
                });
            }
            match local::intake(ports, port, packet, &mut self.counters, link)? {
                Intake::Done(verdict) => Ok(Staged::Settled(Ok(verdict))),
                Intake::Geneve(src) => {
                    let target = return_intake(snapshot, link, packet, src, geneve, flow)?;
                    Ok(Staged::Return {
                        target,
                        handle: None,
                    })
                }
                Intake::Transit => {
                    let scope = endpoint_intake(snapshot, port, link, packet, flow)?;
                    let (key, _) = flow_key(snapshot, u32::from(scope), flow);
                    let hash = key.hash();
                    let lookup = lookups.push(key, hash);
                    Ok(Staged::Endpoint { scope, lookup })
                }
            }
        })();
        *out = staged.unwrap_or_else(|reason| Staged::Settled(Err(reason)));
    }

    fn classify<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        if let Some(result) = self.canonical_return(snapshot, ports, port, packet, now) {
            return result;
        }
        let mut link = LinkLayer::UNREAD;
        match local::intake(ports, port, packet, &mut self.counters, &mut link)? {
            Intake::Done(verdict) => Ok(verdict),
            Intake::Geneve(src) => self.target_return(snapshot, ports, &link, packet, src, now),
            Intake::Transit => self.endpoint_traffic(snapshot, ports, port, &link, packet, now),
        }
    }

    /// The return path for a frame in GWLB's own layout ([`local::canonical_geneve`]), read
    /// in one go; `None` for any other frame, which [`Gateway::classify`] reads in full.
    ///
    /// Out of line, so that the endpoint traffic [`Gateway::classify`] handles otherwise
    /// pays one call for it, and not for a larger `classify` (measured: 4 ns per packet).
    #[inline(never)]
    fn canonical_return<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        now: u64,
    ) -> Option<Result<Verdict, DropReason>> {
        let mut link = LinkLayer::UNREAD;
        let mut flow = IpFlow::UNREAD;
        let mut geneve = GeneveIn::UNREAD;
        let target = canonical_target(
            snapshot,
            ports,
            port,
            packet,
            &mut geneve,
            &mut flow,
            &mut link,
        )?;
        Some(target.and_then(|target| {
            let handle = self.table.by_cookie(geneve.options.flow_cookie);
            self.return_finish(
                snapshot, ports, &link, packet, target, &geneve, &flow, handle, now,
            )
        }))
    }

    /// The return path: GENEVE from a target back to the flow's endpoint.
    fn target_return<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        link: &LinkLayer,
        packet: &mut P,
        src: Ipv4Addr,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let mut flow = IpFlow::UNREAD;
        let mut geneve = GeneveIn::UNREAD;
        let target = return_intake(snapshot, link, packet, src, &mut geneve, &mut flow)?;
        let handle = self.table.by_cookie(geneve.options.flow_cookie);
        self.return_finish(
            snapshot, ports, link, packet, target, &geneve, &flow, handle, now,
        )
    }

    /// The return path from the flow the cookie names (`handle`, [`FlowTable::by_cookie`]
    /// of the cookie now) on: the flow checks, then the decapsulation.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts stage one read, passed where they are kept"
    )]
    #[inline]
    fn return_finish<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        link: &LinkLayer,
        packet: &mut P,
        target: u16,
        geneve: &GeneveIn,
        flow: &IpFlow,
        handle: Option<Handle>,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let options = &geneve.options;
        let inner_offset = link.payload_offset + geneve.inner_offset;
        let handle = handle.ok_or(DropReason::UnknownCookie)?;
        if self.table.value(handle) != Some(u32::from(target)) {
            return Err(DropReason::WrongTarget);
        }
        let key = self.table.key(handle).ok_or(DropReason::UnknownCookie)?;
        let scope = key.scope();
        let endpoint = snapshot
            .endpoints
            .get(scope as usize)
            .ok_or(DropReason::UnknownCookie)?;
        if endpoint.id != options.endpoint_id {
            return Err(DropReason::WrongEndpoint);
        }
        let (returned, _) = flow_key(snapshot, scope, flow);
        if returned != key && !quotes_flow(snapshot, scope, flow, &key) {
            return Err(DropReason::CookieFlowMismatch);
        }
        let out = ports
            .get(usize::from(endpoint.port))
            .ok_or(DropReason::UnknownAttachment)?;
        let next_hop = out
            .next_hop_mac(endpoint.next_hop)
            .ok_or(DropReason::NoNeighbor)?;
        self.table.touch(handle, now);
        self.counters.processed_bytes += flow.len as u64;
        // Strip the outer headers, keep the inner packet as it came, and put the endpoint's
        // link layer in front of it.
        let l2_len =
            sluice_wire::ethernet::HEADER_LEN + if endpoint.vlan.is_some() { 4 } else { 0 };
        let inner_len = flow.len;
        let ethertype = if flow.src.is_ipv6() {
            EtherType::Ipv6
        } else {
            EtherType::Ipv4
        };
        if !packet.adj(inner_offset - l2_len) || !packet.truncate(l2_len + inner_len) {
            return Err(DropReason::MalformedIp);
        }
        write_link(
            packet.data_mut(),
            out.mac,
            next_hop,
            endpoint.vlan,
            ethertype,
        );
        Ok(Verdict::Transmit {
            port: endpoint.port,
        })
    }

    /// Endpoint traffic: find or create the flow, choose its target, encapsulate.
    fn endpoint_traffic<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        link: &LinkLayer,
        packet: &mut P,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let mut flow = IpFlow::UNREAD;
        let scope = endpoint_intake(snapshot, port, link, packet, &mut flow)?;
        let (key, _) = flow_key(snapshot, u32::from(scope), &flow);
        let hash = key.hash();
        let found = self.table.lookup(&key, hash);
        self.endpoint_finish(
            snapshot, ports, port, link, packet, &flow, scope, &key, hash, found, now,
        )
    }

    /// Endpoint traffic from the flow lookup on (`found` is [`FlowTable::lookup`] of `key`
    /// now): the flow an ICMP error quotes, else the packet's own flow, found or created.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts stage one read, passed where they are kept"
    )]
    #[inline]
    fn endpoint_finish<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        ports: &[PortInfo],
        port: u16,
        link: &LinkLayer,
        packet: &mut P,
        flow: &IpFlow,
        scope: u16,
        key: &FlowKey,
        hash: u64,
        found: Option<Handle>,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let endpoint = snapshot
            .endpoints
            .get(usize::from(scope))
            .ok_or(DropReason::UnknownAttachment)?;
        let packet_in = PacketIn {
            ports,
            port,
            link,
            endpoint,
            flow,
            now,
        };
        // An ICMP error follows the flow of the packet it quotes, when that flow exists.
        if let Some(quoted) = flow.quoted
            && let Some((key, hash, handle)) = self.quoted_flow(snapshot, scope, &quoted)
        {
            return self.forward(snapshot, &packet_in, packet, &key, hash, handle);
        }
        // Each outcome calls `forward` itself rather than returning the key to a common tail:
        // a key merged from several paths goes through memory and is copied with wide loads
        // of narrow stores, which stalls (see `parse::read_ip_flow`).
        match found {
            Some(handle) => self.forward(snapshot, &packet_in, packet, key, hash, handle),
            None => self.first_packet(snapshot, &packet_in, packet, key, hash),
        }
    }

    /// The live flow an ICMP error's quoted packet belongs to, if any.
    #[cold]
    #[inline(never)]
    fn quoted_flow(
        &self,
        snapshot: &GatewaySnapshot,
        scope: u16,
        quoted: &QuotedFlow,
    ) -> Option<(FlowKey, u64, Handle)> {
        let key = quoted_key(snapshot, u32::from(scope), quoted);
        let hash = key.hash();
        self.table.lookup(&key, hash).map(|h| (key, hash, h))
    }

    /// A packet of no known flow: creates the flow (or answers a TCP packet that may not
    /// create one with a reset, when configured) and forwards the packet.
    #[cold]
    #[inline(never)]
    fn first_packet<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        packet_in: &PacketIn<'_>,
        packet: &mut P,
        key: &FlowKey,
        hash: u64,
    ) -> Result<Verdict, DropReason> {
        let flow = packet_in.flow;
        match self.new_flow(snapshot, key, hash, flow, packet_in.now) {
            Ok(handle) => self.forward(snapshot, packet_in, packet, key, hash, handle),
            Err(DropReason::TcpNoFlow) if snapshot.attributes.reset_on_idle_timeout => self
                .reset_sender(
                    packet_in.ports,
                    packet_in.port,
                    packet_in.link,
                    packet,
                    flow,
                ),
            Err(reason) => Err(reason),
        }
    }

    /// Sends a packet of a known flow on to the flow's target, encapsulated (or resets or
    /// drops it, as [`Gateway::steer`] decides).
    #[inline]
    fn forward<P: PacketBuf>(
        &mut self,
        snapshot: &GatewaySnapshot,
        packet_in: &PacketIn<'_>,
        packet: &mut P,
        key: &FlowKey,
        hash: u64,
        handle: Handle,
    ) -> Result<Verdict, DropReason> {
        let PacketIn {
            ports,
            port,
            link,
            endpoint,
            flow,
            now,
        } = *packet_in;
        // The packet refreshes its flow and reads its target in one visit to the slot: `None`
        // when the flow is gone since the lookup (removed, expired or evicted).
        let value = self.table.touch_value(handle, now);
        let target_index = match self.steer(snapshot, handle, value, key, now) {
            Steer::Target(target) => target,
            Steer::Reset if flow.is_tcp() && !flow.is_fragment => {
                self.table.remove(handle);
                return self.reset_sender(ports, port, link, packet, flow);
            }
            // Only TCP can be reset: other flows stay where they were (GWLB's default).
            Steer::Reset => value
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(DropReason::NoTarget)?,
        };
        let target = snapshot
            .targets
            .get(usize::from(target_index))
            .ok_or(DropReason::NoTarget)?;
        let encap = target.encap.as_ref().ok_or(DropReason::NoNeighbor)?;
        self.counters.processed_bytes += flow.len as u64;

        // Drop the endpoint's link layer and any Ethernet padding, then put the outer
        // headers in front of the inner packet.
        let inner_len = flow.len;
        if !packet.truncate(link.payload_offset + inner_len) {
            return Err(DropReason::MalformedIp);
        }
        let grow = ENCAP_LEN
            .checked_sub(link.payload_offset)
            .ok_or(DropReason::NoHeadroom)?;
        let options = GwlbOptions {
            endpoint_id: endpoint.id,
            attachment_id: endpoint.attachment_id,
            flow_cookie: self.table.cookie(handle),
        };
        let protocol_type = if flow.src.is_ipv6() {
            EtherType::Ipv6
        } else {
            EtherType::Ipv4
        };
        let frame = packet.prepend(grow).ok_or(DropReason::NoHeadroom)?;
        encap.write(
            frame,
            entropy_port_for_hash(hash),
            protocol_type,
            &options,
            inner_len,
        );
        Ok(Verdict::Transmit {
            port: snapshot.target_port,
        })
    }

    /// Decides where an existing flow goes now, by its target's state and the failover
    /// attributes (gwlb-spec §2.4–§2.5):
    ///
    /// - healthy, initial, or draining within `deregistration_delay`: stay;
    /// - unhealthy: `rebalance` moves the flow to the new-flow view's choice;
    ///   `send_tcp_reset.on_unhealthy` (without rebalance, which takes precedence) resets
    ///   it; otherwise it stays (GWLB's default `no_rebalance`);
    /// - draining past the delay, or unused (deregistered): `rebalance` moves it,
    ///   `send_tcp_reset.on_deregistration` resets it, otherwise it stays until it idles out.
    ///
    /// `value` is the flow's value (its target) as the packet found it, `None` if the flow is
    /// gone.
    #[inline]
    fn steer(
        &mut self,
        snapshot: &GatewaySnapshot,
        handle: Handle,
        value: Option<u32>,
        key: &FlowKey,
        now: u64,
    ) -> Steer {
        let Some(current) = value.and_then(|v| u16::try_from(v).ok()) else {
            return Steer::Reset;
        };
        let Some(target) = snapshot.targets.get(usize::from(current)) else {
            // The target left the snapshot altogether: only a new choice can carry the flow.
            return self
                .rebalance(snapshot, handle, key)
                .unwrap_or(Steer::Reset);
        };
        let attributes = &snapshot.attributes;
        let (gone, reset) = match target.state {
            TargetState::Unhealthy | TargetState::Unavailable => {
                (true, attributes.reset_on_unhealthy)
            }
            TargetState::Draining => {
                let expired = target.draining_since_ns.is_some_and(|since| {
                    now.saturating_sub(since) >= attributes.deregistration_delay_ns
                });
                (expired, attributes.reset_on_deregistration)
            }
            TargetState::Unused => (true, attributes.reset_on_deregistration),
            TargetState::Healthy | TargetState::Initial => (false, false),
        };
        if !gone {
            return Steer::Target(current);
        }
        if attributes.rebalance
            && let Some(steer) = self.rebalance(snapshot, handle, key)
        {
            return steer;
        }
        if reset {
            Steer::Reset
        } else {
            Steer::Target(current)
        }
    }

    /// Moves a flow to the target the new-flow view picks for it now, if that differs.
    #[cold]
    fn rebalance(
        &mut self,
        snapshot: &GatewaySnapshot,
        handle: Handle,
        key: &FlowKey,
    ) -> Option<Steer> {
        let target = snapshot.new_flows.table.lookup(key.hash())?;
        if snapshot.new_flows.fail_open {
            // No healthy target to move to: moving would only trade one dead target for another.
            return None;
        }
        self.table.set_value(handle, u32::from(target));
        self.counters.rebalanced_flows += 1;
        Some(Steer::Target(target))
    }

    /// Rewrites a TCP packet, in place, into the RST its sender should get (RFC 9293 §3.10.7.1:
    /// the sequence number from the packet's ACK, or zero with an ACK of its sequence space),
    /// and sends it back out of the port it came in on.
    #[cold]
    fn reset_sender<P: PacketBuf>(
        &mut self,
        ports: &[PortInfo],
        port: u16,
        link: &LinkLayer,
        packet: &mut P,
        flow: &IpFlow,
    ) -> Result<Verdict, DropReason> {
        let me = ports
            .get(usize::from(port))
            .ok_or(DropReason::UnknownAttachment)?;
        let l3 = link.payload_offset;
        let rst_len =
            rst::rewrite(&mut packet.data_mut()[l3..], flow).ok_or(DropReason::TcpNoFlow)?;
        if !packet.truncate(l3 + rst_len) {
            return Err(DropReason::MalformedIp);
        }
        let mut eth = EthernetFrame::new_unchecked(packet.data_mut());
        eth.set_dst_addr(link.src);
        eth.set_src_addr(me.mac);
        self.counters.tcp_resets += 1;
        self.counters.drop(DropReason::TcpNoFlow);
        Ok(Verdict::Transmit { port })
    }

    #[cold]
    fn new_flow(
        &mut self,
        snapshot: &GatewaySnapshot,
        key: &FlowKey,
        hash: u64,
        flow: &IpFlow,
        now: u64,
    ) -> Result<Handle, DropReason> {
        if flow.is_tcp() && !flow.is_fragment && !flow.is_tcp_syn() {
            return Err(DropReason::TcpNoFlow);
        }
        let target = snapshot
            .new_flows
            .table
            .lookup(hash)
            .ok_or(DropReason::NoTarget)?;
        let attributes = snapshot.attributes;
        let inserted = self
            .table
            .insert(key, hash, u32::from(target), now, |k| {
                attributes.idle_timeout_ns(k)
            })
            .map_err(|e| match e {
                InsertError::Full => DropReason::FlowTableFull,
                InsertError::Busy => DropReason::FlowTableBusy,
            })?;
        if inserted.created {
            self.counters.new_flows += 1;
        }
        if inserted.evicted.is_some() {
            self.counters.expired_flows += 1;
        }
        Ok(inserted.handle)
    }
}

/// Endpoint traffic up to its flow key: the endpoint attachment the frame arrived on (its
/// scope), which must be available, and the inner packet's flow, read into `flow`.
#[inline]
fn endpoint_intake<P: PacketBuf>(
    snapshot: &GatewaySnapshot,
    port: u16,
    link: &LinkLayer,
    packet: &P,
    flow: &mut IpFlow,
) -> Result<u16, DropReason> {
    let scope = snapshot
        .endpoint_at(port, link.vlan)
        .ok_or(DropReason::UnknownAttachment)?;
    let endpoint = &snapshot.endpoints[usize::from(scope)];
    if !endpoint.available {
        return Err(DropReason::EndpointNotAvailable);
    }
    parse::read_ip_flow(&packet.data()[link.payload_offset..], flow)?;
    if flow.len > gwlb::MAX_INNER_LEN {
        return Err(DropReason::InnerTooLarge);
    }
    Ok(scope)
}

/// [`return_intake`] for a frame in GWLB's own layout ([`local::canonical_geneve`]), read
/// in one go: `None` for any other frame, which the caller reads in full.
///
/// Out of line: the gateway's packets are mostly endpoint traffic, whose path measured 1–3 ns
/// slower with the layout's reader inlined into its callers.
#[inline(never)]
fn canonical_target<P: PacketBuf>(
    snapshot: &GatewaySnapshot,
    ports: &[PortInfo],
    port: u16,
    packet: &P,
    geneve: &mut GeneveIn,
    flow: &mut IpFlow,
    link: &mut LinkLayer,
) -> Option<Result<u16, DropReason>> {
    let me = ports.get(usize::from(port))?;
    let src = local::canonical_geneve(packet.data(), me, link, geneve, flow)?;
    Some(
        snapshot
            .target_by_ip(src)
            .ok_or(DropReason::GeneveSourceNotAllowed),
    )
}

/// The return path up to the flow cookie: the registered target that sent the GENEVE packet
/// (from `src`), and its headers and inner flow, checked and read into `geneve` and `flow`.
#[inline]
fn return_intake<P: PacketBuf>(
    snapshot: &GatewaySnapshot,
    link: &LinkLayer,
    packet: &P,
    src: Ipv4Addr,
    geneve: &mut GeneveIn,
    flow: &mut IpFlow,
) -> Result<u16, DropReason> {
    let target = snapshot
        .target_by_ip(src)
        .ok_or(DropReason::GeneveSourceNotAllowed)?;
    local::geneve_in(&packet.data()[link.payload_offset..], geneve, flow)?;
    Ok(target)
}

/// The flow key of a packet under the snapshot's stickiness, scoped by its endpoint.
///
/// Always inlined: returned from a call, the key's words come back through memory and are
/// re-read with wider loads than the stores that wrote them, which stalls the store buffer.
#[inline(always)]
fn flow_key(
    snapshot: &GatewaySnapshot,
    scope: u32,
    flow: &IpFlow,
) -> (FlowKey, crate::flow::Direction) {
    FlowKey::of_flow(scope, flow, snapshot.attributes.stickiness)
}

/// Whether a packet is an ICMP error quoting a packet of the flow `key`.
#[cold]
#[inline(never)]
fn quotes_flow(snapshot: &GatewaySnapshot, scope: u32, flow: &IpFlow, key: &FlowKey) -> bool {
    flow.quoted
        .is_some_and(|q| quoted_key(snapshot, scope, &q) == *key)
}

/// The flow key of the packet an ICMP error quotes.
fn quoted_key(snapshot: &GatewaySnapshot, scope: u32, q: &QuotedFlow) -> FlowKey {
    FlowKey::new(
        scope,
        q.src,
        q.dst,
        u8::from(q.protocol),
        q.src_port,
        q.dst_port,
        snapshot.attributes.stickiness,
        q.is_fragment,
    )
    .0
}

/// A received packet's facts that the steps after the flow lookup need.
#[derive(Clone, Copy)]
struct PacketIn<'p> {
    /// The ports.
    ports: &'p [PortInfo],
    /// The port it arrived on.
    port: u16,
    /// Its link layer.
    link: &'p LinkLayer,
    /// The endpoint attachment it arrived on.
    endpoint: &'p Endpoint,
    /// Its IP flow.
    flow: &'p IpFlow,
    /// The time, nanoseconds.
    now: u64,
}

/// What stage one of [`Gateway::process_burst`] left of a frame for stage three.
#[derive(Debug, Clone, Copy)]
enum Staged {
    /// No frame in the slot.
    Empty,
    /// Decided already: ARP, the kernel's traffic, or a drop.
    Settled(Result<Verdict, DropReason>),
    /// Endpoint traffic of this endpoint (scope), whose lookup is staged at this index.
    Endpoint {
        /// The endpoint's index.
        scope: u16,
        /// The index of its lookup in the chunk's [`Lookups`].
        lookup: usize,
    },
    /// A return from this target; stage two reads the flow its cookie names.
    Return {
        /// The target's index.
        target: u16,
        /// [`FlowTable::by_cookie`] of the cookie, as stage two found it.
        handle: Option<Handle>,
    },
}

/// Where an existing flow's packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steer {
    /// To this target.
    Target(u16),
    /// Nowhere: the flow is reset (TCP) or dropped.
    Reset,
}

/// Writes an Ethernet header (and an 802.1Q tag when `vlan` is set) at the front of `frame`.
fn write_link(
    frame: &mut [u8],
    src: EthernetAddress,
    dst: EthernetAddress,
    vlan: Option<u16>,
    ethertype: EtherType,
) {
    let outer_type = if vlan.is_some() {
        EtherType::Vlan
    } else {
        ethertype
    };
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: outer_type,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    if let Some(vlan_id) = vlan {
        VlanRepr {
            pcp: 0,
            dei: false,
            vlan_id,
            ethertype,
        }
        .emit(&mut VlanHeader::new_unchecked(&mut frame[14..]));
    }
}
