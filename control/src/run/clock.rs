//! The engine's clock: nanoseconds from the time-stamp counter (one 128-bit multiply and
//! divide, once per burst).

/// Converts TSC ticks into the engine's nanoseconds, counted from one second before the
/// runtime started (so that no flow is ever stamped at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    start: u64,
    hz: u128,
}

/// What the clock reads at its start, in nanoseconds.
pub const EPOCH_NS: u64 = 1_000_000_000;

impl Clock {
    /// A clock of `hz` ticks per second reading [`EPOCH_NS`] at tick `start`.
    pub fn new(hz: u64, start: u64) -> Self {
        Clock {
            start,
            hz: u128::from(hz.max(1)),
        }
    }

    /// The time at tick `tsc`, in nanoseconds.
    pub fn ns(&self, tsc: u64) -> u64 {
        let ticks = u128::from(tsc.saturating_sub(self.start));
        EPOCH_NS.saturating_add(u64::try_from(ticks * 1_000_000_000 / self.hz).unwrap_or(u64::MAX))
    }

    /// Ticks in `ns` nanoseconds.
    pub fn ticks(&self, ns: u64) -> u64 {
        u64::try_from(u128::from(ns) * self.hz / 1_000_000_000).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_become_nanoseconds() {
        let clock = Clock::new(2_500_000_000, 1000);
        assert_eq!(clock.ns(1000), EPOCH_NS);
        assert_eq!(clock.ns(0), EPOCH_NS, "before the start reads as the start");
        assert_eq!(clock.ns(1000 + 2_500_000_000), EPOCH_NS + 1_000_000_000);
        assert_eq!(clock.ns(1000 + 25), EPOCH_NS + 10);
        assert_eq!(clock.ticks(1_000_000_000), 2_500_000_000);
    }
}
