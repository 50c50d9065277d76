//! GENEVE base header, the generic option walk and the GWLB options: no panic on any input,
//! and whatever parses re-emits to the same header and options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::geneve::{GenevePacket, GeneveRepr};
use sluice_wire::gwlb::{GwlbOptions, OPTIONS_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = GenevePacket::new_checked(data) else {
        return;
    };
    let mut walked = 0;
    for option in packet.options_iter() {
        match option {
            Ok(o) => walked += o.total_len(),
            Err(_) => break,
        }
    }
    assert!(walked <= packet.options_len());
    if let Ok(repr) = GeneveRepr::parse(&packet) {
        let mut buf = vec![0u8; repr.header_len()];
        buf[8..].copy_from_slice(packet.options());
        let mut out = GenevePacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut out);
        let again = GeneveRepr::parse(&GenevePacket::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(repr, again);
    }
    if let Ok(gwlb) = GwlbOptions::parse(packet.options_iter()) {
        let mut buf = [0u8; OPTIONS_LEN];
        gwlb.emit(&mut buf).unwrap();
        let mut header = vec![0u8; 8 + OPTIONS_LEN];
        header[0] = (OPTIONS_LEN / 4) as u8;
        header[8..].copy_from_slice(&buf);
        let canonical = GenevePacket::new_checked(&header[..]).unwrap();
        assert_eq!(GwlbOptions::parse(canonical.options_iter()).unwrap(), gwlb);
    }
});
