//! The text the API commands print for people: tables and summaries made from the API's
//! `result` objects (see [`crate::api`] for their shapes).
//!
//! Rendering is lenient: a field the server leaves out, or sends as `null`, prints as `-`
//! rather than failing, so that an older or newer server still gets a readable answer.
//! Scripts should use `--output json`, which prints the result as it came.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A table: a header row, then the rows, columns left-aligned and two spaces apart.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = write!(line, "{cell:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A JSON value as a table cell: strings without quotes, `-` for null or missing.
pub(crate) fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A number field of an object (0 when missing or not a number).
pub(crate) fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// A counter field of an object (0 when missing or not a non-negative integer).
pub(crate) fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A rate or amount with an SI prefix: `950`, `12.3 k`, `1.23 M`, `9.87 G`.
pub(crate) fn si(x: f64) -> String {
    let (value, prefix) = if x >= 1e12 {
        (x / 1e12, " T")
    } else if x >= 1e9 {
        (x / 1e9, " G")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        return format!("{x:.0}");
    };
    if value >= 100.0 {
        format!("{value:.0}{prefix}")
    } else if value >= 10.0 {
        format!("{value:.1}{prefix}")
    } else {
        format!("{value:.2}{prefix}")
    }
}

/// A byte count for people: `512 B`, `1.50 MB`.
pub(crate) fn bytes(n: f64) -> String {
    if n < 1e3 {
        format!("{n:.0} B")
    } else {
        format!("{}B", si(n))
    }
}

/// Nanoseconds for people: `120 ns`, `3.2 µs`, `1.50 ms`.
pub(crate) fn nanos(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Seconds as `3d 04h 05m`, `2h 03m 04s`, `5m 06s` or `7s`.
pub(crate) fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The drop reasons of a `drops` object with non-zero counts, largest first.
pub(crate) fn nonzero_drops(drops: Option<&Value>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = drops
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_u64().filter(|&n| n > 0).map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// `sluice status`: DescribeMetrics, and DescribeTargetHealth for the gateway.
pub(crate) fn status(metrics: &Value, targets: Option<&Value>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "sluice is up {}",
        duration(num(metrics, "uptime_seconds"))
    );
    if let Some(rates) = metrics.get("rates") {
        let _ = writeln!(
            s,
            "  rate      {}pps, {}bps",
            si(num(rates, "pps")),
            si(num(rates, "bps"))
        );
    }
    let _ = writeln!(
        s,
        "  packets   rx {} ({}), tx {} ({})",
        count(metrics, "rx_packets"),
        bytes(num(metrics, "rx_bytes")),
        count(metrics, "tx_packets"),
        bytes(num(metrics, "tx_bytes"))
    );
    if let Some(flows) = metrics.get("flows") {
        let _ = writeln!(
            s,
            "  flows     {} active, {} created, {} expired",
            count(flows, "active"),
            count(flows, "created"),
            count(flows, "expired")
        );
    }
    let drops = nonzero_drops(metrics.get("drops"));
    let total: u64 = drops.iter().map(|d| d.1).sum();
    let _ = write!(s, "  drops     {total}");
    if !drops.is_empty() {
        let top: Vec<String> = drops
            .iter()
            .take(3)
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        let more = if drops.len() > 3 { ", …" } else { "" };
        let _ = write!(s, " ({}{more}; `sluice stats` lists all)", top.join(", "));
    }
    s.push('\n');
    if let Some(t) = metrics.get("targets").filter(|t| !t.is_null()) {
        let _ = writeln!(
            s,
            "  targets   {} of {} healthy, {} unhealthy",
            count(t, "healthy"),
            count(t, "total"),
            count(t, "unhealthy")
        );
    }
    if let Some(list) = targets
        .and_then(|t| t.get("targets"))
        .and_then(Value::as_array)
    {
        let rows: Vec<Vec<String>> = list
            .iter()
            .filter(|t| t.get("state").and_then(Value::as_str) != Some("healthy"))
            .map(|t| {
                vec![
                    cell(t.get("ip")),
                    cell(t.get("zone")),
                    cell(t.get("state")),
                    cell(t.get("reason")),
                ]
            })
            .collect();
        for row in rows {
            let _ = writeln!(s, "            {}", row.join("  "));
        }
    }
    if let Some(latency) = metrics.get("latency").filter(|l| !l.is_null()) {
        let part = |key: &str| {
            latency
                .get(key)
                .map(|h| format!("p50 {}, p99 {}", nanos(num(h, "p50")), nanos(num(h, "p99"))))
        };
        let _ = writeln!(
            s,
            "  latency   per packet {}; per burst {}",
            part("packet_ns").unwrap_or_else(|| "-".into()),
            part("burst_ns").unwrap_or_else(|| "-".into())
        );
    }
    if let Some(policy) = metrics.get("policy").filter(|p| !p.is_null()) {
        let _ = writeln!(s, "  policy    {}", inline(policy));
    }
    s
}

/// `sluice targets`: DescribeTargetHealth as a table and a count.
pub(crate) fn targets(result: &Value) -> String {
    let list = result
        .get("targets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        return "no targets registered (add some with `sluice register --target IP,ZONE`)\n"
            .to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            vec![
                cell(t.get("ip")),
                cell(t.get("zone")),
                cell(t.get("state")),
                cell(t.get("reason")),
                match t.get("draining_seconds_left").and_then(Value::as_f64) {
                    Some(secs) => format!("{secs:.0}s"),
                    None => "-".to_owned(),
                },
                cell(t.get("description")),
            ]
        })
        .collect();
    let mut s = table(
        &[
            "TARGET",
            "ZONE",
            "STATE",
            "REASON",
            "DRAINING",
            "DESCRIPTION",
        ],
        &rows,
    );
    let healthy = list
        .iter()
        .filter(|t| t.get("state").and_then(Value::as_str) == Some("healthy"))
        .count();
    let _ = writeln!(s, "{} targets, {healthy} healthy", list.len());
    s
}

/// `sluice register` / `deregister`: the addresses the server names under `key`.
pub(crate) fn changed_targets(result: &Value, key: &str) -> String {
    let ips: Vec<String> = result
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| cell(Some(v))).collect())
        .unwrap_or_default();
    if ips.is_empty() {
        format!("{key}: none\n")
    } else {
        format!("{key} {}\n", ips.join(", "))
    }
}

/// `sluice endpoints list`: DescribeEndpointConnections as a table.
pub(crate) fn endpoints(result: &Value) -> String {
    let list = result
        .get("endpoints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        return "no endpoint connections\n".to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            ["id", "state", "principal", "port", "vlan", "zone"]
                .iter()
                .map(|k| cell(e.get(*k)))
                .collect()
        })
        .collect();
    let mut s = table(
        &["ENDPOINT", "STATE", "PRINCIPAL", "PORT", "VLAN", "ZONE"],
        &rows,
    );
    let pending = list
        .iter()
        .filter(|e| e.get("state").and_then(Value::as_str) == Some("pendingAcceptance"))
        .count();
    if pending > 0 {
        let _ = writeln!(
            s,
            "{pending} pending acceptance: `sluice endpoints accept ID…` lets their traffic through"
        );
    }
    s
}

/// `sluice endpoints accept|reject`: the endpoints changed (stdout) and those that were not
/// (as lines for stderr).
pub(crate) fn endpoint_changes(result: &Value) -> (String, Vec<String>) {
    let mut s = String::new();
    for e in result
        .get("endpoints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let _ = writeln!(s, "{}  {}", cell(e.get("id")), cell(e.get("state")));
    }
    let failed = result
        .get("unsuccessful")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|u| format!("{}: {}", cell(u.get("id")), cell(u.get("error"))))
                .collect()
        })
        .unwrap_or_default();
    (s, failed)
}

/// `sluice flows`: DescribeFlows as a table and what was left out.
pub(crate) fn flows(result: &Value) -> String {
    let list = result
        .get("flows")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut s = String::new();
    if !list.is_empty() {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|f| {
                let secs = |k: &str| match f.get(k).and_then(Value::as_f64) {
                    Some(x) => format!("{x:.0}s"),
                    None => "-".to_owned(),
                };
                vec![
                    cell(f.get("endpoint")),
                    cell(f.get("protocol")),
                    cell(f.get("a")),
                    cell(f.get("b")),
                    cell(f.get("target")),
                    cell(f.get("verdict")),
                    secs("age_seconds"),
                    secs("idle_seconds"),
                    cell(f.get("cookie")),
                ]
            })
            .collect();
        s = table(
            &[
                "ENDPOINT", "PROTO", "A", "B", "TARGET", "VERDICT", "AGE", "IDLE", "COOKIE",
            ],
            &rows,
        );
    }
    let _ = write!(
        s,
        "{} flow{} shown",
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    );
    if let Some(scanned) = result.get("scanned").and_then(Value::as_u64) {
        let _ = write!(s, " ({scanned} scanned)");
    }
    if result.get("truncated").and_then(Value::as_bool) == Some(true) {
        s.push_str("; more matched: narrow the filters or raise --limit");
    }
    s.push('\n');
    s
}

/// `sluice stats`: DescribeMetrics's counters, and with `latency` its percentiles.
pub(crate) fn stats(m: &Value, latency: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "uptime      {}", duration(num(m, "uptime_seconds")));
    for dir in ["rx", "tx"] {
        let _ = writeln!(
            s,
            "{dir}          {} packets, {} bytes",
            count(m, &format!("{dir}_packets")),
            count(m, &format!("{dir}_bytes"))
        );
    }
    if let Some(rates) = m.get("rates") {
        let _ = writeln!(
            s,
            "rate        {} pps, {} bps",
            si(num(rates, "pps")),
            si(num(rates, "bps"))
        );
    }
    if let Some(f) = m.get("flows") {
        let _ = writeln!(
            s,
            "flows       {} active, {} created, {} expired",
            count(f, "active"),
            count(f, "created"),
            count(f, "expired")
        );
    }
    let drops = nonzero_drops(m.get("drops"));
    let _ = writeln!(s, "drops       {}", drops.iter().map(|d| d.1).sum::<u64>());
    for (reason, n) in &drops {
        let _ = writeln!(s, "  {reason:<28} {n:>12}");
    }
    if let Some(t) = m.get("targets").filter(|t| !t.is_null()) {
        let _ = writeln!(
            s,
            "targets     {} healthy, {} unhealthy, {} total",
            count(t, "healthy"),
            count(t, "unhealthy"),
            count(t, "total")
        );
    }
    if let Some(policy) = m.get("policy").and_then(Value::as_object) {
        let _ = writeln!(s, "policy");
        lines(&mut s, policy, "  ");
    }
    if latency {
        match m.get("latency").filter(|l| !l.is_null()) {
            None => s.push_str("latency     none recorded yet (no packet received)\n"),
            Some(l) => {
                let keys = ["p50", "p90", "p99", "p99_9", "max"];
                let rows: Vec<Vec<String>> =
                    [("per packet", "packet_ns"), ("per burst", "burst_ns")]
                        .iter()
                        .filter_map(|(name, key)| {
                            let h = l.get(*key)?;
                            Some(
                                std::iter::once((*name).to_owned())
                                    .chain(keys.iter().map(|k| nanos(num(h, k))))
                                    .collect(),
                            )
                        })
                        .collect();
                s.push_str(&table(
                    &["LATENCY", "P50", "P90", "P99", "P99.9", "MAX"],
                    &rows,
                ));
            }
        }
    }
    s
}

/// `sluice reload`.
pub(crate) fn reloaded(result: &Value) -> String {
    match result.get("epoch") {
        Some(epoch) if !epoch.is_null() => {
            format!("configuration reloaded (epoch {})\n", cell(Some(epoch)))
        }
        _ => "configuration reloaded\n".to_owned(),
    }
}

/// An object on one line: `key value, key value`, nested values as JSON.
fn inline(v: &Value) -> String {
    match v.as_object() {
        Some(o) => o
            .iter()
            .map(|(k, v)| format!("{k} {}", cell(Some(v))))
            .collect::<Vec<_>>()
            .join(", "),
        None => cell(Some(v)),
    }
}

/// An object as indented `key value` lines, nested objects indented further.
fn lines(s: &mut String, o: &Map<String, Value>, indent: &str) {
    for (k, v) in o {
        match v.as_object() {
            Some(inner) => {
                let _ = writeln!(s, "{indent}{k}");
                lines(s, inner, &format!("{indent}  "));
            }
            None => {
                let _ = writeln!(s, "{indent}{k:<28} {}", cell(Some(v)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_read_well() {
        assert_eq!(si(950.0), "950");
        assert_eq!(si(12_345.0), "12.3 k");
        assert_eq!(si(1_234_567.0), "1.23 M");
        assert_eq!(si(987_000_000_000.0), "987 G");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1_500_000.0), "1.50 MB");
        assert_eq!(nanos(120.0), "120 ns");
        assert_eq!(nanos(3_200.0), "3.2 µs");
        assert_eq!(nanos(1_500_000.0), "1.50 ms");
        assert_eq!(duration(7.9), "7s");
        assert_eq!(duration(3723.0), "1h 02m 03s");
        assert_eq!(duration(90_000.0), "1d 01h 00m");
    }

    #[test]
    fn tables_align_and_missing_fields_print_as_dashes() {
        let t = table(
            &["A", "LONG HEADER"],
            &[
                vec!["x".into(), "-".into()],
                vec!["wider".into(), "y".into()],
            ],
        );
        assert_eq!(t, "A      LONG HEADER\nx      -\nwider  y\n");
        let s = targets(&json!({"targets": [{"ip": "10.0.0.1", "state": "healthy"}]}));
        assert!(
            s.contains("10.0.0.1  -     healthy  -       -         -"),
            "{s}"
        );
        assert!(s.ends_with("1 targets, 1 healthy\n"), "{s}");
    }

    #[test]
    fn drops_are_sorted_by_count() {
        let d = json!({"a": 1, "b": 0, "c": 5, "d": 1});
        assert_eq!(
            nonzero_drops(Some(&d)),
            vec![("c".into(), 5), ("a".into(), 1), ("d".into(), 1)]
        );
    }
}
