//! A poll-mode worker: pinned to its core, registered with EAL, owning one RX and one TX
//! queue of every port. Per burst: rx -> engine -> tx, with what TX does not take kept for
//! the next round and dropped (counted) once it has waited longer than [`DRAIN_NS`]. The
//! engine gets the whole burst in one call (its flow-table misses overlap): always for the
//! appliance, and for the gateway when the flow table is larger than a cache holds, else one
//! packet at a time (see [`STAGING_PAYS_ABOVE_BYTES`]).
//!
//! Nothing here allocates, locks or logs once the loop runs: bursts fill a fixed array, TX
//! buffers and queues were sized at start, and the control thread is reached through
//! bounded lock-free queues only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use crossbeam_queue::ArrayQueue;
use hdrhistogram::Histogram;
use sluice_dpdk::memory::Prefetcher;
use sluice_dpdk::{Eal, Mbuf, RxQueue, TxBuffer, TxQueue};
use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::burst::{APPLIANCE_STAGING_PAYS_ABOVE_BYTES, STAGING_PAYS_ABOVE_BYTES};
use sluice_engine::counters::WorkerCounters;
use sluice_engine::flow_stats::FlowStats;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::snapshot::{RoleSnapshot, Snapshot};

use super::clock::Clock;

/// The most packets one burst takes (the configuration allows up to 256).
pub const MAX_BURST: usize = 256;
/// How long packets TX did not take may wait for the queue before they are dropped.
pub const DRAIN_NS: u64 = 100_000;
/// Empty polls in a row before an adaptive worker starts to sleep.
const IDLE_SPINS: u32 = 1024;
/// The first and the longest sleep of an idle adaptive worker.
const SLEEP_MIN: Duration = Duration::from_micros(10);
const SLEEP_MAX: Duration = Duration::from_millis(1);
/// Injected packets (from the kernel, ARP requests) one round sends at most.
const INJECT_PER_ROUND: usize = 64;

/// What a worker counts besides the engine: the I/O around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Non-empty RX bursts.
    pub rx_bursts: u64,
    /// Packets dropped because a TX queue stayed full past [`DRAIN_NS`], or their TX buffer
    /// was full.
    pub tx_full: u64,
    /// Packets for the kernel dropped because the exception queue to the control thread was
    /// full.
    pub exception_full: u64,
    /// Packets from the control thread (kernel traffic, ARP requests) sent.
    pub injected: u64,
    /// Verdicts naming a port that does not exist (a bug if ever non-zero).
    pub bad_port: u64,
    /// Times an adaptive worker slept.
    pub sleeps: u64,
}

impl IoCounters {
    /// Adds another worker's counters to these.
    pub fn add(&mut self, other: &IoCounters) {
        self.rx_bursts += other.rx_bursts;
        self.tx_full += other.tx_full;
        self.exception_full += other.exception_full;
        self.injected += other.injected;
        self.bad_port += other.bad_port;
        self.sleeps += other.sleeps;
    }
}

/// A worker's periodic report: cumulative counters and the latency seen since the last one.
#[derive(Debug)]
pub struct Report {
    /// The worker's index.
    pub worker: usize,
    /// The snapshot epoch in use.
    pub epoch: u64,
    /// The engine's counters, cumulative.
    pub counters: WorkerCounters,
    /// The I/O counters, cumulative.
    pub io: IoCounters,
    /// TSC cycles from RX to the end of TX, per burst, since the last report.
    pub burst_cycles: Histogram<u64>,
    /// The same divided by the burst's packets.
    pub packet_cycles: Histogram<u64>,
    /// Whether this is the worker's last report (it stopped).
    pub last: bool,
}

impl Report {
    /// An empty report with histograms that never grow (1 cycle to 2^40, 2 digits).
    pub fn new() -> Box<Report> {
        let histogram = || {
            // Valid bounds (low >= 1, high >= 2 * low, sigfig <= 5) cannot fail.
            Histogram::new_with_bounds(1, 1 << 40, 2)
                .unwrap_or_else(|e| unreachable!("fixed histogram bounds: {e}"))
        };
        Box::new(Report {
            worker: 0,
            epoch: 0,
            counters: WorkerCounters::new(),
            io: IoCounters::default(),
            burst_cycles: histogram(),
            packet_cycles: histogram(),
            last: false,
        })
    }
}

/// The queues between one worker and the control thread.
#[derive(Debug)]
pub struct Mailbox<'pool> {
    /// Worker -> control: frames for the kernel, by port.
    pub exceptions: ArrayQueue<(u16, Mbuf<'pool>)>,
    /// Control -> worker: frames to send out of a port (kernel traffic, ARP requests).
    pub inject: ArrayQueue<(u16, Mbuf<'pool>)>,
    /// Worker -> control: reports.
    pub reports: ArrayQueue<Box<Report>>,
    /// Control -> worker: emptied reports to fill again.
    pub free_reports: ArrayQueue<Box<Report>>,
}

impl Mailbox<'_> {
    /// Queues of `depth` frames, and three reports in circulation.
    pub fn new(depth: usize) -> Self {
        let mailbox = Mailbox {
            exceptions: ArrayQueue::new(depth),
            inject: ArrayQueue::new(depth),
            reports: ArrayQueue::new(4),
            free_reports: ArrayQueue::new(4),
        };
        for _ in 0..3 {
            let _ = mailbox.free_reports.push(Report::new());
        }
        mailbox
    }
}

/// The pipeline of the configured role.
#[derive(Debug)]
pub enum Pipeline<'a> {
    /// The load balancer.
    Gateway(Gateway<'a>),
    /// The appliance.
    Appliance(Appliance<'a>),
}

impl<'a> Pipeline<'a> {
    /// The pipeline for `role` over the shared flow state.
    /// With `stats`, the appliance counts each flow's packets and bytes for flow logs.
    pub fn new(
        role: &RoleSnapshot,
        table: &'a FlowTable,
        records: &'a FlowRecords,
        stats: Option<&'a FlowStats>,
    ) -> Self {
        match role {
            RoleSnapshot::Gateway(_) => Pipeline::Gateway(Gateway::new(table)),
            RoleSnapshot::Appliance(_) => {
                let appliance = Appliance::new(table, records);
                Pipeline::Appliance(match stats {
                    Some(stats) => appliance.with_flow_stats(stats),
                    None => appliance,
                })
            }
        }
    }

    fn counters(&self) -> &WorkerCounters {
        match self {
            Pipeline::Gateway(g) => &g.counters,
            Pipeline::Appliance(a) => &a.counters,
        }
    }

    /// Whether bursts go to the engine whole: for the gateway only when the flow table is
    /// too large for the caches, where overlapping its misses outweighs the cost of staging;
    /// for the appliance always.
    fn stages_bursts(&self) -> bool {
        let (table, above) = match self {
            Pipeline::Gateway(g) => (g.table, STAGING_PAYS_ABOVE_BYTES),
            Pipeline::Appliance(a) => (a.table, APPLIANCE_STAGING_PAYS_ABOVE_BYTES),
        };
        table.memory_bytes() > above
    }

    /// Runs one frame through the pipeline. A snapshot of the other role (which the control
    /// thread never sends: reloads cannot change the role) passes nothing.
    fn process(
        &mut self,
        snapshot: &Snapshot,
        port: u16,
        packet: &mut Mbuf<'_>,
        now: u64,
    ) -> Option<Verdict> {
        match (self, &snapshot.role) {
            (Pipeline::Gateway(g), RoleSnapshot::Gateway(s)) => {
                Some(g.process(s, &snapshot.ports, port, packet, now))
            }
            (Pipeline::Appliance(a), RoleSnapshot::Appliance(s)) => {
                Some(a.process(s, &snapshot.ports, port, packet, now))
            }
            _ => None,
        }
    }

    /// Runs a burst of frames through the pipeline, a verdict per frame into `verdicts`
    /// (`None` for an empty slot), with the CPU's prefetch instruction for the flow table's
    /// lines (see `sluice_dpdk::memory::Prefetcher`). A snapshot of the other role (which the control thread
    /// never sends: reloads cannot change the role) passes nothing.
    fn process_burst(
        &mut self,
        snapshot: &Snapshot,
        port: u16,
        packets: &mut [Option<Mbuf<'_>>],
        now: u64,
        verdicts: &mut [Option<Verdict>],
    ) {
        match (self, &snapshot.role) {
            (Pipeline::Gateway(g), RoleSnapshot::Gateway(s)) => {
                g.process_burst_with(
                    s,
                    &snapshot.ports,
                    port,
                    packets,
                    now,
                    verdicts,
                    &Prefetcher,
                );
            }
            (Pipeline::Appliance(a), RoleSnapshot::Appliance(s)) => {
                a.process_burst_with(
                    s,
                    &snapshot.ports,
                    port,
                    packets,
                    now,
                    verdicts,
                    &Prefetcher,
                );
            }
            _ => verdicts.fill(None),
        }
    }
}

/// Everything a worker owns or borrows.
#[derive(Debug)]
pub struct Worker<'a, 'pool> {
    /// The worker's index.
    pub index: usize,
    /// The EAL (for the time-stamp counter).
    pub eal: &'a Eal,
    /// The engine's clock.
    pub clock: Clock,
    /// The role's pipeline.
    pub pipeline: Pipeline<'a>,
    /// Queue `index` of every port, RX.
    pub rx: Vec<RxQueue<'a, 'pool>>,
    /// Queue `index` of every port, TX.
    pub tx: Vec<TxQueue<'a, 'pool>>,
    /// Its queues to the control thread.
    pub mailbox: &'a Mailbox<'pool>,
    /// New snapshots from the control thread.
    pub snapshots: Receiver<Arc<Snapshot>>,
    /// Replaced snapshots, sent back to be freed on the control thread.
    pub retired: Sender<Arc<Snapshot>>,
    /// The snapshot in use.
    pub snapshot: Arc<Snapshot>,
    /// Set by the control thread to stop.
    pub stop: &'a AtomicBool,
    /// Packets per burst.
    pub burst: usize,
    /// Sleep when idle instead of spinning.
    pub adaptive: bool,
    /// Nanoseconds between reports.
    pub report_period_ns: u64,
}

impl Worker<'_, '_> {
    /// Polls until told to stop, then drains what TX still holds and sends a last report.
    pub fn run(mut self) {
        let burst = self.burst.clamp(1, MAX_BURST);
        let mut pkts: [Option<Mbuf<'_>>; MAX_BURST] = [const { None }; MAX_BURST];
        let mut verdicts: [Option<Verdict>; MAX_BURST] = [None; MAX_BURST];
        let staged = self.pipeline.stages_bursts();
        let mut out: Vec<TxBuffer<'_>> = (0..self.tx.len())
            .map(|_| TxBuffer::with_capacity(2 * burst + INJECT_PER_ROUND))
            .collect();
        let mut stuck_since: Vec<Option<u64>> = vec![None; self.tx.len()];
        let mut io = IoCounters::default();
        let mut report = self.mailbox.free_reports.pop();
        // Timers run in TSC ticks: no division on rounds that only poll.
        let drain_ticks = self.clock.ticks(DRAIN_NS);
        let report_ticks = self.clock.ticks(self.report_period_ns);
        let mut next_report = 0_u64;
        let (mut idle, mut sleep) = (0_u32, SLEEP_MIN);

        while !self.stop.load(Ordering::Relaxed) {
            // A new snapshot, if one came and the old one can go back.
            if !self.retired.is_full()
                && let Ok(new) = self.snapshots.try_recv()
            {
                let old = core::mem::replace(&mut self.snapshot, new);
                // Cannot fail: checked for room, and only this worker sends.
                let _ = self.retired.try_send(old);
            }
            let mut busy = false;
            for port in 0..self.rx.len() {
                let n = self.rx[port].rx_burst(&mut pkts[..burst]);
                if n == 0 {
                    continue;
                }
                busy = true;
                io.rx_bursts += 1;
                let start = self.eal.tsc();
                let now = self.clock.ns(start);
                // `port` < number of ports <= u16::MAX (checked when the plan was made).
                if staged {
                    // The engine's first stage reads every frame of the burst before it
                    // looks any flow up: start all their loads now.
                    for m in pkts[..n].iter().flatten() {
                        m.prefetch();
                    }
                    self.pipeline.process_burst(
                        &self.snapshot,
                        port as u16,
                        &mut pkts[..n],
                        now,
                        &mut verdicts[..n],
                    );
                } else {
                    for i in 0..n {
                        if let Some(next) = pkts.get(i + 2).and_then(Option::as_ref) {
                            next.prefetch();
                        }
                        verdicts[i] = match pkts[i].as_mut() {
                            Some(m) => self.pipeline.process(&self.snapshot, port as u16, m, now),
                            None => None,
                        };
                    }
                }
                for (slot, verdict) in pkts[..n].iter_mut().zip(&verdicts[..n]) {
                    let Some(m) = slot.take() else {
                        continue;
                    };
                    match *verdict {
                        Some(Verdict::Transmit { port: to }) => {
                            match out.get_mut(usize::from(to)) {
                                Some(buf) => {
                                    if buf.push(m).is_err() {
                                        io.tx_full += 1;
                                    }
                                }
                                None => io.bad_port += 1,
                            }
                        }
                        Some(Verdict::Exception { port: to }) => {
                            if self.mailbox.exceptions.push((to, m)).is_err() {
                                io.exception_full += 1;
                            }
                        }
                        Some(Verdict::Drop(_)) | None => {}
                    }
                }
                for (q, buf) in self.tx.iter_mut().zip(out.iter_mut()) {
                    q.tx_burst(buf);
                }
                let cycles = self.eal.tsc().saturating_sub(start);
                if let Some(r) = report.as_mut() {
                    r.burst_cycles.saturating_record(cycles.max(1));
                    r.packet_cycles
                        .saturating_record((cycles / n as u64).max(1));
                }
            }

            // Frames the control thread wants sent.
            for _ in 0..INJECT_PER_ROUND {
                let Some((to, m)) = self.mailbox.inject.pop() else {
                    break;
                };
                busy = true;
                match out.get_mut(usize::from(to)) {
                    Some(buf) => match buf.push(m) {
                        Ok(()) => io.injected += 1,
                        Err(_) => io.tx_full += 1,
                    },
                    None => io.bad_port += 1,
                }
            }

            // Retry what TX left; drop it once it waited too long.
            let now_tsc = self.eal.tsc();
            for ((q, buf), stuck) in self
                .tx
                .iter_mut()
                .zip(out.iter_mut())
                .zip(stuck_since.iter_mut())
            {
                if buf.is_empty() {
                    continue;
                }
                q.tx_burst(buf);
                if buf.is_empty() {
                    *stuck = None;
                } else {
                    let since = *stuck.get_or_insert(now_tsc);
                    if now_tsc.saturating_sub(since) > drain_ticks {
                        io.tx_full += buf.clear() as u64;
                        *stuck = None;
                    }
                }
            }

            if now_tsc >= next_report {
                next_report = now_tsc + report_ticks;
                report = self.send_report(report, &io, false);
            }

            if busy {
                idle = 0;
                sleep = SLEEP_MIN;
            } else {
                idle = idle.saturating_add(1);
                if self.adaptive && idle > IDLE_SPINS {
                    io.sleeps += 1;
                    std::thread::sleep(sleep);
                    sleep = (sleep * 2).min(SLEEP_MAX);
                } else {
                    core::hint::spin_loop();
                }
            }
        }

        // Stopping: give TX a last chance, then drop (and count) what it refuses.
        for _ in 0..100 {
            let mut left = 0;
            for (q, buf) in self.tx.iter_mut().zip(out.iter_mut()) {
                q.tx_burst(buf);
                left += buf.len();
            }
            if left == 0 {
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        for buf in &mut out {
            io.tx_full += buf.clear() as u64;
        }
        // The last report must get through: wait (briefly) for a free one.
        for _ in 0..1000 {
            if report.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            report = self.mailbox.free_reports.pop();
        }
        let _ = self.send_report(report, &io, true);
    }

    /// Fills `report` with the counters and sends it; returns the next empty report, if the
    /// control thread has returned one.
    fn send_report(
        &self,
        report: Option<Box<Report>>,
        io: &IoCounters,
        last: bool,
    ) -> Option<Box<Report>> {
        if let Some(mut r) = report {
            r.worker = self.index;
            r.epoch = self.snapshot.epoch;
            r.counters.clone_from(self.pipeline.counters());
            r.io = *io;
            r.last = last;
            if let Err(r) = self.mailbox.reports.push(r) {
                // No room (the control thread is behind): keep it and its latencies.
                return Some(r);
            }
        }
        self.mailbox.free_reports.pop()
    }
}
