//! Checks of the machine before DPDK starts, so that the usual start-up failures get a
//! message that names the cause and a hint (DPDK's own errors are often a bare errno), and
//! the kernel side of the exception path (the TAP interfaces' addresses).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use super::plan::{Plan, PortPlan};

/// A start-up failure found before DPDK starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// A configured core is not one this process may run on.
    #[error(
        "core {core} is not available: this process may run on cores {available}\n  hint: set dataplane.worker_cores and control_core among those (see `nproc` and the process's CPU affinity)"
    )]
    CoreNotAvailable {
        /// The core.
        core: u16,
        /// The cores that are, as a list.
        available: String,
    },
    /// Hugepages are required (no `--no-huge`) but none are mounted or free.
    #[error(
        "no hugepages: {reason}\n  hint: run `scripts/setup --hugepages` (mounts hugetlbfs and reserves 2 MiB pages), or add \"--no-huge\", \"--no-shconf\" to dataplane.eal_args"
    )]
    NoHugepages {
        /// What is missing.
        reason: String,
    },
    /// A PCI device does not exist.
    #[error(
        "port {port}: no PCI device {device}\n  hint: list devices with `dpdk-devbind.py --status` and fix the port's device"
    )]
    NoSuchPciDevice {
        /// The port.
        port: String,
        /// The PCI address.
        device: String,
    },
    /// A PCI device is not bound to a driver DPDK can use.
    #[error(
        "port {port}: PCI device {device} is bound to {driver}, not to a DPDK-capable driver\n  hint: `dpdk-devbind.py -b vfio-pci {device}` (ENA and Intel NICs need vfio-pci; Mellanox NICs work with their kernel driver)"
    )]
    NotBound {
        /// The port.
        port: String,
        /// The PCI address.
        device: String,
        /// The kernel driver it is bound to, or "no driver".
        driver: String,
    },
    /// An af_packet device names an interface that does not exist.
    #[error(
        "port {port}: the interface {iface} of {device} does not exist in this network namespace\n  hint: create it (or run sluice in the namespace that has it: ip netns exec NS sluice run ...)"
    )]
    NoInterface {
        /// The port.
        port: String,
        /// The device.
        device: String,
        /// The interface.
        iface: String,
    },
    /// The exception path's TAP interface name is taken.
    #[error(
        "port {port}: a network interface named {port} already exists, and sluice needs that name for the port's kernel interface\n  hint: rename the port, or remove the interface (another sluice still running?)"
    )]
    InterfaceExists {
        /// The port (and interface) name.
        port: String,
    },
    /// The TUN/TAP device is missing.
    #[error(
        "/dev/net/tun is missing\n  hint: load the tun module (modprobe tun); the exception path uses TAP interfaces"
    )]
    NoTun,
}

/// Runs every check of `plan` against this machine.
pub fn check(plan: &Plan) -> Result<(), PreflightError> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    check_cores(plan, &available)?;
    if plan.hugepages {
        check_hugepages()?;
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(PreflightError::NoTun);
    }
    for port in &plan.ports {
        check_port(port, Path::new("/sys"))?;
    }
    Ok(())
}

/// Every configured core is among `available` (an empty list means unknown: no check).
fn check_cores(plan: &Plan, available: &[usize]) -> Result<(), PreflightError> {
    if available.is_empty() {
        return Ok(());
    }
    for &core in plan.worker_cores.iter().chain([&plan.control_core]) {
        if !available.contains(&usize::from(core)) {
            return Err(PreflightError::CoreNotAvailable {
                core,
                available: available
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// A hugetlbfs is mounted and some hugepages are free.
fn check_hugepages() -> Result<(), PreflightError> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
    {
        return Err(PreflightError::NoHugepages {
            reason: "no hugetlbfs is mounted".into(),
        });
    }
    let free: u64 = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("free_hugepages")).ok())
                .filter_map(|s| s.trim().parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    if free == 0 {
        return Err(PreflightError::NoHugepages {
            reason: "hugetlbfs is mounted but no hugepage is free".into(),
        });
    }
    Ok(())
}

/// The port's device exists (and a PCI one is bound to a DPDK driver), and its kernel
/// interface name is free. `sys` is the sysfs root.
fn check_port(port: &PortPlan, sys: &Path) -> Result<(), PreflightError> {
    if sys.join("class/net").join(&port.name).exists() {
        return Err(PreflightError::InterfaceExists {
            port: port.name.clone(),
        });
    }
    if port.pci {
        let dev = sys.join("bus/pci/devices").join(&port.device_name);
        if !dev.exists() {
            return Err(PreflightError::NoSuchPciDevice {
                port: port.name.clone(),
                device: port.device_name.clone(),
            });
        }
        let driver = std::fs::read_link(dev.join("driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let usable = driver.as_deref().is_some_and(|d| {
            matches!(d, "vfio-pci" | "uio_pci_generic" | "igb_uio") || d.starts_with("mlx")
        });
        if !usable {
            return Err(PreflightError::NotBound {
                port: port.name.clone(),
                device: port.device_name.clone(),
                driver: driver.unwrap_or_else(|| "no driver".into()),
            });
        }
    } else if port.device_name.starts_with("net_af_packet") {
        let iface = port
            .device
            .split(',')
            .find_map(|kv| kv.strip_prefix("iface="))
            .unwrap_or_default();
        if iface.is_empty() || !sys.join("class/net").join(iface).exists() {
            return Err(PreflightError::NoInterface {
                port: port.name.clone(),
                device: port.device_name.clone(),
                iface: iface.to_owned(),
            });
        }
    }
    Ok(())
}

/// Runs `ip ARGS`, turning a failure into a message.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!("cannot run `ip` (iproute2): {e}\n  hint: apt-get install iproute2")
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Gives a port's kernel (TAP) interface the port's MAC, MTU and address, with IPv6 off (the
/// data plane is IPv4 outside): the kernel then answers and originates the port's own
/// traffic (ping, health checks, management) through the exception path.
pub fn setup_kernel_interface(
    name: &str,
    mac: [u8; 6],
    address: (Ipv4Addr, u8),
    mtu: u16,
) -> Result<(), String> {
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    let mac = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let mtu = mtu.to_string();
    let cidr = format!("{}/{}", address.0, address.1);
    ip(&["link", "set", "dev", name, "address", &mac, "mtu", &mtu])
        .and_then(|()| ip(&["addr", "replace", &cidr, "dev", name]))
        .map_err(|e| format!("kernel interface {name}: {e}"))
}

/// Brings a port's kernel interface up.
pub fn kernel_interface_up(name: &str) -> Result<(), String> {
    ip(&["link", "set", "dev", name, "up"]).map_err(|e| format!("kernel interface {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, device: &str) -> PortPlan {
        let device_name = device.split(',').next().unwrap_or(device).to_owned();
        PortPlan {
            name: name.into(),
            pci: device_name.contains(':'),
            device: device.into(),
            device_name,
            tap_name: "net_tap_sluice0".into(),
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mtu: 1500,
            address: (Ipv4Addr::new(10, 0, 0, 1), 24),
            mac: None,
        }
    }

    /// A fake sysfs with the given interfaces and PCI devices (address, driver).
    fn sysfs(ifaces: &[&str], pci: &[(&str, Option<&str>)]) -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        for i in ifaces {
            std::fs::create_dir_all(dir.path().join("class/net").join(i)).unwrap();
        }
        for (addr, driver) in pci {
            let dev = dir.path().join("bus/pci/devices").join(addr);
            std::fs::create_dir_all(&dev).unwrap();
            if let Some(d) = driver {
                let target = dir.path().join("bus/pci/drivers").join(d);
                std::fs::create_dir_all(&target).unwrap();
                std::os::unix::fs::symlink(&target, dev.join("driver")).unwrap();
            }
        }
        dir
    }

    /// A temporary directory removed on drop.
    mod tempdir {
        pub(super) struct Dir(std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "sluice-preflight-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub(super) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn af_packet_needs_its_interface_and_a_free_tap_name() {
        let sys = sysfs(&["veth0"], &[]);
        let ok = port("uplink", "net_af_packet0,iface=veth0,qpairs=1");
        assert_eq!(check_port(&ok, sys.path()), Ok(()));
        let missing = port("uplink", "net_af_packet0,iface=veth9");
        let err = check_port(&missing, sys.path()).unwrap_err();
        assert!(matches!(err, PreflightError::NoInterface { ref iface, .. } if iface == "veth9"));
        assert!(err.to_string().contains("hint:"));
        let taken = port("veth0", "net_null0");
        assert!(matches!(
            check_port(&taken, sys.path()),
            Err(PreflightError::InterfaceExists { .. })
        ));
    }

    #[test]
    fn pci_devices_must_exist_and_be_bound() {
        let sys = sysfs(
            &[],
            &[
                ("0000:00:05.0", Some("vfio-pci")),
                ("0000:00:06.0", Some("ena")),
                ("0000:00:07.0", None),
            ],
        );
        assert_eq!(check_port(&port("p", "0000:00:05.0"), sys.path()), Ok(()));
        let err = check_port(&port("p", "0000:00:06.0"), sys.path()).unwrap_err();
        assert!(matches!(err, PreflightError::NotBound { ref driver, .. } if driver == "ena"));
        assert!(
            err.to_string()
                .contains("dpdk-devbind.py -b vfio-pci 0000:00:06.0")
        );
        assert!(matches!(
            check_port(&port("p", "0000:00:07.0"), sys.path()),
            Err(PreflightError::NotBound { ref driver, .. }) if driver == "no driver"
        ));
        assert!(matches!(
            check_port(&port("p", "0000:00:08.0"), sys.path()),
            Err(PreflightError::NoSuchPciDevice { .. })
        ));
    }

    #[test]
    fn cores_must_be_available() {
        let config = sluice_config::parse(
            r#"
role = "appliance"
[dataplane]
eal_args = ["--no-huge", "--no-shconf"]
worker_cores = [1, 7]
[[dataplane.port]]
name = "geneve"
device = "net_null0"
address = "10.0.1.10/24"
[appliance]
gwlb_sources = ["10.0.1.0/24"]
"#,
            "t.toml",
        )
        .unwrap();
        let plan = super::super::plan::plan(&config, 1).unwrap();
        let err = check_cores(&plan, &[0, 1]).unwrap_err();
        assert_eq!(
            err,
            PreflightError::CoreNotAvailable {
                core: 7,
                available: "0, 1".into()
            }
        );
        assert_eq!(check_cores(&plan, &[0, 1, 7]), Ok(()));
        assert_eq!(check_cores(&plan, &[]), Ok(()));
    }
}
