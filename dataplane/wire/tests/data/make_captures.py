#!/usr/bin/env python3
"""Writes the golden captures under dataplane/wire/tests/data/ with scapy.

scapy is an implementation independent of sluice's own `wire` crate: it builds every packet
here, computes every length and checksum, and this script records what it built in
`captures.json` (per capture, per packet: the layers expected, the GWLB option values, the
inner flow, or the error a decoder must report and the byte offset of the layer that fails).
`control/tests/decode_golden.rs` runs `sluice decode --output json` over each capture and
checks it against that file, so a bug in sluice's parsers or checksums cannot hide behind
fixtures sluice made itself.

The GWLB packets follow the shape AWS's GWLB sends (gwlb-spec §1.3): outer Ethernet / IPv4 /
UDP dst 6081 / GENEVE v0 with VNI 0 and Opt Len 8 / three class-0x0108 options in the order
endpoint id (8 B), attachment id (8 B), flow cookie (4 B) / inner IPv4 or IPv6 packet.

Run: python3 dataplane/wire/tests/data/make_captures.py [OUTDIR]   (rewrites the .pcap files and
the JSON, beside this script unless OUTDIR is given; the output is deterministic, so a re-run
leaves git clean and `scripts/test` checks that the committed files are what this script makes.)
"""
import json
import os
import struct
import sys

from scapy.all import (ARP, ICMP, IP, IPOption_RR, TCP, UDP, Dot1Q, Ether, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw,
                       ICMPv6EchoRequest, ICMPv6PacketTooBig, PcapWriter, fragment)
from scapy.contrib.geneve import GENEVE, GeneveOptions

HERE = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

GW_MAC, APP_MAC = "02:00:00:00:00:01", "02:00:00:00:01:0a"
GW_IP, APP_IP = "10.0.0.1", "10.0.1.10"
CLIENT, SERVER = "192.168.10.20", "198.51.100.7"
CLIENT6, SERVER6 = "2001:db8:10::20", "2001:db8:51::7"

# vpce-0123456789abcdef0: AWS ids have 17 hex digits, the first always 0, so they fit a u64.
ENDPOINT = 0x123456789ABCDEF0
ATTACHMENT = 0x1122334455667788
COOKIE = 0xDEADBEEF


def vpce(n):
    return "vpce-%017x" % n


def gwlb_opts(order=(1, 2, 3), endpoint=ENDPOINT, attachment=ATTACHMENT, cookie=COOKIE):
    values = {1: struct.pack(">Q", endpoint), 2: struct.pack(">Q", attachment),
              3: struct.pack(">I", cookie)}
    return [GeneveOptions(classid=0x0108, type=t, length=len(values[t]) // 4, data=values[t])
            for t in order]


def outer(src=GW_IP, dst=APP_IP, sport=49152, smac=GW_MAC, dmac=APP_MAC):
    return Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, ttl=64, flags="DF", id=0) / \
        UDP(sport=sport, dport=6081)


def geneve(inner, options, proto=None, version=0):
    if proto is None:
        proto = 0x86DD if inner.haslayer(IPv6) else 0x0800
    optlen = sum(len(bytes(o)) for o in options) // 4
    return GENEVE(version=version, optionlen=optlen, proto=proto, vni=0, options=options) / inner


def flow(proto, src, sport, dst, dport):
    if sport is None:
        return {"protocol": proto, "src": src, "dst": dst}
    fmt = "[%s]:%d" if ":" in src else "%s:%d"
    return {"protocol": proto, "src": fmt % (src, sport), "dst": fmt % (dst, dport)}


GWLB_LAYERS = ["ethernet", "ipv4", "udp", "geneve", "gwlb"]
GWLB_VALUES = {"endpoint_id": vpce(ENDPOINT), "attachment_id": ATTACHMENT, "flow_cookie": COOKIE}
GENEVE_OFF = 14 + 20 + 8


def gwlb_captures():
    """Well-formed GWLB traffic, both directions."""
    out = []
    syn = IP(src=CLIENT, dst=SERVER, ttl=63) / TCP(sport=51000, dport=443, flags="S", seq=1000,
                                                   options=[("MSS", 1460), ("NOP", None),
                                                            ("WScale", 7)])
    out.append((outer() / geneve(syn, gwlb_opts()),
                {"layers": GWLB_LAYERS + ["ipv4", "tcp"], "gwlb": GWLB_VALUES,
                 "flow": flow("tcp", CLIENT, 51000, SERVER, 443), "tcp_mss": 1460,
                 "checksums_ok": True}))
    dns6 = IPv6(src=CLIENT6, dst=SERVER6, hlim=63) / UDP(sport=53000, dport=53) / Raw(b"\x12\x34" + b"\x00" * 30)
    out.append((outer(sport=49153) / geneve(dns6, gwlb_opts()),
                {"layers": GWLB_LAYERS + ["ipv6", "udp"], "gwlb": GWLB_VALUES,
                 "flow": flow("udp", CLIENT6, 53000, SERVER6, 53), "checksums_ok": True}))
    # Options in another order: a generic walker must still find all three.
    out.append((outer() / geneve(syn, gwlb_opts(order=(3, 1, 2))),
                {"layers": GWLB_LAYERS + ["ipv4", "tcp"], "gwlb": GWLB_VALUES,
                 "flow": flow("tcp", CLIENT, 51000, SERVER, 443), "checksums_ok": True}))
    # An option of another class and an unknown type of class 0x0108 are skipped.
    extra = [GeneveOptions(classid=0x0103, type=0x42, length=1, data=b"\xaa\xbb\xcc\xdd")] + \
        gwlb_opts()[:2] + [GeneveOptions(classid=0x0108, type=0x7F, length=2, data=b"\x01" * 8)] + \
        gwlb_opts()[2:]
    out.append((outer() / geneve(syn, extra),
                {"layers": GWLB_LAYERS + ["ipv4", "tcp"], "gwlb": GWLB_VALUES,
                 "geneve_options": 5, "flow": flow("tcp", CLIENT, 51000, SERVER, 443),
                 "checksums_ok": True}))
    # The appliance's return: outer IPs and MACs swapped, UDP ports kept, same options.
    synack = IP(src=SERVER, dst=CLIENT, ttl=60) / TCP(sport=443, dport=51000, flags="SA",
                                                      seq=5000, ack=1001, options=[("MSS", 1400)])
    ret = Ether(src=APP_MAC, dst=GW_MAC) / IP(src=APP_IP, dst=GW_IP, ttl=64, id=0) / \
        UDP(sport=49152, dport=6081) / geneve(synack, gwlb_opts())
    out.append((ret, {"layers": GWLB_LAYERS + ["ipv4", "tcp"], "gwlb": GWLB_VALUES,
                      "flow": flow("tcp", SERVER, 443, CLIENT, 51000), "tcp_mss": 1400,
                      "checksums_ok": True}))
    ping = IP(src=CLIENT, dst=SERVER, ttl=63) / ICMP(type=8, id=7, seq=1) / Raw(b"sluice" * 8)
    out.append((outer() / geneve(ping, gwlb_opts(cookie=0x00000001)),
                {"layers": GWLB_LAYERS + ["ipv4", "icmpv4"],
                 "gwlb": dict(GWLB_VALUES, flow_cookie=1),
                 "flow": flow("icmp", CLIENT, None, SERVER, None), "checksums_ok": True}))
    # An ICMP error about a UDP packet of the flow, quoted inside: the decoder shows the quote.
    quoted = IP(src=CLIENT, dst=SERVER, ttl=1) / UDP(sport=40000, dport=33434) / Raw(b"x" * 12)
    err = IP(src="192.168.10.1", dst=CLIENT) / ICMP(type=3, code=3) / bytes(quoted)[:28]
    out.append((outer() / geneve(err, gwlb_opts()),
                {"layers": GWLB_LAYERS + ["ipv4", "icmpv4"], "gwlb": GWLB_VALUES,
                 "icmp_quoted_flow": flow("udp", CLIENT, 40000, SERVER, 33434),
                 "checksums_ok": True}))
    return out


def malformed_captures():
    """Hostile and broken GENEVE: every packet must be reported, never crash the decoder."""
    out = []
    syn = IP(src=CLIENT, dst=SERVER) / TCP(sport=51000, dport=443, flags="S")
    out.append((outer() / geneve(syn, gwlb_opts(order=(1, 2))),
                {"error": {"layer": "gwlb", "kind": "missing_option", "offset": GENEVE_OFF + 8}}))
    out.append((outer() / geneve(syn, gwlb_opts(), version=1),
                {"error": {"layer": "geneve", "kind": "bad_version", "offset": GENEVE_OFF}}))
    # Opt Len says 32 bytes of options but the datagram ends after 20 of them.
    whole = bytes(geneve(syn, gwlb_opts()))[:8 + 20]
    out.append((outer() / Raw(whole),
                {"error": {"layer": "geneve", "kind": "options_too_long", "offset": GENEVE_OFF}}))
    # An option claims 31 words; the options area is 8 words.
    lying = [GeneveOptions(classid=0x0108, type=1, length=31, data=struct.pack(">Q", ENDPOINT))] + \
        gwlb_opts()[1:]
    g = GENEVE(version=0, optionlen=8, proto=0x0800, vni=0) / Raw(b"".join(bytes(o) for o in lying)) / syn
    out.append((outer() / g,
                {"error": {"layer": "geneve", "kind": "bad_option_length", "offset": GENEVE_OFF + 8}}))
    # Protocol Type 0x6558 (transparent Ethernet bridging) is not something GWLB sends.
    out.append((outer() / geneve(Ether() / syn, gwlb_opts(), proto=0x6558),
                {"error": {"layer": "geneve", "kind": "unsupported", "offset": GENEVE_OFF}}))
    # The endpoint id option carries 4 bytes instead of 8.
    short = [GeneveOptions(classid=0x0108, type=1, length=1, data=b"\x00\x00\x00\x01")] + gwlb_opts()[1:]
    out.append((outer() / geneve(syn, short),
                {"error": {"layer": "gwlb", "kind": "bad_option_length", "offset": GENEVE_OFF + 8}}))
    # The outer IPv4 total length claims more bytes than the frame has.
    p = outer() / geneve(syn, gwlb_opts())
    raw = bytearray(bytes(p))
    struct.pack_into(">H", raw, 14 + 2, len(raw) - 14 + 40)
    struct.pack_into(">H", raw, 14 + 10, 0)
    struct.pack_into(">H", raw, 14 + 10, ip_checksum(raw[14:34]))
    out.append((Ether(bytes(raw)), {"error": {"layer": "ipv4", "kind": "truncated", "offset": 14}}))
    # Inner IPv4 header with IHL 4.
    inner = bytearray(bytes(syn))
    inner[0] = 0x44
    out.append((outer() / geneve(Raw(bytes(inner)), gwlb_opts(), proto=0x0800),
                {"error": {"layer": "ipv4", "kind": "bad_header_length",
                           "offset": GENEVE_OFF + 8 + 32}}))
    # Inner TCP data offset of 15 words in a 20-byte segment.
    seg = bytearray(bytes(syn))
    seg[20 + 12] = 0xF0
    out.append((outer() / geneve(Raw(bytes(seg)), gwlb_opts(), proto=0x0800),
                {"error": {"layer": "tcp", "kind": "truncated", "offset": GENEVE_OFF + 8 + 32 + 20}}))
    # Frame cut in the middle of the outer UDP header.
    out.append((Ether(bytes(outer() / geneve(syn, gwlb_opts()))[:14 + 20 + 4]),
                {"error": {"layer": "ipv4", "kind": "truncated", "offset": 14}}))
    return out


def ip_checksum(hdr):
    s = sum(struct.unpack(">%dH" % (len(hdr) // 2), bytes(hdr)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def plain_captures():
    """Traffic that is not GENEVE: what arrives on an endpoint attachment or the exception path."""
    out = []
    out.append((Ether(src="02:00:00:00:00:fe", dst="ff:ff:ff:ff:ff:ff") /
                ARP(op=1, hwsrc="02:00:00:00:00:fe", psrc="10.0.0.254", pdst=GW_IP),
                {"layers": ["ethernet", "arp"], "arp": {"operation": "request",
                                                        "target": GW_IP}}))
    out.append((Ether(src="02:00:00:00:00:fe", dst=GW_MAC) / Dot1Q(vlan=100, prio=3) /
                IP(src=CLIENT, dst=SERVER) / ICMP(type=8, id=1, seq=9) / Raw(b"ping"),
                {"layers": ["ethernet", "vlan", "ipv4", "icmpv4"], "vlan": 100,
                 "flow": flow("icmp", CLIENT, None, SERVER, None), "checksums_ok": True}))
    out.append((Ether(dst=GW_MAC) / IP(src=CLIENT, dst=SERVER, options=[IPOption_RR(routers=["1.2.3.4"])]) /
                UDP(sport=1234, dport=5678) / Raw(b"with options"),
                {"layers": ["ethernet", "ipv4", "udp"], "ipv4_header_len": 28,
                 "flow": flow("udp", CLIENT, 1234, SERVER, 5678), "checksums_ok": True}))
    frags = fragment(IP(src=CLIENT, dst=SERVER, id=4242) / UDP(sport=1111, dport=2222) /
                     Raw(b"f" * 100), fragsize=64)
    out.append((Ether(dst=GW_MAC) / frags[0],
                {"layers": ["ethernet", "ipv4", "udp"], "fragment": {"offset": 0, "more": True},
                 "flow": flow("udp", CLIENT, 1111, SERVER, 2222)}))
    out.append((Ether(dst=GW_MAC) / frags[1],
                {"layers": ["ethernet", "ipv4"], "fragment": {"offset": 64, "more": False},
                 "flow": flow("udp", CLIENT, None, SERVER, None)}))
    out.append((Ether(dst=GW_MAC) / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrHopByHop() /
                IPv6ExtHdrDestOpt() / TCP(sport=40001, dport=80, flags="S"),
                {"layers": ["ethernet", "ipv6", "tcp"], "ipv6_ext": ["hop_by_hop", "destination_options"],
                 "flow": flow("tcp", CLIENT6, 40001, SERVER6, 80), "checksums_ok": True}))
    out.append((Ether(dst=GW_MAC) / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(id=77, m=1, offset=0) /
                UDP(sport=5353, dport=5353, len=200, chksum=0x1234) / Raw(b"u" * 48),
                {"layers": ["ethernet", "ipv6", "udp"], "ipv6_ext": ["fragment"],
                 "fragment": {"offset": 0, "more": True},
                 "flow": flow("udp", CLIENT6, 5353, SERVER6, 5353)}))
    big = IPv6(src=CLIENT6, dst=SERVER6) / TCP(sport=40002, dport=443, flags="A") / Raw(b"z" * 64)
    out.append((Ether(dst=GW_MAC) / IPv6(src="2001:db8::1", dst=CLIENT6) / ICMPv6PacketTooBig(mtu=1280) /
                bytes(big),
                {"layers": ["ethernet", "ipv6", "icmpv6"],
                 "icmp_quoted_flow": flow("tcp", CLIENT6, 40002, SERVER6, 443), "checksums_ok": True}))
    out.append((Ether(dst=GW_MAC) / IPv6(src=CLIENT6, dst=SERVER6) / ICMPv6EchoRequest(id=5, seq=6, data=b"hi"),
                {"layers": ["ethernet", "ipv6", "icmpv6"],
                 "flow": flow("icmpv6", CLIENT6, None, SERVER6, None), "checksums_ok": True}))
    return out


def jumbo_captures():
    """An inner packet of 8,501 bytes: one over GWLB's limit, which the decoder points out."""
    inner = IP(src=CLIENT, dst=SERVER) / UDP(sport=7000, dport=7001) / Raw(b"j" * (8501 - 28))
    ok = IP(src=CLIENT, dst=SERVER) / UDP(sport=7000, dport=7001) / Raw(b"j" * (8500 - 28))
    return [(outer() / geneve(ok, gwlb_opts()),
             {"layers": GWLB_LAYERS + ["ipv4", "udp"], "gwlb": GWLB_VALUES, "inner_len": 8500,
              "over_gwlb_mtu": False, "checksums_ok": True}),
            (outer() / geneve(inner, gwlb_opts()),
             {"layers": GWLB_LAYERS + ["ipv4", "udp"], "gwlb": GWLB_VALUES, "inner_len": 8501,
              "over_gwlb_mtu": True, "checksums_ok": True})]


def write(name, packets):
    path = os.path.join(HERE, name)
    w = PcapWriter(path, linktype=1, sync=True)
    expectations = []
    for i, (pkt, exp) in enumerate(packets):
        pkt.time = 1767225600 + i  # fixed timestamps keep the files byte-stable
        w.write(pkt)
        expectations.append(exp)
    w.close()
    return expectations


def main():
    manifest = {
        "gwlb.pcap": write("gwlb.pcap", gwlb_captures()),
        "malformed.pcap": write("malformed.pcap", malformed_captures()),
        "plain.pcap": write("plain.pcap", plain_captures()),
        "jumbo.pcap": write("jumbo.pcap", jumbo_captures()),
    }
    with open(os.path.join(HERE, "captures.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
