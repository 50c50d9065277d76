//! Ethernet ports: configuration, start/stop, address and statistics, and the RX/TX queues
//! whose bursts fill and drain fixed arrays without allocating.

use core::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::ffi::{self, MbufPtr, RxQueueId, TxQueueId};
use crate::mbuf::Mbuf;
use crate::mempool::Mempool;

/// Bit `id` set while a live [`Port`] owns port `id`: two owners would hand out the same
/// queues twice.
static CLAIMED: AtomicU64 = AtomicU64::new(0);

// Valid port ids are below `RTE_MAX_ETHPORTS`, so one bit each fits.
const _: () = assert!(sluice_dpdk_sys::RTE_MAX_ETHPORTS <= 64);

/// How to set a port up: queues, descriptors per queue, and MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// RX queues (one per worker), at least 1.
    pub rx_queues: u16,
    /// TX queues (one per worker), at least 1.
    pub tx_queues: u16,
    /// Descriptors per RX queue (rounded to the device's limits).
    pub rx_desc: u16,
    /// Descriptors per TX queue (rounded to the device's limits).
    pub tx_desc: u16,
    /// The MTU, within the device's range.
    pub mtu: u16,
}

/// What a port's driver reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The driver's name, e.g. `net_null`.
    pub driver: String,
    /// Most RX queues the device offers.
    pub max_rx_queues: u16,
    /// Most TX queues the device offers.
    pub max_tx_queues: u16,
    /// Smallest MTU the device accepts.
    pub min_mtu: u16,
    /// Largest MTU the device accepts.
    pub max_mtu: u16,
    /// Largest frame the device receives, in bytes.
    pub max_rx_pktlen: u32,
    /// The RSS hash types the device supports (`flow_type_rss_offloads`).
    pub rss_offloads: u64,
    /// The device's NUMA socket, -1 when unknown.
    pub socket: i32,
}

/// A port's link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Whether the link is up.
    pub up: bool,
    /// The speed in Mbit/s (0 when unknown or down).
    pub speed_mbps: u32,
    /// Whether the link is full duplex.
    pub full_duplex: bool,
}

/// A port's basic counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped because RX queues were full.
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// A configured Ethernet port. Dropping it stops (if started) and closes the device.
#[derive(Debug)]
pub struct Port<'pool> {
    id: u16,
    rss_hf: u64,
    rx_queues: u16,
    tx_queues: u16,
    started: bool,
    queues_taken: AtomicBool,
    _pool: PhantomData<&'pool ()>,
}

/// An RX queue of a port, owned by one thread: only its owner polls it. It borrows the port
/// (`'port`); the mbufs it yields live as long as the port's pool (`'pool`).
#[derive(Debug)]
pub struct RxQueue<'port, 'pool> {
    id: RxQueueId,
    _port: PhantomData<&'port Port<'pool>>,
}

/// A TX queue of a port, owned by one thread: only its owner sends on it. It takes mbufs
/// whose pool outlives the port (`'pool`), since the device may hold sent mbufs until it is
/// closed.
#[derive(Debug)]
pub struct TxQueue<'port, 'pool> {
    id: TxQueueId,
    _port: PhantomData<&'port Port<'pool>>,
}

impl<'pool> Port<'pool> {
    /// How many ports EAL found.
    pub fn count(_eal: &Eal) -> u16 {
        ffi::port_count()
    }

    /// What the driver of port `id` reports.
    pub fn info(_eal: &Eal, id: u16) -> Result<PortInfo, DpdkError> {
        if !ffi::port_is_valid(id) {
            return Err(DpdkError::NoSuchPort {
                port: id,
                available: ffi::port_count(),
            });
        }
        let info = ffi::dev_info(id)?;
        Ok(PortInfo {
            driver: info.driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            max_rx_pktlen: info.max_rx_pktlen,
            rss_offloads: info.rss_offloads,
            socket: info.socket,
        })
    }

    /// The id of the port EAL made for device `name`: a PCI address (`0000:00:05.0`) or a
    /// virtual device's name (`net_af_packet0`, without its arguments).
    pub fn by_name(_eal: &Eal, name: &str) -> Option<u16> {
        let name = std::ffi::CString::new(name).ok()?;
        ffi::port_by_name(&name)
    }

    /// Configures port `id` as `config` says, its RX queues filling from `pool`. Descriptor
    /// counts are rounded to the device's limits. With several RX queues, RSS spreads
    /// packets over them by IP addresses and TCP/UDP ports, as far as the device supports
    /// those hash types ([`Port::rss_hash_types`] says which it took). Frames of the MTU must
    /// fit one mbuf of `pool` ([`DpdkError::MbufTooSmall`] otherwise). The port is left
    /// stopped.
    pub fn configure(
        id: u16,
        config: &PortConfig,
        pool: &'pool Mempool<'_>,
    ) -> Result<Port<'pool>, DpdkError> {
        // `pool` borrows the `Eal`, so EAL is initialised.
        if !ffi::port_is_valid(id) {
            return Err(DpdkError::NoSuchPort {
                port: id,
                available: ffi::port_count(),
            });
        }
        let bit = 1_u64 << id;
        if CLAIMED.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(DpdkError::PortInUse(id));
        }
        Self::claimed_configure(id, config, pool).inspect_err(|_| {
            CLAIMED.fetch_and(!bit, Ordering::AcqRel);
        })
    }

    /// [`Port::configure`] once the port is claimed.
    fn claimed_configure(
        id: u16,
        config: &PortConfig,
        pool: &'pool Mempool<'_>,
    ) -> Result<Port<'pool>, DpdkError> {
        let &PortConfig {
            rx_queues,
            tx_queues,
            mtu,
            ..
        } = config;
        let info = ffi::dev_info(id)?;
        for (kind, requested, max) in [
            ("rx", rx_queues, info.max_rx_queues),
            ("tx", tx_queues, info.max_tx_queues),
        ] {
            if requested == 0 || requested > max {
                return Err(DpdkError::QueueCount {
                    port: id,
                    driver: info.driver,
                    kind,
                    requested,
                    max,
                });
            }
        }
        if mtu < info.min_mtu || mtu > info.max_mtu {
            return Err(DpdkError::Mtu {
                port: id,
                driver: info.driver,
                requested: mtu,
                min: info.min_mtu,
                max: info.max_mtu,
            });
        }
        // Ethernet header, two VLAN tags and the FCS around the MTU.
        let frame = u32::from(mtu) + 14 + 8 + 4;
        let room =
            u32::from(pool.data_room()).saturating_sub(sluice_dpdk_sys::RTE_PKTMBUF_HEADROOM);
        if frame > room {
            return Err(DpdkError::MbufTooSmall {
                port: id,
                mtu,
                frame,
                room,
            });
        }
        let rss_hf = if rx_queues > 1 {
            ffi::rss_hash_types() & info.rss_offloads
        } else {
            0
        };
        // A device on an unknown socket takes queue memory from any.
        let socket = u32::try_from(info.socket).unwrap_or(u32::MAX);
        ffi::port_configure(id, config, &info, rss_hf, socket, pool.ptr())?;
        Ok(Port {
            id,
            rss_hf,
            rx_queues,
            tx_queues,
            started: false,
            queues_taken: AtomicBool::new(false),
            _pool: PhantomData,
        })
    }

    /// The port's id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Starts the device.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        ffi::port_start(self.id)?;
        self.started = true;
        Ok(())
    }

    /// Stops the device. Its queues may be taken again afterwards.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        ffi::port_stop(self.id)?;
        self.started = false;
        *self.queues_taken.get_mut() = false;
        Ok(())
    }

    /// The RSS hash types in use (`RTE_ETH_RSS_*` bits): IP, TCP and UDP masked by what the
    /// device supports; 0 with one RX queue, or when the device hashes none of them (then
    /// every packet lands on queue 0).
    pub fn rss_hash_types(&self) -> u64 {
        self.rss_hf
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        ffi::port_mac(self.id)
    }

    /// Sets the port's MAC address.
    pub fn set_mac(&mut self, mac: [u8; 6]) -> Result<(), DpdkError> {
        ffi::port_set_mac(self.id, mac)
    }

    /// Receives every frame, whatever its destination MAC (the pipelines check addresses).
    pub fn set_promiscuous(&mut self) -> Result<(), DpdkError> {
        ffi::port_promiscuous(self.id)
    }

    /// The link's state, without waiting for it to settle.
    pub fn link(&self) -> Result<LinkStatus, DpdkError> {
        let (up, speed_mbps, full_duplex) = ffi::port_link(self.id)?;
        Ok(LinkStatus {
            up,
            speed_mbps,
            full_duplex,
        })
    }

    /// The driver's extended statistics, by name (allocates: for the control thread).
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        ffi::port_xstats(self.id)
    }

    /// The port's counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let s = ffi::port_stats(self.id)?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// All the port's queues, each to be owned by one thread; once between stops. While any
    /// is alive the port cannot be stopped (that needs `&mut self`), but its address and
    /// counters can be read.
    pub fn queues(&self) -> Result<(Vec<RxQueue<'_, 'pool>>, Vec<TxQueue<'_, 'pool>>), DpdkError> {
        if self.queues_taken.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::QueuesTaken(self.id));
        }
        let (rx, tx) = ffi::take_queues(self.id, self.rx_queues, self.tx_queues);
        Ok((
            rx.into_iter()
                .map(|id| RxQueue {
                    id,
                    _port: PhantomData,
                })
                .collect(),
            tx.into_iter()
                .map(|id| TxQueue {
                    id,
                    _port: PhantomData,
                })
                .collect(),
        ))
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // Errors here leave nothing for the caller to do: the device is going away.
        if self.started {
            let _ = ffi::port_stop(self.id);
        }
        let _ = ffi::port_close(self.id);
        CLAIMED.fetch_and(!(1_u64 << self.id), Ordering::AcqRel);
    }
}

impl<'pool> RxQueue<'_, 'pool> {
    /// The queue's number on its port.
    pub fn queue(&self) -> u16 {
        self.id.queue()
    }

    /// Receives up to `pkts.len()` packets into `pkts[..n]` and returns `n`; slots from `n`
    /// on are left empty. Whatever the slots held before is freed first. Allocates nothing:
    /// the driver writes into the slots directly.
    pub fn rx_burst(&mut self, pkts: &mut [Option<Mbuf<'pool>>]) -> usize {
        for slot in pkts.iter_mut() {
            drop(slot.take());
        }
        self.id.burst(ffi::mbuf_slots(pkts))
    }
}

/// Packets waiting for a TX queue: a fixed-capacity array the driver reads directly. Pushing
/// never allocates (the capacity is reserved when it is made); what the driver does not take
/// stays at the front, in order, for the next burst.
#[derive(Debug)]
pub struct TxBuffer<'pool> {
    pkts: Vec<MbufPtr>,
    capacity: usize,
    _pool: PhantomData<&'pool ()>,
}

impl<'pool> TxBuffer<'pool> {
    /// An empty buffer for up to `capacity` packets (at most 65535 are sent per burst).
    pub fn with_capacity(capacity: usize) -> Self {
        TxBuffer {
            pkts: Vec::with_capacity(capacity),
            capacity,
            _pool: PhantomData,
        }
    }

    /// Queues a packet, or gives it back when the buffer is full.
    pub fn push(&mut self, mbuf: Mbuf<'pool>) -> Result<(), Mbuf<'pool>> {
        if self.pkts.len() >= self.capacity {
            return Err(mbuf);
        }
        self.pkts.push(mbuf.into_ptr());
        Ok(())
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// Whether no packet waits.
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// Room left.
    pub fn room(&self) -> usize {
        self.capacity - self.pkts.len()
    }

    /// Frees every waiting packet and returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.pkts.len();
        self.pkts.clear();
        n
    }
}

impl<'pool> TxQueue<'_, 'pool> {
    /// The queue's number on its port.
    pub fn queue(&self) -> u16 {
        self.id.queue()
    }

    /// Sends the packets waiting in `buf`, in order, and returns how many the driver took;
    /// those leave the buffer, the rest stay at its front. Allocates nothing.
    pub fn tx_burst(&mut self, buf: &mut TxBuffer<'pool>) -> usize {
        if buf.pkts.is_empty() {
            return 0;
        }
        self.id.burst(&mut buf.pkts)
    }
}
