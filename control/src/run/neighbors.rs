//! The neighbour resolver of the control thread: which next hops the data plane needs MAC
//! addresses for, ARP requests to send for them (with retry and back-off), what the replies
//! taught, and aging (re-probing, then forgetting entries that stop answering).
//!
//! Sans-IO like the engine: the runtime feeds it time, the wanted set and ARP replies, and
//! sends the requests it asks for. Static entries of the configuration are not tracked here:
//! the snapshot compiler puts them first.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sluice_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};

/// How long an unanswered request waits before the next, while the entry is new.
pub const RETRY_NS: u64 = 1_000_000_000;
/// Requests sent at [`RETRY_NS`] before backing off to [`BACKOFF_NS`].
pub const FAST_TRIES: u32 = 3;
/// The interval of requests for a neighbour that never answered.
pub const BACKOFF_NS: u64 = 5_000_000_000;
/// How long a learned address is trusted before it is probed again.
pub const REACHABLE_NS: u64 = 60_000_000_000;
/// Probes of a learned address that may go unanswered before it is forgotten.
pub const PROBES: u32 = 3;
/// The length of an ARP request frame (Ethernet header and ARP body, unpadded).
pub const REQUEST_LEN: usize = 14 + 28;

/// What the resolver knows about one neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Never answered: `tries` requests sent, the next at `next_ns`.
    Incomplete { tries: u32, next_ns: u64 },
    /// Answered at `confirmed_ns`; `probes` requests unanswered since it went stale, the
    /// next at `next_ns`.
    Reachable {
        mac: EthernetAddress,
        confirmed_ns: u64,
        probes: u32,
        next_ns: u64,
    },
}

/// The resolver: one table for all ports, keyed by (port id, address).
#[derive(Debug, Default)]
pub struct Resolver {
    entries: BTreeMap<(u16, Ipv4Addr), Entry>,
    /// Requests sent, for the counters.
    pub requests_sent: u64,
    /// Replies that taught or confirmed an address.
    pub replies_learned: u64,
}

impl Resolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Resolver::default()
    }

    /// Sets the neighbours the data plane needs: new ones are requested at once, ones no
    /// longer wanted are forgotten. Returns whether a learned address was dropped (the
    /// snapshot then changes).
    pub fn set_wanted(&mut self, wanted: &[(u16, Ipv4Addr)], now: u64) -> bool {
        let mut dropped_learned = false;
        self.entries.retain(|k, e| {
            let keep = wanted.contains(k);
            if !keep && matches!(e, Entry::Reachable { .. }) {
                dropped_learned = true;
            }
            keep
        });
        for &k in wanted {
            self.entries.entry(k).or_insert(Entry::Incomplete {
                tries: 0,
                next_ns: now,
            });
        }
        dropped_learned
    }

    /// Takes in an ARP reply (or request) from `ip` at `mac` heard on `port`: a wanted
    /// neighbour is learned or confirmed. Returns whether its address changed (the snapshot
    /// then changes).
    pub fn learn(&mut self, port: u16, ip: Ipv4Addr, mac: EthernetAddress, now: u64) -> bool {
        let Some(entry) = self.entries.get_mut(&(port, ip)) else {
            return false;
        };
        if !mac.is_unicast() {
            return false;
        }
        let changed = !matches!(*entry, Entry::Reachable { mac: old, .. } if old == mac);
        *entry = Entry::Reachable {
            mac,
            confirmed_ns: now,
            probes: 0,
            next_ns: now + REACHABLE_NS,
        };
        self.replies_learned += 1;
        changed
    }

    /// The requests due at `now`, appended to `out` as (port, address); advances each
    /// entry's schedule. Returns whether an address was forgotten after its probes went
    /// unanswered (the snapshot then changes).
    pub fn due(&mut self, now: u64, out: &mut Vec<(u16, Ipv4Addr)>) -> bool {
        let mut forgot = false;
        for (&key, entry) in &mut self.entries {
            match *entry {
                Entry::Incomplete { tries, next_ns } if now >= next_ns => {
                    let wait = if tries + 1 < FAST_TRIES {
                        RETRY_NS
                    } else {
                        BACKOFF_NS
                    };
                    *entry = Entry::Incomplete {
                        tries: tries + 1,
                        next_ns: now + wait,
                    };
                    out.push(key);
                }
                Entry::Reachable {
                    mac,
                    confirmed_ns,
                    probes,
                    next_ns,
                } if now >= next_ns => {
                    if probes >= PROBES {
                        *entry = Entry::Incomplete {
                            tries: 1,
                            next_ns: now + RETRY_NS,
                        };
                        forgot = true;
                    } else {
                        *entry = Entry::Reachable {
                            mac,
                            confirmed_ns,
                            probes: probes + 1,
                            next_ns: now + RETRY_NS,
                        };
                    }
                    out.push(key);
                }
                _ => {}
            }
        }
        self.requests_sent += out.len() as u64;
        forgot
    }

    /// The learned neighbours of `port`.
    pub fn neighbors(&self, port: u16) -> Vec<(Ipv4Addr, EthernetAddress)> {
        self.entries
            .iter()
            .filter_map(|(&(p, ip), e)| match *e {
                Entry::Reachable { mac, .. } if p == port => Some((ip, mac)),
                _ => None,
            })
            .collect()
    }

    /// How many wanted neighbours are resolved, and how many are wanted.
    pub fn resolved(&self) -> (usize, usize) {
        let resolved = self
            .entries
            .values()
            .filter(|e| matches!(e, Entry::Reachable { .. }))
            .count();
        (resolved, self.entries.len())
    }

    /// The wanted neighbours that never answered.
    pub fn unresolved(&self) -> Vec<(u16, Ipv4Addr)> {
        self.entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Incomplete { .. }))
            .map(|(&k, _)| k)
            .collect()
    }
}

/// Writes a broadcast ARP request for `target` from `mac`/`ip` into `frame` (at least
/// [`REQUEST_LEN`] bytes).
pub fn write_request(frame: &mut [u8], mac: EthernetAddress, ip: Ipv4Addr, target: Ipv4Addr) {
    let eth = EthernetRepr {
        src_addr: mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EtherType::Arp,
    };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    arp.emit(&mut ArpPacket::new_unchecked(&mut frame[14..]));
}

/// The sender of an ARP packet (reply or request) in an Ethernet frame: (address, MAC).
pub fn arp_sender(frame: &[u8]) -> Option<(Ipv4Addr, EthernetAddress)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Arp {
        return None;
    }
    let arp = ArpPacket::new_checked(&frame[14..]).ok()?;
    match ArpRepr::parse(&arp).ok()? {
        ArpRepr::EthernetIpv4 {
            source_hardware_addr,
            source_protocol_addr,
            ..
        } => Some((source_protocol_addr, source_hardware_addr)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const R: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);

    fn due(r: &mut Resolver, now: u64) -> Vec<(u16, Ipv4Addr)> {
        let mut out = Vec::new();
        r.due(now, &mut out);
        out
    }

    #[test]
    fn requests_retry_then_back_off_until_answered() {
        let mut r = Resolver::new();
        r.set_wanted(&[(0, R)], 0);
        assert_eq!(due(&mut r, 0), [(0, R)]);
        assert!(due(&mut r, S / 2).is_empty());
        assert_eq!(due(&mut r, S), [(0, R)]);
        assert_eq!(due(&mut r, 2 * S), [(0, R)]);
        // Three fast tries, then every five seconds.
        assert!(due(&mut r, 3 * S).is_empty());
        assert!(due(&mut r, 6 * S).is_empty());
        assert_eq!(due(&mut r, 7 * S), [(0, R)]);
        assert_eq!(r.resolved(), (0, 1));
        assert!(r.learn(0, R, MAC, 7 * S + 1));
        assert_eq!(r.neighbors(0), [(R, MAC)]);
        assert!(r.neighbors(1).is_empty());
        assert!(!r.learn(0, R, MAC, 8 * S), "the same MAC changes nothing");
        assert_eq!(r.resolved(), (1, 1));
        assert!(due(&mut r, 30 * S).is_empty());
    }

    #[test]
    fn learned_entries_are_probed_and_forgotten_when_silent() {
        let mut r = Resolver::new();
        r.set_wanted(&[(0, R)], 0);
        due(&mut r, 0);
        r.learn(0, R, MAC, 0);
        let stale = REACHABLE_NS;
        let mut out = Vec::new();
        for i in 0..u64::from(PROBES) {
            out.clear();
            assert!(!r.due(stale + i * RETRY_NS, &mut out));
            assert_eq!(out, [(0, R)]);
            assert_eq!(r.neighbors(0), [(R, MAC)], "still used while probed");
        }
        out.clear();
        assert!(r.due(stale + u64::from(PROBES) * RETRY_NS, &mut out));
        assert!(r.neighbors(0).is_empty());
        // A reply to a probe keeps it.
        r.learn(0, R, MAC, stale * 3);
        out.clear();
        assert!(!r.due(stale * 3 + RETRY_NS, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn only_wanted_unicast_neighbours_are_learned() {
        let mut r = Resolver::new();
        r.set_wanted(&[(0, R)], 0);
        assert!(!r.learn(0, Ipv4Addr::new(10, 0, 0, 9), MAC, 0));
        assert!(!r.learn(1, R, MAC, 0), "wrong port");
        assert!(!r.learn(0, R, EthernetAddress::BROADCAST, 0));
        assert!(r.learn(0, R, MAC, 0));
        // No longer wanted: forgotten, and that changes the snapshot.
        assert!(r.set_wanted(&[], 1));
        assert!(r.neighbors(0).is_empty());
    }

    #[test]
    fn a_written_request_reads_back() {
        let mut frame = [0_u8; REQUEST_LEN];
        let me = EthernetAddress([2, 0, 0, 0, 0, 1]);
        write_request(&mut frame, me, Ipv4Addr::new(10, 0, 0, 1), R);
        assert_eq!(&frame[..6], &[0xff; 6]);
        assert_eq!(arp_sender(&frame), Some((Ipv4Addr::new(10, 0, 0, 1), me)));
        let arp = ArpPacket::new_checked(&frame[14..]).unwrap();
        let ArpRepr::EthernetIpv4 {
            operation,
            target_protocol_addr,
            ..
        } = ArpRepr::parse(&arp).unwrap()
        else {
            panic!("not an Ethernet/IPv4 request");
        };
        assert_eq!(operation, ArpOperation::Request);
        assert_eq!(target_protocol_addr, R);
        assert_eq!(arp_sender(&frame[..20]), None);
    }
}
