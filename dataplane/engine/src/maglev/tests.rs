//! Tests of Maglev tables and zone views: golden mappings, order independence, balance,
//! disruption, errors, fail-open, and a property test over random backend sets.

use core::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

/// The flow hashes of the golden tests: multiples of SplitMix64's increment.
fn golden_hashes() -> impl Iterator<Item = u64> {
    (1..=32u64).map(|i| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i))
}

/// `n` distinct, unordered-looking private addresses.
fn ips(n: usize) -> Vec<Ipv4Addr> {
    (0..n as u32)
        .map(|i| Ipv4Addr::from_bits(0x0A00_0000 | (i.wrapping_mul(40_503) & 0x00FF_FFFF)))
        .collect()
}

fn backends(ips: &[Ipv4Addr]) -> Vec<Backend> {
    ips.iter().copied().map(Backend::new).collect()
}

/// The address each entry of `table` (built over `ips`) points at.
fn entry_ips(table: &MaglevTable, ips: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    table
        .entries()
        .iter()
        .map(|&index| ips[usize::from(index)])
        .collect()
}

/// How many entries each backend owns.
fn shares(table: &MaglevTable) -> Vec<usize> {
    let mut counts = vec![0; table.backend_count()];
    for &index in table.entries() {
        counts[usize::from(index)] += 1;
    }
    counts
}

fn target(ip: [u8; 4], zone: &str, state: TargetState) -> TargetInfo {
    TargetInfo {
        ip: Ipv4Addr::from(ip),
        zone: zone.to_owned(),
        state,
    }
}

/// The paper's Pseudocode 1, written as literally as possible (full permutation rows, the
/// `next` array, -1 for empty) over backends already sorted by address: the reference the
/// real, cursor-based population must match entry for entry.
fn reference_population(sorted: &[Ipv4Addr], m: usize) -> Vec<i64> {
    let permutation: Vec<Vec<usize>> = sorted
        .iter()
        .map(|&ip| {
            let (offset, skip) = hash::permutation(ip, m);
            (0..m).map(|j| (offset + j * skip) % m).collect()
        })
        .collect();
    let mut next = vec![0; sorted.len()];
    let mut entry = vec![-1i64; m];
    let mut n = 0;
    loop {
        for i in 0..sorted.len() {
            let mut c = permutation[i][next[i]];
            while entry[c] >= 0 {
                next[i] += 1;
                c = permutation[i][next[i]];
            }
            entry[c] = i as i64;
            next[i] += 1;
            n += 1;
            if n == m {
                return entry;
            }
        }
    }
}

#[test]
fn golden_flow_to_target_mapping() {
    // Changing anything this test pins (the hash functions, the population order, how
    // `lookup` maps a flow hash to an entry) reshuffles flows in production and makes nodes
    // of different versions disagree. Update the literals only deliberately, with a release
    // note.
    let config_order = [14, 11, 19, 10, 17, 12, 16, 13, 18, 15];
    let ten: Vec<Ipv4Addr> = config_order
        .iter()
        .map(|&last| Ipv4Addr::new(10, 0, 1, last))
        .collect();
    let table = MaglevTable::build(&backends(&ten), DEFAULT_TABLE_SIZE).unwrap();
    let expected: [(u64, [u8; 4]); 32] = [
        (0x9E37_79B9_7F4A_7C15, [10, 0, 1, 13]),
        (0x3C6E_F372_FE94_F82A, [10, 0, 1, 19]),
        (0xDAA6_6D2C_7DDF_743F, [10, 0, 1, 10]),
        (0x78DD_E6E5_FD29_F054, [10, 0, 1, 15]),
        (0x1715_609F_7C74_6C69, [10, 0, 1, 15]),
        (0xB54C_DA58_FBBE_E87E, [10, 0, 1, 19]),
        (0x5384_5412_7B09_6493, [10, 0, 1, 15]),
        (0xF1BB_CDCB_FA53_E0A8, [10, 0, 1, 14]),
        (0x8FF3_4785_799E_5CBD, [10, 0, 1, 19]),
        (0x2E2A_C13E_F8E8_D8D2, [10, 0, 1, 11]),
        (0xCC62_3AF8_7833_54E7, [10, 0, 1, 19]),
        (0x6A99_B4B1_F77D_D0FC, [10, 0, 1, 11]),
        (0x08D1_2E6B_76C8_4D11, [10, 0, 1, 16]),
        (0xA708_A824_F612_C926, [10, 0, 1, 11]),
        (0x4540_21DE_755D_453B, [10, 0, 1, 12]),
        (0xE377_9B97_F4A7_C150, [10, 0, 1, 10]),
        (0x81AF_1551_73F2_3D65, [10, 0, 1, 15]),
        (0x1FE6_8F0A_F33C_B97A, [10, 0, 1, 12]),
        (0xBE1E_08C4_7287_358F, [10, 0, 1, 16]),
        (0x5C55_827D_F1D1_B1A4, [10, 0, 1, 15]),
        (0xFA8C_FC37_711C_2DB9, [10, 0, 1, 10]),
        (0x98C4_75F0_F066_A9CE, [10, 0, 1, 15]),
        (0x36FB_EFAA_6FB1_25E3, [10, 0, 1, 12]),
        (0xD533_6963_EEFB_A1F8, [10, 0, 1, 10]),
        (0x736A_E31D_6E46_1E0D, [10, 0, 1, 15]),
        (0x11A2_5CD6_ED90_9A22, [10, 0, 1, 13]),
        (0xAFD9_D690_6CDB_1637, [10, 0, 1, 13]),
        (0x4E11_5049_EC25_924C, [10, 0, 1, 13]),
        (0xEC48_CA03_6B70_0E61, [10, 0, 1, 17]),
        (0x8A80_43BC_EABA_8A76, [10, 0, 1, 11]),
        (0x28B7_BD76_6A05_068B, [10, 0, 1, 16]),
        (0xC6EF_372F_E94F_82A0, [10, 0, 1, 18]),
    ];
    let hashes: Vec<u64> = golden_hashes().collect();
    for (i, &(hash, ip)) in expected.iter().enumerate() {
        assert_eq!(hash, hashes[i], "the golden sample itself changed");
        let index = table.lookup(hash).unwrap();
        assert_eq!(
            ten[usize::from(index)],
            Ipv4Addr::from(ip),
            "flow hash {hash:#018x}"
        );
    }
}

#[test]
fn golden_permutations() {
    // The per-target permutation is the other half of what nodes must agree on; pinning it
    // catches a change of the identity hash even where the flow sample would not.
    assert_eq!(
        hash::permutation(Ipv4Addr::new(10, 0, 0, 1), DEFAULT_TABLE_SIZE),
        (29_167, 61_477)
    );
    assert_eq!(
        hash::permutation(Ipv4Addr::new(192, 168, 7, 42), DEFAULT_TABLE_SIZE),
        (52_069, 42_703)
    );
    assert_eq!(hash::mix64(0), 0);
    assert_eq!(hash::mix64(1), 0x5692_161D_100B_05E5);
}

#[test]
fn population_matches_the_paper() {
    for (n, m) in [(1, 251), (3, 251), (7, 4099), (10, 4099), (250, 251)] {
        let mut sorted = ips(n);
        sorted.sort_unstable();
        let table = MaglevTable::build(&backends(&sorted), m).unwrap();
        let reference = reference_population(&sorted, m);
        let entries: Vec<i64> = table.entries().iter().map(|&e| i64::from(e)).collect();
        assert_eq!(entries, reference, "{n} backends, M = {m}");
    }
}

#[test]
fn backend_order_does_not_matter() {
    let forward = ips(37);
    let mut reversed = forward.clone();
    reversed.reverse();
    let mut interleaved: Vec<Ipv4Addr> = forward.iter().step_by(2).copied().collect();
    interleaved.extend(forward.iter().skip(1).step_by(2));
    let reference = MaglevTable::build(&backends(&forward), DEFAULT_TABLE_SIZE).unwrap();
    let reference = entry_ips(&reference, &forward);
    for order in [reversed, interleaved] {
        let table = MaglevTable::build(&backends(&order), DEFAULT_TABLE_SIZE).unwrap();
        assert_eq!(entry_ips(&table, &order), reference);
    }
}

#[test]
fn balance_is_within_one_entry() {
    let m = DEFAULT_TABLE_SIZE;
    for n in [1, 3, 10, 100, 300] {
        let table = MaglevTable::build(&backends(&ips(n)), m).unwrap();
        let counts = shares(&table);
        let min = counts.iter().copied().min().unwrap();
        let max = counts.iter().copied().max().unwrap();
        // Each round gives every backend one entry, so shares are ⌊M/N⌋ or ⌈M/N⌉: far inside
        // the ±10 % the issue asks for.
        assert_eq!(min, m / n, "{n} backends");
        assert!(max <= m.div_ceil(n), "{n} backends");
        let ideal = m as f64 / n as f64;
        assert!(min as f64 >= ideal * 0.9 && max as f64 <= ideal * 1.1);
    }
}

#[test]
fn removing_a_backend_moves_few_other_flows() {
    // Every entry of the removed backend must move; of the others (the bystanders) the paper
    // promises only a small fraction do. The issue asks for under 2 %; Maglev does better.
    let m = DEFAULT_TABLE_SIZE;
    for n in [5, 10, 50] {
        let all = ips(n);
        let full = MaglevTable::build(&backends(&all), m).unwrap();
        let before = entry_ips(&full, &all);
        for removed in 0..n {
            let mut rest = all.clone();
            let gone = rest.remove(removed);
            let table = MaglevTable::build(&backends(&rest), m).unwrap();
            let after = entry_ips(&table, &rest);

            let owned = before.iter().filter(|&&ip| ip == gone).count();
            let ideal = m as f64 / n as f64;
            assert!(
                (owned as f64 - ideal).abs() <= ideal * 0.2,
                "{n}: share {owned}"
            );
            assert!(!after.contains(&gone));
            let bystanders_moved = before
                .iter()
                .zip(&after)
                .filter(|&(b, a)| *b != gone && b != a)
                .count();
            let fraction = bystanders_moved as f64 / (m - owned) as f64;
            // Observed worst cases: 0.08 % (N = 5), 0.30 % (N = 10), 0.52 % (N = 50).
            assert!(
                fraction < 0.01,
                "{n} backends, removing #{removed}: {fraction}"
            );

            // Adding it back, anywhere in the list, restores the original table exactly.
            rest.insert(0, gone);
            let again = MaglevTable::build(&backends(&rest), m).unwrap();
            assert_eq!(entry_ips(&again, &rest), before);
        }
    }
}

#[test]
fn lookup_covers_every_backend_and_empty_table_returns_none() {
    let empty = MaglevTable::build(&[], 251).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.size(), 251);
    assert!(empty.entries().is_empty());
    assert!(golden_hashes().all(|h| empty.lookup(h).is_none()));
    assert_eq!(empty.lookup(u64::MAX), None);

    let one = MaglevTable::build(&backends(&ips(1)), 251).unwrap();
    assert!(golden_hashes().all(|h| one.lookup(h) == Some(0)));
    assert_eq!(one.lookup(0), Some(0));
    assert_eq!(one.lookup(u64::MAX), Some(0));
}

#[test]
fn lookup_spreads_flows_like_the_table() {
    // A million sequential flow hashes (the weakest kind of input) land on the ten backends
    // within 2 % of an even split, thanks to the remix before the slot is chosen.
    let table = MaglevTable::build(&backends(&ips(10)), DEFAULT_TABLE_SIZE).unwrap();
    let mut counts = [0u32; 10];
    for hash in 0..1_000_000u64 {
        counts[usize::from(table.lookup(hash).unwrap())] += 1;
    }
    for count in counts {
        assert!((98_000..=102_000).contains(&count), "{counts:?}");
    }
}

#[test]
fn build_errors() {
    let two = backends(&ips(2));
    for size in [0, 1, 4, 65_536, 65_535] {
        assert_eq!(
            MaglevTable::build(&two, size),
            Err(BuildError::SizeNotPrime { size })
        );
    }
    assert_eq!(
        MaglevTable::build(&two, MAX_TABLE_SIZE + 1),
        Err(BuildError::SizeTooLarge {
            size: MAX_TABLE_SIZE + 1
        })
    );
    assert!(MaglevTable::build(&two, 2).is_err());
    assert!(MaglevTable::build(&two, 3).is_ok());
    assert_eq!(
        MaglevTable::build(&backends(&ips(251)), 251),
        Err(BuildError::TooManyBackends {
            backends: 251,
            limit: 250
        })
    );
    assert!(MaglevTable::build(&backends(&ips(250)), 251).is_ok());
    assert_eq!(
        MaglevTable::build(&backends(&ips(65_536)), 16_777_213),
        Err(BuildError::TooManyBackends {
            backends: 65_536,
            limit: MAX_BACKENDS
        })
    );
    let mut dup = ips(5);
    dup.push(dup[2]);
    assert_eq!(
        MaglevTable::build(&backends(&dup), 251),
        Err(BuildError::DuplicateBackend { ip: dup[2] })
    );
    assert_eq!(
        BuildError::SizeNotPrime { size: 4 }.to_string(),
        "Maglev table size 4 is not a prime"
    );
}

#[test]
fn debug_output_is_a_summary() {
    let table = MaglevTable::build(&backends(&ips(3)), 251).unwrap();
    assert_eq!(
        format!("{table:?}"),
        "MaglevTable { size: 251, backends: 3, .. }"
    );
}

/// The registrations of the zone-view tests: two zones, every state represented.
fn fleet() -> Vec<TargetInfo> {
    use TargetState::*;
    vec![
        target([10, 0, 1, 1], "az-a", Healthy),     // 0
        target([10, 0, 1, 2], "az-a", Unhealthy),   // 1
        target([10, 0, 1, 3], "az-a", Draining),    // 2
        target([10, 0, 1, 4], "az-a", Healthy),     // 3
        target([10, 0, 1, 5], "az-a", Initial),     // 4
        target([10, 0, 1, 6], "az-a", Unused),      // 5
        target([10, 0, 1, 7], "az-a", Unavailable), // 6
        target([10, 0, 2, 1], "az-b", Healthy),     // 7
        target([10, 0, 2, 2], "az-b", Unhealthy),   // 8
        target([10, 0, 2, 3], "az-b", Draining),    // 9
    ]
}

/// The set of target indices `view`'s table uses.
fn used(view: &ZoneView) -> Vec<u16> {
    let mut used: Vec<u16> = view.table.entries().to_vec();
    used.sort_unstable();
    used.dedup();
    used
}

#[test]
fn zone_view_without_cross_zone_uses_own_healthy_targets() {
    let fleet = fleet();
    let view = build_view(&fleet, "az-a", false, 251).unwrap();
    assert!(!view.fail_open);
    assert_eq!(view.candidates, [0, 3]);
    assert_eq!(used(&view), [0, 3]);
    let view = build_view(&fleet, "az-b", false, 251).unwrap();
    assert_eq!(view.candidates, [7]);
    assert_eq!(used(&view), [7]);
}

#[test]
fn zone_view_with_cross_zone_uses_healthy_targets_of_all_zones() {
    let fleet = fleet();
    for own_zone in ["az-a", "az-b", "az-c"] {
        let view = build_view(&fleet, own_zone, true, 251).unwrap();
        assert!(!view.fail_open);
        assert_eq!(view.candidates, [0, 3, 7]);
        assert_eq!(used(&view), [0, 3, 7]);
    }
}

#[test]
fn zone_view_fails_open_within_its_view() {
    let mut fleet = fleet();
    for target in &mut fleet {
        if target.state == TargetState::Healthy {
            target.state = TargetState::Unhealthy;
        }
    }
    // Own zone only: the unhealthy and unavailable targets of az-a, never az-b's, never the
    // initial, draining or unused ones.
    let view = build_view(&fleet, "az-a", false, 251).unwrap();
    assert!(view.fail_open);
    assert_eq!(view.candidates, [0, 1, 3, 6]);
    assert_eq!(used(&view), [0, 1, 3, 6]);
    // Cross-zone: those of every zone.
    let view = build_view(&fleet, "az-a", true, 251).unwrap();
    assert!(view.fail_open);
    assert_eq!(view.candidates, [0, 1, 3, 6, 7, 8]);
    // One healthy target anywhere in a cross-zone view ends fail-open for it...
    fleet[7].state = TargetState::Healthy;
    let view = build_view(&fleet, "az-a", true, 251).unwrap();
    assert!(!view.fail_open);
    assert_eq!(view.candidates, [7]);
    // ...but not for a zonal view of another zone.
    let view = build_view(&fleet, "az-a", false, 251).unwrap();
    assert!(view.fail_open);
}

#[test]
fn draining_unused_and_initial_targets_never_take_new_flows() {
    use TargetState::*;
    for state in [Draining, Unused, Initial] {
        assert!(!state.receives_new_flows());
        assert!(!state.receives_new_flows_in_fail_open());
        let fleet = vec![target([10, 0, 0, 1], "az-a", state)];
        let view = build_view(&fleet, "az-a", true, 251).unwrap();
        assert!(!view.fail_open);
        assert!(view.candidates.is_empty());
        assert!(view.table.is_empty());
        assert_eq!(view.table.lookup(42), None);
    }
}

#[test]
fn zone_view_of_nothing_is_empty() {
    let view = build_view(&[], "az-a", false, DEFAULT_TABLE_SIZE).unwrap();
    assert!(!view.fail_open);
    assert!(view.candidates.is_empty());
    assert_eq!(view.table.lookup(0x9E37_79B9_7F4A_7C15), None);
    // A zone with no registered target is just as empty, even if other zones have some.
    let view = build_view(&fleet(), "az-c", false, 251).unwrap();
    assert!(view.table.is_empty());
}

#[test]
fn zone_view_does_not_depend_on_registration_order() {
    // Two gateway nodes with the same registrations in different orders send every flow to
    // the same address.
    let fleet = fleet();
    let mut shuffled = fleet.clone();
    shuffled.reverse();
    shuffled.swap(1, 7);
    let a = build_view(&fleet, "az-a", true, 4099).unwrap();
    let b = build_view(&shuffled, "az-a", true, 4099).unwrap();
    for hash in golden_hashes().chain(0..10_000) {
        let ip_a = fleet[usize::from(a.table.lookup(hash).unwrap())].ip;
        let ip_b = shuffled[usize::from(b.table.lookup(hash).unwrap())].ip;
        assert_eq!(ip_a, ip_b);
    }
}

#[test]
fn zone_view_errors() {
    let mut fleet = fleet();
    assert_eq!(
        build_view(&fleet, "az-a", false, 100),
        Err(BuildError::SizeNotPrime { size: 100 })
    );
    // A duplicate is reported even when it is not a candidate.
    fleet.push(target([10, 0, 2, 3], "az-b", TargetState::Unused));
    assert_eq!(
        build_view(&fleet, "az-a", false, 251),
        Err(BuildError::DuplicateBackend {
            ip: Ipv4Addr::new(10, 0, 2, 3)
        })
    );
    let many: Vec<TargetInfo> = ips(65_536)
        .into_iter()
        .map(|ip| TargetInfo {
            ip,
            zone: "az-a".to_owned(),
            state: TargetState::Healthy,
        })
        .collect();
    assert_eq!(
        build_view(&many, "az-a", false, 251),
        Err(BuildError::TooManyBackends {
            backends: 65_536,
            limit: MAX_BACKENDS
        })
    );
    assert_eq!(
        build_view(&many[..300], "az-a", false, 251),
        Err(BuildError::TooManyBackends {
            backends: 300,
            limit: 250
        })
    );
}

proptest! {
    #[test]
    fn any_backend_set_is_fully_used(
        addresses in proptest::collection::btree_set(any::<u32>(), 1..80),
        big in any::<bool>(),
        hashes in proptest::collection::vec(any::<u64>(), 64),
    ) {
        let size = if big { 4099 } else { 251 };
        // The set is sorted; rotate it so the caller's order is not.
        let mut list: Vec<Ipv4Addr> = addresses.into_iter().map(Ipv4Addr::from_bits).collect();
        let len = list.len();
        list.rotate_left(len / 3);
        let table = MaglevTable::build(&backends(&list), size).unwrap();
        prop_assert_eq!(table.backend_count(), len);
        for hash in hashes {
            let index = table.lookup(hash).unwrap();
            prop_assert!(usize::from(index) < len);
        }
        let counts = shares(&table);
        prop_assert!(counts.iter().all(|&c| c == size / len || c == size / len + 1));
    }
}
