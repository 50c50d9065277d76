//! `sluice run` as users run it: the real binary on real DPDK (virtual devices), each run in
//! a network namespace of its own (its kernel TAP interfaces live there).
//!
//! - pcap in -> `sluice run` (`net_pcap`) -> pcap out is byte for byte what `sluice simulate`
//!   makes of the same capture, for both roles;
//! - SIGTERM stops cleanly with the final counters; SIGHUP with a broken file keeps running;
//! - start-up failures say what is wrong, with a hint.
//!
//! These tests need root (network namespaces, TAP devices), as `scripts/test` has.

#![cfg(feature = "dpdk")]
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sluice::simulate::{self, OutFrame};
use sluice_engine::testkit::{frame, mac, tcp4, udp4};
use sluice_wire::tcp::TcpFlags;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// A network namespace and a scratch directory, both removed on drop.
struct Sandbox {
    netns: String,
    dir: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let netns = format!("sl-t{}-{n}", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &netns])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "`ip netns add` failed: these tests need root (network namespaces, TAP devices)"
        );
        let dir = std::env::temp_dir().join(&netns);
        std::fs::create_dir_all(&dir).unwrap();
        Sandbox { netns, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file into the sandbox. A configuration gets a management API of its own
    /// there (socket, audit log), so that runs side by side do not meet.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        let mut text = text.to_owned();
        if text.contains("[dataplane]") && !text.contains("[management]") {
            text.push_str(&format!(
                "\n[management]\nsocket = \"{}\"\naudit_log = \"{}\"\n",
                self.path("sluice.sock").display(),
                self.path("audit.jsonl").display()
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `sluice ARGS` inside the namespace.
    fn sluice(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, SLUICE]).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.sluice(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.sluice(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let frames: Vec<OutFrame> = frames
        .iter()
        .enumerate()
        .map(|(i, data)| OutFrame {
            timestamp: Duration::from_millis(1000 + i as u64),
            port: 0,
            data: data.clone(),
        })
        .collect();
    simulate::write_pcap(path, &frames).unwrap();
}

fn read_frames(path: &Path) -> Vec<Vec<u8>> {
    let (packets, damage) = sluice::capture::read(path).unwrap();
    assert!(damage.is_none(), "{damage:?}");
    packets.into_iter().map(|p| p.data).collect()
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 2);

/// Client traffic toward the gateway's uplink: TCP handshakes and data, UDP, ICMP-less.
fn client_frames() -> Vec<Vec<u8>> {
    let (gw, router) = (mac(1), mac(0xfe));
    let mut frames = Vec::new();
    for i in 0..24 {
        let sport = 40_000 + i;
        frames.push(frame(
            gw,
            router,
            None,
            &tcp4(CLIENT, SERVER, sport, 80, TcpFlags::SYN, &[]),
        ));
        frames.push(frame(
            gw,
            router,
            None,
            &tcp4(
                CLIENT,
                SERVER,
                sport,
                80,
                TcpFlags::ACK,
                b"GET / HTTP/1.1\r\n\r\n",
            ),
        ));
    }
    for i in 0..16 {
        frames.push(frame(
            gw,
            router,
            None,
            &udp4(CLIENT, SERVER, 5000 + i, 53, &[i as u8; 40]),
        ));
    }
    frames
}

/// The gateway of the tests: uplink and appliance ports on `net_pcap`, static neighbours, two
/// targets, a flow table of `capacity` entries (`simulate` uses 1024 for small captures, so
/// with 1024 flow cookies agree too).
fn gateway_config(sb: &Sandbox, input: &Path, capacity: u32) -> String {
    let empty = sb.path("empty.pcap");
    write_pcap(&empty, &[]);
    format!(
        r#"
role = "gateway"
[dataplane]
eal_args = ["--no-huge", "--no-shconf"]
worker_cores = [1]
control_core = 0
poll_mode = "adaptive"
mbufs = 8191
[dataplane.flow_table]
capacity = {capacity}
[[dataplane.port]]
name = "uplink"
device = "net_pcap0,rx_pcap={input},tx_pcap={up}"
address = "10.0.0.1/24"
mac = "02:00:00:00:00:01"
[[dataplane.port.neighbor]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:fe"
[[dataplane.port]]
name = "appliances"
device = "net_pcap1,rx_pcap={empty},tx_pcap={app}"
address = "10.0.1.1/24"
mac = "02:00:00:00:00:02"
mtu = 9001
[[dataplane.port.neighbor]]
ip = "10.0.1.10"
mac = "02:00:00:00:01:10"
[[dataplane.port.neighbor]]
ip = "10.0.1.11"
mac = "02:00:00:00:01:11"
[load_balancer]
name = "gwlb-test"
zone = "az1"
[target_group]
name = "appliances"
[[target]]
ip = "10.0.1.10"
zone = "az1"
[[target]]
ip = "10.0.1.11"
zone = "az1"
[endpoint_service]
acceptance_required = false
[[endpoint]]
id = "vpce-0a1b2c3d4e5f60718"
port = "uplink"
next_hop = "10.0.0.254"
zone = "az1"
"#,
        input = input.display(),
        up = sb.path("out-uplink.pcap").display(),
        app = sb.path("out-appliances.pcap").display(),
        empty = empty.display(),
    )
}

/// Runs `sluice run` for `seconds` and returns its output, asserting a clean exit.
fn run_for(sb: &Sandbox, config: &Path, seconds: &str) -> String {
    let out = sb.run(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--duration",
        seconds,
        // The targets of these replays cannot answer health checks (and the checks' SYNs
        // would be in the output): every target counts as healthy, as in `simulate`.
        "--no-health-checks",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "sluice run failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// What `sluice simulate` transmits for `input` arriving on `port`, by port id.
fn simulated(config: &Path, input: &Path, port: &str) -> Vec<(u16, Vec<u8>)> {
    let config = sluice_config::load(config).unwrap();
    let (packets, _) = sluice::capture::read(input).unwrap();
    let options = simulate::Options {
        port: Some(port.into()),
        unhealthy: Vec::new(),
    };
    simulate::run(&config, &packets, &options)
        .unwrap()
        .frames
        .into_iter()
        .map(|f| (f.port, f.data))
        .collect()
}

fn on_port(frames: &[(u16, Vec<u8>)], port: u16) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter(|(p, _)| *p == port)
        .map(|(_, d)| d.clone())
        .collect()
}

/// Where the flow cookie (GWLB option type 3's value) sits in the gateway's GENEVE frames:
/// Ethernet, IPv4, UDP, GENEVE header, options 1 and 2 (12 bytes each), option 3's header.
const COOKIE: core::ops::Range<usize> =
    14 + 20 + 8 + 8 + 12 + 12 + 4..14 + 20 + 8 + 8 + 12 + 12 + 8;

#[test]
fn gateway_on_dpdk_transmits_what_simulate_does() {
    gateway_case(1024);
}

#[test]
fn gateway_on_dpdk_burst_path_transmits_what_simulate_does() {
    // A 2 MiB table: the worker takes the engine's burst path (over 1 MiB). Cookies name
    // slots of a table of another size than simulate's, so they are compared by what they
    // must be: one per flow, the same on every packet of it.
    gateway_case(32_768);
}

fn gateway_case(capacity: u32) {
    let sb = Sandbox::new();
    let input = sb.path("in.pcap");
    write_pcap(&input, &client_frames());
    let config = sb.write("gateway.toml", &gateway_config(&sb, &input, capacity));
    let stdout = run_for(&sb, &config, "2");

    let expected = simulated(&config, &input, "uplink");
    let mut app = read_frames(&sb.path("out-appliances.pcap"));
    let up = read_frames(&sb.path("out-uplink.pcap"));
    assert_eq!(
        app.len(),
        client_frames().len(),
        "every frame went to an appliance"
    );
    let mut expected_app = on_port(&expected, 1);
    if capacity != 1024 {
        // Frames 2i and 2i + 1 are one TCP flow's SYN and data; the UDP frames follow, one
        // flow each.
        let cookies: Vec<&[u8]> = app.iter().map(|f| &f[COOKIE]).collect();
        for pair in cookies[..48].chunks(2) {
            assert_eq!(pair[0], pair[1], "one cookie per flow");
        }
        let mut distinct = cookies.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 40, "a cookie of its own for every flow");
        for frame in app.iter_mut().chain(expected_app.iter_mut()) {
            frame[COOKIE].fill(0);
        }
    }
    assert_eq!(app, expected_app, "GENEVE toward the appliances");
    assert_eq!(up, on_port(&expected, 0), "nothing else");
    assert!(
        stdout.contains(&format!("rx packets      {}", client_frames().len())),
        "{stdout}"
    );
    assert!(
        stdout.contains("flows           40 live, 40 created"),
        "{stdout}"
    );
    assert!(stdout.contains("dropped         0"), "{stdout}");
}

#[test]
fn appliance_on_dpdk_transmits_what_simulate_does() {
    // The appliance's worker takes the engine's burst path at every table size.
    appliance_case(1024);
}

#[test]
fn appliance_on_dpdk_with_a_larger_table_transmits_what_simulate_does() {
    // A 2 MiB table, prefaulted in huge pages. The replies carry no table-dependent byte, so
    // they must be identical.
    appliance_case(32_768);
}

fn appliance_case(capacity: u32) {
    // The gateway's GENEVE output (from simulate) is the appliance's input: half of it is
    // for this appliance (10.0.1.10), the rest for the other one and dropped as not ours.
    let sb = Sandbox::new();
    let client = sb.path("client.pcap");
    write_pcap(&client, &client_frames());
    let gateway = sb.write("gateway.toml", &gateway_config(&sb, &client, 1024));
    let geneve: Vec<Vec<u8>> = on_port(&simulated(&gateway, &client, "uplink"), 1)
        .into_iter()
        // Addressed to the appliance's MAC, as the segment's switch would deliver it.
        .collect();
    let input = sb.path("geneve.pcap");
    write_pcap(&input, &geneve);
    let config = sb.write(
        "appliance.toml",
        &format!(
            r#"
role = "appliance"
[dataplane]
eal_args = ["--no-huge", "--no-shconf"]
worker_cores = [1]
mbufs = 8191
[dataplane.flow_table]
capacity = {capacity}
[[dataplane.port]]
name = "geneve"
device = "net_pcap0,rx_pcap={input},tx_pcap={out}"
address = "10.0.1.10/24"
mac = "02:00:00:00:01:10"
mtu = 9001
[appliance]
gwlb_sources = ["10.0.1.0/24"]
"#,
            input = input.display(),
            out = sb.path("out.pcap").display()
        ),
    );
    let stdout = run_for(&sb, &config, "2");
    let out = read_frames(&sb.path("out.pcap"));
    let expected = on_port(&simulated(&config, &input, "geneve"), 0);
    assert!(!out.is_empty(), "{stdout}");
    assert!(
        out.len() < geneve.len(),
        "the other appliance's packets are not returned"
    );
    assert_eq!(out, expected);
    assert!(
        stdout.contains(&format!("tx packets      {}", out.len())),
        "{stdout}"
    );
}

#[test]
fn appliance_on_dpdk_answers_the_golden_gwlb_vectors_as_simulate_does() {
    golden_appliance_case(1024);
}

#[test]
fn appliance_on_dpdk_with_a_larger_table_answers_the_golden_gwlb_vectors_as_simulate_does() {
    golden_appliance_case(32_768);
}

/// `appliance.pcap` (scapy's GWLB vectors: reordered and unknown options, inner IPv6, 5-tuple
/// reuse, ICMP errors about earlier flows, 8,500-byte inner packets in 8,582-byte frames and
/// 8,501-byte ones, a foreign source, malformed GENEVE) through DPDK: the port's MTU of 9001
/// sizes the mbufs for the jumbo frames, and `net_pcap` reads and writes them whole.
fn golden_appliance_case(capacity: u32) {
    let sb = Sandbox::new();
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dataplane/wire/tests/data/appliance.pcap")
        .canonicalize()
        .unwrap();
    let config = sb.write(
        "appliance.toml",
        &format!(
            r#"
role = "appliance"
[dataplane]
eal_args = ["--no-huge", "--no-shconf"]
worker_cores = [1]
mbufs = 8191
[dataplane.flow_table]
capacity = {capacity}
[[dataplane.port]]
name = "geneve"
device = "net_pcap0,rx_pcap={input},tx_pcap={out}"
address = "10.0.1.10/16"
mac = "02:00:00:00:01:0a"
mtu = 9001
[appliance]
gwlb_sources = ["10.0.0.0/24"]
"#,
            input = input.display(),
            out = sb.path("out.pcap").display()
        ),
    );
    let stdout = run_for(&sb, &config, "2");
    let out = read_frames(&sb.path("out.pcap"));
    let expected = on_port(&simulated(&config, &input, "geneve"), 0);
    assert_eq!(
        expected.len(),
        18,
        "the replies appliance_vectors.rs expects"
    );
    assert_eq!(out, expected);
    assert!(
        out.iter().any(|f| f.len() == 14 + 8568),
        "the 8,500-byte inner packets came back whole"
    );
    assert!(stdout.contains("rx packets      35"), "{stdout}");
    assert!(stdout.contains("tx packets      18"), "{stdout}");
    assert!(stdout.contains("dropped         17"), "{stdout}");
}

/// A minimal appliance on `net_null` (no files), for the lifecycle tests.
const NULL_APPLIANCE: &str = r#"
role = "appliance"
[dataplane]
eal_args = ["--no-huge", "--no-shconf"]
worker_cores = [1]
poll_mode = "adaptive"
mbufs = 8191
[dataplane.flow_table]
capacity = 1024
[[dataplane.port]]
name = "geneve"
device = "net_null0"
address = "10.0.1.10/24"
[appliance]
gwlb_sources = ["10.0.1.0/24"]
"#;

/// Waits (bounded) until `path`'s kernel interface is up in the namespace: sluice started.
fn wait_started(sb: &Sandbox, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &sb.netns, "ip", "-o", "addr", "show", "dev", "geneve",
            ])
            .output()
            .unwrap();
        if text(&out.stdout).contains("10.0.1.10/24") {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sluice exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("sluice did not bring its kernel interface up within 20 s");
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) for exit; kills on timeout.
fn wait_exit(mut child: Child) -> (std::process::ExitStatus, String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (out.status, text(&out.stdout), text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("sluice did not stop within 20 s of SIGTERM");
}

#[test]
fn sigterm_stops_cleanly_and_sighup_with_a_broken_file_keeps_running() {
    let sb = Sandbox::new();
    let config = sb.write("appliance.toml", NULL_APPLIANCE);
    let mut child = sb.spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--status-interval",
        "0.5",
    ]);
    wait_started(&sb, &mut child);

    // The kernel side of the exception path: the port's address, MAC and state.
    let link = Command::new("ip")
        .args([
            "netns", "exec", &sb.netns, "ip", "-o", "link", "show", "dev", "geneve",
        ])
        .output()
        .unwrap();
    assert!(text(&link.stdout).contains("UP"), "{}", text(&link.stdout));

    sb.write(
        "appliance.toml",
        "role = \"appliance\"\n[dataplane]\nworker_cores = []\n",
    );
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a bad reload must not stop sluice"
    );
    signal(&child, "TERM");
    let (status, stdout, stderr) = wait_exit(child);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("still running the previous configuration"),
        "{stderr}"
    );
    assert!(stdout.contains("status: rx"), "{stdout}");
    // net_null delivers empty frames: all counted as drops, none lost.
    assert!(stdout.contains("sluice stopped after"), "{stdout}");
    let rx: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("rx packets"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(rx > 0, "{stdout}");
}

/// Runs `sluice run` with `config` and returns (exit code, stderr).
fn start_failure(sb: &Sandbox, config: &str) -> (i32, String) {
    let path = sb.write("bad.toml", config);
    let out = sb.run(&["run", "--config", path.to_str().unwrap(), "--duration", "1"]);
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

#[test]
fn start_up_failures_name_the_cause_with_a_hint() {
    let sb = Sandbox::new();
    let (code, err) = start_failure(
        &sb,
        &NULL_APPLIANCE.replace("net_null0", "net_af_packet0,iface=veth-missing"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the interface veth-missing of net_af_packet0 does not exist"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    let (code, err) = start_failure(&sb, &NULL_APPLIANCE.replace("net_null0", "0000:7f:1f.7"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no PCI device 0000:7f:1f.7"), "{err}");
    assert!(err.contains("dpdk-devbind.py"), "{err}");

    let (code, err) = start_failure(
        &sb,
        &NULL_APPLIANCE.replace("worker_cores = [1]", "worker_cores = [1000]"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("core 1000 is not available"), "{err}");

    let (code, err) = start_failure(&sb, &NULL_APPLIANCE.replace("mbufs = 8191", "mbufs = 1023"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not enough mbufs"), "{err}");
    assert!(err.contains("raise dataplane.mbufs"), "{err}");

    let (code, err) = start_failure(
        &sb,
        &NULL_APPLIANCE.replace(
            "[\"--no-huge\", \"--no-shconf\"]",
            "[\"--no-huge\", \"--no-shconf\", \"--bogus-eal-flag\"]",
        ),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("starting DPDK's EAL"), "{err}");

    let (code, err) = start_failure(&sb, "role = \"appliance\"\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn no_hugepages_when_hugepages_are_required() {
    // A private mount namespace without hugetlbfs: as on a machine that never mounted it.
    let sb = Sandbox::new();
    let config = sb.write(
        "huge.toml",
        &NULL_APPLIANCE.replace(
            "eal_args = [\"--no-huge\", \"--no-shconf\"]",
            "eal_args = []",
        ),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "umount -a -t hugetlbfs 2>/dev/null; ip netns exec {} {SLUICE} run --config {} --duration 1",
            sb.netns,
            config.display()
        ))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no hugepages: no hugetlbfs is mounted"),
        "{err}"
    );
    assert!(err.contains("scripts/setup --hugepages"), "{err}");
}

#[test]
fn dry_run_prints_the_plan_and_starts_nothing() {
    let sb = Sandbox::new();
    let config = sb.write("appliance.toml", NULL_APPLIANCE);
    let out = sb.run(&["run", "--config", config.to_str().unwrap(), "--dry-run"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for needle in [
        "role       appliance",
        "port 0     geneve on net_null0",
        "kernel interface geneve",
        "mbufs      8191 x 2176 bytes",
        "--vdev=net_null0",
        "dry run: nothing started",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
}

/// Waits (bounded) for the management API's socket to appear.
fn wait_socket(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if path.exists() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sluice exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no API socket at {} within 20 s", path.display());
}

#[test]
fn api_changes_persist_across_a_restart_and_a_bad_reload_changes_nothing() {
    let sb = Sandbox::new();
    let input = sb.path("in.pcap");
    write_pcap(&input, &[]);
    let socket = sb.path("api.sock");
    let token = sb.write("admin.token", "test-admin-token");
    let digest = {
        let out = Command::new("sh")
            .args(["-c", "printf %s test-admin-token | sha256sum"])
            .output()
            .unwrap();
        text(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let config_text = format!(
        "{}\n[management]\nsocket = \"{}\"\naudit_log = \"{}\"\n\
         [[management.principal]]\nname = \"admin\"\ntoken_sha256 = \"{digest}\"\n\
         [[management.policy]]\nprincipals = [\"admin\"]\neffect = \"allow\"\n\
         actions = [\"*\"]\nresources = [\"*\"]\n",
        gateway_config(&sb, &input, 1024),
        socket.display(),
        sb.path("audit.jsonl").display(),
    );
    let config = sb.write("gateway.toml", &config_text);
    let start = || {
        let mut child = sb.spawn(&[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--no-health-checks",
        ]);
        wait_socket(&socket, &mut child);
        child
    };
    let cli = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--socket",
            socket.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ]);
        Command::new(SLUICE).args(&all).output().unwrap()
    };

    let child = start();
    let out = cli(&["register", "--target", "10.0.1.12,az1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&["endpoints", "reject", "vpce-0a1b2c3d4e5f60718"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A broken file: the reload is refused with the file's errors, and nothing changes.
    std::fs::write(
        &config,
        "role = \"gateway\"\n[dataplane]\nworker_cores = []\n",
    )
    .unwrap();
    let out = cli(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("ValidationError"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&config, &config_text).unwrap();
    let out = cli(&["targets", "-o", "json"]);
    assert!(
        text(&out.stdout).contains("10.0.1.12"),
        "{}",
        text(&out.stdout)
    );
    signal(&child, "TERM");
    let (status, stdout, stderr) = wait_exit(child);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");

    // The state file, private, and a restart that keeps the API's changes.
    let state = sb.path("gateway.state");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let child = start();
    let targets = text(&cli(&["targets", "-o", "json"]).stdout);
    assert!(targets.contains("10.0.1.12"), "{targets}");
    let endpoints = text(&cli(&["endpoints", "list", "-o", "json"]).stdout);
    assert!(endpoints.contains("\"rejected\""), "{endpoints}");
    signal(&child, "TERM");
    let (status, stdout, stderr) = wait_exit(child);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    // Every request is in the audit log.
    let audit = std::fs::read_to_string(sb.path("audit.jsonl")).unwrap();
    for action in [
        "RegisterTargets",
        "RejectEndpointConnections",
        "ReloadConfiguration",
        "DescribeTargetHealth",
        "DescribeEndpointConnections",
    ] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action}: {audit}"
        );
    }
}
