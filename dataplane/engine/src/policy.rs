//! The appliance's inspection policy: ordered rules compiled into a classifier whose cost per
//! first packet stays nearly flat as rules grow, and the verdict a flow keeps.
//!
//! # Semantics
//!
//! Rules are tried in order and the first whose every present match key holds decides; when
//! none matches, the default action does. A rule matches on GWLB endpoint ids, inner source
//! and destination networks (IPv4 and IPv6), the IP protocol, and one transport value: the
//! destination port for TCP and UDP, the message type for ICMP and ICMPv6 (a rule may list
//! ports only with TCP/UDP protocols and ICMP types only with ICMP protocols, so the two never
//! meet in one rule). The first packet of a flow is classified; the flow keeps the decision in
//! its flow-table value ([`FlowVerdict`]), so its replies, which share its symmetric key, get
//! the same answer without another lookup.
//!
//! # The classifier
//!
//! Each match dimension (endpoint, source, destination, protocol, transport value; addresses
//! per IP version) is cut into elementary intervals at every rule boundary; each interval
//! belongs to an equivalence class, the set of rules it satisfies, kept as a bit vector over
//! the rule order. Classifying is then one binary search per dimension and the lowest set bit
//! of the five classes' intersection — the bit-vector scheme of Lakshman and Stiliadis
//! (SIGCOMM 1998) with the aggregated bit vectors of Baboescu and Varghese (SIGCOMM 2001):
//! each class also keeps one summary bit per 64-rule block and only its non-zero blocks, so
//! the intersection walks summaries (a few words even at 10,000 rules) and touches only the
//! blocks every dimension has. Building it is a sweep over sorted boundaries, off the packet
//! path, on the control thread.
//!
//! # Reloads
//!
//! A policy carries a generation. A flow records the generation its verdict came from; when
//! a new policy is published, a flow's next packet is classified again (as its first packet
//! was, from the initiator's side) and keeps going only if the new policy still allows it.

use core::net::IpAddr;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::HashMap;

/// IP protocol numbers the classifier treats specially.
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// The most rules a policy may have: rule indices are 16 bits in a flow's value, and
/// `u16::MAX` stands for the default action.
pub const MAX_RULES: usize = u16::MAX as usize;

/// What a policy does with a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Return the traffic to the GWLB.
    Allow,
    /// Drop it silently.
    Deny,
    /// Drop it and answer inside the tunnel: a TCP RST for TCP, an ICMP unreachable for the
    /// rest.
    Reject,
}

impl Action {
    /// The action's name as configured (`allow`, `deny`, `reject`).
    pub const fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Reject => "reject",
        }
    }

    const fn bits(self) -> u32 {
        match self {
            Action::Allow => 1,
            Action::Deny => 2,
            Action::Reject => 3,
        }
    }

    const fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            1 => Some(Action::Allow),
            2 => Some(Action::Deny),
            3 => Some(Action::Reject),
            _ => None,
        }
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits are ignored).
    pub addr: IpAddr,
    /// The prefix length, at most 32 for IPv4 and 128 for IPv6 (longer is clamped).
    pub prefix_len: u8,
}

/// One rule, as configured. A match key that is `None` matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Its name, reported with the flows it decides.
    pub name: String,
    /// What it does with the flows it matches.
    pub action: Action,
    /// GWLB endpoint ids (GENEVE option type 1, as numbers).
    pub endpoints: Option<Vec<u64>>,
    /// Networks the inner source address must be in.
    pub sources: Option<Vec<Cidr>>,
    /// Networks the inner destination address must be in.
    pub destinations: Option<Vec<Cidr>>,
    /// IP protocol numbers.
    pub protocols: Option<Vec<u8>>,
    /// Destination port ranges `(first, last)`; only with TCP and UDP protocols.
    pub ports: Option<Vec<(u16, u16)>>,
    /// ICMP or ICMPv6 message types; only with ICMP protocols.
    pub icmp_types: Option<Vec<u8>>,
}

/// A whole policy as configured: what [`Policy`] compiles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyDefinition {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// What happens to flows no rule matches.
    pub default_action: Action,
    /// Whether a TCP flow must begin with a SYN (other first packets are dropped).
    pub strict_tcp: bool,
}

impl PolicyDefinition {
    /// A policy that allows everything.
    pub fn allow_all() -> Self {
        PolicyDefinition {
            rules: Vec::new(),
            default_action: Action::Allow,
            strict_tcp: false,
        }
    }
}

/// Why a policy does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// More than [`MAX_RULES`] rules.
    TooManyRules {
        /// How many there are.
        count: usize,
    },
    /// A rule lists ports without limiting its protocols to TCP and UDP, or ICMP types
    /// without limiting them to ICMP and ICMPv6.
    TransportWithoutProtocol {
        /// The rule's name.
        rule: String,
    },
}

impl core::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PolicyError::TooManyRules { count } => {
                write!(f, "{count} policy rules; at most {MAX_RULES} are supported")
            }
            PolicyError::TransportWithoutProtocol { rule } => write!(
                f,
                "policy rule \"{rule}\": ports need protocols of only tcp and udp, ICMP types \
                 protocols of only icmp and icmpv6"
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

/// What a first packet's classification looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The GWLB endpoint id the packet came through.
    pub endpoint: u64,
    /// Inner source address.
    pub src: IpAddr,
    /// Inner destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// The destination port for TCP and UDP, the message type for ICMP and ICMPv6, else 0.
    pub transport: u16,
}

/// The outcome of a classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The index of the rule that decided, or `None` for the default action.
    pub rule: Option<u16>,
}

/// A flow's verdict as its flow-table value holds it: the decision, which side began the
/// flow, and the policy generation the decision came from.
///
/// Layout of the 32-bit value: bits 0–1 the action, bit 2 whether the initiator is the flow
/// key's second endpoint, bits 3–18 the rule index (`0xffff` for the default action), bits
/// 19–31 the policy generation modulo 2¹³.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowVerdict {
    /// The decision.
    pub decision: Decision,
    /// Whether the flow's first packet travelled in the key's reverse direction.
    pub reversed: bool,
    /// The policy generation the decision came from, modulo 2¹³.
    pub generation: u32,
}

/// Bits of the generation a flow's value keeps.
const GENERATION_BITS: u32 = 13;
const GENERATION_MASK: u32 = (1 << GENERATION_BITS) - 1;
const GENERATION_SHIFT: u32 = 32 - GENERATION_BITS;
const DEFAULT_RULE: u32 = 0xffff;

impl FlowVerdict {
    /// The flow-table value.
    pub const fn to_value(self) -> u32 {
        let rule = match self.decision.rule {
            Some(r) => r as u32,
            None => DEFAULT_RULE,
        };
        self.decision.action.bits()
            | (self.reversed as u32) << 2
            | rule << 3
            | (self.generation & GENERATION_MASK) << GENERATION_SHIFT
    }

    /// Reads a flow-table value; `None` if it holds no verdict.
    pub const fn from_value(value: u32) -> Option<Self> {
        let Some(action) = Action::from_bits(value & 3) else {
            return None;
        };
        let rule = (value >> 3) & 0xffff;
        Some(FlowVerdict {
            decision: Decision {
                action,
                rule: if rule == DEFAULT_RULE {
                    None
                } else {
                    Some(rule as u16)
                },
            },
            reversed: value & 4 != 0,
            generation: value >> GENERATION_SHIFT,
        })
    }

    /// Whether the verdict came from the policy of this generation.
    pub const fn decided_under(&self, generation: u32) -> bool {
        self.generation == generation & GENERATION_MASK
    }

    /// Whether a flow value is an allow decided under `generation`: the established flow's
    /// fast path, one compare.
    #[inline(always)]
    pub const fn allows_current(value: u32, generation: u32) -> bool {
        value & 3 == 1 && value >> GENERATION_SHIFT == generation & GENERATION_MASK
    }
}

/// A compiled policy: the definition, its classifier, a generation, and how many flows each
/// rule (and the default) decided since it was compiled.
#[derive(Debug)]
pub struct Policy {
    definition: PolicyDefinition,
    generation: u32,
    classifier: Classifier,
    /// Flows decided per rule, then by the default action, counted on first packets.
    hits: Box<[AtomicU64]>,
}

impl PartialEq for Policy {
    /// Two policies are equal when their definitions and generations are; hit counts do not
    /// matter.
    fn eq(&self, other: &Self) -> bool {
        self.generation == other.generation && self.definition == other.definition
    }
}

impl Eq for Policy {}

impl Policy {
    /// Compiles a policy at generation 0.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] for too many rules, or a rule whose ports or ICMP types are not
    /// limited to the protocols that have them.
    pub fn new(definition: PolicyDefinition) -> Result<Self, PolicyError> {
        let count = definition.rules.len();
        if count > MAX_RULES {
            return Err(PolicyError::TooManyRules { count });
        }
        for rule in &definition.rules {
            let protocols = rule.protocols.as_deref().unwrap_or_default();
            let only = |allowed: &[u8]| {
                !protocols.is_empty() && protocols.iter().all(|p| allowed.contains(p))
            };
            if (rule.ports.is_some() && !only(&[TCP, UDP]))
                || (rule.icmp_types.is_some() && !only(&[ICMP, ICMPV6]))
            {
                return Err(PolicyError::TransportWithoutProtocol {
                    rule: rule.name.clone(),
                });
            }
        }
        let classifier = Classifier::build(&definition.rules);
        Ok(Policy {
            hits: (0..=count).map(|_| AtomicU64::new(0)).collect(),
            definition,
            generation: 0,
            classifier,
        })
    }

    /// The allow-all policy.
    pub fn allow_all() -> Self {
        Policy {
            classifier: Classifier::build(&[]),
            hits: Box::new([AtomicU64::new(0)]),
            definition: PolicyDefinition::allow_all(),
            generation: 0,
        }
    }

    /// Numbers the policy (the control thread gives each new policy it publishes the next
    /// generation, so that flows decided under the previous one are looked at again) and
    /// resets its hit counts.
    pub fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
        for hit in self.hits.iter() {
            hit.store(0, Ordering::Relaxed);
        }
    }

    /// The definition it was compiled from.
    pub fn definition(&self) -> &PolicyDefinition {
        &self.definition
    }

    /// Its generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Whether TCP flows must begin with a SYN.
    #[inline]
    pub fn strict_tcp(&self) -> bool {
        self.definition.strict_tcp
    }

    /// Whether the policy allows every flow whatever its fields (no rules, default allow).
    pub fn allows_everything(&self) -> bool {
        self.definition.default_action == Action::Allow
            && self
                .definition
                .rules
                .iter()
                .all(|r| r.action == Action::Allow)
    }

    /// The name of rule `index`.
    pub fn rule_name(&self, index: u16) -> Option<&str> {
        self.definition
            .rules
            .get(usize::from(index))
            .map(|r| r.name.as_str())
    }

    /// Decides a flow from its first packet, without counting it.
    #[inline]
    pub fn decide(&self, query: &Query) -> Decision {
        match self.classifier.first_match(query) {
            Some(index) => Decision {
                action: self.definition.rules[index].action,
                // `new` refused more than MAX_RULES rules, so the index fits.
                rule: Some(index as u16),
            },
            None => Decision {
                action: self.definition.default_action,
                rule: None,
            },
        }
    }

    /// [`Policy::decide`] for a new flow, counted in the deciding rule's hits.
    pub fn classify(&self, query: &Query) -> Decision {
        let decision = self.decide(query);
        let index = decision
            .rule
            .map_or(self.definition.rules.len(), usize::from);
        if let Some(hit) = self.hits.get(index) {
            hit.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    /// Flows decided by each rule, in order, then by the default action.
    pub fn hits(&self) -> Vec<u64> {
        self.hits
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect()
    }

    /// The classifier's memory, in bytes.
    pub fn classifier_bytes(&self) -> usize {
        self.classifier.memory_bytes()
    }

    /// The first matching rule by trying every rule in order: the definition of what the
    /// classifier computes, for tests and benchmarks.
    pub fn first_match_linear(&self, query: &Query) -> Option<usize> {
        self.definition
            .rules
            .iter()
            .position(|rule| rule_matches(rule, query))
    }
}

/// Whether `rule` matches `query`, key by key.
fn rule_matches(rule: &Rule, query: &Query) -> bool {
    let in_any = |nets: &Option<Vec<Cidr>>, ip: IpAddr| {
        nets.as_ref().is_none_or(|nets| {
            nets.iter()
                .any(|n| cidr_range(n).is_some_and(|r| r.contains(ip)))
        })
    };
    rule.endpoints
        .as_ref()
        .is_none_or(|e| e.contains(&query.endpoint))
        && in_any(&rule.sources, query.src)
        && in_any(&rule.destinations, query.dst)
        && rule
            .protocols
            .as_ref()
            .is_none_or(|p| p.contains(&query.protocol))
        && rule
            .ports
            .as_ref()
            .is_none_or(|p| p.iter().any(|(a, b)| (*a..=*b).contains(&query.transport)))
        && rule
            .icmp_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| u16::from(*t) == query.transport))
}

/// A network as an inclusive address range of its family.
#[derive(Debug, Clone, Copy)]
enum AddrRange {
    V4(u32, u32),
    V6(u128, u128),
}

impl AddrRange {
    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (AddrRange::V4(a, b), IpAddr::V4(ip)) => (a..=b).contains(&ip.to_bits()),
            (AddrRange::V6(a, b), IpAddr::V6(ip)) => (a..=b).contains(&ip.to_bits()),
            _ => false,
        }
    }
}

fn cidr_range(net: &Cidr) -> Option<AddrRange> {
    match net.addr {
        IpAddr::V4(a) => {
            let len = u32::from(net.prefix_len.min(32));
            let host = u32::MAX.checked_shr(len).unwrap_or(0);
            let first = a.to_bits() & !host;
            Some(AddrRange::V4(first, first | host))
        }
        IpAddr::V6(a) => {
            let len = u32::from(net.prefix_len.min(128));
            let host = u128::MAX.checked_shr(len).unwrap_or(0);
            let first = a.to_bits() & !host;
            Some(AddrRange::V6(first, first | host))
        }
    }
}

/// A key one dimension is searched by.
trait DimKey: Ord + Copy + core::hash::Hash {
    const MIN: Self;
    /// The next key, or `None` at the top of the domain.
    fn next(self) -> Option<Self>;
}

macro_rules! dim_key {
    ($($t:ty),*) => {$(
        impl DimKey for $t {
            const MIN: Self = <$t>::MIN;
            fn next(self) -> Option<Self> {
                self.checked_add(1)
            }
        }
    )*};
}
dim_key!(u8, u16, u32, u64, u128);

/// One dimension: the start of each elementary interval (sorted, the first is `MIN`) and
/// the class each belongs to.
#[derive(Debug)]
struct Dimension<K> {
    starts: Vec<K>,
    class_of: Vec<u32>,
    classes: Classes,
}

impl<K: DimKey> Dimension<K> {
    /// Builds a dimension from each rule's ranges (`None`: the rule matches any key).
    fn build(rules: usize, ranges: &[Option<Vec<(K, K)>>]) -> Self {
        let words = rules.div_ceil(64);
        // Events: at a key, a rule's range starts (+1) or ends just before it (-1).
        let mut events: Vec<(K, u32, i32)> = Vec::new();
        let mut active = vec![0u64; words];
        let mut depth = vec![0i32; rules];
        for (rule, ranges) in ranges.iter().enumerate() {
            match ranges {
                None => {
                    active[rule / 64] |= 1 << (rule % 64);
                    depth[rule] = 1;
                }
                Some(ranges) => {
                    for &(first, last) in ranges {
                        events.push((first, rule as u32, 1));
                        if let Some(after) = last.next() {
                            events.push((after, rule as u32, -1));
                        }
                    }
                }
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        let mut interner = Interner::new(words);
        let mut starts = Vec::new();
        let mut class_of = Vec::new();
        let mut i = 0;
        let mut at = K::MIN;
        loop {
            while i < events.len() && events[i].0 == at {
                let (_, rule, delta) = events[i];
                let rule = rule as usize;
                depth[rule] += delta;
                if depth[rule] > 0 {
                    active[rule / 64] |= 1 << (rule % 64);
                } else {
                    active[rule / 64] &= !(1 << (rule % 64));
                }
                i += 1;
            }
            let class = interner.intern(&active);
            // Neighbouring intervals of one class merge.
            if class_of.last() != Some(&class) {
                starts.push(at);
                class_of.push(class);
            }
            match events.get(i) {
                Some(e) => at = e.0,
                None => break,
            }
        }
        Dimension {
            starts,
            class_of,
            classes: interner.finish(),
        }
    }

    /// The class of `key`.
    #[inline]
    fn class(&self, key: K) -> u32 {
        // starts[0] is MIN, so the point is at least 1.
        let i = self.starts.partition_point(|s| *s <= key);
        self.class_of[i.saturating_sub(1)]
    }

    fn memory_bytes(&self) -> usize {
        self.starts.len() * core::mem::size_of::<K>()
            + self.class_of.len() * 4
            + self.classes.memory_bytes()
    }
}

/// Deduplicates the dense bit vectors of a dimension's intervals into classes.
struct Interner {
    words: usize,
    ids: HashMap<Vec<u64>, u32>,
    dense: Vec<Vec<u64>>,
}

impl Interner {
    fn new(words: usize) -> Self {
        Interner {
            words,
            ids: HashMap::new(),
            dense: Vec::new(),
        }
    }

    fn intern(&mut self, bits: &[u64]) -> u32 {
        if let Some(id) = self.ids.get(bits) {
            return *id;
        }
        let id = self.dense.len() as u32;
        self.ids.insert(bits.to_vec(), id);
        self.dense.push(bits.to_vec());
        id
    }

    fn finish(self) -> Classes {
        Classes::new(self.words, &self.dense)
    }
}

/// A dimension's classes as aggregated bit vectors: per class, one summary bit per 64-rule
/// block (set when any rule of the block is in the class), the running count of non-zero
/// blocks before each summary word, and the non-zero blocks only.
#[derive(Debug)]
struct Classes {
    /// Summary words per class.
    summary_words: usize,
    summary: Vec<u64>,
    rank: Vec<u32>,
    blocks_start: Vec<u32>,
    blocks: Vec<u64>,
}

impl Classes {
    fn new(words: usize, dense: &[Vec<u64>]) -> Self {
        let summary_words = words.div_ceil(64).max(1);
        let mut classes = Classes {
            summary_words,
            summary: Vec::with_capacity(dense.len() * summary_words),
            rank: Vec::with_capacity(dense.len() * summary_words),
            blocks_start: Vec::with_capacity(dense.len()),
            blocks: Vec::new(),
        };
        for bits in dense {
            classes.blocks_start.push(classes.blocks.len() as u32);
            let mut count = 0u32;
            for w in 0..summary_words {
                classes.rank.push(count);
                let mut summary = 0u64;
                for b in 0..64 {
                    if let Some(&word) = bits.get(w * 64 + b)
                        && word != 0
                    {
                        summary |= 1 << b;
                        classes.blocks.push(word);
                        count += 1;
                    }
                }
                classes.summary.push(summary);
            }
        }
        classes
    }

    #[inline(always)]
    fn summary(&self, class: u32, w: usize) -> u64 {
        self.summary[class as usize * self.summary_words + w]
    }

    /// Block `64 * w + bit` of `class`, which its summary says is non-zero.
    #[inline(always)]
    fn block(&self, class: u32, w: usize, bit: u32) -> u64 {
        let at = class as usize * self.summary_words + w;
        let below = self.summary[at] & ((1u64 << bit) - 1);
        let index = self.blocks_start[class as usize] + self.rank[at] + below.count_ones();
        self.blocks[index as usize]
    }

    fn memory_bytes(&self) -> usize {
        self.summary.len() * 8
            + self.rank.len() * 4
            + self.blocks_start.len() * 4
            + self.blocks.len() * 8
    }
}

/// The compiled rules: one dimension per match key, addresses per IP version.
#[derive(Debug)]
struct Classifier {
    rules: usize,
    endpoint: Dimension<u64>,
    src4: Dimension<u32>,
    dst4: Dimension<u32>,
    src6: Dimension<u128>,
    dst6: Dimension<u128>,
    protocol: Dimension<u8>,
    transport: Dimension<u16>,
}

impl Classifier {
    fn build(rules: &[Rule]) -> Self {
        let n = rules.len();
        let endpoint: Vec<_> = rules
            .iter()
            .map(|r| {
                r.endpoints
                    .as_ref()
                    .map(|e| e.iter().map(|&id| (id, id)).collect())
            })
            .collect();
        let v4 = |nets: &Option<Vec<Cidr>>| {
            nets.as_ref().map(|nets| {
                nets.iter()
                    .filter_map(|n| match cidr_range(n) {
                        Some(AddrRange::V4(a, b)) => Some((a, b)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
        };
        let v6 = |nets: &Option<Vec<Cidr>>| {
            nets.as_ref().map(|nets| {
                nets.iter()
                    .filter_map(|n| match cidr_range(n) {
                        Some(AddrRange::V6(a, b)) => Some((a, b)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
        };
        let protocol: Vec<_> = rules
            .iter()
            .map(|r| {
                r.protocols
                    .as_ref()
                    .map(|p| p.iter().map(|&p| (p, p)).collect())
            })
            .collect();
        let transport: Vec<_> = rules
            .iter()
            .map(|r| match (&r.ports, &r.icmp_types) {
                (Some(ports), _) => Some(ports.clone()),
                (None, Some(types)) => Some(
                    types
                        .iter()
                        .map(|&t| (u16::from(t), u16::from(t)))
                        .collect(),
                ),
                (None, None) => None,
            })
            .collect();
        Classifier {
            rules: n,
            endpoint: Dimension::build(n, &endpoint),
            src4: Dimension::build(n, &rules.iter().map(|r| v4(&r.sources)).collect::<Vec<_>>()),
            dst4: Dimension::build(
                n,
                &rules
                    .iter()
                    .map(|r| v4(&r.destinations))
                    .collect::<Vec<_>>(),
            ),
            src6: Dimension::build(n, &rules.iter().map(|r| v6(&r.sources)).collect::<Vec<_>>()),
            dst6: Dimension::build(
                n,
                &rules
                    .iter()
                    .map(|r| v6(&r.destinations))
                    .collect::<Vec<_>>(),
            ),
            protocol: Dimension::build(n, &protocol),
            transport: Dimension::build(n, &transport),
        }
    }

    /// The index of the first rule `query` matches.
    #[inline]
    fn first_match(&self, query: &Query) -> Option<usize> {
        if self.rules == 0 {
            return None;
        }
        let (src, dst) = match (query.src, query.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (
                (&self.src4.classes, self.src4.class(s.to_bits())),
                (&self.dst4.classes, self.dst4.class(d.to_bits())),
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => (
                (&self.src6.classes, self.src6.class(s.to_bits())),
                (&self.dst6.classes, self.dst6.class(d.to_bits())),
            ),
            // Mixed families do not occur in one packet; nothing matches them.
            _ => return None,
        };
        let dims = [
            (&self.endpoint.classes, self.endpoint.class(query.endpoint)),
            src,
            dst,
            (&self.protocol.classes, self.protocol.class(query.protocol)),
            (
                &self.transport.classes,
                self.transport.class(query.transport),
            ),
        ];
        let summary_words = self.endpoint.classes.summary_words;
        for w in 0..summary_words {
            let mut candidates = u64::MAX;
            for (classes, class) in &dims {
                candidates &= classes.summary(*class, w);
            }
            while candidates != 0 {
                let bit = candidates.trailing_zeros();
                let mut rules = u64::MAX;
                for (classes, class) in &dims {
                    rules &= classes.block(*class, w, bit);
                }
                if rules != 0 {
                    return Some((w * 64 + bit as usize) * 64 + rules.trailing_zeros() as usize);
                }
                candidates &= candidates - 1;
            }
        }
        None
    }

    fn memory_bytes(&self) -> usize {
        self.endpoint.memory_bytes()
            + self.src4.memory_bytes()
            + self.dst4.memory_bytes()
            + self.src6.memory_bytes()
            + self.dst6.memory_bytes()
            + self.protocol.memory_bytes()
            + self.transport.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(a: [u8; 4], len: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::from(a)),
            prefix_len: len,
        }
    }

    fn rule(name: &str, action: Action) -> Rule {
        Rule {
            name: name.into(),
            action,
            endpoints: None,
            sources: None,
            destinations: None,
            protocols: None,
            ports: None,
            icmp_types: None,
        }
    }

    fn query(src: [u8; 4], dst: [u8; 4], protocol: u8, transport: u16) -> Query {
        Query {
            endpoint: 7,
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            protocol,
            transport,
        }
    }

    #[test]
    fn first_match_wins_and_the_default_applies_otherwise() {
        let definition = PolicyDefinition {
            rules: vec![
                Rule {
                    sources: Some(vec![v4([10, 0, 0, 0], 8)]),
                    protocols: Some(vec![TCP]),
                    ports: Some(vec![(22, 22)]),
                    ..rule("ssh-from-inside", Action::Allow)
                },
                Rule {
                    protocols: Some(vec![TCP]),
                    ports: Some(vec![(22, 22), (3389, 3389)]),
                    ..rule("no-remote-shells", Action::Reject)
                },
                Rule {
                    protocols: Some(vec![ICMP]),
                    icmp_types: Some(vec![8]),
                    ..rule("ping", Action::Allow)
                },
                Rule {
                    destinations: Some(vec![v4([198, 51, 100, 0], 24)]),
                    ..rule("blocked-net", Action::Deny)
                },
            ],
            default_action: Action::Allow,
            strict_tcp: false,
        };
        let policy = Policy::new(definition).unwrap();
        let decide = |q: Query| policy.decide(&q);
        let d = decide(query([10, 1, 2, 3], [203, 0, 113, 1], TCP, 22));
        assert_eq!((d.action, d.rule), (Action::Allow, Some(0)));
        let d = decide(query([192, 0, 2, 1], [203, 0, 113, 1], TCP, 22));
        assert_eq!((d.action, d.rule), (Action::Reject, Some(1)));
        let d = decide(query([192, 0, 2, 1], [198, 51, 100, 9], TCP, 3389));
        assert_eq!((d.action, d.rule), (Action::Reject, Some(1)));
        let d = decide(query([192, 0, 2, 1], [198, 51, 100, 9], ICMP, 8));
        assert_eq!((d.action, d.rule), (Action::Allow, Some(2)));
        let d = decide(query([192, 0, 2, 1], [198, 51, 100, 9], ICMP, 0));
        assert_eq!((d.action, d.rule), (Action::Deny, Some(3)));
        let d = decide(query([192, 0, 2, 1], [203, 0, 113, 9], UDP, 53));
        assert_eq!((d.action, d.rule), (Action::Allow, None));
        // IPv6 traffic meets no IPv4-only rule.
        let q6 = Query {
            src: IpAddr::V6(Ipv6Addr::LOCALHOST),
            dst: IpAddr::V6(Ipv6Addr::LOCALHOST),
            ..query([0; 4], [0; 4], TCP, 3389)
        };
        assert_eq!(
            policy.decide(&q6).rule,
            Some(1),
            "no addresses: both families"
        );
        assert_eq!(policy.classify(&q6).rule, Some(1));
        assert_eq!(policy.hits(), vec![0, 1, 0, 0, 0]);
    }

    #[test]
    fn transport_keys_need_their_protocols() {
        let bad = PolicyDefinition {
            rules: vec![Rule {
                ports: Some(vec![(80, 80)]),
                ..rule("ports-alone", Action::Deny)
            }],
            ..PolicyDefinition::allow_all()
        };
        assert!(matches!(
            Policy::new(bad),
            Err(PolicyError::TransportWithoutProtocol { .. })
        ));
    }

    #[test]
    fn flow_verdicts_round_trip() {
        for action in [Action::Allow, Action::Deny, Action::Reject] {
            for rule in [None, Some(0), Some(12345), Some(0xfffe)] {
                for reversed in [false, true] {
                    for generation in [0, 1, 8191, 8192, 12345] {
                        let v = FlowVerdict {
                            decision: Decision { action, rule },
                            reversed,
                            generation,
                        };
                        let back = FlowVerdict::from_value(v.to_value()).unwrap();
                        assert_eq!(back.decision, v.decision);
                        assert_eq!(back.reversed, reversed);
                        assert_eq!(back.generation, generation & GENERATION_MASK);
                        assert_eq!(
                            FlowVerdict::allows_current(v.to_value(), generation),
                            action == Action::Allow
                        );
                        assert!(!FlowVerdict::allows_current(v.to_value(), generation + 1));
                    }
                }
            }
        }
        assert_eq!(FlowVerdict::from_value(0), None);
    }
}
