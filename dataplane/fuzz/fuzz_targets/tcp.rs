//! TCP: header, options walk, MSS, checksums, and the in-place MSS rewrite the appliance's
//! clamp uses, which must keep a valid checksum valid.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use sluice_wire::tcp::{TcpPacket, TcpRepr};

fuzz_target!(|data: &[u8]| {
    let Some((&clamp, segment)) = data.split_first() else {
        return;
    };
    let Ok(packet) = TcpPacket::new_checked(segment) else {
        return;
    };
    for option in packet.options_iter() {
        if option.is_err() {
            break;
        }
    }
    let _ = (packet.mss(), TcpRepr::parse(&packet));
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 1, 2));
    let mut copy = segment.to_vec();
    let mut view = TcpPacket::new_unchecked(&mut copy[..]);
    view.fill_checksum_v4(&src, &dst);
    if let Ok(Some(_old)) = view.set_mss_in_place(536 + u16::from(clamp) * 31) {
        assert!(view.verify_checksum_v4(&src, &dst), "MSS rewrite broke the checksum");
    }
});
