//! UDP: header, length rules and checksums over both pseudo-headers.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use sluice_wire::udp::{UdpPacket, UdpRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = UdpPacket::new_checked(data) else {
        return;
    };
    let _ = UdpRepr::parse(&packet);
    let _ = packet.verify_checksum_v4(&Ipv4Addr::LOCALHOST, &Ipv4Addr::BROADCAST);
    let _ = packet.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);
    let mut copy = data.to_vec();
    let mut view = UdpPacket::new_unchecked(&mut copy[..]);
    view.fill_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);
    assert!(view.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED));
});
