//! Finds the system DPDK with `pkg-config`, generates bindings for the calls sluice makes,
//! compiles the C shim over DPDK's static inlines, and links the DPDK libraries.
//!
//! The `pkg-config` binary is run directly rather than through the `pkg-config` crate, which
//! drops `-include rte_config.h -march=...` from the cflags; without them the shim's inlines
//! fail to compile ("target specific option mismatch"). Every cflag token goes to both `cc`
//! and bindgen.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The oldest DPDK whose ABI these bindings are written against.
const MIN_VERSION: &str = "22.11";

/// What to tell someone whose machine lacks DPDK's development files.
const INSTALL_HINT: &str = "sluice-dpdk-sys needs DPDK >= 22.11 development files, found with \
    `pkg-config libdpdk`, and libclang for bindgen. On Debian or Ubuntu: \
    `sudo apt-get install libdpdk-dev libclang-dev pkg-config` (or run `scripts/setup`). \
    If DPDK lives elsewhere, point PKG_CONFIG_PATH at the directory holding libdpdk.pc.";

fn main() {
    println!("cargo::rerun-if-changed=csrc/shim.c");
    println!("cargo::rerun-if-changed=csrc/shim.h");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = pkg_config(&["--modversion"]);
    let _ = pkg_config(&[&format!("--atleast-version={MIN_VERSION}")]);
    let cflags = tokens(&pkg_config(&["--cflags"]));
    let libs = tokens(&pkg_config(&["--libs"]));
    println!("cargo::metadata=version={}", version.trim());

    let mut shim = cc::Build::new();
    shim.file("csrc/shim.c").include("csrc").warnings(true);
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.compile("sluice_dpdk_shim");

    link(&libs);

    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| panic!("OUT_DIR is unset")));
    bindgen::Builder::default()
        // DPDK's C doc comments would be taken for Rust doctests; the C headers are the docs.
        .generate_comments(false)
        .header("csrc/shim.h")
        .clang_args(&cflags)
        .clang_arg("-Icsrc")
        .rust_edition(bindgen::RustEdition::Edition2024)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        // EAL.
        .allowlist_function("rte_eal_init")
        .allowlist_function("rte_eal_cleanup")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_thread_register")
        .allowlist_function("rte_thread_unregister")
        // Mempools and mbufs.
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_mempool_avail_count")
        .allowlist_type("rte_mbuf")
        // Ethernet devices.
        .allowlist_function("rte_eth_dev_configure")
        .allowlist_function("rte_eth_dev_adjust_nb_rx_tx_desc")
        .allowlist_function("rte_eth_rx_queue_setup")
        .allowlist_function("rte_eth_tx_queue_setup")
        .allowlist_function("rte_eth_dev_start")
        .allowlist_function("rte_eth_dev_stop")
        .allowlist_function("rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_info_get")
        .allowlist_function("rte_eth_dev_count_avail")
        .allowlist_function("rte_eth_dev_is_valid_port")
        .allowlist_function("rte_eth_dev_socket_id")
        .allowlist_function("rte_eth_macaddr_get")
        .allowlist_function("rte_eth_stats_get")
        .allowlist_function("rte_eth_link_get_nowait")
        .allowlist_function("rte_eth_xstats_get_names")
        .allowlist_function("rte_eth_xstats_get")
        .allowlist_function("rte_eth_dev_default_mac_addr_set")
        .allowlist_function("rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_dev_get_port_by_name")
        .allowlist_function("rte_eth_dev_set_link_up")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MAX_ETHPORTS")
        // The fast-path shim.
        .allowlist_function("sluice_.*")
        // Packed structs holding aligned ones do not compile in Rust (E0588); the wire crate
        // parses these headers anyway.
        .opaque_type("rte_arp_.*")
        .use_core()
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen over the DPDK headers failed: {e}\n{INSTALL_HINT}"))
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| panic!("writing the bindings to {}: {e}", out.display()));
}

/// Runs `pkg-config ARGS libdpdk` and returns its standard output, or stops the build with
/// the install hint.
fn pkg_config(args: &[&str]) -> String {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let output = Command::new(&program)
        .args(args)
        .arg("libdpdk")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}\n{INSTALL_HINT}"));
    if !output.status.success() {
        panic!(
            "`{program} {} libdpdk` failed: {}\n{INSTALL_HINT}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .unwrap_or_else(|e| panic!("`{program}` printed something that is not UTF-8: {e}"))
}

fn tokens(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Turns `pkg-config --libs` into cargo link directives. Linker options such as
/// `-Wl,--as-needed` are left out: rustc already links shared libraries as needed.
fn link(libs: &[String]) {
    for token in libs {
        if let Some(dir) = token.strip_prefix("-L") {
            println!("cargo::rustc-link-search=native={dir}");
        } else if let Some(lib) = token.strip_prefix("-l") {
            println!("cargo::rustc-link-lib={lib}");
        }
    }
}
