//! RFC 1624 incremental update equals a full recompute for any buffer and any 16-bit change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::checksum;

fuzz_target!(|input: (Vec<u8>, u16, u16)| {
    let (mut data, at, new) = input;
    if data.len() < 2 {
        return;
    }
    if data.len() % 2 == 1 {
        data.push(0);
    }
    let i = usize::from(at) % (data.len() / 2) * 2;
    let before = !checksum::data(&data);
    let old = u16::from_be_bytes([data[i], data[i + 1]]);
    data[i..i + 2].copy_from_slice(&new.to_be_bytes());
    let full = !checksum::data(&data);
    let incremental = checksum::update(before, old, new);
    // One's complement has two zeros; the two results must be the same number.
    assert!(incremental == full || (incremental | full) == 0xffff && (incremental & full) == 0);
});
