//! The appliance pipeline: the inspection appliance behind a GWLB (AWS's or sluice's own),
//! one packet at a time, sans IO.
//!
//! GENEVE is accepted only from the configured GWLB source networks and only with GWLB's
//! three options (unknown options are carried along untouched). Every inbound packet refreshes
//! its flow's header record — the outer addresses, UDP source port and the GENEVE header with
//! all its options — so that a new flow cookie on 5-tuple reuse wins at once (gwlb-spec §1.4,
//! G2) and packets the appliance originates later (policy rejects, ICMP errors) can be sent
//! with the flow's current header. What passes goes back exactly as GWLB expects: the GENEVE
//! header and options byte for byte, outer MACs and IPs swapped, UDP ports kept; no reply
//! carries an inner packet over 8,500 bytes.
//!
//! The inspection policy ([`crate::policy`]) decides a flow on its first packet and the flow
//! keeps the verdict in its flow-table value, so replies share it. Allowed flows go back as
//! above; denied ones are dropped (`policy_denied`); rejected ones are answered inside the
//! tunnel with the packet's own GENEVE header: a TCP RST to the sender, or an ICMP
//! destination unreachable from the destination (port unreachable for UDP, administratively
//! prohibited otherwise). With `strict_tcp` a TCP flow must begin with a SYN. ICMP errors
//! follow the flow they quote: they pass only while that flow is allowed. After a policy
//! change (a new generation), each flow is decided again at its next packet, from its
//! initiator's side, so established flows the new policy allows go on and the others stop.
//!
//! ARP requests for own addresses are answered; other traffic to own addresses (health
//! checks, management) goes to the kernel through the exception path.
//!
//! [`Appliance::process_burst`] does the same for a burst, with the flow-table lookups of the
//! burst overlapped (see [`crate::burst`]). A flow's record is read only when the packet's
//! header differs from it: the slot's word in the flow table holds its fingerprint.

use core::net::{IpAddr, Ipv4Addr};
use core::sync::atomic::{AtomicU64, Ordering};

use sluice_wire::ethernet::EthernetFrame;
use sluice_wire::gwlb;
use sluice_wire::icmpv4::{Icmpv4Message, Icmpv4Packet, Icmpv4Repr};
use sluice_wire::icmpv6::{Icmpv6Message, Icmpv6Packet, Icmpv6Repr};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use sluice_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use sluice_wire::tcp::{TcpFlags, TcpPacket};
use sluice_wire::udp::UdpPacket;
use zerocopy::FromZeros;

use crate::burst::{CHUNK, Chunk, Lookups, NoPrefetch, Prefetch};
use crate::counters::{DropReason, WorkerCounters};
use crate::flow::{Direction, FlowKey, Stickiness};
use crate::flow_stats::FlowStats;
use crate::flow_table::{FlowTable, Handle, InsertError};
use crate::local::{self, GeneveIn, Intake, Verdict};
use crate::packet::PacketBuf;
use crate::parse::{IpFlow, LinkLayer, QuotedFlow};
use crate::policy::{Action, FlowVerdict, Query};
use crate::rst;
use crate::snapshot::{ApplianceSnapshot, PortInfo};

/// The longest GENEVE header (base and options) a flow's header record keeps: GWLB's 40
/// bytes and room for 8 more, so that a record is one cache line. Longer headers are still
/// echoed on the packet's own reply but not recorded (counted in [`FlowRecords::too_long`]).
pub const MAX_RECORDED_GENEVE: usize = 48;

/// Words of a record slot: addresses, then sequence + port + length, then the GENEVE bytes.
const RECORD_WORDS: usize = 2 + MAX_RECORDED_GENEVE / 8;

/// The outer header of the last packet GWLB sent for a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRecord {
    /// The GWLB node that sent it (the outer source).
    pub gwlb: Ipv4Addr,
    /// The appliance address it was sent to (the outer destination).
    pub appliance: Ipv4Addr,
    /// GWLB's outer UDP source port.
    pub udp_src_port: u16,
    /// Length of the GENEVE header in `geneve`.
    pub geneve_len: usize,
    /// The GENEVE header with all its options, as received.
    pub geneve: [u8; MAX_RECORDED_GENEVE],
}

impl HeaderRecord {
    /// The recorded GENEVE header.
    pub fn geneve_header(&self) -> &[u8] {
        &self.geneve[..self.geneve_len]
    }
}

/// One flow's record, one cache line: a sequence lock over plain atomic words, so any worker
/// may refresh it and any may read a consistent copy, without locks.
///
/// Word 0 holds the GWLB and appliance addresses; word 1 the sequence (high 32 bits: even
/// when stable, odd while a writer is inside, 0 when never written), the UDP source port and
/// the GENEVE length; words 2 to 7 the GENEVE header.
#[derive(Debug, FromZeros)]
#[repr(align(64))]
struct RecordSlot {
    words: [AtomicU64; RECORD_WORDS],
}

/// The header records of every flow, beside the flow table and indexed by its slots.
#[derive(Debug)]
pub struct FlowRecords {
    slots: Box<[RecordSlot]>,
    too_long: AtomicU64,
}

impl FlowRecords {
    /// Records for every slot of a flow table of `capacity` entries, allocated once, zeroed
    /// (never written) and untouched until used, like the table's own memory.
    ///
    /// # Panics
    ///
    /// Aborts through [`std::alloc::handle_alloc_error`] when the allocator refuses the
    /// memory ([`FlowRecords::BYTES_PER_SLOT`] per slot), as a `Vec` would.
    pub fn new(capacity: usize) -> Self {
        let slots = <[RecordSlot]>::new_box_zeroed_with_elems(capacity).unwrap_or_else(|_| {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<RecordSlot>())
        });
        FlowRecords {
            slots,
            too_long: AtomicU64::new(0),
        }
    }

    /// Bytes per slot.
    pub const BYTES_PER_SLOT: usize = size_of::<RecordSlot>();

    /// The addresses of the records, as [`FlowTable::memory`] gives the table's.
    #[must_use]
    pub fn memory(&self) -> core::ops::Range<usize> {
        crate::memory::memory_of(&self.slots)
    }

    /// Writes every page of the records once, as [`FlowTable::prefault`] does the table's.
    pub fn prefault(&self) {
        crate::memory::prefault(&self.slots, |slot| &slot.words[0]);
    }

    /// How many packets carried a GENEVE header longer than [`MAX_RECORDED_GENEVE`].
    pub fn too_long(&self) -> u64 {
        self.too_long.load(Ordering::Relaxed)
    }

    /// Records `record` for the flow in `slot` unless it is already what is recorded. A
    /// writer that finds another writer inside leaves the record to it: both hold a header
    /// GWLB just sent for this flow.
    #[cfg(test)]
    fn store(&self, slot: u32, record: &HeaderRecord) {
        self.store_words(slot, encode(record), || {});
    }

    /// Records the words of an encoded record for the flow in `slot` unless they are what is
    /// recorded, as [`FlowRecords::store`]; `then` runs once they are written, before any
    /// other writer can enter (the appliance stores the record's fingerprint there, so that
    /// fingerprints are written in the same order as the records).
    #[inline]
    fn store_words(&self, slot: u32, words: [u64; RECORD_WORDS], then: impl FnOnce()) {
        let Some(s) = self.slots.get(slot as usize) else {
            return;
        };
        let current = s.words[1].load(Ordering::Relaxed);
        let unchanged = current >> 32 != 0
            && current as u32 == words[1] as u32
            && s.words
                .iter()
                .zip(&words)
                .enumerate()
                .all(|(i, (a, b))| i == 1 || a.load(Ordering::Relaxed) == *b);
        if unchanged {
            return;
        }
        let seq = current >> 32;
        if seq % 2 == 1
            || s.words[1]
                .compare_exchange(
                    current,
                    (seq + 1) << 32 | (current & 0xffff_ffff),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        for (i, (w, v)) in s.words.iter().zip(words).enumerate() {
            if i != 1 {
                w.store(v, Ordering::Relaxed);
            }
        }
        then();
        // The sequence wraps after 2^31 writes of one slot; 0 stays "never written" only for
        // the first wrap, which a record cannot reach in practice.
        let next = (seq + 2) & 0xffff_ffff;
        s.words[1].store(next << 32 | (words[1] & 0xffff_ffff), Ordering::Release);
    }

    /// A consistent copy of the record in `slot`, or `None` if it is being rewritten (after a
    /// few tries) or was never written.
    pub fn load(&self, slot: u32) -> Option<HeaderRecord> {
        let s = self.slots.get(slot as usize)?;
        for _ in 0..8 {
            let before = s.words[1].load(Ordering::Acquire);
            if (before >> 32) % 2 == 1 {
                core::hint::spin_loop();
                continue;
            }
            let words: [u64; RECORD_WORDS] =
                core::array::from_fn(|i| s.words[i].load(Ordering::Relaxed));
            core::sync::atomic::fence(Ordering::Acquire);
            if s.words[1].load(Ordering::Relaxed) == before {
                return (before >> 32 != 0).then(|| decode(&words));
            }
        }
        None
    }
}

/// The fingerprint of an encoded record, which the flow table keeps in the slot's word
/// ([`FlowTable::slot_word`]) beside the flow's body: a packet whose record has the slot's
/// fingerprint finds its header recorded already and never visits the record's cache line.
///
/// Four independent 64×64→128-bit multiply-folds of the words with fixed keys, so that no two
/// headers GWLB sends for a slot are told apart by less than 64 bits of mixing; never 0, the
/// word of a slot whose record was never written.
#[inline]
fn fingerprint(words: &[u64; RECORD_WORDS]) -> u64 {
    const KEYS: [u64; RECORD_WORDS] = [
        0x2d35_8dcc_aa6c_78a5,
        0x8bb8_4b93_962e_acc9,
        0x4b33_a62e_d433_d4a3,
        0x4d5a_2da5_1de1_aa47,
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    let mut print = 0;
    for (pair, keys) in words.chunks_exact(2).zip(KEYS.chunks_exact(2)) {
        let product = u128::from(pair[0] ^ keys[0]) * u128::from(pair[1] ^ keys[1]);
        print ^= (product as u64) ^ (product >> 64) as u64 ^ pair[0] ^ pair[1];
    }
    print | 1
}

fn encode(r: &HeaderRecord) -> [u64; RECORD_WORDS] {
    let mut words = [0u64; RECORD_WORDS];
    words[0] = u64::from(r.gwlb.to_bits()) << 32 | u64::from(r.appliance.to_bits());
    words[1] = u64::from(r.udp_src_port) << 16 | r.geneve_len as u64;
    for (i, chunk) in r.geneve.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        words[2 + i] = u64::from_be_bytes(b);
    }
    words
}

/// The record of the GENEVE packet `l3` (from its outer IPv4 header), whose GENEVE header of
/// `geneve_len` bytes (at most [`MAX_RECORDED_GENEVE`]) starts at `geneve_offset`.
fn header_record(l3: &[u8], geneve_offset: usize, geneve_len: usize) -> HeaderRecord {
    let ip = Ipv4Packet::new_unchecked(l3);
    let mut record = HeaderRecord {
        gwlb: ip.src_addr(),
        appliance: ip.dst_addr(),
        udp_src_port: u16::from_be_bytes([l3[ip.header_len()], l3[ip.header_len() + 1]]),
        geneve_len,
        geneve: [0; MAX_RECORDED_GENEVE],
    };
    record.geneve[..geneve_len].copy_from_slice(&l3[geneve_offset..geneve_offset + geneve_len]);
    record
}

/// `encode(&header_record(..))` read straight from the packet, or `None` when the packet
/// ends less than [`MAX_RECORDED_GENEVE`] bytes after the GENEVE header's start.
///
/// Copying the header into a record and reading it back in words costs a store-forwarding
/// stall on every packet. The inner packet follows the GENEVE header, so the packet almost
/// always holds the whole window; bytes past the header are masked to the zeros `encode`
/// sees.
#[inline]
fn encode_packet(
    l3: &[u8],
    geneve_offset: usize,
    geneve_len: usize,
) -> Option<[u64; RECORD_WORDS]> {
    let window: &[u8; MAX_RECORDED_GENEVE] = l3
        .get(geneve_offset..geneve_offset + MAX_RECORDED_GENEVE)?
        .try_into()
        .ok()?;
    let ip = Ipv4Packet::new_unchecked(l3);
    let udp_src_port = u16::from_be_bytes([l3[ip.header_len()], l3[ip.header_len() + 1]]);
    let mut words = [0u64; RECORD_WORDS];
    words[0] = u64::from(ip.src_addr().to_bits()) << 32 | u64::from(ip.dst_addr().to_bits());
    words[1] = u64::from(udp_src_port) << 16 | geneve_len as u64;
    if geneve_len == gwlb::GENEVE_HEADER_LEN {
        // GWLB's own header, whole words with nothing to mask: the common case, unrolled.
        const WHOLE: usize = gwlb::GENEVE_HEADER_LEN / 8;
        let (header, _) = window.as_chunks::<8>();
        for (word, chunk) in words[2..2 + WHOLE].iter_mut().zip(header) {
            *word = u64::from_be_bytes(*chunk);
        }
        return Some(words);
    }
    for (i, (word, chunk)) in words[2..]
        .iter_mut()
        .zip(window.chunks_exact(8))
        .enumerate()
    {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        // How many of the chunk's bytes belong to the header (0 to 8).
        let kept = geneve_len.saturating_sub(8 * i).min(8) as u32;
        let mask = u64::MAX.checked_shl(64 - 8 * kept).unwrap_or(0);
        *word = u64::from_be_bytes(bytes) & mask;
    }
    Some(words)
}

fn decode(words: &[u64; RECORD_WORDS]) -> HeaderRecord {
    let mut geneve = [0u8; MAX_RECORDED_GENEVE];
    for (i, chunk) in geneve.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&words[2 + i].to_be_bytes());
    }
    HeaderRecord {
        gwlb: Ipv4Addr::from_bits((words[0] >> 32) as u32),
        appliance: Ipv4Addr::from_bits(words[0] as u32),
        udp_src_port: (words[1] >> 16) as u16,
        geneve_len: (words[1] as usize & 0xff).min(MAX_RECORDED_GENEVE),
        geneve,
    }
}

/// The appliance pipeline of one worker: shared flow state plus the worker's counters.
#[derive(Debug)]
pub struct Appliance<'a> {
    /// The flow table shared by all workers.
    pub table: &'a FlowTable,
    /// The flows' header records, shared by all workers.
    pub records: &'a FlowRecords,
    /// This worker's counters.
    pub counters: WorkerCounters,
    /// Per-flow packet and byte counts for flow logs, when they are on.
    stats: Option<&'a FlowStats>,
    /// Stage one's output for [`Appliance::process_burst`], reused from chunk to chunk.
    chunk: Option<Box<Chunk<Staged>>>,
}

impl<'a> Appliance<'a> {
    /// A pipeline over shared flow state, with zeroed counters.
    pub fn new(table: &'a FlowTable, records: &'a FlowRecords) -> Self {
        Appliance {
            table,
            records,
            counters: WorkerCounters::new(),
            stats: None,
            chunk: Some(Chunk::new(Staged::Empty)),
        }
    }

    /// The same pipeline counting every flow's packets and bytes each way in `stats` (for
    /// flow logs): a flow's counts start when it is created and include dropped packets.
    #[must_use]
    pub fn with_flow_stats(mut self, stats: &'a FlowStats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Processes one frame received on `port` at time `now` (nanoseconds), rewriting it in
    /// place, and says where it goes.
    pub fn process<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        now: u64,
    ) -> Verdict {
        let rx_len = packet.data().len();
        let result = self.classify(snapshot, ports, port, packet, now);
        Verdict::counted(result, &mut self.counters, rx_len, packet.data().len())
    }

    /// Processes a burst of frames received on `port` at time `now` as [`Appliance::process`]
    /// would one after the other, with the same verdicts, frames, counters, flows and header
    /// records, and writes each frame's verdict to the same index of `verdicts`: `None` for an
    /// empty slot, which is skipped. Slots past the shorter of the two slices are left alone.
    ///
    /// The flow-table lookups of up to [`CHUNK`] frames are made together, so that their
    /// cache misses overlap (see [`crate::burst`]); nothing allocates.
    pub fn process_burst<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        ports: &[PortInfo],
        port: u16,
        packets: &mut [Option<P>],
        now: u64,
        verdicts: &mut [Option<Verdict>],
    ) {
        self.process_burst_with(snapshot, ports, port, packets, now, verdicts, &NoPrefetch);
    }

    /// [`Appliance::process_burst`] issuing `prefetch` for every flow-table line a chunk will
    /// read, before it reads any; the runtime passes the platform's
    /// prefetch instruction (see [`Prefetch`]). Same verdicts, frames, counters and flows.
    #[expect(
        clippy::too_many_arguments,
        reason = "process_burst's arguments and the prefetch"
    )]
    pub fn process_burst_with<P: PacketBuf, F: Prefetch>(
        &mut self,
        snapshot: &ApplianceSnapshot,
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
            // Stage one: every frame parsed, every GENEVE flow's key hashed and staged.
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
            // Stage two: every lookup at once. The header records are not read: a flow whose
            // header is unchanged (its fingerprint in the slot's word) never visits its record.
            lookups.run(self.table, prefetch);
            // Stage three: every frame finished, in order, against the table as it is now.
            for (k, (slot, verdict)) in packets.iter_mut().zip(verdicts.iter_mut()).enumerate() {
                let Some(packet) = slot else {
                    *verdict = None;
                    continue;
                };
                let result = match staged[k] {
                    // Stage one staged every frame; an empty slot stays empty.
                    Staged::Empty => continue,
                    Staged::Settled(result) => result,
                    Staged::Flow { lookup, direction } => self.inspect_finish(
                        snapshot,
                        ports,
                        port,
                        &links[k],
                        packet,
                        &geneves[k],
                        &flows[k],
                        (lookups.key(lookup), direction),
                        lookups.hash(lookup),
                        lookups.current(self.table, lookup),
                        now,
                    ),
                    // An ICMP error: the one-packet path, in order, against the table as it
                    // is now.
                    Staged::Related => match ports.get(usize::from(port)) {
                        Some(me) => self.inspect(snapshot, me, port, &links[k], packet, now),
                        None => Err(DropReason::UnknownAttachment),
                    },
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

    /// Stage one of [`Appliance::process_burst`] for one frame: what
    /// [`Appliance::classify`] does up to the flow table. The result goes to `out`, where
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
        snapshot: &ApplianceSnapshot,
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
            if let Some(read) = canonical_source(snapshot, ports, port, packet, link, geneve, flow)
            {
                read?;
                let (key, direction) = self.flow_of(geneve.options.endpoint_id, flow);
                let hash = key.hash();
                return Ok(Staged::Flow {
                    lookup: lookups.push(key, hash),
                    direction,
                });
            }
            match self.intake(snapshot, ports, port, packet, link)? {
                Some(verdict) => Ok(Staged::Settled(Ok(verdict))),
                None => {
                    let (key, direction) = self.inspect_intake(link, packet, geneve, flow)?;
                    if flow.quoted.is_some() {
                        return Ok(Staged::Related);
                    }
                    let hash = key.hash();
                    Ok(Staged::Flow {
                        lookup: lookups.push(key, hash),
                        direction,
                    })
                }
            }
        })();
        *out = staged.unwrap_or_else(|reason| Staged::Settled(Err(reason)));
    }

    /// The flow a GENEVE packet's inner flow has in the table, found or created, and the
    /// direction the packet travels in it.
    #[inline(always)]
    pub fn flow_of(&self, options_endpoint: u64, flow: &IpFlow) -> (FlowKey, Direction) {
        FlowKey::of_flow(
            endpoint_scope(options_endpoint),
            flow,
            Stickiness::FiveTuple,
        )
    }

    fn classify<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let mut link = LinkLayer::UNREAD;
        let mut flow = IpFlow::UNREAD;
        let mut geneve = GeneveIn::UNREAD;
        if let Some(read) = canonical_source(
            snapshot,
            ports,
            port,
            packet,
            &mut link,
            &mut geneve,
            &mut flow,
        ) {
            let me = read?;
            let l3 = link.payload_offset;
            return self.inspect_read(snapshot, me, port, l3, packet, &geneve, &flow, now);
        }
        match local::intake(ports, port, packet, &mut self.counters, &mut link)? {
            Intake::Done(verdict) => Ok(verdict),
            Intake::Geneve(src) => {
                if !snapshot.is_gwlb_source(src) {
                    return Err(DropReason::GeneveSourceNotAllowed);
                }
                let me = ports
                    .get(usize::from(port))
                    .ok_or(DropReason::UnknownAttachment)?;
                self.inspect(snapshot, me, port, &link, packet, now)
            }
            Intake::Transit => Err(DropReason::NotForUs),
        }
    }

    /// A GENEVE packet from an allowed GWLB: find or create its flow (the policy decides a
    /// new flow on its first packet), enforce the flow's verdict, record the header and send
    /// the packet back.
    fn inspect<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        me: &PortInfo,
        port: u16,
        link: &LinkLayer,
        packet: &mut P,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let l3 = link.payload_offset;
        let mut flow = IpFlow::UNREAD;
        let mut geneve = GeneveIn::UNREAD;
        local::geneve_in(&packet.data()[l3..], &mut geneve, &mut flow)?;
        self.inspect_read(snapshot, me, port, l3, packet, &geneve, &flow, now)
    }

    /// [`Appliance::inspect`] once the GENEVE headers and the inner flow are read (the outer
    /// IPv4 header starts at `l3`).
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts the caller read, passed where they are kept"
    )]
    #[inline]
    fn inspect_read<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        me: &PortInfo,
        port: u16,
        l3: usize,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        if let Some(quoted) = flow.quoted
            && let Some(result) =
                self.related(snapshot, me, port, l3, packet, geneve, flow, &quoted, now)
        {
            return result;
        }
        let (key, direction) = self.flow_of(geneve.options.endpoint_id, flow);
        let hash = key.hash();
        let handle = match self.table.lookup(&key, hash) {
            Some(handle) => handle,
            None => self.new_flow(
                snapshot,
                (&key, direction),
                hash,
                l3,
                packet,
                geneve,
                flow,
                now,
            )?,
        };
        self.settle(
            snapshot, me, port, l3, packet, geneve, flow, handle, direction, now,
        )
    }

    /// Records a packet of the flow `handle` (its time, and its counts when flow logs are
    /// on) and returns the flow's value.
    ///
    /// Also returns the slot's word: the fingerprint of its recorded header.
    #[inline(always)]
    fn seen(&self, handle: Handle, direction: Direction, len: usize, now: u64) -> (u32, u64) {
        let seen = self.table.touch_value_word(handle, now).unwrap_or((0, 0));
        if let Some(stats) = self.stats {
            stats.account(handle, direction, len as u64);
        }
        seen
    }

    /// The rest of a packet of a found or created flow, for both forms: recorded, its
    /// flow's verdict enforced, and sent back if it passes.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts the caller read, passed where they are kept"
    )]
    #[inline(always)]
    fn settle<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        me: &PortInfo,
        port: u16,
        l3: usize,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        handle: Handle,
        direction: Direction,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let (value, recorded) = self.seen(handle, direction, flow.len, now);
        if !FlowVerdict::allows_current(value, snapshot.policy.generation())
            && let Some(verdict) = self.enforce(
                snapshot,
                me,
                port,
                l3,
                packet,
                geneve,
                flow,
                (handle, recorded),
                value,
                direction,
            )?
        {
            return Ok(verdict);
        }
        Ok(self.pass(
            snapshot,
            me,
            port,
            l3,
            packet,
            geneve,
            flow,
            (handle, recorded),
        ))
    }

    /// Sends an allowed packet back to GWLB: its flow's header record refreshed (`recorded` is
    /// the slot's fingerprint), a SYN's MSS clamped, the same GENEVE header and options, outer
    /// MACs and IPs swapped, UDP ports kept.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts the caller read, passed where they are kept"
    )]
    #[inline(always)]
    fn pass<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        me: &PortInfo,
        port: u16,
        l3: usize,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        (handle, recorded): (Handle, u64),
    ) -> Verdict {
        let GeneveIn {
            geneve_offset,
            inner_offset,
            ..
        } = *geneve;
        self.record(
            (handle, recorded),
            &packet.data()[l3..],
            geneve_offset,
            inner_offset,
        );
        self.counters.processed_bytes += flow.len as u64;

        if let Some(clamp) = snapshot.mss_clamp
            && flow.protocol == IpProtocol::Tcp
            && flow.tcp_flags.is_some_and(|f| f.contains(TcpFlags::SYN))
        {
            let at = l3 + inner_offset + flow.l4_offset;
            let mut tcp = TcpPacket::new_unchecked(&mut packet.data_mut()[at..]);
            if tcp.mss().is_some_and(|mss| mss > clamp) {
                // The TCP checksum is patched in step, so the inner bytes' one's-complement sum,
                // and with it a non-zero outer UDP checksum, stays valid.
                let _ = tcp.set_mss_in_place(clamp);
            }
        }
        turn_around(packet.data_mut(), me, l3);
        Verdict::Transmit { port }
    }

    /// An ICMP error follows the flow of the packet it quotes: if that flow is live, the
    /// error passes when the flow is allowed (refreshing that flow's header) and is dropped
    /// otherwise. `None` when no live flow is quoted: the error is then a flow of its own.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts the caller read, passed where they are kept"
    )]
    #[cold]
    fn related<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        me: &PortInfo,
        port: u16,
        l3: usize,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        quoted: &QuotedFlow,
        now: u64,
    ) -> Option<Result<Verdict, DropReason>> {
        // The error travels against the packet it quotes.
        let (key, quoted_direction) = FlowKey::new(
            endpoint_scope(geneve.options.endpoint_id),
            quoted.src,
            quoted.dst,
            u8::from(quoted.protocol),
            quoted.src_port,
            quoted.dst_port,
            Stickiness::FiveTuple,
            quoted.is_fragment,
        );
        let handle = self.table.lookup(&key, key.hash())?;
        let direction = quoted_direction.reverse();
        let (value, recorded) = self.seen(handle, direction, flow.len, now);
        if !FlowVerdict::allows_current(value, snapshot.policy.generation()) {
            // Errors about a denied or rejected flow, or one the current policy has not
            // looked at again yet, never reach GWLB.
            return Some(Err(DropReason::PolicyDenied));
        }
        Some(Ok(self.pass(
            snapshot,
            me,
            port,
            l3,
            packet,
            geneve,
            flow,
            (handle, recorded),
        )))
    }

    /// The verdict of a flow whose value is not an allow of the current policy: a denied or
    /// rejected flow, or one decided under an earlier policy, which is classified again from
    /// its initiator's side. `Ok(None)` lets the packet pass; `Ok(Some(_))` is a reject's
    /// answer; an error is a drop.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts the caller read, passed where they are kept"
    )]
    #[cold]
    fn enforce<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        me: &PortInfo,
        port: u16,
        l3: usize,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        (handle, recorded): (Handle, u64),
        value: u32,
        direction: Direction,
    ) -> Result<Option<Verdict>, DropReason> {
        // Whatever the verdict, the record names the flow's GWLB endpoint and header (for
        // flow logs, and for a reject's answer).
        self.record(
            (handle, recorded),
            &packet.data()[l3..],
            geneve.geneve_offset,
            geneve.inner_offset,
        );
        let policy = &snapshot.policy;
        let action = match FlowVerdict::from_value(value) {
            Some(verdict) if verdict.decided_under(policy.generation()) => verdict.decision.action,
            earlier => {
                // A flow without a verdict (its entry just vanished) takes this packet's
                // sender as its initiator.
                let reversed = earlier.map_or(direction == Direction::Reverse, |v| v.reversed);
                let from_responder = (direction == Direction::Reverse) != reversed;
                let inner = packet
                    .data()
                    .get(l3 + geneve.inner_offset..)
                    .unwrap_or_default();
                let query = query(geneve.options.endpoint_id, flow, inner, from_responder);
                let decision = policy.classify(&query);
                let verdict = FlowVerdict {
                    decision,
                    reversed,
                    generation: policy.generation(),
                };
                self.table.set_value(handle, verdict.to_value());
                decision.action
            }
        };
        let counts = self.counters.endpoints.entry(geneve.options.endpoint_id);
        match action {
            Action::Allow => Ok(None),
            Action::Deny => {
                counts.denied += 1;
                Err(DropReason::PolicyDenied)
            }
            Action::Reject => {
                counts.rejected += 1;
                self.reject(me, port, l3, packet, geneve, flow).map(Some)
            }
        }
    }

    /// Answers a packet of a rejected flow inside the tunnel, with the GENEVE header it came
    /// with: its inner packet becomes a TCP RST to its sender, or an ICMP destination
    /// unreachable (port unreachable for UDP, administratively prohibited for the rest) from
    /// its destination quoting it. RSTs, ICMP errors and fragments get no answer.
    #[cold]
    fn reject<P: PacketBuf>(
        &mut self,
        me: &PortInfo,
        port: u16,
        l3: usize,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
    ) -> Result<Verdict, DropReason> {
        let inner_at = l3 + geneve.inner_offset;
        let inner_len = if flow.protocol == IpProtocol::Tcp {
            let inner = packet
                .data_mut()
                .get_mut(inner_at..)
                .ok_or(DropReason::PolicyRejected)?;
            rst::rewrite(inner, flow).ok_or(DropReason::PolicyRejected)?
        } else {
            unreachable_in_place(packet, inner_at, flow)?
        };
        let total = inner_at + inner_len;
        if !packet.truncate(total) {
            return Err(DropReason::PolicyRejected);
        }
        let data = packet.data_mut();
        let mut ip = Ipv4Packet::new_unchecked(&mut data[l3..total]);
        let ip_len = total - l3;
        ip.set_total_len(ip_len as u16);
        ip.fill_checksum();
        let header_len = ip.header_len();
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let mut udp = UdpPacket::new_unchecked(&mut data[l3 + header_len..total]);
        udp.set_len((ip_len - header_len) as u16);
        if udp.checksum() != 0 {
            udp.fill_checksum_v4(&dst, &src);
        }
        turn_around(data, me, l3);
        self.counters.policy_rejects += 1;
        Ok(Verdict::Transmit { port })
    }

    /// [`Appliance::classify`] up to the inspection, for the burst form: the verdict of a
    /// frame settled by the shared intake (ARP, the kernel's traffic), or `None` for GENEVE
    /// from an allowed GWLB, which is to be inspected.
    #[inline]
    fn intake<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        ports: &[PortInfo],
        port: u16,
        packet: &mut P,
        link: &mut LinkLayer,
    ) -> Result<Option<Verdict>, DropReason> {
        match local::intake(ports, port, packet, &mut self.counters, link)? {
            Intake::Done(verdict) => Ok(Some(verdict)),
            Intake::Geneve(src) => {
                if !snapshot.is_gwlb_source(src) {
                    return Err(DropReason::GeneveSourceNotAllowed);
                }
                Ok(None)
            }
            Intake::Transit => Err(DropReason::NotForUs),
        }
    }

    /// [`Appliance::inspect`] up to the flow table, for the burst form: the GENEVE headers
    /// and the inner flow, read into `geneve` and `flow`, and the flow's key.
    #[inline]
    fn inspect_intake<P: PacketBuf>(
        &self,
        link: &LinkLayer,
        packet: &P,
        geneve: &mut GeneveIn,
        flow: &mut IpFlow,
    ) -> Result<(FlowKey, Direction), DropReason> {
        local::geneve_in(&packet.data()[link.payload_offset..], geneve, flow)?;
        Ok(self.flow_of(geneve.options.endpoint_id, flow))
    }

    /// [`Appliance::inspect`] from the flow lookup on, for the burst form (`found` is
    /// [`FlowTable::lookup`] of `key` now): the flow found or created, its verdict enforced,
    /// the reply made, by the same steps (`tests/burst_equivalence.rs` holds the two alike).
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts stage one read, passed where they are kept"
    )]
    #[inline]
    fn inspect_finish<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        ports: &[PortInfo],
        port: u16,
        link: &LinkLayer,
        packet: &mut P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        (key, direction): (&FlowKey, Direction),
        hash: u64,
        found: Option<Handle>,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        // The shared intake checked the port already; this cannot fail.
        let me = ports
            .get(usize::from(port))
            .ok_or(DropReason::UnknownAttachment)?;
        let l3 = link.payload_offset;
        let handle = match found {
            Some(handle) => handle,
            None => self.new_flow(
                snapshot,
                (key, direction),
                hash,
                l3,
                packet,
                geneve,
                flow,
                now,
            )?,
        };
        self.settle(
            snapshot, me, port, l3, packet, geneve, flow, handle, direction, now,
        )
    }

    /// Creates the flow of a packet that has none, after the policy's word on it: a TCP
    /// flow that does not begin with a SYN is refused under `strict_tcp`; otherwise the
    /// policy decides the flow, which keeps the decision in its value.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts the caller read, passed where they are kept"
    )]
    #[cold]
    fn new_flow<P: PacketBuf>(
        &mut self,
        snapshot: &ApplianceSnapshot,
        (key, direction): (&FlowKey, Direction),
        hash: u64,
        l3: usize,
        packet: &P,
        geneve: &GeneveIn,
        flow: &IpFlow,
        now: u64,
    ) -> Result<Handle, DropReason> {
        let policy = &snapshot.policy;
        if policy.strict_tcp() && flow.is_tcp() && !flow.is_tcp_syn() {
            return Err(DropReason::TcpNoFlow);
        }
        let inner = packet
            .data()
            .get(l3 + geneve.inner_offset..)
            .unwrap_or_default();
        let decision = policy.classify(&query(geneve.options.endpoint_id, flow, inner, false));
        let verdict = FlowVerdict {
            decision,
            reversed: direction == Direction::Reverse,
            generation: policy.generation(),
        };
        let inserted = self
            .table
            .insert(key, hash, verdict.to_value(), now, |k| {
                snapshot.idle_timeout_ns(k)
            })
            .map_err(|e| match e {
                InsertError::Full => DropReason::FlowTableFull,
                InsertError::Busy => DropReason::FlowTableBusy,
            })?;
        if let Some(evicted) = &inserted.evicted {
            self.counters.expired_flows += 1;
            // Before the new flow starts counting in what may be the same slot: the evicted
            // flow's totals, and its endpoint from its header record (the new flow has not
            // written its own yet), go to the flow log.
            if let Some(stats) = self.stats {
                let endpoint = self
                    .records
                    .load(evicted.handle.slot())
                    .and_then(|r| recorded_endpoint(r.geneve_header()))
                    .unwrap_or(0);
                stats.retire(evicted, endpoint);
            }
        }
        if inserted.created {
            self.counters.new_flows += 1;
            self.counters
                .endpoints
                .entry(geneve.options.endpoint_id)
                .flows += 1;
            if let Some(stats) = self.stats {
                stats.start(inserted.handle, now, direction);
            }
        }
        Ok(inserted.handle)
    }

    /// Refreshes the flow's header record from the packet (`l3` starts at the outer IPv4
    /// header), unless its fingerprint is the slot's (`recorded`): then the record holds it
    /// already. The record and its fingerprint are written together, under the record's
    /// sequence lock, so the slot's word is always the fingerprint of what its record holds
    /// (or of what a writer inside is writing).
    #[inline]
    fn record(
        &self,
        (handle, recorded): (Handle, u64),
        l3: &[u8],
        geneve_offset: usize,
        inner_offset: usize,
    ) {
        let geneve_len = inner_offset - geneve_offset;
        if geneve_len > MAX_RECORDED_GENEVE {
            self.records.too_long.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let words = encode_packet(l3, geneve_offset, geneve_len)
            .unwrap_or_else(|| encode(&header_record(l3, geneve_offset, geneve_len)));
        let print = fingerprint(&words);
        if print != recorded {
            self.records.store_words(handle.slot(), words, || {
                self.table.set_slot_word(handle, print);
            });
        }
    }
}

/// What both forms read first: a frame in GWLB's own layout ([`local::canonical_geneve`]),
/// read in one go, and its sender checked as the general path checks it. `None` for any
/// other frame, which the caller reads in full; the port the frame came in on when it is
/// from an allowed GWLB.
///
/// Always inlined, as the reader is: what it reads stays in the caller's registers.
#[inline(always)]
fn canonical_source<'p, P: PacketBuf>(
    snapshot: &ApplianceSnapshot,
    ports: &'p [PortInfo],
    port: u16,
    packet: &P,
    link: &mut LinkLayer,
    geneve: &mut GeneveIn,
    flow: &mut IpFlow,
) -> Option<Result<&'p PortInfo, DropReason>> {
    let me = ports.get(usize::from(port))?;
    let src = local::canonical_geneve(packet.data(), me, link, geneve, flow)?;
    Some(if snapshot.is_gwlb_source(src) {
        Ok(me)
    } else {
        Err(DropReason::GeneveSourceNotAllowed)
    })
}

/// What stage one of [`Appliance::process_burst`] left of a frame for stage three.
#[derive(Debug, Clone, Copy)]
enum Staged {
    /// No frame in the slot.
    Empty,
    /// Decided already: ARP, the kernel's traffic, or a drop.
    Settled(Result<Verdict, DropReason>),
    /// GENEVE from an allowed GWLB, whose flow's lookup is staged at this index of the
    /// chunk's [`Lookups`].
    Flow {
        /// The index of its lookup.
        lookup: usize,
        /// Which way the packet travels in its flow.
        direction: Direction,
    },
    /// GENEVE from an allowed GWLB carrying an ICMP error, which follows the flow it quotes:
    /// left to the one-packet path.
    Related,
}

/// Turns a frame back toward the GWLB that sent it: outer MACs and IPs swapped (`l3` is where
/// the outer IPv4 header starts), the UDP ports and everything after them kept. Swapping the
/// addresses leaves both checksums valid: their sums commute.
#[inline(always)]
fn turn_around(data: &mut [u8], me: &PortInfo, l3: usize) {
    let mut eth = EthernetFrame::new_unchecked(&mut *data);
    let peer = eth.src_addr();
    eth.set_src_addr(me.mac);
    eth.set_dst_addr(peer);
    let mut ip = Ipv4Packet::new_unchecked(&mut data[l3..]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
}

/// What the policy looks at for a flow, from its initiator's side: the packet's own fields,
/// or, for a packet of the responder (`from_responder`), its fields turned around, with an
/// echo reply read as the request it answers. `inner` starts at the inner IP header.
fn query(endpoint: u64, flow: &IpFlow, inner: &[u8], from_responder: bool) -> Query {
    let protocol = u8::from(flow.protocol);
    let (src, dst, dst_port) = if from_responder {
        (flow.dst, flow.src, flow.src_port)
    } else {
        (flow.src, flow.dst, flow.dst_port)
    };
    let transport = match flow.protocol {
        IpProtocol::Tcp | IpProtocol::Udp => dst_port,
        IpProtocol::Icmp | IpProtocol::Icmpv6 if !flow.is_fragment => {
            let message = inner.get(flow.l4_offset).copied().unwrap_or(0);
            u16::from(match (from_responder, flow.protocol, message) {
                (true, IpProtocol::Icmp, ECHO_REPLY_V4) => ECHO_REQUEST_V4,
                (true, IpProtocol::Icmpv6, ECHO_REPLY_V6) => ECHO_REQUEST_V6,
                _ => message,
            })
        }
        _ => 0,
    };
    Query {
        endpoint,
        src,
        dst,
        protocol,
        transport,
    }
}

/// ICMP message types [`query`] maps.
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// The most of a rejected packet an ICMPv4 unreachable quotes, so that the error stays within
/// 576 bytes (RFC 1812 §4.3.2.3).
const QUOTE_V4: usize = 576 - 20 - 8;
/// The same for ICMPv6, within the IPv6 minimum MTU of 1,280 bytes (RFC 4443 §2.4).
const QUOTE_V6: usize = 1280 - 40 - 8;
/// The hop limit of generated ICMP errors.
const ICMP_TTL: u8 = 64;

/// Rewrites the inner packet at `inner_at` (whose facts are `flow`) into the ICMP destination
/// unreachable its sender gets from its destination: the frame grows at the front by the new
/// IP and ICMP headers (the outer headers move into the headroom) and the packet, cut to fit,
/// becomes the quote. Returns the new inner packet's length. Errors: the packet is itself an
/// ICMP error, or a fragment (`PolicyRejected`), or the buffer has no headroom
/// (`NoHeadroom`).
fn unreachable_in_place<P: PacketBuf>(
    packet: &mut P,
    inner_at: usize,
    flow: &IpFlow,
) -> Result<usize, DropReason> {
    let message = packet.data().get(inner_at + flow.l4_offset).copied();
    let is_error = match (flow.protocol, message) {
        (IpProtocol::Icmp, Some(t)) => Icmpv4Message::from(t).is_error(),
        (IpProtocol::Icmpv6, Some(t)) => Icmpv6Message::from(t).is_error(),
        _ => false,
    };
    if is_error || flow.quoted.is_some() || flow.is_fragment {
        return Err(DropReason::PolicyRejected);
    }
    let available = packet.data().len().saturating_sub(inner_at);
    let (header, quote) = match flow.src {
        IpAddr::V4(_) => (20 + 8, flow.len.min(QUOTE_V4).min(available)),
        IpAddr::V6(_) => (40 + 8, flow.len.min(QUOTE_V6).min(available)),
    };
    if packet.prepend(header).is_none() {
        return Err(DropReason::NoHeadroom);
    }
    let data = packet.data_mut();
    data.copy_within(header..header + inner_at, 0);
    let icmp_len = 8 + quote;
    let out = &mut data[inner_at..inner_at + header + quote];
    match (flow.src, flow.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            Ipv4Repr {
                src_addr: dst,
                dst_addr: src,
                next_header: IpProtocol::Icmp,
                payload_len: icmp_len,
                hop_limit: ICMP_TTL,
                dscp: 0,
                ecn: 0,
                ident: 0,
                dont_frag: true,
                frag: None,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut *out));
            let code = if flow.protocol == IpProtocol::Udp {
                UNREACHABLE_PORT_V4
            } else {
                UNREACHABLE_PROHIBITED_V4
            };
            let mut icmp = Icmpv4Packet::new_unchecked(&mut out[20..]);
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: 0,
                quoted_len: quote,
            }
            .emit(&mut icmp);
            icmp.fill_checksum();
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            Ipv6Repr {
                src_addr: dst,
                dst_addr: src,
                next_header: IpProtocol::Icmpv6,
                payload_len: icmp_len,
                hop_limit: ICMP_TTL,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut *out));
            let code = if flow.protocol == IpProtocol::Udp {
                UNREACHABLE_PORT_V6
            } else {
                UNREACHABLE_PROHIBITED_V6
            };
            let mut icmp = Icmpv6Packet::new_unchecked(&mut out[40..]);
            Icmpv6Repr::DstUnreachable {
                code,
                quoted_len: quote,
            }
            .emit(&mut icmp);
            icmp.fill_checksum(&dst, &src);
        }
        _ => return Err(DropReason::PolicyRejected),
    }
    Ok(header + quote)
}

/// ICMPv4 destination unreachable codes (RFC 792, RFC 1812).
const UNREACHABLE_PORT_V4: u8 = 3;
const UNREACHABLE_PROHIBITED_V4: u8 = 13;
/// ICMPv6 destination unreachable codes (RFC 4443 §3.1).
const UNREACHABLE_PORT_V6: u8 = 4;
const UNREACHABLE_PROHIBITED_V6: u8 = 1;

/// The GWLB endpoint id in a recorded GENEVE header.
pub fn recorded_endpoint(geneve: &[u8]) -> Option<u64> {
    let packet = sluice_wire::geneve::GenevePacket::new_checked(geneve).ok()?;
    sluice_wire::gwlb::GwlbOptions::parse(packet.options_iter())
        .ok()
        .map(|o| o.endpoint_id)
}

/// The flow-table scope of a GWLB endpoint: its 64-bit id folded to 32 bits, so flows of
/// different endpoints with overlapping client addresses stay apart (two endpoint ids that
/// fold alike would share flow records, a 1 in 2^32 chance per pair).
pub fn endpoint_scope(endpoint_id: u64) -> u32 {
    (endpoint_id ^ (endpoint_id >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cookie: u8) -> HeaderRecord {
        let mut geneve = [0u8; MAX_RECORDED_GENEVE];
        geneve[..40].fill(cookie);
        HeaderRecord {
            gwlb: Ipv4Addr::new(10, 0, 0, 1),
            appliance: Ipv4Addr::new(10, 0, 1, 10),
            udp_src_port: 50123,
            geneve_len: 40,
            geneve,
        }
    }

    #[test]
    fn records_round_trip_and_unchanged_stores_write_nothing() {
        let records = FlowRecords::new(8);
        assert_eq!(records.load(3), None, "never written");
        records.store(3, &record(1));
        assert_eq!(records.load(3), Some(record(1)));
        let seq = records.slots[3].words[1].load(Ordering::Relaxed) >> 32;
        records.store(3, &record(1));
        assert_eq!(
            records.slots[3].words[1].load(Ordering::Relaxed) >> 32,
            seq,
            "no rewrite"
        );
        records.store(3, &record(2));
        assert_eq!(records.load(3), Some(record(2)));
        assert_eq!(
            records.slots[3].words[1].load(Ordering::Relaxed) >> 32,
            seq + 2
        );
        assert_eq!(records.load(99), None, "out of range");
        assert_eq!(core::mem::size_of::<RecordSlot>(), 64, "one cache line");
    }

    #[test]
    fn every_bit_of_a_record_moves_its_fingerprint() {
        let words = encode(&record(7));
        let print = fingerprint(&words);
        assert_ne!(print, 0);
        for word in 0..RECORD_WORDS {
            for bit in 0..64 {
                let mut flipped = words;
                flipped[word] ^= 1 << bit;
                let other = fingerprint(&flipped);
                assert!(other != print && other != 0, "word {word} bit {bit}");
            }
        }
        assert_ne!(fingerprint(&[0; RECORD_WORDS]), 0);
    }

    /// The slot's word is the fingerprint of what its record holds: an unchanged header skips
    /// the record, a changed one rewrites it with its fingerprint, and a later flow in the
    /// same slot finds both as the last writer left them.
    #[test]
    fn unchanged_headers_skip_the_record_and_changed_ones_rewrite_it() {
        let table = FlowTable::new(1024).unwrap();
        let records = FlowRecords::new(1024);
        let app = Appliance::new(&table, &records);
        let (key, _) = FlowKey::new(
            7,
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            17,
            1024,
            53,
            Stickiness::FiveTuple,
            false,
        );
        let insert = || {
            table
                .insert(&key, key.hash(), 0, 0, |_| u64::MAX)
                .unwrap()
                .handle
        };
        // Outer IPv4 (20 bytes), UDP, a 40-byte GENEVE header, then the inner packet.
        let mut l3: Vec<u8> = (0..120u8).map(|b| b.wrapping_mul(29) | 1).collect();
        l3[0] = 0x45;
        let (geneve_offset, inner_offset) = (28, 68);
        let header = |l3: &[u8]| header_record(l3, geneve_offset, 40);
        let sequence =
            |slot: u32| records.slots[slot as usize].words[1].load(Ordering::Relaxed) >> 32;
        let seen = |handle| table.touch_value_word(handle, 0).unwrap().1;

        let handle = insert();
        assert_eq!(seen(handle), 0, "a slot whose record was never written");
        app.record((handle, 0), &l3, geneve_offset, inner_offset);
        assert_eq!(records.load(handle.slot()), Some(header(&l3)));
        assert_eq!(seen(handle), fingerprint(&encode(&header(&l3))));

        let written = sequence(handle.slot());
        app.record((handle, seen(handle)), &l3, geneve_offset, inner_offset);
        assert_eq!(sequence(handle.slot()), written, "unchanged: not rewritten");

        // A new flow cookie (the last byte of GWLB's options).
        l3[inner_offset - 1] ^= 0x5a;
        app.record((handle, seen(handle)), &l3, geneve_offset, inner_offset);
        assert_eq!(records.load(handle.slot()), Some(header(&l3)));
        assert_eq!(sequence(handle.slot()), written + 2);
        assert_eq!(seen(handle), fingerprint(&encode(&header(&l3))));

        // The flow ends; the next one in the slot, with the same header, is recorded already.
        assert!(table.remove(handle));
        let next = insert();
        assert_eq!(next.slot(), handle.slot());
        app.record((next, seen(next)), &l3, geneve_offset, inner_offset);
        assert_eq!(sequence(next.slot()), written + 2);
        assert_eq!(records.load(next.slot()), Some(header(&l3)));
    }

    /// Workers refreshing one flow's record with different headers at once leave the slot's
    /// word the fingerprint of what the record holds, whichever wrote last.
    #[test]
    fn concurrent_refreshes_keep_the_fingerprint_of_the_record() {
        let table = FlowTable::new(1024).unwrap();
        let records = FlowRecords::new(1024);
        let (key, _) = FlowKey::new(
            7,
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            6,
            40000,
            443,
            Stickiness::FiveTuple,
            false,
        );
        let handle = table
            .insert(&key, key.hash(), 0, 0, |_| u64::MAX)
            .unwrap()
            .handle;
        let (geneve_offset, inner_offset) = (28, 68);
        // Four headers that differ in their flow cookie.
        let packets: Vec<Vec<u8>> = (0..4u8)
            .map(|n| {
                let mut l3: Vec<u8> = (0..120u8).map(|b| b.wrapping_mul(29) | 1).collect();
                l3[0] = 0x45;
                l3[inner_offset - 1] = n;
                l3
            })
            .collect();
        std::thread::scope(|scope| {
            for worker in 0..2 {
                let (table, records, packets) = (&table, &records, &packets);
                scope.spawn(move || {
                    let app = Appliance::new(table, records);
                    for round in 0..20_000 {
                        let l3 = &packets[(round + worker) % packets.len()];
                        let recorded = table.slot_word(handle);
                        app.record((handle, recorded), l3, geneve_offset, inner_offset);
                    }
                });
            }
        });
        let held = records.load(handle.slot()).unwrap();
        assert_eq!(table.slot_word(handle), fingerprint(&encode(&held)));
        assert!(
            packets
                .iter()
                .any(|l3| header_record(l3, geneve_offset, 40) == held)
        );
    }

    #[test]
    fn words_read_from_the_packet_are_the_encoded_record() {
        // An outer IPv4 header with options (24 bytes), UDP, then a GENEVE header of varying
        // length followed by bytes of the inner packet.
        let mut l3: Vec<u8> = (0..120u8).map(|b| b.wrapping_mul(37) | 1).collect();
        l3[0] = 0x46;
        let geneve_offset = 24 + 8;
        for geneve_len in (8..=MAX_RECORDED_GENEVE).step_by(4) {
            let expected = encode(&header_record(&l3, geneve_offset, geneve_len));
            assert_eq!(
                encode_packet(&l3, geneve_offset, geneve_len),
                Some(expected),
                "{geneve_len}"
            );
            assert_eq!(
                decode(&expected),
                header_record(&l3, geneve_offset, geneve_len)
            );
        }
        // A packet that ends inside the window takes the record path.
        let short = &l3[..geneve_offset + MAX_RECORDED_GENEVE - 1];
        assert_eq!(encode_packet(short, geneve_offset, 40), None);
    }

    #[test]
    fn a_writer_inside_keeps_readers_out_and_other_writers_away() {
        let records = FlowRecords::new(1);
        records.store(0, &record(1));
        let w1 = records.slots[0].words[1].load(Ordering::Relaxed);
        records.slots[0].words[1].store(w1 + (1 << 32), Ordering::Relaxed);
        assert_eq!(records.load(0), None, "odd sequence: being written");
        records.store(0, &record(2));
        records.slots[0].words[1].store(w1, Ordering::Relaxed);
        assert_eq!(
            records.load(0),
            Some(record(1)),
            "the second writer stood back"
        );
    }
}
