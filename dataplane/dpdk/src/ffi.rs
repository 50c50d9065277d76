//! Every call into DPDK, and the handles whose invariants make those calls sound.
//!
//! This is the crate's only module with `unsafe`: DPDK's calls, and the one system call the
//! runtime needs that std lacks (`madvise`, for [`crate::memory`]). The rest of the crate
//! builds its public types from what is here:
//! - [`MbufPtr`] owns one mbuf (non-null, valid, not shared) and frees it on drop;
//! - [`PoolPtr`] is a live mbuf pool created here;
//! - [`RxQueueId`] and [`TxQueueId`] name a queue of a configured port, and owning one is the
//!   exclusive right to poll that queue (DPDK's bursts are not thread-safe per queue). They
//!   are made only by [`take_queues`], once per port configuration.
//!
//! Port ids reaching the burst functions were validated when the port was configured, and
//! queue ids are below the configured counts, so DPDK's unchecked fast path indexes its
//! arrays in bounds even after the port stops (DPDK then swaps in dummy burst functions).

use core::ffi::{CStr, c_char};
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ptr::NonNull;
use std::ffi::CString;

use sluice_dpdk_sys as sys;

use crate::error::DpdkError;
use crate::mbuf::Mbuf;
use crate::port::PortConfig;

/// DPDK's text for an error number.
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: `rte_strerror` accepts any number and returns a pointer to a NUL-terminated
    // string (static, or in a thread-local buffer) valid until the next call on this thread;
    // it is copied before returning.
    let text = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) };
    text.to_string_lossy().into_owned()
}

/// [`prefetch`] of an address the engine computed from one of its tables.
#[inline(always)]
pub(crate) fn prefetch_address(address: usize) {
    prefetch(core::ptr::without_provenance(address));
}

/// `madvise(2)` with `MADV_HUGEPAGE` over `len` bytes from `start`, which must be a multiple
/// of the page size: asks the kernel to back that memory with transparent huge pages.
pub(crate) fn advise_huge_pages(start: usize, len: usize) -> std::io::Result<()> {
    // SAFETY: `MADV_HUGEPAGE` changes only how the kernel backs the range (it may map or
    // collapse it into huge pages, keeping every byte's value); it maps, unmaps and writes
    // nothing, so no reference into the range is affected. A range that is not mapped is
    // refused with ENOMEM, a misaligned one with EINVAL: errors, not undefined behaviour.
    let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's `rte_errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { sys::sluice_rte_errno() }
}

/// The error for `call` with error number `errno`.
fn call_error(call: &'static str, errno: i32) -> DpdkError {
    DpdkError::Call {
        call,
        errno,
        reason: strerror(errno),
    }
}

/// For calls that return `-errno` on failure (ethdev): `Ok` for a non-negative value.
fn check(call: &'static str, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(call_error(call, -ret))
    } else {
        Ok(ret)
    }
}

/// For calls that return -1 and set `rte_errno` on failure (EAL, mempools).
fn check_rte_errno(call: &'static str, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(call_error(call, errno()))
    } else {
        Ok(ret)
    }
}

/// Runs `rte_eal_init` over `args` (the first being the program name).
pub(crate) fn eal_init(args: &[CString]) -> Result<(), DpdkError> {
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(core::ptr::null_mut());
    // More than `i32::MAX` arguments cannot happen; EAL would then read only the first ones.
    let argc = i32::try_from(args.len()).unwrap_or(i32::MAX);
    // SAFETY: `argv` holds `argc` pointers to NUL-terminated strings that outlive the call,
    // then a NULL, as C's `main` receives them. EAL may permute the array (it is ours and
    // dropped after) and copies the strings it keeps (`eal_save_args` duplicates them).
    let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
    check_rte_errno("rte_eal_init", ret).map(|_| ())
}

/// Runs `rte_eal_cleanup`.
pub(crate) fn eal_cleanup() -> Result<(), DpdkError> {
    // SAFETY: called once, by `Eal`'s drop, after everything borrowing the `Eal` (pools,
    // ports, queues, mbufs) has been dropped.
    let ret = unsafe { sys::rte_eal_cleanup() };
    check_rte_errno("rte_eal_cleanup", ret).map(|_| ())
}

/// The NUMA socket of the calling thread.
pub(crate) fn socket_id() -> u32 {
    // SAFETY: reads the calling thread's per-lcore variable; no preconditions.
    unsafe { sys::rte_socket_id() }
}

/// Time-stamp counter ticks per second, as EAL measured them.
pub(crate) fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed during init; the caller holds an `Eal`.
    unsafe { sys::rte_get_tsc_hz() }
}

/// The time-stamp counter.
#[inline]
pub(crate) fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions (it is what `rte_rdtsc` does), and inline
        // it saves a call into the shim twice per burst.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: `rte_rdtsc` has no preconditions.
        unsafe { sys::sluice_rte_rdtsc() }
    }
}

/// The calling thread's lcore id (`u32::MAX`, `LCORE_ID_ANY`, for unregistered threads).
pub(crate) fn lcore_id() -> u32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { sys::sluice_rte_lcore_id() }
}

/// Registers the calling thread with EAL, giving it an lcore id.
pub(crate) fn thread_register() -> Result<(), DpdkError> {
    // SAFETY: the caller holds an `Eal`, so EAL is initialised (DPDK refuses otherwise); a
    // second call on one thread takes another lcore id, a waste but not unsound.
    let ret = unsafe { sys::rte_thread_register() };
    check_rte_errno("rte_thread_register", ret).map(|_| ())
}

/// A live mbuf pool created by [`PoolPtr::create`].
#[derive(Debug)]
pub(crate) struct PoolPtr(NonNull<sys::rte_mempool>);

impl PoolPtr {
    /// `rte_pktmbuf_pool_create` with no private area.
    pub(crate) fn create(
        name: &CStr,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<PoolPtr, DpdkError> {
        // SAFETY: `name` is NUL-terminated and copied by DPDK; the numbers are checked by
        // DPDK itself, which returns NULL and sets `rte_errno` when they are wrong.
        let pool =
            unsafe { sys::rte_pktmbuf_pool_create(name.as_ptr(), n, cache, 0, data_room, socket) };
        NonNull::new(pool)
            .map(PoolPtr)
            .ok_or_else(|| call_error("rte_pktmbuf_pool_create", errno()))
    }

    /// One mbuf, or `None` when the pool is exhausted.
    pub(crate) fn alloc(&self) -> Option<MbufPtr> {
        // SAFETY: the pool is live; a non-null result is a fresh mbuf nobody else holds.
        NonNull::new(unsafe { sys::sluice_rte_pktmbuf_alloc(self.0.as_ptr()) }).map(MbufPtr)
    }

    /// How many mbufs the pool holds now.
    pub(crate) fn available(&self) -> u32 {
        // SAFETY: the pool is live; the count is a read of its ring and caches.
        unsafe { sys::rte_mempool_avail_count(self.0.as_ptr()) }
    }
}

impl Drop for PoolPtr {
    fn drop(&mut self) {
        // SAFETY: `Mempool` (the only owner of a `PoolPtr`) is borrowed by every mbuf and port
        // using the pool, so none is left when it drops; the pointer is not used again.
        unsafe { sys::rte_mempool_free(self.0.as_ptr()) }
    }
}

/// One mbuf owned by this handle: non-null, valid, not referenced elsewhere. Dropping it
/// returns the mbuf to its pool. `repr(transparent)`, so a slot of `Option<MbufPtr>` has the
/// layout of a `struct rte_mbuf *` (NULL for `None`).
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct MbufPtr(NonNull<sys::rte_mbuf>);

// SAFETY: the handle owns its mbuf exclusively; freeing an mbuf from another thread is allowed
// (threads without an lcore id bypass the per-lcore caches).
unsafe impl Send for MbufPtr {}

/// Views slots of owned [`Mbuf`]s as slots of [`MbufPtr`]s, for bursts that write into or
/// read from the caller's array directly.
pub(crate) fn mbuf_slots<'a>(slots: &'a mut [Option<Mbuf<'_>>]) -> &'a mut [Option<MbufPtr>] {
    // SAFETY: `Mbuf` is `repr(transparent)` over `MbufPtr` (its other field is a zero-sized
    // `PhantomData`), so both `Option`s have the same size, alignment and niche; the
    // returned slice borrows the input for its whole life, and the lifetime `Mbuf` carries
    // is kept by the caller, which turns the slots back into `Mbuf`s of the same pool.
    unsafe { core::slice::from_raw_parts_mut(slots.as_mut_ptr().cast(), slots.len()) }
}

impl MbufPtr {
    #[inline]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: the handle's invariant: the pointer is valid, and `&self` keeps writers out.
        unsafe { self.0.as_ref() }
    }

    /// The first segment's bytes.
    #[inline]
    pub(crate) fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: as `rte_pktmbuf_mtod`: a valid mbuf's `data_len` bytes at `buf_addr +
        // data_off` lie inside its buffer, and the handle's ownership keeps them unaliased.
        unsafe {
            core::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The first segment's bytes, writable.
    #[inline]
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (start, len) = (m.buf_addr.cast::<u8>(), m.data_len);
        let off = usize::from(m.data_off);
        // SAFETY: as `data`, and `&mut self` makes this the only view of the bytes.
        unsafe { core::slice::from_raw_parts_mut(start.add(off), usize::from(len)) }
    }

    /// Bytes free in front of the data.
    #[inline]
    pub(crate) fn headroom(&self) -> u16 {
        self.raw().data_off
    }

    /// Bytes in the first segment.
    #[inline]
    pub(crate) fn data_len(&self) -> u16 {
        self.raw().data_len
    }

    /// Bytes in the whole chain.
    #[inline]
    pub(crate) fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// Segments in the chain.
    #[inline]
    pub(crate) fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// `rte_pktmbuf_prepend`, in Rust (no C call per packet); `false` (no change) when the
    /// headroom is short.
    #[inline]
    pub(crate) fn prepend(&mut self, len: u16) -> bool {
        // SAFETY: the mbuf is valid and ours (`&mut self`). As DPDK's inline does: the new
        // bytes come out of the headroom (`data_off` bytes in front of the data inside the
        // buffer), so the segment stays inside its buffer; `data_len + len` cannot exceed the
        // buffer's length (a u16) because `len <= data_off`.
        unsafe {
            let m = self.0.as_mut();
            if len > m.data_off {
                return false;
            }
            m.data_off -= len;
            m.data_len += len;
            m.pkt_len += u32::from(len);
        }
        true
    }

    /// `rte_pktmbuf_adj`, in Rust; `false` (no change) when the first segment is shorter.
    #[inline]
    pub(crate) fn adj(&mut self, len: u16) -> bool {
        // SAFETY: the mbuf is valid and ours (`&mut self`). As DPDK's inline does: the first
        // `len <= data_len` bytes of the segment are given back to the headroom, which keeps
        // every field within the buffer.
        unsafe {
            let m = self.0.as_mut();
            if len > m.data_len {
                return false;
            }
            m.data_off += len;
            m.data_len -= len;
            m.pkt_len -= u32::from(len);
        }
        true
    }

    /// `rte_pktmbuf_append`; `false` (no change) when the last segment's tailroom is short.
    #[inline]
    pub(crate) fn append(&mut self, len: u16) -> bool {
        // SAFETY: the mbuf is valid and ours; DPDK checks the tailroom and changes nothing on
        // failure.
        !unsafe { sys::sluice_rte_pktmbuf_append(self.0.as_ptr(), len) }.is_null()
    }

    /// Shortens a one-segment mbuf to `len` bytes; `false` (no change) if it is chained or
    /// shorter already.
    #[inline]
    pub(crate) fn truncate(&mut self, len: u16) -> bool {
        let m = self.raw();
        if m.nb_segs != 1 || len > m.data_len {
            return false;
        }
        // SAFETY: the mbuf is valid and ours (`&mut self`); a single segment's `pkt_len`
        // equals its `data_len`, so both shrink to `len`, as `rte_pktmbuf_trim` does.
        unsafe {
            let m = self.0.as_mut();
            m.data_len = len;
            m.pkt_len = u32::from(len);
        }
        true
    }

    /// Prefetches the first cache line of the data.
    #[inline]
    pub(crate) fn prefetch_data(&self) {
        let m = self.raw();
        // SAFETY: `buf_addr + data_off` is inside the mbuf's buffer (a valid mbuf's invariant).
        let p = unsafe { m.buf_addr.cast::<u8>().add(usize::from(m.data_off)) };
        prefetch(p);
    }
}

impl Drop for MbufPtr {
    fn drop(&mut self) {
        // SAFETY: the mbuf is ours and is not used after this.
        unsafe { sys::sluice_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// Prefetches the cache line at `p` into all cache levels (`rte_prefetch0`), inline on
/// x86-64 rather than through the shim.
#[inline]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch is a hint: it never faults and reads nothing observable, whatever
        // the address; SSE is part of the x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as above; the shim calls rte_prefetch0.
        unsafe { sys::sluice_rte_prefetch0(p.cast()) }
    }
}

/// What sluice needs to know about a device, copied out of `rte_eth_dev_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevInfo {
    pub(crate) driver: String,
    pub(crate) max_rx_queues: u16,
    pub(crate) max_tx_queues: u16,
    pub(crate) min_mtu: u16,
    pub(crate) max_mtu: u16,
    pub(crate) max_rx_pktlen: u32,
    pub(crate) rss_offloads: u64,
    pub(crate) tx_offload_capa: u64,
    pub(crate) socket: i32,
}

/// How many Ethernet ports EAL found.
pub(crate) fn port_count() -> u16 {
    // SAFETY: reads ethdev's port table; the caller holds an `Eal`.
    unsafe { sys::rte_eth_dev_count_avail() }
}

/// Whether `port` names a port (and so is below `RTE_MAX_ETHPORTS`).
pub(crate) fn port_is_valid(port: u16) -> bool {
    // SAFETY: the function checks any id; the caller holds an `Eal`.
    unsafe { sys::rte_eth_dev_is_valid_port(port) == 1 }
}

/// `rte_eth_dev_info_get` and `rte_eth_dev_socket_id` for a valid port.
pub(crate) fn dev_info(port: u16) -> Result<DevInfo, DpdkError> {
    let mut info = MaybeUninit::<sys::rte_eth_dev_info>::zeroed();
    // SAFETY: `info` is writable memory of the right type; DPDK fills it (all-zero is a valid
    // value of this plain C struct, so it is initialised either way).
    let ret = unsafe { sys::rte_eth_dev_info_get(port, info.as_mut_ptr()) };
    check("rte_eth_dev_info_get", ret)?;
    // SAFETY: zeroed above and filled by DPDK: initialised.
    let info = unsafe { info.assume_init() };
    let driver = if info.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `driver_name` is the driver's static NUL-terminated name.
        unsafe { CStr::from_ptr(info.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: checks the id itself; returns SOCKET_ID_ANY (-1) when unknown.
    let socket = unsafe { sys::rte_eth_dev_socket_id(port) };
    Ok(DevInfo {
        driver,
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        min_mtu: info.min_mtu,
        max_mtu: info.max_mtu,
        max_rx_pktlen: info.max_rx_pktlen,
        rss_offloads: info.flow_type_rss_offloads,
        tx_offload_capa: info.tx_offload_capa,
        socket,
    })
}

/// The RSS hash types sluice wants (IP, TCP, UDP), before masking by a device.
pub(crate) fn rss_hash_types() -> u64 {
    // SAFETY: returns a constant.
    unsafe { sys::sluice_rss_hash_types() }
}

/// Configures a stopped port and sets up its queues, RX ones filling from `pool` and queue
/// memory on NUMA `socket`. With more than one RX queue, RSS spreads packets over them by
/// the hash types in `rss_hf` (already masked by the device's capabilities).
pub(crate) fn port_configure(
    port: u16,
    config: &PortConfig,
    info: &DevInfo,
    rss_hf: u64,
    socket: u32,
    pool: &PoolPtr,
) -> Result<(), DpdkError> {
    let PortConfig {
        rx_queues,
        tx_queues,
        rx_desc,
        tx_desc,
        mtu,
    } = *config;
    let mut conf = sys::rte_eth_conf::default();
    conf.rxmode.mtu = u32::from(mtu);
    if rx_queues > 1 && rss_hf != 0 {
        conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        // A null key asks the driver for its default key.
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    // SAFETY: returns a constant.
    let fast_free = unsafe { sys::sluice_tx_offload_mbuf_fast_free() };
    // Every mbuf sluice sends comes from the one pool with a reference count of 1, which is
    // what fast free assumes.
    conf.txmode.offloads = info.tx_offload_capa & fast_free;
    // SAFETY: `conf` is a fully initialised configuration (zero but the MTU, RSS and the
    // fast-free offload, each within what the device reported) that DPDK copies; the port id
    // is valid.
    let ret = unsafe { sys::rte_eth_dev_configure(port, rx_queues, tx_queues, &conf) };
    check("rte_eth_dev_configure", ret)?;
    let (mut rx_desc, mut tx_desc) = (rx_desc, tx_desc);
    // SAFETY: both pointers are to live locals DPDK rounds to the device's limits.
    let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rx_desc, &mut tx_desc) };
    check("rte_eth_dev_adjust_nb_rx_tx_desc", ret)?;
    for queue in 0..rx_queues {
        // SAFETY: the port is configured with `rx_queues` queues; NULL asks for the device's
        // default queue configuration; the pool is live and outlives the port (`Port`
        // borrows its `Mempool`).
        let ret = unsafe {
            sys::rte_eth_rx_queue_setup(
                port,
                queue,
                rx_desc,
                socket,
                core::ptr::null(),
                pool.0.as_ptr(),
            )
        };
        check("rte_eth_rx_queue_setup", ret)?;
    }
    for queue in 0..tx_queues {
        // SAFETY: as for RX, without a pool.
        let ret =
            unsafe { sys::rte_eth_tx_queue_setup(port, queue, tx_desc, socket, core::ptr::null()) };
        check("rte_eth_tx_queue_setup", ret)?;
    }
    Ok(())
}

/// `rte_eth_dev_start`.
pub(crate) fn port_start(port: u16) -> Result<(), DpdkError> {
    // SAFETY: the port id is valid and the port configured (only `Port` calls this).
    let ret = unsafe { sys::rte_eth_dev_start(port) };
    check("rte_eth_dev_start", ret).map(|_| ())
}

/// `rte_eth_dev_stop`.
pub(crate) fn port_stop(port: u16) -> Result<(), DpdkError> {
    // SAFETY: the port id is valid; no queue is being polled (stopping needs `&mut Port`,
    // which queues, borrowing the port, exclude).
    let ret = unsafe { sys::rte_eth_dev_stop(port) };
    check("rte_eth_dev_stop", ret).map(|_| ())
}

/// `rte_eth_dev_close`.
pub(crate) fn port_close(port: u16) -> Result<(), DpdkError> {
    // SAFETY: as `port_stop`; the port was stopped first and is not used again.
    let ret = unsafe { sys::rte_eth_dev_close(port) };
    check("rte_eth_dev_close", ret).map(|_| ())
}

/// The port's MAC address.
pub(crate) fn port_mac(port: u16) -> Result<[u8; 6], DpdkError> {
    let mut addr = sys::rte_ether_addr::default();
    // SAFETY: `addr` is writable memory of the right type; the port id is valid.
    let ret = unsafe { sys::rte_eth_macaddr_get(port, &mut addr) };
    check("rte_eth_macaddr_get", ret)?;
    Ok(addr.addr_bytes)
}

/// Sets the port's MAC address.
pub(crate) fn port_set_mac(port: u16, mac: [u8; 6]) -> Result<(), DpdkError> {
    let mut addr = sys::rte_ether_addr { addr_bytes: mac };
    // SAFETY: `addr` is a valid address DPDK copies; the port id is valid.
    let ret = unsafe { sys::rte_eth_dev_default_mac_addr_set(port, &mut addr) };
    check("rte_eth_dev_default_mac_addr_set", ret).map(|_| ())
}

/// Puts the port in promiscuous mode.
pub(crate) fn port_promiscuous(port: u16) -> Result<(), DpdkError> {
    // SAFETY: the port id is valid.
    let ret = unsafe { sys::rte_eth_promiscuous_enable(port) };
    check("rte_eth_promiscuous_enable", ret).map(|_| ())
}

/// The port id of the device named `name` (a PCI address or a virtual device's name).
pub(crate) fn port_by_name(name: &CStr) -> Option<u16> {
    let mut id = 0_u16;
    // SAFETY: `name` is NUL-terminated and only read; `id` is writable.
    let ret = unsafe { sys::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut id) };
    (ret == 0).then_some(id)
}

/// The link's state without waiting: (up, speed in Mbit/s, full duplex).
pub(crate) fn port_link(port: u16) -> Result<(bool, u32, bool), DpdkError> {
    let mut link = sys::rte_eth_link::default();
    // SAFETY: `link` is writable memory of the right type; the port id is valid.
    let ret = unsafe { sys::rte_eth_link_get_nowait(port, &mut link) };
    check("rte_eth_link_get_nowait", ret)?;
    Ok((
        link.link_status() != 0,
        link.link_speed,
        link.link_duplex() != 0,
    ))
}

/// The port's extended statistics, by name.
pub(crate) fn port_xstats(port: u16) -> Result<Vec<(String, u64)>, DpdkError> {
    // SAFETY: a null array with size 0 asks for the count only.
    let count = unsafe { sys::rte_eth_xstats_get_names(port, core::ptr::null_mut(), 0) };
    let count = check("rte_eth_xstats_get_names", count)?;
    let n = usize::try_from(count).unwrap_or(0);
    let mut names = vec![sys::rte_eth_xstat_name::default(); n];
    let mut values = vec![sys::rte_eth_xstat::default(); n];
    let size = u32::try_from(n).unwrap_or(u32::MAX);
    // SAFETY: `names` has room for `size` entries.
    let got = unsafe { sys::rte_eth_xstats_get_names(port, names.as_mut_ptr(), size) };
    let got_names = usize::try_from(check("rte_eth_xstats_get_names", got)?).unwrap_or(0);
    // SAFETY: `values` has room for `size` entries.
    let got = unsafe { sys::rte_eth_xstats_get(port, values.as_mut_ptr(), size) };
    let got_values = usize::try_from(check("rte_eth_xstats_get", got)?).unwrap_or(0);
    // The counts can differ if the device's set changed between the calls; each value names
    // its entry by index.
    Ok(values[..got_values.min(n)]
        .iter()
        .filter_map(|v| {
            let id = usize::try_from(v.id).ok()?;
            let name = names[..got_names.min(n)].get(id)?;
            // SAFETY: DPDK writes NUL-terminated names into the fixed array (zeroed first).
            let text = unsafe { CStr::from_ptr(name.name.as_ptr()) };
            Some((text.to_string_lossy().into_owned(), v.value))
        })
        .collect())
}

/// The port's basic statistics.
pub(crate) fn port_stats(port: u16) -> Result<sys::rte_eth_stats, DpdkError> {
    let mut stats = sys::rte_eth_stats::default();
    // SAFETY: `stats` is writable memory of the right type; the port id is valid.
    let ret = unsafe { sys::rte_eth_stats_get(port, &mut stats) };
    check("rte_eth_stats_get", ret)?;
    Ok(stats)
}

/// The exclusive right to poll RX queue `queue` of configured port `port`.
#[derive(Debug)]
pub(crate) struct RxQueueId {
    port: u16,
    queue: u16,
}

/// The exclusive right to send on TX queue `queue` of configured port `port`.
#[derive(Debug)]
pub(crate) struct TxQueueId {
    port: u16,
    queue: u16,
}

/// One id per queue of a port just configured with these counts. The caller (`Port`) makes
/// sure this happens once per configuration, so each queue has one owner.
pub(crate) fn take_queues(
    port: u16,
    rx_queues: u16,
    tx_queues: u16,
) -> (Vec<RxQueueId>, Vec<TxQueueId>) {
    (
        (0..rx_queues)
            .map(|queue| RxQueueId { port, queue })
            .collect(),
        (0..tx_queues)
            .map(|queue| TxQueueId { port, queue })
            .collect(),
    )
}

impl RxQueueId {
    /// The queue's number.
    pub(crate) fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to `out.len()` (at most 65535) mbufs into `out[..n]`, returning `n`.
    /// The slots must be empty (`None`): the driver writes over them. Slots from `n` on are
    /// left as they were.
    pub(crate) fn burst(&mut self, out: &mut [Option<MbufPtr>]) -> usize {
        let want = u16::try_from(out.len()).unwrap_or(u16::MAX);
        // SAFETY: the port id was validated and the queue is below the configured count
        // (`RxQueueId`'s invariant), and this id's owner is the queue's only poller. `out` has
        // room for `want` slots, and a slot of `Option<MbufPtr>` has the layout of a
        // `struct rte_mbuf *` (`MbufPtr` is a transparent non-null pointer, so `None` is
        // NULL); the driver writes `got` valid mbuf pointers, each now owned by its slot. The
        // caller's slots were empty, so nothing is overwritten without being freed.
        usize::from(unsafe {
            sys::sluice_rte_eth_rx_burst(
                self.port,
                self.queue,
                out.as_mut_ptr().cast::<*mut sys::rte_mbuf>(),
                want,
            )
        })
    }
}

impl TxQueueId {
    /// The queue's number.
    pub(crate) fn queue(&self) -> u16 {
        self.queue
    }

    /// Sends the mbufs of `pkts` (at most 65535) in order and returns how many the driver
    /// took: the first `sent`, whose ownership passed to the driver. The rest stay for the
    /// caller to retry or drop.
    pub(crate) fn burst(&mut self, pkts: &mut Vec<MbufPtr>) -> usize {
        let count = u16::try_from(pkts.len()).unwrap_or(u16::MAX);
        // SAFETY: as for RX: a validated port and queue with a single owner. `MbufPtr` is a
        // transparent non-null `struct rte_mbuf *`, so the vector's first `count` elements are
        // the array of valid, owned mbuf pointers DPDK expects. The driver takes the first
        // `sent`; they are removed from the vector below without being dropped (freed).
        let sent = usize::from(unsafe {
            sys::sluice_rte_eth_tx_burst(
                self.port,
                self.queue,
                pkts.as_mut_ptr().cast::<*mut sys::rte_mbuf>(),
                count,
            )
        });
        for m in pkts.drain(..sent) {
            let _ = ManuallyDrop::new(m);
        }
        sent
    }
}
