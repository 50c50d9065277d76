//! Building a TCP RST in place of the packet that provoked it.
//!
//! The gateway answers some TCP packets with a reset to their sender (no flow and
//! `send_tcp_reset.on_idle_timeout.enabled`, or a flow reset because its target failed or
//! left). Rewriting the provoking packet keeps the packet path allocation-free: its buffer is
//! at least as large as the 40- or 60-byte RST, and it already sits on the port the RST
//! leaves by.

use core::net::IpAddr;

use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use sluice_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use sluice_wire::tcp::{TcpFlags, TcpPacket, TcpRepr};

use crate::parse::IpFlow;

/// The TTL / hop limit of generated resets.
pub const RST_TTL: u8 = 64;

/// Rewrites the TCP packet at the start of `l3` (whose facts are `flow`) into the RST its
/// sender gets, per RFC 9293 §3.10.7.1: if the packet carried an ACK, the RST takes its
/// sequence number from that ACK; otherwise the RST has sequence number zero and acknowledges
/// the packet's sequence space. Returns the RST's IP length, or `None` for a packet that is
/// not a whole TCP segment, or is itself a RST (never answer a reset with a reset).
pub fn rewrite(l3: &mut [u8], flow: &IpFlow) -> Option<usize> {
    if flow.protocol != IpProtocol::Tcp || flow.is_fragment {
        return None;
    }
    let l4_offset = match flow.src {
        IpAddr::V4(_) => Ipv4Packet::new_checked(&*l3).ok()?.header_len(),
        IpAddr::V6(_) => {
            let ip = Ipv6Packet::new_checked(&*l3).ok()?;
            sluice_wire::ipv6::HEADER_LEN + sluice_wire::ipv6::upper_layer(&ip).ok()?.offset
        }
    };
    let end = flow.len.min(l3.len());
    let tcp = TcpPacket::new_checked(l3.get(l4_offset..end)?).ok()?;
    let flags = tcp.flags();
    if flags.contains(TcpFlags::RST) {
        return None;
    }
    let mut seq_space = tcp.payload().len() as u32;
    if flags.contains(TcpFlags::SYN) {
        seq_space += 1;
    }
    if flags.contains(TcpFlags::FIN) {
        seq_space += 1;
    }
    let (seq_number, ack_number, rst_flags) = if flags.contains(TcpFlags::ACK) {
        (tcp.ack_number(), None, TcpFlags::RST)
    } else {
        (
            0,
            Some(tcp.seq_number().wrapping_add(seq_space)),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    let repr = TcpRepr {
        src_port: tcp.dst_port(),
        dst_port: tcp.src_port(),
        seq_number,
        ack_number,
        flags: rst_flags,
        window_len: 0,
        mss: None,
        payload_len: 0,
    };
    let tcp_len = repr.header_len();
    match (flow.src, flow.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let total = 20 + tcp_len;
            let l3 = l3.get_mut(..total)?;
            Ipv4Repr {
                src_addr: dst,
                dst_addr: src,
                next_header: IpProtocol::Tcp,
                payload_len: tcp_len,
                hop_limit: RST_TTL,
                dscp: 0,
                ecn: 0,
                ident: 0,
                dont_frag: true,
                frag: None,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut *l3));
            let mut out = TcpPacket::new_unchecked(&mut l3[20..]);
            repr.emit(&mut out);
            out.fill_checksum_v4(&dst, &src);
            Some(total)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let total = sluice_wire::ipv6::HEADER_LEN + tcp_len;
            let l3 = l3.get_mut(..total)?;
            Ipv6Repr {
                src_addr: dst,
                dst_addr: src,
                next_header: IpProtocol::Tcp,
                payload_len: tcp_len,
                hop_limit: RST_TTL,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut *l3));
            let mut out = TcpPacket::new_unchecked(&mut l3[sluice_wire::ipv6::HEADER_LEN..]);
            repr.emit(&mut out);
            out.fill_checksum_v6(&dst, &src);
            Some(total)
        }
        _ => None,
    }
}
