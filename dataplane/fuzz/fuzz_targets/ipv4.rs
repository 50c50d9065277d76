//! IPv4: view, checksum, fragment accessors and Repr; what parses re-emits and re-parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::ipv4::{Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let _ = Ipv4Packet::new_truncated(data).map(|p| (p.src_addr(), p.header_len()));
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.verify_checksum(), packet.is_fragment(), packet.frag_offset());
    let _ = (packet.options().len(), packet.payload().len());
    if let Ok(repr) = Ipv4Repr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        let again = Ipv4Packet::new_checked(&buf[..]).expect("emitted header is valid");
        assert!(again.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&again).expect("re-parse"), repr);
    }
});
