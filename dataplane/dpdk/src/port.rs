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
    /// The device's NUMA socket, -1 when unknown.
    pub socket: i32,
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
            socket: info.socket,
        })
    }

    /// Configures port `id` as `config` says, its RX queues filling from `pool`. Descriptor
    /// counts are rounded to the device's limits; no offloads and no RSS yet. The port is
    /// left stopped.
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
        // A device on an unknown socket takes queue memory from any.
        let socket = u32::try_from(info.socket).unwrap_or(u32::MAX);
        ffi::port_configure(id, config, socket, pool.ptr())?;
        Ok(Port {
            id,
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

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        ffi::port_mac(self.id)
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

    /// Receives up to `N` packets into `pkts[..n]` and returns `n`; slots from `n` on are
    /// untouched. Anything in the first `n` slots is replaced (and freed). Allocates nothing.
    pub fn rx_burst<const N: usize>(&mut self, pkts: &mut [Option<Mbuf<'pool>>; N]) -> usize {
        let mut raw: [Option<MbufPtr>; N] = [const { None }; N];
        let n = self.id.burst(&mut raw);
        for (slot, m) in pkts.iter_mut().zip(raw.into_iter().take(n)) {
            *slot = m.map(Mbuf::from_ptr);
        }
        n
    }
}

impl<'pool> TxQueue<'_, 'pool> {
    /// The queue's number on its port.
    pub fn queue(&self) -> u16 {
        self.id.queue()
    }

    /// Sends the `Some` packets of `pkts` in order and returns how many the driver took;
    /// their slots become `None`. Unsent packets stay in their slots (for a retry, or to be
    /// dropped and counted). Allocates nothing.
    pub fn tx_burst<const N: usize>(&mut self, pkts: &mut [Option<Mbuf<'pool>>; N]) -> usize {
        let mut raw: [Option<MbufPtr>; N] = [const { None }; N];
        for (r, p) in raw.iter_mut().zip(pkts.iter_mut()) {
            *r = p.take().map(Mbuf::into_ptr);
        }
        let sent = self.id.burst(&mut raw);
        for (r, p) in raw.into_iter().zip(pkts.iter_mut()) {
            *p = r.map(Mbuf::from_ptr);
        }
        sent
    }
}
