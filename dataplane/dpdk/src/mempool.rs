//! Pools of packet buffers (`rte_pktmbuf_pool_create`), freed on drop.

use std::ffi::CString;

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::ffi::PoolPtr;
use crate::mbuf::Mbuf;

/// A pool of mbufs. It borrows the [`Eal`], and every [`Mbuf`] and [`crate::Port`] using it
/// borrows the pool, so it is freed only once none of them is left.
#[derive(Debug)]
pub struct Mempool<'eal> {
    ptr: PoolPtr,
    name: String,
    data_room: u16,
    _eal: &'eal Eal,
}

impl<'eal> Mempool<'eal> {
    /// Creates a pool of `n` mbufs named `name` (unique in the process, at most 25 bytes)
    /// with a per-lcore cache of `cache`, each with `data_room` bytes of buffer including
    /// the headroom (`RTE_MBUF_DEFAULT_BUF_SIZE` is 2176), on NUMA `socket`
    /// ([`crate::SOCKET_ID_ANY`] for any).
    pub fn new(
        eal: &'eal Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool<'eal>, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::NulByte(name.to_owned()))?;
        let ptr = PoolPtr::create(&cname, n, cache, data_room, socket)?;
        Ok(Mempool {
            ptr,
            name: name.to_owned(),
            data_room,
            _eal: eal,
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of buffer per mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// A fresh empty mbuf, or `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf<'_>> {
        self.ptr.alloc().map(Mbuf::from_ptr)
    }

    /// How many mbufs are in the pool now (not in use).
    pub fn available(&self) -> u32 {
        self.ptr.available()
    }

    pub(crate) fn ptr(&self) -> &PoolPtr {
        &self.ptr
    }
}
