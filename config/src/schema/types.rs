//! Small value types shared by several sections: keyword enums, MAC addresses, port ranges,
//! HTTP status matchers and IP protocols.
//!
//! Each type parses from the text a user writes in TOML and serializes back to the same
//! text, so the effective configuration printed by `sluice check-config --output json` reads
//! like the file it came from.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A string-valued setting with a closed set of spellings.
pub(crate) trait Keyword: Copy + 'static {
    /// Every value, in schema order.
    fn all() -> &'static [Self];
    /// The spelling in the configuration file.
    fn text(self) -> &'static str;
    /// An explanation for spellings that name something real that sluice refuses.
    fn rejected(text: &str) -> Option<&'static str>;
}

/// Defines a documented keyword enum with its spellings, `Display`, `Serialize` and
/// [`Keyword`] implementations, and optionally explanations for refused spellings.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
        $( rejected { $( $rejected:literal => $why:literal, )+ } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the schema lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in the configuration file.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl $crate::schema::types::Keyword for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }

            fn text(self) -> &'static str {
                self.as_str()
            }

            fn rejected(text: &str) -> Option<&'static str> {
                match text {
                    $( $( $rejected => Some($why), )+ )?
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use keyword_enum;

/// An Ethernet MAC address, written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

/// An inclusive range of TCP or UDP ports, written as a number (`443`) or a string
/// (`"8000-8080"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// The first port of the range.
    pub first: u16,
    /// The last port of the range (equal to `first` for a single port).
    pub last: u16,
}

/// The HTTP status codes a health check accepts, written like GWLB's `Matcher`:
/// `"200"`, `"200,202"` or `"200-299"` (lists and ranges may be combined).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusMatcher {
    /// The accepted codes as inclusive `(first, last)` ranges, in the order written.
    pub ranges: Vec<(u16, u16)>,
}

/// An IP protocol in a policy rule, written by name (`"tcp"`, `"udp"`, `"icmp"`,
/// `"icmpv6"`) or by number (`47`). Numbers with a name are stored as the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// TCP, protocol 6.
    Tcp,
    /// UDP, protocol 17.
    Udp,
    /// ICMP for IPv4, protocol 1.
    Icmp,
    /// ICMP for IPv6, protocol 58.
    Icmpv6,
    /// Any other protocol, by number.
    Other(u8),
}

/// Why a MAC address, port range or status matcher did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The text is not six colon-separated pairs of hex digits.
    #[error("expected six colon-separated hex bytes such as 02:00:00:00:00:01")]
    MacAddr,
    /// The text is not `LO-HI` with two port numbers.
    #[error("expected a port number or a range \"LO-HI\" such as \"8000-8080\"")]
    PortRange,
    /// The range's first port is larger than its last port.
    #[error("the range starts above its end: {first} > {last}")]
    ReversedRange {
        /// The first number written.
        first: u16,
        /// The last number written.
        last: u16,
    },
    /// The text is not a list of codes and code ranges.
    #[error("each comma-separated entry must be a three-digit code or a CODE-CODE range")]
    StatusMatcher,
}

impl MacAddr {
    /// Returns whether this is a unicast address (the group bit of the first octet is clear)
    /// and not all zeros.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or(ValueError::MacAddr)?;
            if part.len() != 2 {
                return Err(ValueError::MacAddr);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ValueError::MacAddr)?;
        }
        if parts.next().is_some() {
            return Err(ValueError::MacAddr);
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl PortRange {
    /// Returns whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl FromStr for PortRange {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (first, last) = text.split_once('-').ok_or(ValueError::PortRange)?;
        let first: u16 = first.trim().parse().map_err(|_| ValueError::PortRange)?;
        let last: u16 = last.trim().parse().map_err(|_| ValueError::PortRange)?;
        if first > last {
            return Err(ValueError::ReversedRange { first, last });
        }
        Ok(Self { first, last })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.first == self.last {
            serializer.serialize_u16(self.first)
        } else {
            serializer.collect_str(self)
        }
    }
}

impl StatusMatcher {
    /// Returns whether `code` is accepted.
    pub fn matches(&self, code: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(first, last)| first <= code && code <= last)
    }
}

impl Default for StatusMatcher {
    /// GWLB's default matcher, `200-399`.
    fn default() -> Self {
        Self {
            ranges: vec![(200, 399)],
        }
    }
}

impl FromStr for StatusMatcher {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let code = |s: &str| {
                let s = s.trim();
                if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
                    s.parse::<u16>().map_err(|_| ValueError::StatusMatcher)
                } else {
                    Err(ValueError::StatusMatcher)
                }
            };
            let range = match part.split_once('-') {
                Some((first, last)) => (code(first)?, code(last)?),
                None => (code(part)?, code(part)?),
            };
            if range.0 > range.1 {
                return Err(ValueError::ReversedRange {
                    first: range.0,
                    last: range.1,
                });
            }
            ranges.push(range);
        }
        Ok(Self { ranges })
    }
}

impl fmt::Display for StatusMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(first, last)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if first == last {
                write!(f, "{first}")?;
            } else {
                write!(f, "{first}-{last}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for StatusMatcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl IpProtocol {
    /// The names accepted in place of a number.
    pub const NAMES: [&'static str; 4] = ["tcp", "udp", "icmp", "icmpv6"];

    /// Returns the protocol for an IP protocol number, using the named variant when there is
    /// one.
    pub fn from_number(number: u8) -> Self {
        match number {
            6 => Self::Tcp,
            17 => Self::Udp,
            1 => Self::Icmp,
            58 => Self::Icmpv6,
            other => Self::Other(other),
        }
    }

    /// Returns the protocol named `name` (lowercase), if it has a name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "icmp" => Some(Self::Icmp),
            "icmpv6" => Some(Self::Icmpv6),
            _ => None,
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
            Self::Icmpv6 => 58,
            Self::Other(number) => number,
        }
    }

    /// Returns whether the protocol has ports (TCP or UDP).
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
    }

    /// Returns whether the protocol has ICMP types (ICMP or ICMPv6).
    pub fn is_icmp(self) -> bool {
        matches!(self, Self::Icmp | Self::Icmpv6)
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp => f.write_str("tcp"),
            Self::Udp => f.write_str("udp"),
            Self::Icmp => f.write_str("icmp"),
            Self::Icmpv6 => f.write_str("icmpv6"),
            Self::Other(number) => write!(f, "{number}"),
        }
    }
}

impl Serialize for IpProtocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Other(number) => serializer.serialize_u8(*number),
            named => serializer.collect_str(named),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_round_trip_and_know_unicast() {
        let mac: MacAddr = "02:00:00:00:00:0A".parse().unwrap();
        assert_eq!(mac.to_string(), "02:00:00:00:00:0a");
        assert!(mac.is_unicast());
        assert!(!"01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_unicast());
        assert!(!"00:00:00:00:00:00".parse::<MacAddr>().unwrap().is_unicast());
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("2:00:00:00:00:00".parse::<MacAddr>().is_err());
    }

    #[test]
    fn port_ranges_and_matchers_parse() {
        assert_eq!(
            "8000-8080".parse::<PortRange>(),
            Ok(PortRange {
                first: 8000,
                last: 8080
            })
        );
        assert_eq!(
            "90-80".parse::<PortRange>(),
            Err(ValueError::ReversedRange {
                first: 90,
                last: 80
            })
        );
        let matcher: StatusMatcher = "200,202-204".parse().unwrap();
        assert_eq!(matcher.ranges, vec![(200, 200), (202, 204)]);
        assert_eq!(matcher.to_string(), "200,202-204");
        assert!(matcher.matches(203) && !matcher.matches(201));
        assert!("20x".parse::<StatusMatcher>().is_err());
        assert!("".parse::<StatusMatcher>().is_err());
    }

    #[test]
    fn protocols_normalise_numbers_with_names() {
        assert_eq!(IpProtocol::from_number(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from_number(47), IpProtocol::Other(47));
        assert_eq!(IpProtocol::Icmpv6.number(), 58);
    }
}
