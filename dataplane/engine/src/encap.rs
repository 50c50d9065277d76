//! GWLB's encapsulation, precomputed per target.
//!
//! Everything in front of an inner packet that depends only on the target — outer MACs,
//! IPv4 addresses, TTL and flags, UDP destination port, the GENEVE base header and the three
//! GWLB option headers — is written once per snapshot into an [`EncapTemplate`]; per packet
//! the gateway copies its 82 bytes and patches the lengths, the IPv4 checksum (from a
//! precomputed partial sum), the UDP source port, the protocol type and the option values.

use core::net::Ipv4Addr;

use sluice_wire::checksum;
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::geneve::{self, GenevePacket, GeneveRepr};
use sluice_wire::gwlb::{self, GwlbOptions};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use sluice_wire::udp::UdpPacket;

/// Outer Ethernet + IPv4 + UDP + GENEVE base + GWLB options: the bytes in front of every
/// encapsulated inner packet (68 bytes of L3 overhead plus the 14-byte Ethernet header).
pub const ENCAP_LEN: usize = 14 + 20 + 8 + gwlb::GENEVE_HEADER_LEN;

/// The outer IPv4 TTL of encapsulated packets.
pub const OUTER_TTL: u8 = 64;

/// Offsets of the per-packet fields inside the encapsulation.
mod field {
    pub(super) const IP: usize = 14;
    pub(super) const IP_TOTAL_LEN: usize = IP + 2;
    pub(super) const IP_CHECKSUM: usize = IP + 10;
    pub(super) const UDP_SRC_PORT: usize = 34;
    pub(super) const UDP_LEN: usize = 38;
    pub(super) const GENEVE: usize = 42;
    pub(super) const GENEVE_PROTOCOL: usize = GENEVE + 2;
    pub(super) const OPTIONS: usize = GENEVE + 8;
}

/// The encapsulation toward one target, ready to be stamped in front of inner packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapTemplate {
    head: [u8; ENCAP_LEN],
    /// The one's-complement sum of the IPv4 header with total length and checksum zero.
    ip_sum: u16,
}

impl EncapTemplate {
    /// The encapsulation from a gateway port (`src_mac`, `src_ip`) to a target (`dst_mac`,
    /// `dst_ip`).
    pub fn new(
        src_mac: EthernetAddress,
        dst_mac: EthernetAddress,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
    ) -> Self {
        let mut head = [0u8; ENCAP_LEN];
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: dst_mac,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut head[..]));
        Ipv4Repr {
            src_addr: src_ip,
            dst_addr: dst_ip,
            next_header: IpProtocol::Udp,
            payload_len: 0,
            hop_limit: OUTER_TTL,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
            frag: None,
        }
        .emit(&mut Ipv4Packet::new_unchecked(&mut head[field::IP..]));
        let mut ip = Ipv4Packet::new_unchecked(&mut head[field::IP..]);
        ip.set_total_len(0);
        ip.set_checksum(0);
        let ip_sum = checksum::data(&head[field::IP..field::IP + 20]);
        let mut udp = UdpPacket::new_unchecked(&mut head[field::UDP_SRC_PORT..]);
        udp.set_dst_port(geneve::UDP_PORT);
        // Zero is a valid "no checksum" over IPv4 (RFC 768); computing one would touch every
        // payload byte of every packet.
        udp.set_checksum(0);
        GeneveRepr {
            oam: false,
            critical: false,
            protocol_type: EtherType::Ipv4,
            vni: 0,
            options_len: gwlb::OPTIONS_LEN,
        }
        .emit(&mut GenevePacket::new_unchecked(&mut head[field::GENEVE..]));
        // The option headers, with zero values for now; `write` fills the values.
        let zero = GwlbOptions {
            endpoint_id: 0,
            attachment_id: 0,
            flow_cookie: 0,
        };
        let _ = zero.emit(&mut head[field::OPTIONS..]);
        EncapTemplate { head, ip_sum }
    }

    /// Writes the encapsulation of an inner packet of `inner_len` bytes into the first
    /// [`ENCAP_LEN`] bytes of `frame`.
    #[inline]
    pub fn write(
        &self,
        frame: &mut [u8],
        src_port: u16,
        protocol_type: EtherType,
        options: &GwlbOptions,
        inner_len: usize,
    ) {
        let head = &mut frame[..ENCAP_LEN];
        head.copy_from_slice(&self.head);
        let total = (ENCAP_LEN - field::IP + inner_len) as u16;
        head[field::IP_TOTAL_LEN..field::IP_TOTAL_LEN + 2].copy_from_slice(&total.to_be_bytes());
        let ip_checksum = !checksum::combine(&[self.ip_sum, total]);
        head[field::IP_CHECKSUM..field::IP_CHECKSUM + 2]
            .copy_from_slice(&ip_checksum.to_be_bytes());
        head[field::UDP_SRC_PORT..field::UDP_SRC_PORT + 2].copy_from_slice(&src_port.to_be_bytes());
        head[field::UDP_LEN..field::UDP_LEN + 2].copy_from_slice(&(total - 20).to_be_bytes());
        head[field::GENEVE_PROTOCOL..field::GENEVE_PROTOCOL + 2]
            .copy_from_slice(&u16::from(protocol_type).to_be_bytes());
        let o = field::OPTIONS;
        head[o + 4..o + 12].copy_from_slice(&options.endpoint_id.to_be_bytes());
        head[o + 16..o + 24].copy_from_slice(&options.attachment_id.to_be_bytes());
        head[o + 28..o + 32].copy_from_slice(&options.flow_cookie.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same headers written field by field with wire's Reprs.
    fn with_reprs(
        t: (EthernetAddress, EthernetAddress, Ipv4Addr, Ipv4Addr),
        port: u16,
        proto: EtherType,
        o: &GwlbOptions,
        inner_len: usize,
    ) -> Vec<u8> {
        let mut frame = vec![0u8; ENCAP_LEN];
        EthernetRepr {
            src_addr: t.0,
            dst_addr: t.1,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        let udp_len = 8 + gwlb::GENEVE_HEADER_LEN + inner_len;
        Ipv4Repr {
            src_addr: t.2,
            dst_addr: t.3,
            next_header: IpProtocol::Udp,
            payload_len: udp_len,
            hop_limit: OUTER_TTL,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
            frag: None,
        }
        .emit(&mut Ipv4Packet::new_unchecked(&mut frame[14..]));
        let mut udp = UdpPacket::new_unchecked(&mut frame[34..]);
        udp.set_src_port(port);
        udp.set_dst_port(6081);
        udp.set_len(udp_len as u16);
        udp.set_checksum(0);
        GeneveRepr {
            oam: false,
            critical: false,
            protocol_type: proto,
            vni: 0,
            options_len: 32,
        }
        .emit(&mut GenevePacket::new_unchecked(&mut frame[42..]));
        o.emit(&mut frame[50..]).unwrap();
        frame
    }

    #[test]
    fn the_template_writes_what_the_reprs_write() {
        let ends = (
            EthernetAddress([2, 0, 0, 0, 0, 2]),
            EthernetAddress([2, 0, 0, 0, 0, 0x0a]),
            Ipv4Addr::new(10, 0, 1, 1),
            Ipv4Addr::new(10, 0, 1, 10),
        );
        let template = EncapTemplate::new(ends.0, ends.1, ends.2, ends.3);
        for (inner_len, proto, port) in [
            (20, EtherType::Ipv4, 49152),
            (8500, EtherType::Ipv6, 65535),
            (1400, EtherType::Ipv4, 50000),
        ] {
            let o = GwlbOptions {
                endpoint_id: 0x0123_4567_89ab_cdef,
                attachment_id: inner_len as u64,
                flow_cookie: 0xdead_beef,
            };
            let mut frame = [0xffu8; ENCAP_LEN];
            template.write(&mut frame, port, proto, &o, inner_len);
            assert_eq!(
                &frame[..],
                &with_reprs(ends, port, proto, &o, inner_len)[..],
                "{inner_len}"
            );
            let mut ip = [0u8; 20];
            ip.copy_from_slice(&frame[14..34]);
            assert_eq!(
                checksum::data(&ip),
                0xffff,
                "the IPv4 header checksum is valid"
            );
        }
    }
}
