#!/usr/bin/env python3
"""Writes the golden captures under dataplane/wire/tests/data/ with scapy.

scapy is an implementation independent of sluice's own `wire` crate: it builds every packet
here, computes every length and checksum, and this script records what it built in
`captures.json` (per capture, per packet: the layers expected, the GWLB option values, the
inner flow, or the error a decoder must report and the byte offset of the layer that fails).
`control/tests/decode_golden.rs` runs `sluice decode --output json` over each capture and
checks it against that file, so a bug in sluice's parsers or checksums cannot hide behind
fixtures sluice made itself. `appliance.pcap` is also the appliance's vector set: the engine's
`tests/appliance_vectors.rs` holds each packet's expected verdict, and `control/tests/simulate.rs`
and `run.rs` replay it through `sluice simulate` and `sluice run`.

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


def outer(src=GW_IP, dst=APP_IP, sport=49152, smac=GW_MAC, dmac=APP_MAC, chksum=None):
    """Outer Ethernet / IPv4 / UDP; `chksum=0` sends no UDP checksum (legal for IPv4)."""
    return Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, ttl=64, flags="DF", id=0) / \
        UDP(sport=sport, dport=6081, chksum=chksum)


def geneve(inner, options, proto=None, version=0, vni=0):
    if proto is None:
        proto = 0x86DD if inner.haslayer(IPv6) else 0x0800
    optlen = sum(len(bytes(o)) for o in options) // 4
    return GENEVE(version=version, optionlen=optlen, proto=proto, vni=vni, options=options) / inner


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


# A second GWLB node (another AZ's) and a host outside the GWLB subnet, both on the appliance's
# segment; routers on the inner path that send ICMP errors.
GW2_MAC, GW2_IP = "02:00:00:00:00:02", "10.0.0.2"
STRANGER_MAC, STRANGER_IP = "02:00:00:00:00:03", "10.0.2.1"
ROUTER4, ROUTER6 = "203.0.113.1", "2001:db8:ff::1"


def unknown_option(classid, t, data):
    return GeneveOptions(classid=classid, type=t, length=len(data) // 4, data=data)


def tcp4(sport, dport, flags, seq, ack=0, payload=b"", src=CLIENT, dst=SERVER, **kw):
    seg = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, **kw)
    return IP(src=src, dst=dst, ttl=63) / (seg / Raw(payload) if payload else seg)


def tcp6(sport, dport, flags, seq, ack=0, payload=b"", src=CLIENT6, dst=SERVER6, **kw):
    seg = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, **kw)
    return IPv6(src=src, dst=dst, hlim=63) / (seg / Raw(payload) if payload else seg)


def appliance_captures():
    """What an appliance behind AWS's GWLB must handle (the [APP] lines of gwlb-spec §10), in
    one capture for `sluice simulate` and `sluice run`: the packets GWLB sends in every shape
    the spec allows, then the ones an appliance must drop. The expected verdict of each is in
    `dataplane/engine/tests/appliance_vectors.rs`; ICMP errors quote flows seen earlier here."""
    out = []

    def decodes(pkt, inner_layers, flow_, gwlb=None, **exp):
        values = dict(GWLB_VALUES, **(gwlb or {}))
        out.append((pkt, dict({"layers": GWLB_LAYERS + inner_layers, "gwlb": values,
                               "flow": flow_, "checksums_ok": True}, **exp)))

    def fails(pkt, layer, kind, offset):
        out.append((pkt, {"error": {"layer": layer, "kind": kind, "offset": offset}}))

    # Flow A, TCP over IPv4: options reordered, unknown options among GWLB's, and an ICMP
    # error about it.
    a = dict(cookie=0xA0000001)
    a_fwd = flow("tcp", CLIENT, 51100, SERVER, 443)
    a_rev = flow("tcp", SERVER, 443, CLIENT, 51100)
    decodes(outer(sport=49200) / geneve(tcp4(51100, 443, "S", 7000, options=[("MSS", 1460)]),
                                        gwlb_opts(order=(3, 1, 2), **a)),
            ["ipv4", "tcp"], a_fwd, {"flow_cookie": a["cookie"]})
    decodes(outer(sport=49200, chksum=0) /
            geneve(tcp4(443, 51100, "SA", 9000, 7001, src=SERVER, dst=CLIENT,
                        options=[("MSS", 1400)]),
                   gwlb_opts(order=(2, 3, 1), **a)),
            ["ipv4", "tcp"], a_rev, {"flow_cookie": a["cookie"]})
    # Another class's option first, then an unknown type of class 0x0108 between GWLB's.
    opts = gwlb_opts(**a)
    mixed = [unknown_option(0x0103, 0x42, b"\xaa\xbb\xcc\xdd"), opts[0],
             unknown_option(0x0108, 0x7F, b"\x01" * 8), opts[1], opts[2]]
    decodes(outer(sport=49200) / geneve(tcp4(51100, 443, "A", 7001, 9001), mixed),
            ["ipv4", "tcp"], a_fwd, {"flow_cookie": a["cookie"]}, geneve_options=5)
    # An unknown class-0x0108 option of no data before GWLB's: a 44-byte GENEVE header.
    ahead = [unknown_option(0x0108, 0x04, b"")] + gwlb_opts(**a)
    data4 = tcp4(51100, 443, "PA", 7001, 9001, b"GET / HTTP/1.1\r\n\r\n")
    decodes(outer(sport=49200, chksum=0) / geneve(data4, ahead),
            ["ipv4", "tcp"], a_fwd, {"flow_cookie": a["cookie"]}, geneve_options=4)
    # A router on the way to the server reports it unreachable, quoting the data above; GWLB
    # sends the error to the client through this appliance with the flow's header.
    unreach = IP(src=ROUTER4, dst=CLIENT, ttl=62) / ICMP(type=3, code=1) / bytes(data4)
    decodes(outer(sport=49200) / geneve(unreach, ahead), ["ipv4", "icmpv4"],
            flow("icmp", ROUTER4, None, CLIENT, None), {"flow_cookie": a["cookie"]},
            icmp_quoted_flow=a_fwd)

    # Flow B: GWLB reuses a 5-tuple for a new flow with a new cookie (and outer port).
    b_fwd = flow("tcp", CLIENT, 51200, SERVER, 443)
    syn = tcp4(51200, 443, "S", 1, options=[("MSS", 1460)])
    decodes(outer(sport=49201) / geneve(syn, gwlb_opts(cookie=0xB0000001)), ["ipv4", "tcp"], b_fwd,
            {"flow_cookie": 0xB0000001})
    decodes(outer(sport=49202, chksum=0) / geneve(syn, gwlb_opts(cookie=0xB0000002)),
            ["ipv4", "tcp"], b_fwd, {"flow_cookie": 0xB0000002})
    decodes(outer(sport=49202) / geneve(tcp4(443, 51200, "SA", 500, 2, src=SERVER, dst=CLIENT),
                                        gwlb_opts(cookie=0xB0000002)),
            ["ipv4", "tcp"], flow("tcp", SERVER, 443, CLIENT, 51200), {"flow_cookie": 0xB0000002})

    # Flows C (TCP) and D (UDP): inner IPv6 under outer IPv4, protocol type 0x86DD.
    c = dict(cookie=0xC0000001)
    c_fwd = flow("tcp", CLIENT6, 40100, SERVER6, 443)
    decodes(outer(sport=49203) / geneve(tcp6(40100, 443, "S", 100, options=[("MSS", 1440)]),
                                        gwlb_opts(**c)),
            ["ipv6", "tcp"], c_fwd, {"flow_cookie": c["cookie"]})
    decodes(outer(sport=49203, chksum=0) /
            geneve(tcp6(443, 40100, "SA", 300, 101, src=SERVER6, dst=CLIENT6), gwlb_opts(**c)),
            ["ipv6", "tcp"], flow("tcp", SERVER6, 443, CLIENT6, 40100),
            {"flow_cookie": c["cookie"]})
    data6 = tcp6(40100, 443, "PA", 101, 301, b"x" * 1300)
    decodes(outer(sport=49203) / geneve(data6, gwlb_opts(**c)), ["ipv6", "tcp"], c_fwd,
            {"flow_cookie": c["cookie"]})
    d = dict(cookie=0xD0000001)
    decodes(outer(sport=49204) / geneve(IPv6(src=CLIENT6, dst=SERVER6, hlim=63) /
                                        UDP(sport=53100, dport=53) / Raw(b"\x00\x01" + b"q" * 30),
                                        gwlb_opts(**d)),
            ["ipv6", "udp"], flow("udp", CLIENT6, 53100, SERVER6, 53), {"flow_cookie": d["cookie"]})
    decodes(outer(sport=49204, chksum=0) /
            geneve(IPv6(src=SERVER6, dst=CLIENT6, hlim=60) / UDP(sport=53, dport=53100) /
                   Raw(b"\x00\x01" + b"a" * 46), gwlb_opts(**d)),
            ["ipv6", "udp"], flow("udp", SERVER6, 53, CLIENT6, 53100), {"flow_cookie": d["cookie"]})
    # A link toward the server has an MTU of 1280: packet too big about flow C's data.
    ptb = IPv6(src=ROUTER6, dst=CLIENT6, hlim=62) / ICMPv6PacketTooBig(mtu=1280) / \
        bytes(data6)[:1280 - 48]
    decodes(outer(sport=49203) / geneve(ptb, gwlb_opts(**c)), ["ipv6", "icmpv6"],
            flow("icmpv6", ROUTER6, None, CLIENT6, None), {"flow_cookie": c["cookie"]},
            icmp_quoted_flow=c_fwd)

    # Flow E: a VNI other than 0 (undocumented for GWLB): echoed like every other header bit.
    decodes(outer(sport=49205) / geneve(IP(src=CLIENT, dst=SERVER, ttl=63) /
                                        UDP(sport=5000, dport=5001) / Raw(b"vni"),
                                        gwlb_opts(cookie=0xE0000001), vni=0x0ABCDE),
            ["ipv4", "udp"], flow("udp", CLIENT, 5000, SERVER, 5001), {"flow_cookie": 0xE0000001})

    # GWLB's largest: inner packets of exactly 8,500 bytes (outer 8,568) pass, 8,501 do not.
    big4 = IP(src=CLIENT, dst=SERVER, ttl=63) / UDP(sport=7100, dport=7101) / \
        Raw(b"j" * (8500 - 28))
    decodes(outer(sport=49206) / geneve(big4, gwlb_opts(cookie=0xF0000001)), ["ipv4", "udp"],
            flow("udp", CLIENT, 7100, SERVER, 7101), {"flow_cookie": 0xF0000001},
            inner_len=8500, over_gwlb_mtu=False)
    big6 = tcp6(40100, 443, "A", 1401, 301, b"J" * (8500 - 60))
    decodes(outer(sport=49203, chksum=0) / geneve(big6, gwlb_opts(**c)), ["ipv6", "tcp"], c_fwd,
            {"flow_cookie": c["cookie"]}, over_gwlb_mtu=False)
    over4 = IP(src=CLIENT, dst=SERVER, ttl=63) / UDP(sport=7100, dport=7101) / \
        Raw(b"j" * (8501 - 28))
    decodes(outer(sport=49206) / geneve(over4, gwlb_opts(cookie=0xF0000001)), ["ipv4", "udp"],
            flow("udp", CLIENT, 7100, SERVER, 7101), {"flow_cookie": 0xF0000001},
            inner_len=8501, over_gwlb_mtu=True)
    over6 = IPv6(src=CLIENT6, dst=SERVER6, hlim=63) / UDP(sport=7200, dport=7201) / \
        Raw(b"k" * (8501 - 48))
    decodes(outer(sport=49207) / geneve(over6, gwlb_opts(cookie=0xF0000002)), ["ipv6", "udp"],
            flow("udp", CLIENT6, 7200, SERVER6, 7201), {"flow_cookie": 0xF0000002},
            over_gwlb_mtu=True)

    # Another GWLB node of the allowed subnet: the reply goes back to it.
    decodes(outer(src=GW2_IP, smac=GW2_MAC, sport=49208) /
            geneve(IP(src=CLIENT, dst=SERVER, ttl=63) / UDP(sport=5100, dport=53) / Raw(b"node2"),
                   gwlb_opts(cookie=0x10000001)),
            ["ipv4", "udp"], flow("udp", CLIENT, 5100, SERVER, 53), {"flow_cookie": 0x10000001})
    # Well-formed GENEVE from outside the GWLB subnet (10.0.0.0/24): never returned.
    decodes(outer(src=STRANGER_IP, smac=STRANGER_MAC, sport=49209) /
            geneve(IP(src=CLIENT, dst=SERVER, ttl=63) / UDP(sport=5200, dport=53) /
                   Raw(b"stranger"),
                   gwlb_opts(cookie=0x10000002)),
            ["ipv4", "udp"], flow("udp", CLIENT, 5200, SERVER, 53), {"flow_cookie": 0x10000002})

    # What GWLB never sends, so an appliance must drop.
    syn = tcp4(51300, 443, "S", 1)
    fails(outer() / geneve(syn, gwlb_opts(order=(2, 3))), "gwlb", "missing_option", GENEVE_OFF + 8)
    fails(outer() / geneve(syn, gwlb_opts(order=(1, 3))), "gwlb", "missing_option", GENEVE_OFF + 8)
    fails(outer() / geneve(syn, []), "gwlb", "missing_option", GENEVE_OFF + 8)
    fails(outer() / geneve(syn, gwlb_opts(order=(1, 2, 3, 3))), "gwlb", "duplicate_option",
          GENEVE_OFF + 8)
    fails(outer() / geneve(syn, gwlb_opts(), version=2), "geneve", "bad_version", GENEVE_OFF)
    # Protocol types that disagree with the inner packet's version (decoders only note it).
    decodes(outer() / geneve(syn, gwlb_opts(), proto=0x86DD), ["ipv4", "tcp"],
            flow("tcp", CLIENT, 51300, SERVER, 443))
    decodes(outer() / geneve(tcp6(51300, 443, "S", 1), gwlb_opts(), proto=0x0800), ["ipv6", "tcp"],
            flow("tcp", CLIENT6, 51300, SERVER6, 443))
    fails(outer() / geneve(ARP(op=1, psrc=CLIENT, pdst=SERVER), gwlb_opts(), proto=0x0806),
          "geneve", "unsupported", GENEVE_OFF)
    # Lying and truncated lengths: outer UDP length past the datagram, a GENEVE header cut
    # short, Opt Len 63, inner IPv4 and IPv6 lengths past the packet. (A UDP length that ends
    # inside the GENEVE header is an edit in appliance_vectors.rs: `sluice decode` reads GENEVE
    # to the end of the frame, so captures.json could not hold it yet.)
    g = bytes(geneve(syn, gwlb_opts()))
    p = outer(chksum=0) / Raw(g)
    p[UDP].len = 8 + len(g) + 40
    fails(p, "udp", "truncated", 14 + 20)
    fails(outer(chksum=0) / Raw(g[:4]), "geneve", "truncated", GENEVE_OFF)
    fails(outer() / GENEVE(version=0, optionlen=63, proto=0x0800, vni=0, options=gwlb_opts()) / syn,
          "geneve", "options_too_long", GENEVE_OFF)
    lying4 = bytearray(bytes(syn))
    struct.pack_into(">H", lying4, 2, len(lying4) + 100)
    struct.pack_into(">H", lying4, 10, 0)
    struct.pack_into(">H", lying4, 10, ip_checksum(lying4[:20]))
    fails(outer() / geneve(Raw(bytes(lying4)), gwlb_opts(), proto=0x0800), "ipv4", "truncated",
          GENEVE_OFF + 8 + 32)
    lying6 = bytearray(bytes(tcp6(51300, 443, "S", 1)))
    struct.pack_into(">H", lying6, 4, 20 + 100)
    fails(outer() / geneve(Raw(bytes(lying6)), gwlb_opts(), proto=0x86DD), "ipv6", "truncated",
          GENEVE_OFF + 8 + 32)
    # A packet of no flow GWLB sent, not encapsulated, to the appliance's MAC: the appliance
    # routes nothing into GWLB.
    out.append((Ether(src=GW_MAC, dst=APP_MAC) /
                tcp4(443, 51999, "SA", 1, 1, src=SERVER, dst=CLIENT),
                {"layers": ["ethernet", "ipv4", "tcp"],
                 "flow": flow("tcp", SERVER, 443, CLIENT, 51999), "checksums_ok": True}))
    return out


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
        "appliance.pcap": write("appliance.pcap", appliance_captures()),
    }
    with open(os.path.join(HERE, "captures.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
