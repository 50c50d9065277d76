//! The numeric ranges sluice accepts, in one place.
//!
//! Each constant is a documented [`Limit`] taken from GWLB's documented ranges (see
//! `gwlb-spec.md` §2–§6) or from DPDK's own constraints. The decoder quotes them when a
//! number does not even fit its field, the validator enforces them, and the engine may read
//! them too, so a range is never written down twice.

use std::fmt;

/// An inclusive numeric range with the unit it is measured in, printed as `5–300 seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<T> {
    /// The smallest allowed value.
    pub min: T,
    /// The largest allowed value.
    pub max: T,
    /// The unit, printed after the range (empty for plain counts).
    pub unit: &'static str,
}

impl<T: PartialOrd + Copy> Limit<T> {
    /// Returns whether `value` lies inside the range.
    pub fn contains(&self, value: T) -> bool {
        self.min <= value && value <= self.max
    }
}

impl<T: fmt::Display> fmt::Display for Limit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.min, self.max)?;
        if !self.unit.is_empty() {
            write!(f, " {}", self.unit)?;
        }
        Ok(())
    }
}

const fn limit<T>(min: T, max: T, unit: &'static str) -> Limit<T> {
    Limit { min, max, unit }
}

/// CPU core ids for `dataplane.worker_cores` and `dataplane.control_core`.
pub const CORE: Limit<u16> = limit(0, 1023, "");
/// Packets per receive or transmit burst (`dataplane.burst_size`).
pub const BURST_SIZE: Limit<u16> = limit(1, 256, "packets");
/// Ring sizes (`dataplane.rx_descriptors`, `dataplane.tx_descriptors`); also a power of two.
pub const DESCRIPTORS: Limit<u16> = limit(64, 16384, "descriptors");
/// Mbufs per pool (`dataplane.mbufs`).
pub const MBUFS: Limit<u32> = limit(1023, 16_777_215, "mbufs");
/// Per-core mbuf cache (`dataplane.mbuf_cache`), DPDK's `RTE_MEMPOOL_CACHE_MAX_SIZE`.
pub const MBUF_CACHE: Limit<u32> = limit(0, 512, "mbufs");
/// Flow table entries (`dataplane.flow_table.capacity`); also a power of two.
pub const FLOW_TABLE_CAPACITY: Limit<u32> = limit(1024, 67_108_864, "flows");
/// Port MTU (`dataplane.port.mtu`).
pub const MTU: Limit<u16> = limit(68, 9216, "bytes");
/// 802.1Q VLAN ids (`endpoint.vlan`).
pub const VLAN: Limit<u16> = limit(1, 4094, "");
/// GWLB listener `tcp.idle_timeout.seconds`, also the appliance's TCP flow idle timeout.
pub const TCP_IDLE_TIMEOUT: Limit<u16> = limit(60, 6000, "seconds");
/// The appliance's idle timeout for non-TCP flows.
pub const NON_TCP_IDLE_TIMEOUT: Limit<u16> = limit(10, 6000, "seconds");
/// GWLB target group `deregistration_delay.timeout_seconds`.
pub const DEREGISTRATION_DELAY: Limit<u16> = limit(0, 3600, "seconds");
/// TCP or UDP port numbers used for health checks.
pub const HEALTH_CHECK_PORT: Limit<u16> = limit(1, 65535, "");
/// GWLB `HealthCheckIntervalSeconds`.
pub const HEALTH_CHECK_INTERVAL: Limit<u16> = limit(5, 300, "seconds");
/// GWLB `HealthCheckTimeoutSeconds`.
pub const HEALTH_CHECK_TIMEOUT: Limit<u16> = limit(2, 120, "seconds");
/// GWLB `HealthyThresholdCount` and `UnhealthyThresholdCount`.
pub const HEALTH_CHECK_THRESHOLD: Limit<u8> = limit(2, 10, "checks");
/// HTTP status codes a GWLB health-check matcher may name.
pub const HEALTH_CHECK_CODES: Limit<u16> = limit(200, 399, "");
/// Longest health-check path, in characters.
pub const HEALTH_CHECK_PATH_LEN: usize = 1024;
/// The appliance's TCP MSS clamp when enabled (0 turns clamping off).
pub const MSS_CLAMP: Limit<u16> = limit(536, 8460, "bytes");
/// The size at which the appliance's flow log rotates (`appliance.flow_log.max_bytes`):
/// 1 MiB to 16 GiB.
pub const FLOW_LOG_MAX_BYTES: Limit<u64> = limit(1 << 20, 16 << 30, "bytes");
/// Rotated flow log files kept (`appliance.flow_log.max_files`).
pub const FLOW_LOG_MAX_FILES: Limit<u32> = limit(1, 100, "files");
/// Any TCP or UDP port number, as used by policy rules.
pub const ANY_PORT: Limit<u16> = limit(0, 65535, "");
/// IP protocol numbers.
pub const IP_PROTOCOL: Limit<u8> = limit(0, 255, "");
/// ICMP and ICMPv6 message types.
pub const ICMP_TYPE: Limit<u8> = limit(0, 255, "");
/// The GWLB attachment id carried in GENEVE option type 2.
pub const ATTACHMENT_ID: Limit<u64> = limit(0, i64::MAX as u64, "");
/// GWLB quota "targets per Availability Zone per Gateway Load Balancer" (not adjustable).
pub const MAX_TARGETS_PER_ZONE: usize = 300;
/// GWLB quota "targets per Gateway Load Balancer" (not adjustable).
pub const MAX_TARGETS: usize = 300;
/// The only target group port GWLB accepts: GENEVE's UDP port.
pub const GENEVE_PORT: u16 = 6081;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_print_with_en_dash_and_unit() {
        assert_eq!(HEALTH_CHECK_INTERVAL.to_string(), "5–300 seconds");
        assert_eq!(VLAN.to_string(), "1–4094");
        assert!(VLAN.contains(1) && VLAN.contains(4094) && !VLAN.contains(0));
    }
}
