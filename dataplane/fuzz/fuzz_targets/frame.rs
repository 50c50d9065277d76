//! A whole Ethernet frame through `sluice decode`'s dissector: every parser on the paths real
//! traffic takes (VLAN, ARP, IPv4/IPv6 with options and extension headers, UDP, TCP, ICMP,
//! GENEVE, GWLB options, the inner packet), then the text and JSON renderings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = sluice::decode::decode_frame(data);
    let mut text = String::new();
    sluice::decode::render_text(&decoded, &mut text);
    let json = serde_json::to_string(&decoded).expect("a decode record always serialises");
    assert!(!json.is_empty());
    if let Some(e) = &decoded.error {
        assert!(e.offset <= data.len(), "error offset past the frame");
    }
});
