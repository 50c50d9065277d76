//! An owned packet buffer (`rte_mbuf`), returned to its pool on drop.
//!
//! Data access reads `buf_addr + data_off` and `data_len` from the mbuf in Rust, with no C
//! call per packet. Views cover the first segment: mbufs that fit a frame (the default) have
//! only one; chained jumbo frames are the runtime's concern.

use core::marker::PhantomData;

use sluice_engine::packet::PacketBuf;

use crate::ffi::MbufPtr;

/// One mbuf, owned: dropping it frees it into its pool, which it cannot outlive.
/// `repr(transparent)` over a non-null pointer, so `Option<Mbuf>` is pointer-sized.
#[derive(Debug)]
#[repr(transparent)]
pub struct Mbuf<'pool> {
    ptr: MbufPtr,
    _pool: PhantomData<&'pool ()>,
}

impl Mbuf<'_> {
    #[inline]
    pub(crate) fn from_ptr(ptr: MbufPtr) -> Self {
        Mbuf {
            ptr,
            _pool: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn into_ptr(self) -> MbufPtr {
        self.ptr
    }

    /// Bytes in the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.ptr.data_len())
    }

    /// Whether the first segment holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the whole packet (all segments).
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.ptr.pkt_len()
    }

    /// How many segments the packet has.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.ptr.segments()
    }

    /// Grows the packet by `len` bytes at the tail and returns the whole first segment, or
    /// `None` (no change) when the tailroom is short. This is how a frame is written into a
    /// freshly allocated (empty) mbuf. On a chained mbuf the new bytes go to the last
    /// segment, outside the returned view.
    #[inline]
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let len = u16::try_from(len).ok()?;
        self.ptr.append(len).then(|| self.ptr.data_mut())
    }

    /// Prefetches the first cache line of the data, for a burst's next packets.
    #[inline]
    pub fn prefetch(&self) {
        self.ptr.prefetch_data();
    }
}

impl PacketBuf for Mbuf<'_> {
    #[inline]
    fn data(&self) -> &[u8] {
        self.ptr.data()
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        self.ptr.data_mut()
    }

    #[inline]
    fn headroom(&self) -> usize {
        usize::from(self.ptr.headroom())
    }

    #[inline]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        let len = u16::try_from(len).ok()?;
        self.ptr.prepend(len).then(|| self.ptr.data_mut())
    }

    #[inline]
    fn adj(&mut self, len: usize) -> bool {
        u16::try_from(len).is_ok_and(|len| self.ptr.adj(len))
    }

    #[inline]
    fn truncate(&mut self, len: usize) -> bool {
        u16::try_from(len).is_ok_and(|len| self.ptr.truncate(len))
    }
}
