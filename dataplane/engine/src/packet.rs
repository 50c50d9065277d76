//! The packet buffer the engine edits in place.
//!
//! The pipelines never copy a payload: encapsulation writes the outer headers into the
//! buffer's headroom, decapsulation moves the start forward, replies rewrite headers where
//! they are. [`PacketBuf`] is that contract; the DPDK runtime implements it over an `rte_mbuf`
//! (headroom, `data_off`, `data_len`), and [`HeapPacket`] implements it over a plain byte
//! buffer for tests, benchmarks and `sluice simulate`.

/// Bytes of headroom [`HeapPacket`] leaves, as DPDK's default `RTE_PKTMBUF_HEADROOM`.
pub const DEFAULT_HEADROOM: usize = 128;

/// A frame in a buffer with room in front of it.
pub trait PacketBuf {
    /// The frame's bytes.
    fn data(&self) -> &[u8];

    /// The frame's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];

    /// How many bytes can be prepended.
    fn headroom(&self) -> usize;

    /// Grows the frame by `len` bytes at the front and returns the whole frame, or `None`
    /// (and changes nothing) when the headroom is smaller than `len`.
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]>;

    /// Removes `len` bytes from the front; `false` (and no change) if the frame is shorter.
    fn adj(&mut self, len: usize) -> bool;

    /// Shortens the frame to `len` bytes; `false` (and no change) if it is shorter already.
    fn truncate(&mut self, len: usize) -> bool;
}

/// A [`PacketBuf`] over an owned byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapPacket {
    buf: Vec<u8>,
    start: usize,
}

impl HeapPacket {
    /// A packet holding a copy of `frame` with [`DEFAULT_HEADROOM`] bytes in front.
    pub fn new(frame: &[u8]) -> Self {
        Self::with_headroom(frame, DEFAULT_HEADROOM)
    }

    /// A packet holding a copy of `frame` with `headroom` bytes in front.
    pub fn with_headroom(frame: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0; headroom + frame.len()];
        buf[headroom..].copy_from_slice(frame);
        HeapPacket {
            buf,
            start: headroom,
        }
    }

    /// Replaces the contents with a copy of `frame` and [`DEFAULT_HEADROOM`] in front,
    /// reusing the allocation when it is large enough (as a pool recycles mbufs).
    pub fn reset(&mut self, frame: &[u8]) {
        // The headroom's old bytes stay: as in an mbuf, nothing reads them before writing.
        self.buf.resize(DEFAULT_HEADROOM, 0);
        self.buf.truncate(DEFAULT_HEADROOM);
        self.buf.extend_from_slice(frame);
        self.start = DEFAULT_HEADROOM;
    }
}

impl PacketBuf for HeapPacket {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    fn headroom(&self) -> usize {
        self.start
    }

    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        self.start = self.start.checked_sub(len)?;
        Some(&mut self.buf[self.start..])
    }

    fn adj(&mut self, len: usize) -> bool {
        if len > self.buf.len() - self.start {
            return false;
        }
        self.start += len;
        true
    }

    fn truncate(&mut self, len: usize) -> bool {
        if len > self.buf.len() - self.start {
            return false;
        }
        self.buf.truncate(self.start + len);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_adj_truncate() {
        let mut p = HeapPacket::with_headroom(&[1, 2, 3, 4], 4);
        assert_eq!(p.headroom(), 4);
        assert!(p.prepend(5).is_none());
        assert_eq!(p.data(), [1, 2, 3, 4]);
        p.prepend(2).unwrap().copy_from_slice(&[9, 8, 1, 2, 3, 4]);
        assert_eq!(p.data(), [9, 8, 1, 2, 3, 4]);
        assert_eq!(p.headroom(), 2);
        assert!(p.adj(3));
        assert_eq!(p.data(), [2, 3, 4]);
        assert!(!p.adj(4));
        assert!(p.truncate(1));
        assert_eq!(p.data(), [2]);
        assert!(!p.truncate(2));
        p.data_mut()[0] = 7;
        assert_eq!(p.data(), [7]);
    }
}
