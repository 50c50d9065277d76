//! The arithmetic of the report: medians, ratios, bit rates and cycles per packet.

/// The median of `values` (the mean of the two middle ones for an even count); `None` when
/// there are none. NaNs are ignored.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The mean of `values`; `None` when there are none.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// `a / b`, or `None` when either is missing or `b` is not positive.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Gigabits per second of `mpps` million frames of `frame_bytes` each (Ethernet header to
/// the end of the payload, no FCS: what the frames hold).
pub fn gbps(mpps: f64, frame_bytes: f64) -> f64 {
    mpps * frame_bytes * 8.0 / 1000.0
}

/// Core cycles per packet of one core forwarding `mpps` million packets a second at
/// `tsc_hz` (a busy-polling core spends every cycle on the packets).
pub fn cycles_per_packet(tsc_hz: f64, mpps: f64) -> Option<f64> {
    (mpps > 0.0 && tsc_hz > 0.0).then(|| tsc_hz / (mpps * 1e6))
}

/// Parses the packet rate sluice prints ("950", "12.3k", "14.18M") into packets a second.
pub fn parse_rate(text: &str) -> Option<f64> {
    let (number, scale) = match text.strip_suffix('M') {
        Some(n) => (n, 1e6),
        None => match text.strip_suffix('k') {
            Some(n) => (n, 1e3),
            None => (text, 1.0),
        },
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0, 1.0, 9.0]), Some(2.0));
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn ratios_and_rates() {
        assert_eq!(ratio(Some(3.0), Some(4.0)), Some(0.75));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        // 10 Mpps of 64-byte frames: 5.12 Gbit/s.
        assert!((gbps(10.0, 64.0) - 5.12).abs() < 1e-12);
        assert_eq!(cycles_per_packet(2e9, 10.0), Some(200.0));
        assert_eq!(cycles_per_packet(2e9, 0.0), None);
    }

    #[test]
    fn sluice_rates_parse() {
        assert_eq!(parse_rate("950"), Some(950.0));
        assert_eq!(parse_rate("12.5k"), Some(12_500.0));
        assert!((parse_rate("14.18M").unwrap() - 14.18e6).abs() < 1e-3);
        assert_eq!(parse_rate("x"), None);
    }
}
