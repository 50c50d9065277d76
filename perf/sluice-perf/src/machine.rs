//! What the report says about the machine and the build, read from `/proc`, `/etc`, `dpkg`
//! and `git`; and the date in RFC 3339 without a date crate.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::results::{Build, Machine};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The value of the first `key: value` line of a `/proc` file.
fn proc_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// Available memory in bytes (`MemAvailable`).
pub fn memory_available() -> Option<u64> {
    let kib = proc_field(&read("/proc/meminfo"), "MemAvailable")?;
    kib.split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// Bytes of free hugepages, when a hugetlbfs is mounted (0 otherwise).
pub fn hugepages_free() -> u64 {
    if !read("/proc/mounts")
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
    {
        return 0;
    }
    let Ok(dirs) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return 0;
    };
    dirs.filter_map(Result::ok)
        .filter_map(|d| {
            // "hugepages-2048kB"
            let name = d.file_name().to_string_lossy().into_owned();
            let kib: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let free: u64 = std::fs::read_to_string(d.path().join("free_hugepages"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024 * free)
        })
        .sum()
}

/// This machine.
pub fn machine() -> Machine {
    let meminfo = read("/proc/meminfo");
    let total_kib: f64 = proc_field(&meminfo, "MemTotal")
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    Machine {
        hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
        cpu_model: proc_field(&read("/proc/cpuinfo"), "model name").unwrap_or_default(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: (total_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        os,
        dpdk: output("dpkg-query", &["-W", "-f", "${Version}", "dpdk"]).unwrap_or_default(),
        tsc_hz: None,
    }
}

/// The build of the work tree at `repo`: `HEAD`'s short hash and whether files differ from
/// it.
pub fn build_of_work_tree(repo: &Path, label: &str) -> Build {
    let dir = repo.to_string_lossy();
    let commit = output("git", &["-C", &dir, "rev-parse", "--short", "HEAD"]).unwrap_or_default();
    let dirty = output(
        "git",
        &["-C", &dir, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.is_empty());
    Build {
        label: label.to_owned(),
        commit,
        dirty,
    }
}

/// A UTC time as RFC 3339 (`2026-11-29T18:04:05Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_975_445)),
            "2026-11-29T18:04:05Z"
        );
    }

    #[test]
    fn proc_fields() {
        let text = "MemTotal:       24576000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            proc_field(text, "MemAvailable").as_deref(),
            Some("20000000 kB")
        );
        assert_eq!(proc_field(text, "Mem"), None);
    }
}
