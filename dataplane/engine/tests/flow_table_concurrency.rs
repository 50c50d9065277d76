//! Multi-threaded stress tests of the flow table's lock-free protocol.
//!
//! They exist because the table's correctness argument (one entry per flow, no torn reads) is
//! about interleavings that single-threaded tests never produce. Every loop is bounded in count,
//! so the whole file runs in well under a few seconds in a debug build, even on two cores.
//! Most rounds force every key into the same window with the same tag (a constant hash), which
//! makes every lookup compare full keys and every insert go through the race-resolution path.

#![expect(
    clippy::unwrap_used,
    reason = "the helpers run inside tests; a failed unwrap is a failed test"
)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sluice_engine::flow::{FlowKey, Stickiness};
use sluice_engine::flow_table::{ExpiryCursor, FlowTable, Handle, InsertError, Inserted};

/// One hash for every key: all keys share one 16-slot window and one tag.
const COLLIDING_HASH: u64 = 0xfeed_face_cafe_beef;

fn key(n: u32) -> FlowKey {
    let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n));
    let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    FlowKey::new(
        n % 3,
        client,
        server,
        6,
        40000,
        443,
        Stickiness::FiveTuple,
        false,
    )
    .0
}

fn never(_: &FlowKey) -> u64 {
    u64::MAX
}

/// A small deterministic generator (xorshift64).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Inserts, retrying while another thread's insert of the same identity is in flight.
fn insert_retrying(table: &FlowTable, key: &FlowKey, hash: u64, value: u32) -> Inserted {
    for _ in 0..100_000 {
        match table.insert(key, hash, value, 0, never) {
            Ok(inserted) => return inserted,
            Err(InsertError::Busy) => std::thread::yield_now(),
            Err(InsertError::Full) => panic!("window full for {key:?}"),
        }
    }
    panic!("insert of {key:?} stayed busy");
}

/// Runs `threads` threads that insert the same `keys` in different orders, and checks that
/// they agree on one entry per key with exactly one creator.
fn converge(threads: usize, keys: &[FlowKey], hash: impl Fn(&FlowKey) -> u64 + Sync) {
    let table = FlowTable::new(1024).unwrap();
    let barrier = Barrier::new(threads);
    let results: Vec<Vec<Inserted>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (table, barrier, hash) = (&table, &barrier, &hash);
                s.spawn(move || {
                    // Each thread walks the keys from a different start, in a different
                    // direction.
                    let n = keys.len();
                    let order: Vec<usize> = (0..n)
                        .map(|i| {
                            if t % 2 == 0 {
                                (i + t * n / threads) % n
                            } else {
                                n - 1 - i
                            }
                        })
                        .collect();
                    let mut got = vec![None; n];
                    barrier.wait();
                    for i in order {
                        got[i] = Some(insert_retrying(table, &keys[i], hash(&keys[i]), t as u32));
                    }
                    got.into_iter().map(Option::unwrap).collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (i, key) in keys.iter().enumerate() {
        let handles: Vec<Handle> = results.iter().map(|r| r[i].handle).collect();
        assert!(
            handles.iter().all(|&h| h == handles[0]),
            "key {i}: {handles:?}"
        );
        let creators: Vec<usize> = (0..threads).filter(|&t| results[t][i].created).collect();
        assert_eq!(creators.len(), 1, "key {i}: creators {creators:?}");
        assert_eq!(table.lookup(key, hash(key)), Some(handles[0]));
        // The entry holds the creator's value.
        assert_eq!(table.value(handles[0]), Some(creators[0] as u32));
    }
    let stats = table.stats();
    assert_eq!(stats.inserts, keys.len() as u64);
    assert_eq!(table.len(), keys.len());
    // Exactly one slot per key: sweeping everything out reports each key once.
    let mut copies: HashMap<u32, usize> = HashMap::new();
    let mut cursor = ExpiryCursor::new();
    let removed = table.expire(
        u64::MAX / 2,
        &mut cursor,
        usize::MAX,
        |_| 0,
        |e| {
            let index = keys.iter().position(|k| *k == e.key).unwrap() as u32;
            *copies.entry(index).or_default() += 1;
        },
    );
    assert_eq!(removed, keys.len());
    assert!(copies.values().all(|&c| c == 1), "{copies:?}");
    assert!(table.is_empty());
}

#[test]
fn concurrent_inserts_of_the_same_flows_agree_on_one_entry() {
    let keys: Vec<FlowKey> = (0..300).map(key).collect();
    for _ in 0..10 {
        converge(4, &keys, FlowKey::hash);
    }
}

#[test]
fn concurrent_inserts_converge_when_every_key_collides() {
    // Twelve keys and at most one in-flight slot per thread fit the 16-slot window.
    let keys: Vec<FlowKey> = (0..12).map(key).collect();
    for round in 0..300 {
        converge(2 + round % 3, &keys, |_| COLLIDING_HASH);
    }
}

/// Lookups racing removals, expiry, eviction and reinsertion of colliding keys in the same
/// slots never return an entry of another key, and cookies never name another flow.
#[test]
fn lookups_racing_churn_never_see_a_wrong_entry() {
    const KEYS: u32 = 24;
    const WRITER_OPS: u32 = 100_000;
    const READER_OPS: u32 = 1_000_000;
    let table = FlowTable::new(1024).unwrap();
    let keys: Vec<FlowKey> = (0..KEYS).map(key).collect();
    let done = AtomicBool::new(false);
    let hits = AtomicU64::new(0);
    std::thread::scope(|s| {
        let (table, keys, done, hits) = (&table, &keys, &done, &hits);
        s.spawn(move || {
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
            let mut now = 0;
            let mut cursor = ExpiryCursor::new();
            for _ in 0..WRITER_OPS {
                let i = (next(&mut rng) % u64::from(KEYS)) as usize;
                now += 1_000_000;
                match table.lookup(&keys[i], COLLIDING_HASH) {
                    Some(h) if next(&mut rng).is_multiple_of(2) => {
                        table.remove(h);
                    }
                    Some(h) => {
                        table.touch(h, now);
                    }
                    None => {
                        // Entries idle for more than 8 ms are expired or evicted.
                        let timeout = |_: &FlowKey| 8_000_000;
                        let _ = table.insert(&keys[i], COLLIDING_HASH, i as u32, now, timeout);
                    }
                }
                if next(&mut rng).is_multiple_of(16) {
                    table.expire(now, &mut cursor, 256, |_| 8_000_000, |_| ());
                }
            }
            done.store(true, Ordering::Release);
        });
        for reader in 0..2_u64 {
            s.spawn(move || {
                let mut rng = 0x2545_f491_4f6c_dd1d ^ reader;
                for _ in 0..READER_OPS {
                    if done.load(Ordering::Acquire) {
                        break;
                    }
                    let i = (next(&mut rng) % u64::from(KEYS)) as usize;
                    // Every other round goes through the burst lookup.
                    let found = if next(&mut rng).is_multiple_of(2) {
                        table.lookup(&keys[i], COLLIDING_HASH)
                    } else {
                        let mut found = [None];
                        table.lookup_burst(&keys[i..=i], &[COLLIDING_HASH], &mut found);
                        found[0]
                    };
                    let Some(h) = found else {
                        continue;
                    };
                    hits.fetch_add(1, Ordering::Relaxed);
                    if let Some(k) = table.key(h) {
                        assert_eq!(k, keys[i], "lookup returned another key's entry");
                    }
                    if let Some(v) = table.value(h) {
                        assert_eq!(v, i as u32, "lookup returned another key's value");
                    }
                    if let Some(by_cookie) = table.by_cookie(table.cookie(h)) {
                        // At 1 Ki slots the cookie carries the whole generation.
                        assert_eq!(by_cookie, h);
                        if let Some(k) = table.key(by_cookie) {
                            assert_eq!(k, keys[i], "cookie named another key's entry");
                        }
                    }
                }
            });
        }
    });
    assert!(hits.load(Ordering::Relaxed) > 0);
    let stats = table.stats();
    assert!(stats.removals > 0 && stats.inserts > 0, "{stats:?}");
    assert!(table.len() <= 16);
}

/// Concurrent inserts, removals and expiry over many ordinary keys leave a consistent table:
/// each key at most once, and the live count exact once everything is quiet.
#[test]
fn mixed_churn_keeps_one_entry_per_key() {
    const KEYS: u32 = 2000;
    const OPS: u32 = 40_000;
    let table = FlowTable::new(4096).unwrap();
    let keys: Vec<FlowKey> = (0..KEYS).map(key).collect();
    std::thread::scope(|s| {
        for t in 0..3_u64 {
            let (table, keys) = (&table, &keys);
            s.spawn(move || {
                let mut rng = 0x1234_5678 + t;
                let mut cursor = ExpiryCursor::starting_at(t as u32 * 1365);
                for op in 0..OPS {
                    let k = &keys[(next(&mut rng) % u64::from(KEYS)) as usize];
                    let now = u64::from(op) * 1_000_000;
                    match next(&mut rng) % 4 {
                        0 => {
                            if let Some(h) = table.lookup(k, k.hash()) {
                                table.remove(h);
                            }
                        }
                        1 => {
                            table.expire(now, &mut cursor, 64, |_| 20_000_000, |_| ());
                        }
                        _ => match table.insert(k, k.hash(), 0, now, |_| 20_000_000) {
                            Ok(ins) => assert_eq!(table.key(ins.handle).unwrap_or(*k), *k),
                            Err(InsertError::Busy | InsertError::Full) => {}
                        },
                    }
                }
            });
        }
    });
    let mut seen = HashMap::new();
    let live = table.len();
    let removed = table.expire(
        u64::MAX / 2,
        &mut ExpiryCursor::new(),
        usize::MAX,
        |_| 0,
        |e| {
            *seen.entry(e.key.first_addr()).or_insert(0) += 1;
        },
    );
    assert_eq!(removed, live);
    assert!(seen.values().all(|&c| c == 1));
    let stats = table.stats();
    assert_eq!(
        stats.inserts,
        stats.removals + stats.expiries + stats.evictions
    );
}

/// Concurrent inserts of one flow while another thread empties slots earlier in the window:
/// the late inserter that claims a freshly emptied, earlier slot must still defer to the
/// entry that an earlier inserter already published.
#[test]
fn concurrent_inserts_converge_while_earlier_slots_empty() {
    const ROUNDS: u64 = 400;
    let fillers: Vec<FlowKey> = (100..112).map(key).collect();
    let flow = key(7);
    for round in 0..ROUNDS {
        let table = FlowTable::new(1024).unwrap();
        let filler_handles: Vec<Handle> = fillers
            .iter()
            .map(|f| table.insert(f, COLLIDING_HASH, 0, 0, never).unwrap().handle)
            .collect();
        let barrier = Barrier::new(3);
        let results: Vec<Inserted> = std::thread::scope(|s| {
            let (table, barrier, filler_handles) = (&table, &barrier, &filler_handles);
            s.spawn(move || {
                let mut rng = 0x5555_0000 + round;
                barrier.wait();
                for &h in filler_handles {
                    for _ in 0..next(&mut rng) % 64 {
                        std::hint::spin_loop();
                    }
                    table.remove(h);
                }
            });
            let inserters: Vec<_> = (0..2_u64)
                .map(|t| {
                    s.spawn(move || {
                        let mut rng = 0xaaaa_0000 + round * 2 + t;
                        barrier.wait();
                        for _ in 0..next(&mut rng) % 256 {
                            std::hint::spin_loop();
                        }
                        insert_retrying(table, &flow, COLLIDING_HASH, t as u32)
                    })
                })
                .collect();
            inserters.into_iter().map(|i| i.join().unwrap()).collect()
        });
        assert_eq!(results[0].handle, results[1].handle, "round {round}");
        assert_eq!(
            results.iter().filter(|r| r.created).count(),
            1,
            "round {round}"
        );
        let mut copies = 0;
        table.expire(
            u64::MAX / 2,
            &mut ExpiryCursor::new(),
            usize::MAX,
            |_| 0,
            |e| {
                copies += usize::from(e.key == flow);
            },
        );
        assert_eq!(copies, 1, "round {round}");
    }
}
