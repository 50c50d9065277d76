/*
 * sluice's shim over DPDK's static-inline fast path: each function calls the inline of the
 * same name without the `sluice_` prefix, so Rust can link to it.
 */
#ifndef SLUICE_SHIM_H
#define SLUICE_SHIM_H

#include <stdint.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_thread.h>

/* rte_eth_rx_burst: receive up to nb_pkts mbufs from a queue of a started port. */
uint16_t sluice_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
				 uint16_t nb_pkts);
/* rte_eth_tx_burst: hand up to nb_pkts mbufs to a queue; the sent ones belong to the PMD. */
uint16_t sluice_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
				 uint16_t nb_pkts);
/* rte_pktmbuf_alloc: one reset mbuf from the pool, or NULL when it is exhausted. */
struct rte_mbuf *sluice_rte_pktmbuf_alloc(struct rte_mempool *mp);
/* rte_pktmbuf_free: return an mbuf (and its chained segments) to its pool. */
void sluice_rte_pktmbuf_free(struct rte_mbuf *m);
/* rte_pktmbuf_prepend: grow the data at the front; NULL (no change) if headroom is short. */
char *sluice_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
/* rte_pktmbuf_adj: drop bytes at the front; NULL (no change) if the segment is shorter. */
char *sluice_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
/* rte_pktmbuf_append: grow the data at the tail; NULL (no change) if tailroom is short. */
char *sluice_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
/* rte_pktmbuf_headroom: bytes free in front of the data. */
uint16_t sluice_rte_pktmbuf_headroom(const struct rte_mbuf *m);
/* rte_rdtsc: the time-stamp counter. */
uint64_t sluice_rte_rdtsc(void);
/* rte_lcore_id: the calling thread's lcore id (LCORE_ID_ANY for unregistered threads). */
unsigned int sluice_rte_lcore_id(void);
/* rte_errno: the calling thread's last DPDK error number. */
int sluice_rte_errno(void);
/* rte_prefetch0: prefetch a cache line into all cache levels. */
void sluice_rte_prefetch0(const void *p);

/* The RSS hash types sluice asks for (IP, TCP and UDP, RTE_BIT64 macros bindgen cannot
 * evaluate); masked by each device's flow_type_rss_offloads before use. */
uint64_t sluice_rss_hash_types(void);
/* The TX offload bit for fast mbuf free, RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE. */
uint64_t sluice_tx_offload_mbuf_fast_free(void);

#endif
