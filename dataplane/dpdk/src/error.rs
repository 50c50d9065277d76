//! The one error type of the DPDK layer: which call failed and DPDK's own words for why.

/// A failed DPDK call or a request the layer refused before calling DPDK.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK function returned an error.
    #[error("{call} failed: {reason} (errno {errno})")]
    Call {
        /// The DPDK function, e.g. `rte_eth_dev_configure`.
        call: &'static str,
        /// The (positive) error number, from the return value or `rte_errno`.
        errno: i32,
        /// `rte_strerror(errno)`.
        reason: String,
    },
    /// `Eal::init` was called a second time; DPDK's EAL initialises once per process.
    #[error("the EAL is already initialised in this process (rte_eal_init works once)")]
    EalAlreadyInitialised,
    /// An EAL argument or a mempool name holds a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    NulByte(String),
    /// No Ethernet port has this id.
    #[error("port {port} does not exist ({available} ports available)")]
    NoSuchPort {
        /// The requested port id.
        port: u16,
        /// `rte_eth_dev_count_avail()`.
        available: u16,
    },
    /// The port is already configured by another live [`crate::Port`].
    #[error("port {0} is already configured and in use")]
    PortInUse(u16),
    /// A port was asked for more queues than it has, or for none.
    #[error("port {port} ({driver}) supports 1..={max} {kind} queues, {requested} requested")]
    QueueCount {
        /// The port id.
        port: u16,
        /// The port's driver.
        driver: String,
        /// `"rx"` or `"tx"`.
        kind: &'static str,
        /// The requested count.
        requested: u16,
        /// The device's maximum.
        max: u16,
    },
    /// The port refuses this MTU.
    #[error("port {port} ({driver}) accepts an MTU in {min}..={max}, {requested} requested")]
    Mtu {
        /// The port id.
        port: u16,
        /// The port's driver.
        driver: String,
        /// The requested MTU.
        requested: u16,
        /// The device's minimum.
        min: u16,
        /// The device's maximum.
        max: u16,
    },
    /// The port's queues were already handed out since the port last started.
    #[error("the queues of port {0} are already taken")]
    QueuesTaken(u16),
    /// The pool's mbufs cannot hold a frame of the port's MTU.
    #[error(
        "port {port}: a {mtu}-byte MTU needs {frame}-byte frames, but the pool's mbufs hold {room} bytes"
    )]
    MbufTooSmall {
        /// The port id.
        port: u16,
        /// The requested MTU.
        mtu: u16,
        /// The largest frame of that MTU (Ethernet, two VLAN tags, FCS).
        frame: u32,
        /// The data room of one mbuf after the headroom.
        room: u32,
    },
}
