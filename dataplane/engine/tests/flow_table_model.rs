//! The flow table against a `HashMap` model, under random single-threaded operation sequences.
//!
//! It exists to pin down the table's sequential semantics (what insert, remove, lookup, touch,
//! expiry, cookies and stale handles return) independently of its layout. The keys' hashes
//! are truncated to 32 bits, so every tag is zero and every lookup must compare full keys.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sluice_engine::flow::{FlowKey, Stickiness};
use sluice_engine::flow_table::{ExpiryCursor, FlowTable, FlowTime, Handle};

const CAPACITY: usize = 1024;
const KEYS: u8 = 32;
const MILLI: u64 = 1_000_000;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8),
    Remove(u8),
    Lookup(u8),
    LookupBurst,
    Touch(u8),
    SetValue(u8, u32),
    Advance(u16),
    Expire(u16),
}

/// A model entry: what the table must say about a live key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    handle: Handle,
    value: u32,
    created_ms: u64,
    last_seen_ms: u64,
}

fn key(n: u8) -> FlowKey {
    let (src, dst) = if n.is_multiple_of(2) {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
        )
    } else {
        let a = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n));
        (
            IpAddr::V6(a),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)),
        )
    };
    let protocol = if n.is_multiple_of(3) { 17 } else { 6 };
    FlowKey::new(
        u32::from(n % 4),
        src,
        dst,
        protocol,
        1000 + u16::from(n),
        80,
        Stickiness::FiveTuple,
        false,
    )
    .0
}

/// Tags are the hash's high 32 bits: zeroing them makes all keys' tags collide.
fn hash(key: &FlowKey) -> u64 {
    key.hash() & 0xffff_ffff
}

/// 7 s for TCP, 3 s for the rest.
fn timeout(key: &FlowKey) -> u64 {
    if key.protocol() == 6 {
        7_000 * MILLI
    } else {
        3_000 * MILLI
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Op::Insert),
        2 => (0..KEYS).prop_map(Op::Remove),
        3 => (0..KEYS).prop_map(Op::Lookup),
        1 => Just(Op::LookupBurst),
        2 => (0..KEYS).prop_map(Op::Touch),
        1 => (0..KEYS, any::<u32>()).prop_map(|(k, v)| Op::SetValue(k, v)),
        2 => (0..4000_u16).prop_map(Op::Advance),
        1 => (0..1200_u16).prop_map(Op::Expire),
    ]
}

proptest! {
    #[test]
    fn table_matches_a_hashmap(ops in proptest::collection::vec(op(), 1..150)) {
        let table = FlowTable::new(CAPACITY).unwrap();
        let mut model: HashMap<u8, Entry> = HashMap::new();
        let mut stale: Vec<(Handle, u32)> = Vec::new();
        let mut now_ms: u64 = 1_000;
        let mut cursor = ExpiryCursor::new();
        let mut next_value = 0_u32;
        for op in ops {
            match op {
                Op::Insert(n) => {
                    let k = key(n);
                    next_value += 1;
                    let ins = table.insert(&k, hash(&k), next_value, now_ms * MILLI, timeout).unwrap();
                    prop_assert_eq!(ins.evicted, None);
                    match model.get(&n) {
                        Some(e) => {
                            prop_assert!(!ins.created);
                            prop_assert_eq!(ins.handle, e.handle);
                        }
                        None => {
                            prop_assert!(ins.created);
                            model.insert(n, Entry {
                                handle: ins.handle,
                                value: next_value,
                                created_ms: now_ms,
                                last_seen_ms: now_ms,
                            });
                        }
                    }
                }
                Op::Remove(n) => {
                    if let Some(e) = model.remove(&n) {
                        prop_assert!(table.remove(e.handle));
                        prop_assert!(!table.remove(e.handle));
                        stale.push((e.handle, table.cookie(e.handle)));
                    }
                }
                Op::Lookup(n) => {
                    let k = key(n);
                    prop_assert_eq!(table.lookup(&k, hash(&k)), model.get(&n).map(|e| e.handle));
                }
                Op::LookupBurst => {
                    let keys: Vec<FlowKey> = (0..KEYS).map(key).collect();
                    let hashes: Vec<u64> = keys.iter().map(hash).collect();
                    let mut found = vec![None; keys.len()];
                    table.lookup_burst(&keys, &hashes, &mut found);
                    for n in 0..KEYS {
                        prop_assert_eq!(found[usize::from(n)], model.get(&n).map(|e| e.handle));
                    }
                }
                Op::Touch(n) => {
                    if let Some(e) = model.get_mut(&n) {
                        prop_assert!(table.touch(e.handle, now_ms * MILLI));
                        e.last_seen_ms = now_ms;
                    }
                }
                Op::SetValue(n, v) => {
                    if let Some(e) = model.get_mut(&n) {
                        prop_assert!(table.set_value(e.handle, v));
                        e.value = v;
                    }
                }
                Op::Advance(ms) => now_ms += u64::from(ms),
                Op::Expire(budget) => {
                    let start = cursor.position() as usize;
                    let steps = usize::from(budget).min(CAPACITY);
                    let visited: HashSet<usize> = (0..steps).map(|i| (start + i) % CAPACITY).collect();
                    let expected: HashSet<u8> = model
                        .iter()
                        .filter(|(n, e)| {
                            visited.contains(&(e.handle.slot() as usize))
                                && (now_ms - e.last_seen_ms) * MILLI > timeout(&key(**n))
                        })
                        .map(|(n, _)| *n)
                        .collect();
                    let mut got = HashSet::new();
                    let removed = table.expire(now_ms * MILLI, &mut cursor, usize::from(budget), timeout, |e| {
                        let n = (0..KEYS).find(|&n| key(n) == e.key).unwrap();
                        got.insert(n);
                        let m = model[&n];
                        assert_eq!(e.handle, m.handle);
                        assert_eq!(e.value, m.value);
                        assert_eq!(e.last_seen, FlowTime::from_nanos(m.last_seen_ms * MILLI));
                    });
                    prop_assert_eq!(removed, got.len());
                    prop_assert_eq!(&got, &expected);
                    prop_assert_eq!(cursor.position() as usize, (start + steps) % CAPACITY);
                    for n in got {
                        let e = model.remove(&n).unwrap();
                        stale.push((e.handle, table.cookie(e.handle)));
                    }
                }
            }
            // The whole model agrees with the table after every step.
            prop_assert_eq!(table.len(), model.len());
            for (&n, e) in &model {
                prop_assert_eq!(table.key(e.handle), Some(key(n)));
                prop_assert_eq!(table.value(e.handle), Some(e.value));
                prop_assert_eq!(table.by_cookie(table.cookie(e.handle)), Some(e.handle));
                prop_assert_eq!(table.created(e.handle), Some(FlowTime::from_nanos(e.created_ms * MILLI)));
                prop_assert_eq!(table.last_seen(e.handle), Some(FlowTime::from_nanos(e.last_seen_ms * MILLI)));
            }
            for &(h, cookie) in &stale {
                prop_assert_eq!(table.key(h), None);
                prop_assert_eq!(table.by_cookie(cookie), None);
                prop_assert!(!table.touch(h, now_ms * MILLI));
            }
        }
    }
}
