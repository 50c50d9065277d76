//! Rules for `[dataplane]`: cores, DPDK sizes, devices, addresses and neighbours.

use ipnet::Ipv4Net;

use super::{Checker, Rule};
use crate::limits;
use crate::schema::dataplane::{Dataplane, Port};

pub(super) fn check(check: &mut Checker, dataplane: &Dataplane) {
    for (i, arg) in dataplane.eal_args.iter().enumerate() {
        let key = format!("dataplane.eal_args[{i}]");
        if arg.is_empty() {
            check.non_empty(key, arg);
        } else if is_reserved_eal_arg(arg) {
            check.push(key, &[], Rule::ReservedEalArg { arg: arg.clone() });
        }
    }

    if dataplane.worker_cores.is_empty() {
        let rule = Rule::Empty {
            hint: ": list at least one worker core",
        };
        check.push("dataplane.worker_cores", &[], rule);
    }
    for (i, &core) in dataplane.worker_cores.iter().enumerate() {
        check.range(format!("dataplane.worker_cores[{i}]"), core, &limits::CORE);
    }
    check.unique(
        worker_keys(dataplane).map(|(key, core)| (key, *core)),
        u16::to_string,
    );
    check.range(
        "dataplane.control_core",
        dataplane.control_core,
        &limits::CORE,
    );
    if let Some((worker, _)) = worker_keys(dataplane).find(|&(_, &c)| c == dataplane.control_core) {
        let rule = Rule::ControlCoreIsWorker {
            core: dataplane.control_core,
            worker: worker.clone(),
        };
        check.push("dataplane.control_core", &[&worker], rule);
    }

    check.range(
        "dataplane.burst_size",
        dataplane.burst_size,
        &limits::BURST_SIZE,
    );
    check.power_of_two(
        "dataplane.rx_descriptors",
        dataplane.rx_descriptors,
        &limits::DESCRIPTORS,
    );
    check.power_of_two(
        "dataplane.tx_descriptors",
        dataplane.tx_descriptors,
        &limits::DESCRIPTORS,
    );
    check.range("dataplane.mbufs", dataplane.mbufs, &limits::MBUFS);
    check.range(
        "dataplane.mbuf_cache",
        dataplane.mbuf_cache,
        &limits::MBUF_CACHE,
    );
    // DPDK's rte_mempool_create refuses cache_size * 1.5 > n. Within today's ranges (mbufs
    // >= 1023, cache <= 512) this cannot fail; it stays so that widening a range cannot
    // let a pool that DPDK refuses through.
    let max_cache = (u64::from(dataplane.mbufs) * 2 / 3) as u32;
    if limits::MBUF_CACHE.contains(dataplane.mbuf_cache) && dataplane.mbuf_cache > max_cache {
        let rule = Rule::MbufCacheTooLarge {
            cache: dataplane.mbuf_cache,
            mbufs: dataplane.mbufs,
            max: max_cache,
        };
        check.push("dataplane.mbuf_cache", &["dataplane.mbufs"], rule);
    }
    check.power_of_two(
        "dataplane.flow_table.capacity",
        dataplane.flow_table.capacity,
        &limits::FLOW_TABLE_CAPACITY,
    );

    if dataplane.ports.is_empty() {
        check.push("dataplane.port", &[], Rule::NoPorts);
    }
    for (i, port) in dataplane.ports.iter().enumerate() {
        check_port(check, i, port);
    }
    let ports = || dataplane.ports.iter().enumerate();
    check.unique(
        ports().map(|(i, p)| (format!("dataplane.port[{i}].name"), p.name.clone())),
        |name| format!("port name \"{name}\""),
    );
    check.unique(
        ports().map(|(i, p)| {
            let device = p.device_name().to_ascii_lowercase();
            (format!("dataplane.port[{i}].device"), device)
        }),
        |device| format!("device \"{device}\""),
    );
    check.unique(
        ports().map(|(i, p)| (format!("dataplane.port[{i}].address"), p.address.addr())),
        |address| format!("address {address}"),
    );
    for (i, port) in ports() {
        let overlap = dataplane.ports[..i]
            .iter()
            .enumerate()
            .find(|(_, other)| overlaps(port.address.trunc(), other.address.trunc()));
        if let Some((j, other)) = overlap
            && other.address.addr() != port.address.addr()
        {
            let other_key = format!("dataplane.port[{j}].address");
            let rule = Rule::SubnetOverlap {
                subnet: port.address.trunc().to_string(),
                other: other_key.clone(),
                other_subnet: other.address.trunc().to_string(),
            };
            check.push(format!("dataplane.port[{i}].address"), &[&other_key], rule);
        }
    }
    let mut gateways = ports().filter(|(_, p)| p.gateway.is_some());
    if let Some((first, _)) = gateways.next() {
        for (i, _) in gateways {
            let first = format!("dataplane.port[{first}]");
            let rule = Rule::SecondGateway {
                first: first.clone(),
            };
            check.push(format!("dataplane.port[{i}].gateway"), &[&first], rule);
        }
    }
}

fn check_port(check: &mut Checker, i: usize, port: &Port) {
    let key = |field: &str| format!("dataplane.port[{i}].{field}");
    let port_key = format!("dataplane.port[{i}]");
    let is_name_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if !super::spelled_with(&port.name, 15, is_name_char) {
        let rule = Rule::BadName {
            value: port.name.clone(),
            what: "port name",
            rule: "use 1–15 characters of a-z, 0-9, _ and -",
        };
        check.push(key("name"), &[], rule);
    }
    if !is_device(&port.device) {
        let rule = Rule::BadDevice {
            value: port.device.clone(),
        };
        check.push(key("device"), &[], rule);
    }
    check.range(key("mtu"), port.mtu, &limits::MTU);

    let address = port.address;
    if address.prefix_len() == 0 {
        let rule = Rule::ZeroPrefix {
            address: address.to_string(),
        };
        check.push(key("address"), &[], rule);
    } else if address.prefix_len() <= 30 {
        let which = if address.addr() == address.network() {
            Some("network")
        } else if address.addr() == address.broadcast() {
            Some("broadcast")
        } else {
            None
        };
        if let Some(which) = which {
            let rule = Rule::NotHostAddress {
                address: address.to_string(),
                which,
            };
            check.push(key("address"), &[], rule);
        }
    }
    if let Some(mac) = port.mac.filter(|mac| !mac.is_unicast()) {
        let rule = Rule::NotUnicast {
            mac: mac.to_string(),
        };
        check.push(key("mac"), &[], rule);
    }
    if let Some(gateway) = port.gateway {
        check_on_link(check, key("gateway"), gateway, &port_key, address);
    }
    for (n, neighbor) in port.neighbors.iter().enumerate() {
        let neighbor_key = |field: &str| format!("{port_key}.neighbor[{n}].{field}");
        check_on_link(check, neighbor_key("ip"), neighbor.ip, &port_key, address);
        if !neighbor.mac.is_unicast() {
            let rule = Rule::NotUnicast {
                mac: neighbor.mac.to_string(),
            };
            check.push(neighbor_key("mac"), &[], rule);
        }
    }
    check.unique(
        port.neighbors
            .iter()
            .enumerate()
            .map(|(n, neighbor)| (format!("{port_key}.neighbor[{n}].ip"), neighbor.ip)),
        |ip| format!("neighbor {ip}"),
    );
}

/// Checks that `ip` is a host on the port's subnet other than the port itself.
pub(super) fn check_on_link(
    check: &mut Checker,
    key: String,
    ip: std::net::Ipv4Addr,
    port_key: &str,
    address: Ipv4Net,
) {
    let address_key = format!("{port_key}.address");
    if !address.contains(&ip) {
        let rule = Rule::OutsideSubnet {
            ip: ip.to_string(),
            port: port_key.to_owned(),
            subnet: address.trunc().to_string(),
        };
        check.push(key, &[&address_key], rule);
    } else if ip == address.addr() {
        let rule = Rule::OwnAddress {
            ip: ip.to_string(),
            port: port_key.to_owned(),
        };
        check.push(key, &[&address_key], rule);
    }
}

fn worker_keys(dataplane: &Dataplane) -> impl Iterator<Item = (String, &u16)> {
    dataplane
        .worker_cores
        .iter()
        .enumerate()
        .map(|(i, core)| (format!("dataplane.worker_cores[{i}]"), core))
}

/// Returns whether an EAL argument is one sluice derives itself.
fn is_reserved_eal_arg(arg: &str) -> bool {
    Dataplane::RESERVED_EAL_ARGS.iter().any(|&reserved| {
        arg == reserved
            || arg.starts_with(&format!("{reserved}="))
            || (reserved.len() == 2 && arg.starts_with(reserved))
    })
}

/// Returns whether `device` is a PCI address or a supported vdev spec.
fn is_device(device: &str) -> bool {
    is_pci_address(device) || is_vdev(device)
}

/// `DDDD:BB:DD.F` in hex, device at most 0x1f and function at most 7.
fn is_pci_address(device: &str) -> bool {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut parts = device.split(':');
    let (Some(domain), Some(bus), Some(rest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some((dev, function)) = rest.split_once('.') else {
        return false;
    };
    hex(domain, 4)
        && hex(bus, 2)
        && hex(dev, 2)
        && u8::from_str_radix(dev, 16).is_ok_and(|d| d <= 0x1f)
        && matches!(function.as_bytes(), [b'0'..=b'7'])
}

/// A vdev name starting with a supported driver, a suffix of letters, digits and `_`, and an
/// optional list of `key=value` arguments.
fn is_vdev(device: &str) -> bool {
    let (name, args) = match device.split_once(',') {
        Some((name, args)) => (name, Some(args)),
        None => (device, None),
    };
    let driver_ok = Port::VDEV_DRIVERS.iter().any(|driver| {
        name.strip_prefix(driver).is_some_and(|suffix| {
            suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    });
    let args_ok = args.is_none_or(|args| {
        args.split(',').all(|arg| {
            arg.split_once('=')
                .is_some_and(|(key, value)| !key.is_empty() && !value.is_empty())
        })
    });
    driver_ok && args_ok
}

/// Returns whether two networks share any address.
fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_pci_addresses_or_known_vdevs() {
        assert!(is_device("0000:00:05.0"));
        assert!(is_device("0000:3B:00.1"));
        assert!(!is_device("0000:00:20.0"));
        assert!(!is_device("0000:00:05.8"));
        assert!(is_device("net_af_packet0,iface=veth-gw"));
        assert!(is_device("net_tap0"));
        assert!(is_device("net_ring_a"));
        assert!(!is_device("net_vhost0"));
        assert!(!is_device("net_tap0,iface"));
        assert!(!is_device("eth0"));
    }

    #[test]
    fn reserved_eal_args_are_recognised() {
        assert!(is_reserved_eal_arg("-l"));
        assert!(is_reserved_eal_arg("-l1-3"));
        assert!(is_reserved_eal_arg("--lcores=1@2"));
        assert!(is_reserved_eal_arg("--vdev"));
        assert!(!is_reserved_eal_arg("--no-huge"));
        assert!(!is_reserved_eal_arg("--log-level=8"));
    }
}
