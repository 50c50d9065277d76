//! The DPDK layer end to end on a `net_null` virtual port, without hugepages: EAL init,
//! a mempool, port configure/start, mbuf editing through the engine's `PacketBuf`, a TX and
//! an RX burst, the gateway pipeline over an mbuf, and teardown.
//!
//! One test function in its own binary: `rte_eal_init` works once per process.

#![expect(clippy::unwrap_used, reason = "a failed step is a failed test")]

use std::net::Ipv4Addr;

use sluice_dpdk::{DpdkError, Eal, Mbuf, Mempool, Port, PortConfig, SOCKET_ID_ANY, TxBuffer};
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::testkit::{SEC, mac, simple_lab, udp4};

const EAL_ARGS: &[&str] = &[
    "--no-huge",
    "--no-shconf",
    "-m",
    "256",
    "--log-level=lib.eal:error",
    "--vdev=net_null0",
    "--vdev=net_null1",
];

/// A client's UDP frame to the gateway's port 0, as the engine's own vectors build it.
fn client_frame() -> Vec<u8> {
    let l3 = udp4(
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(198, 51, 100, 7),
        1024,
        53,
        b"eighteen bytes....",
    );
    sluice_engine::testkit::frame(mac(1), mac(0xfe), None, &l3)
}

fn mbuf_with<'p>(pool: &'p Mempool<'_>, frame: &[u8]) -> Mbuf<'p> {
    let mut m = pool.alloc().unwrap();
    assert!(m.is_empty());
    m.append(frame.len()).unwrap().copy_from_slice(frame);
    m
}

#[test]
fn eal_mempool_port_bursts_and_engine_on_net_null() {
    let args: Vec<String> = EAL_ARGS.iter().map(|&a| a.to_owned()).collect();
    let eal = Eal::init(&args).unwrap();
    assert!(matches!(
        Eal::init(&args),
        Err(DpdkError::EalAlreadyInitialised)
    ));
    assert!(eal.tsc_hz() > 0);
    assert!(eal.tsc() > 0);
    assert!(eal.lcore_id().is_some(), "the main thread is an EAL lcore");

    let pool = Mempool::new(&eal, "eal_null_pool", 1023, 32, 2176, SOCKET_ID_ANY).unwrap();
    assert_eq!(pool.name(), "eal_null_pool");
    // A duplicate name is DPDK's error, reported with the call and its text.
    let dup = Mempool::new(&eal, "eal_null_pool", 63, 0, 2176, SOCKET_ID_ANY).unwrap_err();
    assert!(
        matches!(
            &dup,
            DpdkError::Call {
                call: "rte_pktmbuf_pool_create",
                ..
            }
        ),
        "{dup}"
    );
    let full = pool.available();

    assert_eq!(Port::count(&eal), 2);
    let info = Port::info(&eal, 0).unwrap();
    assert_eq!(info.driver, "net_null");
    assert!(matches!(
        Port::configure(7, &config(1), &pool),
        Err(DpdkError::NoSuchPort {
            port: 7,
            available: 2
        })
    ));
    assert!(matches!(
        Port::configure(0, &config(0), &pool),
        Err(DpdkError::QueueCount { kind: "rx", .. })
    ));
    // Several RX queues: RSS over IP/TCP/UDP, as far as the device hashes them.
    // (Port 1: closing a port releases the device for good.)
    let rss = Port::configure(1, &config(2), &pool).unwrap();
    let hashed = rss.rss_hash_types();
    assert_ne!(hashed, 0, "net_null hashes IP, TCP and UDP");
    assert_eq!(
        hashed & !info.rss_offloads,
        0,
        "only what the device offers"
    );
    drop(rss);
    // Frames of the MTU must fit one mbuf.
    let jumbo = PortConfig {
        mtu: 9000,
        ..config(1)
    };
    assert!(matches!(
        Port::configure(0, &jumbo, &pool),
        Err(DpdkError::MbufTooSmall { mtu: 9000, .. }) | Err(DpdkError::Mtu { .. })
    ));
    let mut port = Port::configure(0, &config(1), &pool).unwrap();
    assert_eq!(port.rss_hash_types(), 0, "one queue, no RSS");
    let link = port.link().unwrap();
    assert!(!link.up || link.speed_mbps > 0, "{link:?}");
    assert!(matches!(
        Port::configure(0, &config(1), &pool),
        Err(DpdkError::PortInUse(0))
    ));
    port.start().unwrap();
    assert_eq!(port.mac().unwrap().len(), 6);

    // Mbuf editing through the engine's trait, as encapsulation and decapsulation use it.
    let frame = client_frame();
    let mut m = mbuf_with(&pool, &frame);
    assert_eq!(m.data(), &frame[..]);
    assert_eq!(m.headroom(), 128);
    assert!(m.prepend(129).is_none());
    m.prepend(4).unwrap()[..4].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(m.headroom(), 124);
    assert_eq!(&m.data()[..4], &[1, 2, 3, 4]);
    assert_eq!(&m.data()[4..], &frame[..]);
    assert!(m.adj(4));
    assert_eq!(m.data(), &frame[..]);
    assert!(!m.adj(frame.len() + 1));
    assert!(m.truncate(14));
    assert_eq!(m.data(), &frame[..14]);
    assert!(!m.truncate(15));
    assert_eq!(m.pkt_len(), 14);
    m.data_mut()[0] = 0xaa;
    assert_eq!(m.data()[0], 0xaa);
    assert_eq!(m.segments(), 1);
    drop(m);
    assert_eq!(pool.available(), full, "a dropped mbuf returns to its pool");

    // The gateway runs on an mbuf exactly as on a heap buffer.
    let (ports, snapshot) = simple_lab(4);
    let (heap_table, mbuf_table) = (FlowTable::new(1024).unwrap(), FlowTable::new(1024).unwrap());
    let mut heap = HeapPacket::new(&frame);
    let heap_verdict = Gateway::new(&heap_table).process(&snapshot, &ports, 0, &mut heap, SEC);
    let mut encapsulated = mbuf_with(&pool, &frame);
    let mbuf_verdict =
        Gateway::new(&mbuf_table).process(&snapshot, &ports, 0, &mut encapsulated, SEC);
    assert!(
        matches!(mbuf_verdict, Verdict::Transmit { .. }),
        "{mbuf_verdict:?}"
    );
    assert_eq!(mbuf_verdict, heap_verdict);
    assert_eq!(encapsulated.data(), heap.data());
    assert!(
        encapsulated.len() > frame.len(),
        "GENEVE went into the headroom"
    );

    // TX: net_null takes (and frees) everything; the slots empty.
    let (mut rxq, mut txq) = port.queues().unwrap();
    assert!(matches!(port.queues(), Err(DpdkError::QueuesTaken(0))));
    let (rx, tx) = (&mut rxq[0], &mut txq[0]);
    let mut out = TxBuffer::with_capacity(2);
    assert!(out.push(encapsulated).is_ok());
    assert!(out.push(mbuf_with(&pool, &frame)).is_ok());
    let spare = out.push(mbuf_with(&pool, &frame));
    assert!(spare.is_err(), "a full buffer gives the packet back");
    drop(spare);
    assert_eq!(out.room(), 0);
    assert_eq!(tx.tx_burst(&mut out), 2);
    assert!(out.is_empty());

    // RX: net_null makes packets of its own from the port's pool.
    let mut burst: [Option<Mbuf<'_>>; 32] = [const { None }; 32];
    let n = rx.rx_burst(&mut burst[..]);
    assert!(n > 0);
    assert!(burst[..n].iter().all(Option::is_some));
    assert!(burst[n..].iter().all(Option::is_none));
    assert!(burst[0].as_ref().unwrap().headroom() > 0);
    assert!(pool.available() < full);
    burst = [const { None }; 32];
    assert!(burst.iter().all(Option::is_none));

    let stats = port.stats().unwrap();
    let xstats = port.xstats().unwrap();
    assert!(
        xstats
            .iter()
            .any(|(name, value)| name == "tx_good_packets" && *value == 2),
        "{xstats:?}"
    );
    assert_eq!(stats.opackets, 2);
    assert_eq!(stats.ipackets, u64::try_from(n).unwrap());

    drop((rxq, txq));
    port.stop().unwrap();
    drop(port);
    assert_eq!(pool.available(), full, "every mbuf came back");
    drop(pool);
    drop(eal);
}

/// `rx_queues` RX queues and one TX queue of 512 descriptors, MTU 1500.
fn config(rx_queues: u16) -> PortConfig {
    PortConfig {
        rx_queues,
        tx_queues: 1,
        rx_desc: 512,
        tx_desc: 512,
        mtu: 1500,
    }
}
