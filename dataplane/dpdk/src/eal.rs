//! The Environment Abstraction Layer: initialised once per process, cleaned up on drop.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::DpdkError;
use crate::ffi;

/// "Any NUMA socket", for [`crate::Mempool::new`].
pub const SOCKET_ID_ANY: i32 = -1;

/// Set by the first `Eal::init`; DPDK cannot initialise again, even after cleanup.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised EAL. Everything else in this crate borrows it; dropping it runs
/// `rte_eal_cleanup`.
#[derive(Debug)]
pub struct Eal {
    /// The arguments EAL was given, kept alive for its lifetime.
    _args: Vec<CString>,
}

impl Eal {
    /// Initialises EAL with `args` (EAL options only, e.g. `--no-huge`, `--vdev=net_null0`;
    /// the program name is supplied). Works once per process: a second call fails with
    /// [`DpdkError::EalAlreadyInitialised`] whether or not the first succeeded.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let mut cargs = Vec::with_capacity(args.len() + 1);
        cargs.push(c"sluice".to_owned());
        for arg in args {
            cargs.push(CString::new(arg.as_str()).map_err(|_| DpdkError::NulByte(arg.clone()))?);
        }
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        ffi::eal_init(&cargs)?;
        Ok(Eal { _args: cargs })
    }

    /// The NUMA socket of the calling thread.
    pub fn socket_id(&self) -> u32 {
        ffi::socket_id()
    }

    /// Time-stamp counter ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        ffi::tsc_hz()
    }

    /// The time-stamp counter, in ticks of [`Eal::tsc_hz`].
    #[inline]
    pub fn tsc(&self) -> u64 {
        ffi::rdtsc()
    }

    /// The calling thread's lcore id, `None` for a thread EAL does not know.
    pub fn lcore_id(&self) -> Option<u32> {
        Some(ffi::lcore_id()).filter(|&id| id != u32::MAX)
    }

    /// Registers the calling (non-EAL) thread with EAL so it gets an lcore id and mempool
    /// caches, as a worker thread pinned by the runtime needs.
    pub fn register_thread(&self) -> Result<(), DpdkError> {
        ffi::thread_register()
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // A failed cleanup at exit leaves nothing for the caller to do.
        let _ = ffi::eal_cleanup();
    }
}
