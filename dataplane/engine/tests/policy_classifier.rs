//! The policy classifier against its definition: for random rule sets, every query's first
//! match is the rule a linear scan in order finds.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sluice_engine::policy::{Action, Cidr, Policy, PolicyDefinition, Query, Rule};
use sluice_engine::testkit::policy::{definition, queries};

#[test]
fn realistic_rule_sets_classify_as_a_linear_scan_does() {
    for (seed, count) in [
        (1, 1),
        (2, 10),
        (3, 64),
        (4, 65),
        (5, 300),
        (6, 1000),
        (7, 4000),
    ] {
        let def = definition(seed, count);
        let policy = Policy::new(def.clone()).unwrap();
        let mut matched = 0;
        for q in queries(&def, seed + 100, 3000) {
            let expected = policy.first_match_linear(&q);
            let got = policy.decide(&q);
            assert_eq!(got.rule.map(usize::from), expected, "{count} rules, {q:?}");
            let action = expected.map_or(def.default_action, |i| def.rules[i].action);
            assert_eq!(got.action, action);
            matched += usize::from(expected.is_some());
        }
        // The queries are made near the rules' networks: most of them should match something.
        if count >= 64 {
            assert!(
                matched > 300,
                "{count} rules: only {matched} of 3000 queries matched"
            );
        }
    }
}

/// A rule over a tiny universe, so that random queries hit every boundary.
fn tiny_rule() -> impl Strategy<Value = Rule> {
    let net = (0u8..16, 28u8..=32).prop_map(|(host, len)| Cidr {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        prefix_len: len,
    });
    let net6 = (0u16..16, 124u8..=128).prop_map(|(host, len)| Cidr {
        addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, host)),
        prefix_len: len,
    });
    let nets = proptest::option::of(proptest::collection::vec(
        prop_oneof![3 => net, 1 => net6],
        1..3,
    ));
    (
        prop_oneof![
            Just(Action::Allow),
            Just(Action::Deny),
            Just(Action::Reject)
        ],
        proptest::option::of(proptest::collection::vec(1u64..4, 1..3)),
        nets.clone(),
        nets,
        0u8..4,
        proptest::collection::vec((0u16..8, 0u16..4), 1..3),
        proptest::collection::vec(0u8..6, 1..3),
    )
        .prop_map(
            |(action, endpoints, sources, destinations, kind, ports, types)| {
                let (protocols, ports, icmp_types) = match kind {
                    0 => (None, None, None),
                    1 => (
                        Some(vec![6, 17]),
                        Some(ports.into_iter().map(|(a, w)| (a, a + w)).collect()),
                        None,
                    ),
                    2 => (Some(vec![1]), None, Some(types)),
                    _ => (Some(vec![6]), None, None),
                };
                Rule {
                    name: "r".into(),
                    action,
                    endpoints,
                    sources,
                    destinations,
                    protocols,
                    ports,
                    icmp_types,
                }
            },
        )
}

fn tiny_query() -> impl Strategy<Value = Query> {
    (
        any::<bool>(),
        0u8..20,
        0u8..20,
        prop_oneof![Just(6u8), Just(17), Just(1), Just(47)],
        0u16..14,
        0u64..5,
    )
        .prop_map(|(v6, s, d, protocol, transport, endpoint)| {
            let addr = |h: u8| {
                if v6 {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(h)))
                } else {
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, h))
                }
            };
            Query {
                endpoint,
                src: addr(s),
                dst: addr(d),
                protocol,
                transport,
            }
        })
}

proptest! {
    #[test]
    fn tiny_rule_sets_classify_as_a_linear_scan_does(
        rules in proptest::collection::vec(tiny_rule(), 0..140),
        queries in proptest::collection::vec(tiny_query(), 1..64),
    ) {
        let policy = Policy::new(PolicyDefinition {
            rules,
            default_action: Action::Deny,
            strict_tcp: false,
        })
        .unwrap();
        for q in &queries {
            prop_assert_eq!(policy.decide(q).rule.map(usize::from), policy.first_match_linear(q), "{:?}", q);
        }
    }
}
