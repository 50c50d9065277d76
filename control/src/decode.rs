//! Layer-by-layer packet decoding for `sluice decode`: a small tshark that knows GWLB.
//!
//! [`decode_packet`] turns one captured packet into a [`Decoded`] record — every layer with
//! its byte offset and fields, the (inner) flow, notes, and the first error with the layer and
//! offset where it happened — using only `sluice_wire`'s checked views, so hostile bytes give
//! a typed error, never a panic. [`render_text`] prints the record for people; it serialises
//! as JSON for scripts. The record is built for display and allocates freely: it is never on
//! the packet path.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;
use sluice_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EtherType, EthernetFrame};
use sluice_wire::geneve::{self, GenevePacket};
use sluice_wire::gwlb::{self, EndpointId, GwlbOptions};
use sluice_wire::icmpv4::{Icmpv4Message, Icmpv4Packet};
use sluice_wire::icmpv6::{Icmpv6Message, Icmpv6Packet};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::ipv6::{self, Ipv6Packet};
use sluice_wire::tcp::{TcpFlags, TcpPacket};
use sluice_wire::udp::UdpPacket;
use sluice_wire::vlan::VlanHeader;

use crate::capture::{CapturedPacket, LinkType};

/// How many VLAN tags are walked before the frame is called malformed (802.1ad QinQ has two).
const MAX_VLAN_TAGS: usize = 2;

/// One decoded packet.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    /// Position in the capture, from 1.
    pub index: usize,
    /// Seconds since the Unix epoch, with the capture's precision.
    pub timestamp: f64,
    /// Captured length in bytes.
    pub len: usize,
    /// Length on the wire, when the capture cut the packet short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orig_len: Option<u32>,
    /// The headers, outermost first.
    pub layers: Vec<Layer>,
    /// The GWLB options of the GENEVE header, when the packet carries them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gwlb: Option<Gwlb>,
    /// The flow of the innermost IP packet (for GENEVE: the encapsulated one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    /// Observations that are not errors (e.g. an inner packet over GWLB's size limit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The first malformation found; the layers before it are still listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Malformed>,
}

/// Where and why a packet is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// The layer being decoded (`ethernet`, `ipv4`, `geneve`, `gwlb`, ...).
    pub layer: &'static str,
    /// Byte offset of that layer (or of the part of it that is bad) from the packet start.
    pub offset: usize,
    /// A stable machine name of the error (`truncated`, `missing_option`, ...).
    pub kind: &'static str,
    /// A sentence for people.
    pub reason: String,
}

/// The AWS GWLB options of a GENEVE header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gwlb {
    /// Option type 1: the GWLB endpoint the flow came through, as `vpce-` + 17 hex digits.
    pub endpoint_id: String,
    /// Option type 2: the attachment id.
    pub attachment_id: u64,
    /// Option type 3: the flow cookie.
    pub flow_cookie: u32,
}

/// A flow: protocol, source and destination (with ports for TCP and UDP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// `tcp`, `udp`, `icmp`, `icmpv6` or the protocol number.
    pub protocol: String,
    /// Source address, `ip:port` (`[ip]:port` for IPv6) when there are ports.
    pub src: String,
    /// Destination address, likewise.
    pub dst: String,
}

/// One header of a packet.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Layer {
    /// Ethernet II.
    Ethernet {
        /// Byte offset.
        offset: usize,
        /// Source MAC.
        src: String,
        /// Destination MAC.
        dst: String,
        /// EtherType of the payload.
        ethertype: String,
    },
    /// An 802.1Q (or 802.1ad) tag.
    Vlan {
        /// Byte offset.
        offset: usize,
        /// VLAN id.
        id: u16,
        /// Priority code point.
        pcp: u8,
        /// Drop eligible indicator.
        dei: bool,
        /// EtherType of the payload.
        ethertype: String,
    },
    /// ARP for IPv4 over Ethernet.
    Arp {
        /// Byte offset.
        offset: usize,
        /// `request`, `reply` or the number.
        operation: String,
        /// Sender MAC.
        sender_mac: String,
        /// Sender IPv4 address.
        sender_ip: String,
        /// Target MAC.
        target_mac: String,
        /// Target IPv4 address.
        target_ip: String,
    },
    /// IPv4.
    Ipv4 {
        /// Byte offset.
        offset: usize,
        /// Source address.
        src: String,
        /// Destination address.
        dst: String,
        /// Payload protocol.
        protocol: String,
        /// Header length in bytes (more than 20 with options).
        header_len: usize,
        /// Total length field.
        total_len: u16,
        /// Time to live.
        ttl: u8,
        /// Identification.
        ident: u16,
        /// Don't-fragment flag.
        dont_frag: bool,
        /// Fragment details, for fragments.
        #[serde(skip_serializing_if = "Option::is_none")]
        fragment: Option<Fragment>,
        /// Whether the header checksum is right.
        checksum_ok: bool,
    },
    /// IPv6 with its extension headers.
    Ipv6 {
        /// Byte offset.
        offset: usize,
        /// Source address.
        src: String,
        /// Destination address.
        dst: String,
        /// Next header of the fixed header.
        next_header: String,
        /// Payload length field.
        payload_len: u16,
        /// Hop limit.
        hop_limit: u8,
        /// Extension headers walked, in order.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        extensions: Vec<String>,
        /// The upper-layer protocol after the extension headers.
        upper_layer: String,
        /// Fragment details, when a fragment header is present.
        #[serde(skip_serializing_if = "Option::is_none")]
        fragment: Option<Fragment>,
    },
    /// UDP.
    Udp {
        /// Byte offset.
        offset: usize,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Length field.
        len: u16,
        /// `ok`, `bad`, `none` (zero over IPv4) or `unchecked` (fragment, cut capture).
        checksum: &'static str,
    },
    /// TCP.
    Tcp {
        /// Byte offset.
        offset: usize,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number (meaningful with ACK).
        ack: u32,
        /// Flags set, e.g. `["SYN", "ACK"]`.
        flags: Vec<&'static str>,
        /// Window.
        window: u16,
        /// Header length in bytes.
        header_len: usize,
        /// MSS option, when present.
        #[serde(skip_serializing_if = "Option::is_none")]
        mss: Option<u16>,
        /// Payload bytes.
        payload_len: usize,
        /// `ok`, `bad` or `unchecked`.
        checksum: &'static str,
    },
    /// ICMP for IPv4.
    Icmpv4 {
        /// Byte offset.
        offset: usize,
        /// Message type.
        r#type: u8,
        /// Code.
        code: u8,
        /// The message's name.
        message: String,
        /// Echo identifier and sequence number, for echo messages.
        #[serde(skip_serializing_if = "Option::is_none")]
        echo: Option<(u16, u16)>,
        /// The flow of the packet an error message quotes.
        #[serde(skip_serializing_if = "Option::is_none")]
        quoted_flow: Option<Flow>,
        /// `ok`, `bad` or `unchecked`.
        checksum: &'static str,
    },
    /// ICMP for IPv6.
    Icmpv6 {
        /// Byte offset.
        offset: usize,
        /// Message type.
        r#type: u8,
        /// Code.
        code: u8,
        /// The message's name.
        message: String,
        /// Echo identifier and sequence number, for echo messages.
        #[serde(skip_serializing_if = "Option::is_none")]
        echo: Option<(u16, u16)>,
        /// MTU of a packet-too-big message.
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        /// The flow of the packet an error message quotes.
        #[serde(skip_serializing_if = "Option::is_none")]
        quoted_flow: Option<Flow>,
        /// `ok`, `bad` or `unchecked`.
        checksum: &'static str,
    },
    /// GENEVE (RFC 8926) with all its options.
    Geneve {
        /// Byte offset.
        offset: usize,
        /// Version (0).
        version: u8,
        /// Options length in bytes.
        options_len: usize,
        /// OAM bit.
        oam: bool,
        /// Critical-options bit.
        critical: bool,
        /// Protocol type of the payload.
        protocol_type: String,
        /// Virtual network identifier.
        vni: u32,
        /// Every option, in wire order.
        options: Vec<GeneveOpt>,
    },
    /// Bytes after the last header sluice decodes.
    Payload {
        /// Byte offset.
        offset: usize,
        /// Length in bytes.
        len: usize,
    },
}

/// IP fragment details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fragment {
    /// Offset of this fragment's data in the original datagram, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// One GENEVE option.
#[derive(Debug, Clone, Serialize)]
pub struct GeneveOpt {
    /// Byte offset of the option header.
    pub offset: usize,
    /// Option class.
    pub class: String,
    /// Option type (high bit: critical).
    pub r#type: u8,
    /// Data length in bytes.
    pub len: usize,
    /// What the option is, for the AWS GWLB ones (`gwlb.endpoint_id`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// The data, in hex.
    pub data: String,
}

/// The state a decode walks with: the record being built and the bytes of the whole packet.
struct Walker<'a> {
    packet: &'a [u8],
    out: Decoded,
}

/// Decodes one captured packet; `index` is its position in the capture, from 1.
pub fn decode_packet(index: usize, packet: &CapturedPacket) -> Decoded {
    let mut walker = Walker {
        packet: &packet.data,
        out: Decoded {
            index,
            timestamp: packet.timestamp.as_secs_f64(),
            len: packet.data.len(),
            orig_len: (packet.orig_len as usize != packet.data.len()).then_some(packet.orig_len),
            layers: Vec::new(),
            gwlb: None,
            flow: None,
            notes: Vec::new(),
            error: None,
        },
    };
    if walker.out.orig_len.is_some() {
        walker.out.notes.push(format!(
            "capture holds {} of {} bytes",
            packet.data.len(),
            packet.orig_len
        ));
    }
    // Each step returns Err only to stop the walk; the reason is already in `out.error`.
    let _ = match packet.link {
        LinkType::Ethernet => walker.ethernet(0),
        LinkType::RawIp => walker.ip(0, 0),
    };
    walker.out
}

/// Decodes a bare Ethernet frame (the fuzz targets' entry point).
pub fn decode_frame(frame: &[u8]) -> Decoded {
    decode_packet(
        1,
        &CapturedPacket {
            timestamp: std::time::Duration::ZERO,
            orig_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            link: LinkType::Ethernet,
            data: frame.to_vec(),
        },
    )
}

/// Stops a walk; the reason is recorded in [`Decoded::error`].
struct Stop;

type Step = Result<(), Stop>;

impl<'a> Walker<'a> {
    fn fail(&mut self, layer: &'static str, offset: usize, e: sluice_wire::Error) -> Stop {
        self.fail_with(layer, offset, error_kind(e), e.to_string())
    }

    fn fail_with(
        &mut self,
        layer: &'static str,
        offset: usize,
        kind: &'static str,
        reason: String,
    ) -> Stop {
        self.out.error = Some(Malformed {
            layer,
            offset,
            kind,
            reason,
        });
        Stop
    }

    fn bytes(&self, offset: usize) -> &'a [u8] {
        self.packet.get(offset..).unwrap_or(&[])
    }

    fn ethernet(&mut self, offset: usize) -> Step {
        let frame = EthernetFrame::new_checked(self.bytes(offset))
            .map_err(|e| self.fail("ethernet", offset, e))?;
        let mut ethertype = frame.ethertype();
        self.out.layers.push(Layer::Ethernet {
            offset,
            src: frame.src_addr().to_string(),
            dst: frame.dst_addr().to_string(),
            ethertype: ethertype_name(ethertype),
        });
        let mut at = offset + frame.header_len();
        let mut tags = 0;
        while matches!(ethertype, EtherType::Vlan | EtherType::QinQ) {
            tags += 1;
            if tags > MAX_VLAN_TAGS {
                return Err(self.fail_with(
                    "vlan",
                    at,
                    "malformed",
                    format!("more than {MAX_VLAN_TAGS} VLAN tags"),
                ));
            }
            let tag =
                VlanHeader::new_checked(self.bytes(at)).map_err(|e| self.fail("vlan", at, e))?;
            ethertype = tag.ethertype();
            self.out.layers.push(Layer::Vlan {
                offset: at,
                id: tag.vlan_id(),
                pcp: tag.pcp(),
                dei: tag.dei(),
                ethertype: ethertype_name(ethertype),
            });
            at += tag.header_len();
        }
        match ethertype {
            EtherType::Arp => self.arp(at),
            EtherType::Ipv4 | EtherType::Ipv6 => self.ip(at, 0),
            _ => {
                self.payload(at);
                Ok(())
            }
        }
    }

    fn arp(&mut self, offset: usize) -> Step {
        let packet =
            ArpPacket::new_checked(self.bytes(offset)).map_err(|e| self.fail("arp", offset, e))?;
        let repr = ArpRepr::parse(&packet).map_err(|e| self.fail("arp", offset, e))?;
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } = repr
        else {
            return Err(self.fail("arp", offset, sluice_wire::Error::Unsupported));
        };
        self.out.layers.push(Layer::Arp {
            offset,
            operation: match operation {
                ArpOperation::Request => "request".to_owned(),
                ArpOperation::Reply => "reply".to_owned(),
                ArpOperation::Unknown(n) => n.to_string(),
            },
            sender_mac: source_hardware_addr.to_string(),
            sender_ip: source_protocol_addr.to_string(),
            target_mac: target_hardware_addr.to_string(),
            target_ip: target_protocol_addr.to_string(),
        });
        Ok(())
    }

    /// Decodes an IPv4 or IPv6 packet by its version nibble; `depth` is 0 for the outer
    /// packet and 1 inside GENEVE.
    fn ip(&mut self, offset: usize, depth: u8) -> Step {
        match self.bytes(offset).first().map(|b| b >> 4) {
            Some(4) => self.ipv4(offset, depth),
            Some(6) => self.ipv6(offset, depth),
            Some(v) => Err(self.fail_with(
                "ip",
                offset,
                "bad_version",
                format!("IP version {v} is neither 4 nor 6"),
            )),
            None => Err(self.fail("ip", offset, sluice_wire::Error::Truncated)),
        }
    }

    fn ipv4(&mut self, offset: usize, depth: u8) -> Step {
        let packet = Ipv4Packet::new_checked(self.bytes(offset))
            .map_err(|e| self.fail("ipv4", offset, e))?;
        let header_len = packet.header_len();
        let protocol = packet.protocol();
        let fragment = packet.is_fragment().then(|| Fragment {
            offset: packet.frag_offset(),
            more: packet.more_frags(),
        });
        self.out.layers.push(Layer::Ipv4 {
            offset,
            src: packet.src_addr().to_string(),
            dst: packet.dst_addr().to_string(),
            protocol: protocol.to_string(),
            header_len,
            total_len: packet.total_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            fragment,
            checksum_ok: packet.verify_checksum(),
        });
        let src = IpAddr::V4(packet.src_addr());
        let dst = IpAddr::V4(packet.dst_addr());
        let payload_len = packet.payload().len();
        let first = fragment.is_none_or(|f| f.offset == 0);
        // A fragment's L4 checksum covers the reassembled datagram: it cannot be checked here.
        let checkable = fragment.is_none();
        self.out.flow = Some(flow3(protocol, src, dst));
        if !first {
            self.out
                .notes
                .push("non-first fragment: no transport header".to_owned());
            self.payload(offset + header_len);
            return Ok(());
        }
        self.transport(
            offset + header_len,
            payload_len,
            protocol,
            src,
            dst,
            checkable,
            depth,
        )
    }

    fn ipv6(&mut self, offset: usize, depth: u8) -> Step {
        let packet = Ipv6Packet::new_checked(self.bytes(offset))
            .map_err(|e| self.fail("ipv6", offset, e))?;
        let upper = ipv6::upper_layer(&packet).map_err(|e| self.fail("ipv6", offset, e))?;
        let extensions = packet
            .ext_headers()
            .map_while(|h| h.ok())
            .map(|h| ext_name(h.kind).to_owned())
            .collect();
        let fragment = upper.fragment.map(|f| Fragment {
            offset: f.offset,
            more: f.more,
        });
        let src = IpAddr::V6(packet.src_addr());
        let dst = IpAddr::V6(packet.dst_addr());
        self.out.layers.push(Layer::Ipv6 {
            offset,
            src: src.to_string(),
            dst: dst.to_string(),
            next_header: packet.next_header().to_string(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            extensions,
            upper_layer: upper.protocol.to_string(),
            fragment,
        });
        self.out.flow = Some(flow3(upper.protocol, src, dst));
        let l4 = offset + ipv6::HEADER_LEN + upper.offset;
        if fragment.is_some_and(|f| f.offset != 0) {
            self.out
                .notes
                .push("non-first fragment: no transport header".to_owned());
            self.payload(l4);
            return Ok(());
        }
        let l4_len =
            (ipv6::HEADER_LEN + usize::from(packet.payload_len())).saturating_sub(l4 - offset);
        self.transport(
            l4,
            l4_len,
            upper.protocol,
            src,
            dst,
            fragment.is_none(),
            depth,
        )
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the IP context a transport header needs"
    )]
    fn transport(
        &mut self,
        offset: usize,
        len: usize,
        protocol: IpProtocol,
        src: IpAddr,
        dst: IpAddr,
        checkable: bool,
        depth: u8,
    ) -> Step {
        let end = (offset + len).min(self.packet.len());
        let bytes = self.packet.get(offset..end).unwrap_or(&[]);
        match protocol {
            IpProtocol::Udp => {
                // In a first fragment the length field counts the whole datagram, which this
                // packet does not hold: only the 8-byte header can be checked.
                let udp = if checkable {
                    UdpPacket::new_checked(bytes)
                } else if bytes.len() >= 8 {
                    Ok(UdpPacket::new_unchecked(bytes))
                } else {
                    Err(sluice_wire::Error::Truncated)
                }
                .map_err(|e| self.fail("udp", offset, e))?;
                let checksum = if !checkable {
                    "unchecked"
                } else if udp.checksum() == 0 && src.is_ipv4() {
                    "none"
                } else if verify_l4(
                    &src,
                    &dst,
                    |s, d| udp.verify_checksum_v4(s, d),
                    |s, d| udp.verify_checksum_v6(s, d),
                ) {
                    "ok"
                } else {
                    "bad"
                };
                let (sp, dp) = (udp.src_port(), udp.dst_port());
                self.out.layers.push(Layer::Udp {
                    offset,
                    src_port: sp,
                    dst_port: dp,
                    len: udp.len(),
                    checksum,
                });
                self.out.flow = Some(flow5("udp", src, sp, dst, dp));
                let payload = offset + 8;
                if depth == 0 && (dp == geneve::UDP_PORT) {
                    // GENEVE ends where the datagram does, whatever follows in the frame.
                    return self.geneve(payload, offset + usize::from(udp.len()));
                }
                self.payload(payload);
                Ok(())
            }
            IpProtocol::Tcp => {
                let tcp = TcpPacket::new_checked(bytes).map_err(|e| self.fail("tcp", offset, e))?;
                let mss = tcp.mss();
                let header_len = tcp.header_len();
                let (sp, dp) = (tcp.src_port(), tcp.dst_port());
                self.out.layers.push(Layer::Tcp {
                    offset,
                    src_port: sp,
                    dst_port: dp,
                    seq: tcp.seq_number(),
                    ack: tcp.ack_number(),
                    flags: flag_names(tcp.flags()),
                    window: tcp.window_len(),
                    header_len,
                    mss,
                    payload_len: tcp.payload().len(),
                    checksum: checked(checkable, || {
                        verify_l4(
                            &src,
                            &dst,
                            |s, d| tcp.verify_checksum_v4(s, d),
                            |s, d| tcp.verify_checksum_v6(s, d),
                        )
                    }),
                });
                self.out.flow = Some(flow5("tcp", src, sp, dst, dp));
                if tcp.payload().is_empty() {
                    Ok(())
                } else {
                    self.payload(offset + header_len);
                    Ok(())
                }
            }
            IpProtocol::Icmp => {
                let icmp =
                    Icmpv4Packet::new_checked(bytes).map_err(|e| self.fail("icmpv4", offset, e))?;
                let message = icmp.msg_type();
                let echo = matches!(
                    message,
                    Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply
                )
                .then(|| (icmp.echo_ident(), icmp.echo_seq_no()));
                let quoted_flow = quoted_v4(&icmp);
                self.out.layers.push(Layer::Icmpv4 {
                    offset,
                    r#type: u8::from(message),
                    code: icmp.msg_code(),
                    message: message.to_string(),
                    echo,
                    quoted_flow,
                    checksum: checked(checkable, || icmp.verify_checksum()),
                });
                Ok(())
            }
            IpProtocol::Icmpv6 => {
                let icmp =
                    Icmpv6Packet::new_checked(bytes).map_err(|e| self.fail("icmpv6", offset, e))?;
                let message = icmp.msg_type();
                let echo = matches!(
                    message,
                    Icmpv6Message::EchoRequest | Icmpv6Message::EchoReply
                )
                .then(|| (icmp.echo_ident(), icmp.echo_seq_no()));
                let mtu = matches!(message, Icmpv6Message::PktTooBig).then(|| icmp.mtu());
                let quoted_flow = quoted_v6(&icmp);
                let (IpAddr::V6(s6), IpAddr::V6(d6)) = (src, dst) else {
                    return Err(self.fail_with(
                        "icmpv6",
                        offset,
                        "malformed",
                        "ICMPv6 inside IPv4".to_owned(),
                    ));
                };
                self.out.layers.push(Layer::Icmpv6 {
                    offset,
                    r#type: u8::from(message),
                    code: icmp.msg_code(),
                    message: message.to_string(),
                    echo,
                    mtu,
                    quoted_flow,
                    checksum: checked(checkable, || icmp.verify_checksum(&s6, &d6)),
                });
                Ok(())
            }
            _ => {
                self.payload(offset);
                Ok(())
            }
        }
    }

    fn geneve(&mut self, offset: usize, end: usize) -> Step {
        let bytes = self.packet.get(offset..end).unwrap_or(&[]);
        let packet =
            GenevePacket::new_checked(bytes).map_err(|e| self.fail("geneve", offset, e))?;
        let header_len = packet.header_len();
        let protocol = packet.protocol_type();
        let mut options = Vec::new();
        let mut at = offset + 8;
        let mut bad_option = None;
        for option in packet.options_iter() {
            match option {
                Ok(o) => {
                    let len = o.data().len();
                    options.push(GeneveOpt {
                        offset: at,
                        class: format!("0x{:04x}", o.class()),
                        r#type: o.option_type(),
                        len,
                        name: gwlb_option_name(o.class(), o.option_type()),
                        data: hex(o.data()),
                    });
                    at += 4 + len;
                }
                Err(e) => bad_option = Some((at, e)),
            }
        }
        self.out.layers.push(Layer::Geneve {
            offset,
            version: packet.version(),
            options_len: header_len - 8,
            oam: packet.oam(),
            critical: packet.critical(),
            protocol_type: ethertype_name(protocol),
            vni: packet.vni(),
            options,
        });
        if packet.version() != 0 {
            return Err(self.fail("geneve", offset, sluice_wire::Error::BadVersion));
        }
        if let Some((at, e)) = bad_option {
            return Err(self.fail("geneve", at, e));
        }
        let gwlb = GwlbOptions::parse(packet.options_iter())
            .map_err(|e| self.fail("gwlb", offset + 8, e))?;
        self.out.gwlb = Some(Gwlb {
            endpoint_id: EndpointId(gwlb.endpoint_id).to_string(),
            attachment_id: gwlb.attachment_id,
            flow_cookie: gwlb.flow_cookie,
        });
        let inner = offset + header_len;
        let inner_len = self.packet.len().saturating_sub(inner);
        match protocol {
            EtherType::Ipv4 | EtherType::Ipv6 => {}
            other => {
                return Err(self.fail_with(
                    "geneve",
                    offset,
                    "unsupported",
                    format!(
                        "protocol type {} is not IPv4 or IPv6: GWLB carries only IP packets",
                        ethertype_name(other)
                    ),
                ));
            }
        }
        if inner_len > gwlb::MAX_INNER_LEN {
            self.out.notes.push(format!(
                "inner packet of {inner_len} bytes exceeds GWLB's {} byte limit: a GWLB drops it",
                gwlb::MAX_INNER_LEN
            ));
        }
        let version_ok = matches!(
            (protocol, self.bytes(inner).first().map(|b| b >> 4)),
            (EtherType::Ipv4, Some(4)) | (EtherType::Ipv6, Some(6))
        );
        if !version_ok && inner_len > 0 {
            self.out
                .notes
                .push("protocol type and inner IP version disagree".to_owned());
        }
        self.ip(inner, 1)
    }

    fn payload(&mut self, offset: usize) {
        let len = self.packet.len().saturating_sub(offset);
        if len > 0 {
            self.out.layers.push(Layer::Payload { offset, len });
        }
    }
}

/// Verifies a transport checksum with the pseudo-header of the right family.
fn verify_l4(
    src: &IpAddr,
    dst: &IpAddr,
    v4: impl FnOnce(&std::net::Ipv4Addr, &std::net::Ipv4Addr) -> bool,
    v6: impl FnOnce(&std::net::Ipv6Addr, &std::net::Ipv6Addr) -> bool,
) -> bool {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => v4(s, d),
        (IpAddr::V6(s), IpAddr::V6(d)) => v6(s, d),
        _ => false,
    }
}

fn checked(checkable: bool, verify: impl FnOnce() -> bool) -> &'static str {
    match (checkable, checkable && verify()) {
        (false, _) => "unchecked",
        (true, true) => "ok",
        (true, false) => "bad",
    }
}

fn quoted_v4(icmp: &Icmpv4Packet<&[u8]>) -> Option<Flow> {
    let ip = icmp.quoted_ipv4().ok()?;
    let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
    let protocol = ip.protocol();
    Some(match (protocol, icmp.quoted_ports()) {
        (IpProtocol::Tcp, Some((sp, dp))) => flow5("tcp", src, sp, dst, dp),
        (IpProtocol::Udp, Some((sp, dp))) => flow5("udp", src, sp, dst, dp),
        _ => flow3(protocol, src, dst),
    })
}

fn quoted_v6(icmp: &Icmpv6Packet<&[u8]>) -> Option<Flow> {
    let ip = icmp.quoted_ipv6().ok()?;
    let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
    let protocol = ip.next_header();
    Some(match (protocol, icmp.quoted_ports()) {
        (IpProtocol::Tcp, Some((sp, dp))) => flow5("tcp", src, sp, dst, dp),
        (IpProtocol::Udp, Some((sp, dp))) => flow5("udp", src, sp, dst, dp),
        _ => flow3(protocol, src, dst),
    })
}

fn flow3(protocol: IpProtocol, src: IpAddr, dst: IpAddr) -> Flow {
    Flow {
        protocol: protocol_name(protocol),
        src: src.to_string(),
        dst: dst.to_string(),
    }
}

fn flow5(protocol: &str, src: IpAddr, sp: u16, dst: IpAddr, dp: u16) -> Flow {
    Flow {
        protocol: protocol.to_owned(),
        src: std::net::SocketAddr::new(src, sp).to_string(),
        dst: std::net::SocketAddr::new(dst, dp).to_string(),
    }
}

fn flag_names(flags: TcpFlags) -> Vec<&'static str> {
    const NAMES: [(TcpFlags, &str); 9] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
        (TcpFlags::NS, "NS"),
    ];
    NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect()
}

fn protocol_name(protocol: IpProtocol) -> String {
    match protocol {
        IpProtocol::Tcp => "tcp".to_owned(),
        IpProtocol::Udp => "udp".to_owned(),
        IpProtocol::Icmp => "icmp".to_owned(),
        IpProtocol::Icmpv6 => "icmpv6".to_owned(),
        other => u8::from(other).to_string(),
    }
}

fn ext_name(kind: IpProtocol) -> &'static str {
    match kind {
        IpProtocol::HopByHop => "hop_by_hop",
        IpProtocol::Ipv6Route => "routing",
        IpProtocol::Ipv6Frag => "fragment",
        IpProtocol::Ipv6Opts => "destination_options",
        IpProtocol::Ah => "authentication",
        _ => "other",
    }
}

fn ethertype_name(ethertype: EtherType) -> String {
    match ethertype {
        EtherType::Ipv4 => "ipv4".to_owned(),
        EtherType::Ipv6 => "ipv6".to_owned(),
        EtherType::Arp => "arp".to_owned(),
        EtherType::Vlan => "vlan".to_owned(),
        EtherType::QinQ => "qinq".to_owned(),
        other => format!("0x{:04x}", u16::from(other)),
    }
}

fn gwlb_option_name(class: u16, option_type: u8) -> Option<&'static str> {
    if class != gwlb::OPTION_CLASS {
        return None;
    }
    match option_type {
        1 => Some("gwlb.endpoint_id"),
        2 => Some("gwlb.attachment_id"),
        3 => Some("gwlb.flow_cookie"),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The stable machine name of a wire error, as `sluice decode --output json` reports it.
pub fn error_kind(e: sluice_wire::Error) -> &'static str {
    use sluice_wire::Error as E;
    match e {
        E::Truncated => "truncated",
        E::BadVersion => "bad_version",
        E::BadHeaderLength => "bad_header_length",
        E::BadLength => "bad_length",
        E::BadOptionLength => "bad_option_length",
        E::OptionsTooLong => "options_too_long",
        E::BadChecksum => "bad_checksum",
        E::Unsupported => "unsupported",
        E::MissingOption => "missing_option",
        E::DuplicateOption => "duplicate_option",
        E::ExtensionChainTooLong => "extension_chain_too_long",
        _ => "malformed",
    }
}

/// Appends the text rendering of one decoded packet to `out`.
pub fn render_text(d: &Decoded, out: &mut String) {
    let _ = writeln!(out, "#{} {} bytes", d.index, d.len);
    for layer in &d.layers {
        render_layer(layer, out);
    }
    if let Some(g) = &d.gwlb {
        let _ = writeln!(
            out,
            "  {:<9} endpoint {}  attachment 0x{:016x}  cookie 0x{:08x}",
            "gwlb", g.endpoint_id, g.attachment_id, g.flow_cookie
        );
    }
    if let Some(f) = &d.flow {
        let _ = writeln!(out, "  {:<9} {} {} -> {}", "flow", f.protocol, f.src, f.dst);
    }
    for note in &d.notes {
        let _ = writeln!(out, "  {:<9} {note}", "note");
    }
    if let Some(e) = &d.error {
        let _ = writeln!(
            out,
            "  {:<9} at byte {} ({}): {} [{}]",
            "MALFORMED", e.offset, e.layer, e.reason, e.kind
        );
    }
}

fn render_layer(layer: &Layer, out: &mut String) {
    let _ = match layer {
        Layer::Ethernet {
            src,
            dst,
            ethertype,
            ..
        } => {
            writeln!(out, "  ethernet  {src} -> {dst}  type {ethertype}")
        }
        Layer::Vlan {
            id,
            pcp,
            dei,
            ethertype,
            ..
        } => writeln!(
            out,
            "  vlan      id {id}  pcp {pcp}{}  type {ethertype}",
            if *dei { "  dei" } else { "" }
        ),
        Layer::Arp {
            operation,
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
            ..
        } => writeln!(
            out,
            "  arp       {operation}  sender {sender_ip} ({sender_mac})  target {target_ip} ({target_mac})"
        ),
        Layer::Ipv4 {
            src,
            dst,
            protocol,
            header_len,
            total_len,
            ttl,
            ident,
            dont_frag,
            fragment,
            checksum_ok,
            ..
        } => {
            let mut flags = String::new();
            if *header_len > 20 {
                let _ = write!(flags, "  options {} B", header_len - 20);
            }
            if *dont_frag {
                flags.push_str("  DF");
            }
            if let Some(f) = fragment {
                let _ = write!(
                    flags,
                    "  fragment offset {}{}",
                    f.offset,
                    if f.more { " MF" } else { "" }
                );
            }
            writeln!(
                out,
                "  ipv4      {src} -> {dst}  proto {protocol}  len {total_len}  ttl {ttl}  id {ident}{flags}  checksum {}",
                if *checksum_ok { "ok" } else { "BAD" }
            )
        }
        Layer::Ipv6 {
            src,
            dst,
            payload_len,
            hop_limit,
            extensions,
            upper_layer,
            fragment,
            ..
        } => {
            let mut extra = String::new();
            if !extensions.is_empty() {
                let _ = write!(extra, "  ext {}", extensions.join(","));
            }
            if let Some(f) = fragment {
                let _ = write!(
                    extra,
                    "  fragment offset {}{}",
                    f.offset,
                    if f.more { " MF" } else { "" }
                );
            }
            writeln!(
                out,
                "  ipv6      {src} -> {dst}  next {upper_layer}  payload {payload_len}  hop limit {hop_limit}{extra}"
            )
        }
        Layer::Udp {
            src_port,
            dst_port,
            len,
            checksum,
            ..
        } => writeln!(
            out,
            "  udp       {src_port} -> {dst_port}  len {len}  checksum {checksum}"
        ),
        Layer::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            mss,
            payload_len,
            checksum,
            ..
        } => writeln!(
            out,
            "  tcp       {src_port} -> {dst_port}  [{}]  seq {seq}  ack {ack}  win {window}{}  payload {payload_len}  checksum {checksum}",
            flags.join(","),
            mss.map(|m| format!("  mss {m}")).unwrap_or_default()
        ),
        Layer::Icmpv4 {
            r#type,
            code,
            message,
            echo,
            quoted_flow,
            checksum,
            ..
        }
        | Layer::Icmpv6 {
            r#type,
            code,
            message,
            echo,
            quoted_flow,
            checksum,
            ..
        } => {
            let name = if matches!(layer, Layer::Icmpv4 { .. }) {
                "icmpv4"
            } else {
                "icmpv6"
            };
            let mut extra = String::new();
            if let Some((id, seq)) = echo {
                let _ = write!(extra, "  id {id} seq {seq}");
            }
            if let Layer::Icmpv6 { mtu: Some(mtu), .. } = layer {
                let _ = write!(extra, "  mtu {mtu}");
            }
            if let Some(f) = quoted_flow {
                let _ = write!(extra, "  quotes {} {} -> {}", f.protocol, f.src, f.dst);
            }
            writeln!(
                out,
                "  {name:<9} {message} (type {type} code {code}){extra}  checksum {checksum}",
                type = r#type
            )
        }
        Layer::Geneve {
            version,
            options_len,
            oam,
            critical,
            protocol_type,
            vni,
            options,
            ..
        } => {
            let _ = writeln!(
                out,
                "  geneve    v{version}  options {options_len} B  vni {vni}  protocol {protocol_type}{}{}",
                if *oam { "  O" } else { "" },
                if *critical { "  C" } else { "" }
            );
            for o in options {
                let _ = writeln!(
                    out,
                    "    option  class {} type 0x{:02x} len {}{}  {}",
                    o.class,
                    o.r#type,
                    o.len,
                    o.name.map(|n| format!("  {n}")).unwrap_or_default(),
                    o.data
                );
            }
            Ok(())
        }
        Layer::Payload { len, .. } => writeln!(out, "  payload   {len} bytes"),
    };
}

/// The closing line of a text decode: how many packets, how many GWLB, how many malformed.
pub fn summary(decoded: &[Decoded]) -> String {
    let gwlb = decoded.iter().filter(|d| d.gwlb.is_some()).count();
    let bad = decoded.iter().filter(|d| d.error.is_some()).count();
    format!(
        "{} packets: {} with GWLB options, {} malformed",
        decoded.len(),
        gwlb,
        bad
    )
}
