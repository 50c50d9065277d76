//! Ethernet, 802.1Q and ARP views and Reprs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::arp::{ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EthernetFrame, EthernetRepr};
use sluice_wire::vlan::{VlanHeader, VlanRepr};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = EthernetFrame::new_checked(data) {
        let _ = EthernetRepr::parse(&frame);
    }
    if let Ok(tag) = VlanHeader::new_checked(data) {
        let _ = VlanRepr::parse(&tag);
    }
    if let Ok(arp) = ArpPacket::new_checked(data) {
        if let Ok(repr) = ArpRepr::parse(&arp) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            let again = ArpPacket::new_checked(&buf[..]).expect("emitted ARP is valid");
            assert_eq!(ArpRepr::parse(&again).expect("re-parse"), repr);
        }
    }
});
