//! ICMPv4 and ICMPv6: messages, Reprs, and the quoted packet of error messages (the gateway
//! maps errors to flows through it).
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use sluice_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use sluice_wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Icmpv4Packet::new_checked(data) {
        let _ = (packet.verify_checksum(), packet.quoted_ports(), Icmpv4Repr::parse(&packet));
        if let Ok(quoted) = packet.quoted_ipv4() {
            let _ = (quoted.src_addr(), quoted.protocol());
        }
    }
    if let Ok(packet) = Icmpv6Packet::new_checked(data) {
        let _ = packet.verify_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
        let _ = (packet.quoted_ports(), Icmpv6Repr::parse(&packet));
        if let Ok(quoted) = packet.quoted_ipv6() {
            let _ = (quoted.src_addr(), quoted.next_header());
        }
    }
});
