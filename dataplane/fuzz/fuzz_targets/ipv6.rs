//! IPv6: fixed header, the extension-header walk and the upper-layer finder agree and never
//! read past the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::ipv6::{self, Ipv6Packet, Ipv6Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let _ = Ipv6Repr::parse(&packet);
    let payload_len = packet.payload().len();
    for header in packet.ext_headers() {
        let Ok(h) = header else { break };
        assert!(h.offset + h.len <= payload_len);
    }
    if let Ok(upper) = ipv6::upper_layer(&packet) {
        assert!(upper.offset <= payload_len);
    }
});
