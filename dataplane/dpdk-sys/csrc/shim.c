/* See shim.h: thin exported wrappers over DPDK's static inlines. */
#include "shim.h"

uint16_t sluice_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
				 uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t sluice_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
				 uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *sluice_rte_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

void sluice_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *sluice_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *sluice_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

char *sluice_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

uint16_t sluice_rte_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint64_t sluice_rte_rdtsc(void)
{
	return rte_rdtsc();
}

unsigned int sluice_rte_lcore_id(void)
{
	return rte_lcore_id();
}

int sluice_rte_errno(void)
{
	return rte_errno;
}

void sluice_rte_prefetch0(const void *p)
{
	rte_prefetch0(p);
}

uint64_t sluice_rss_hash_types(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

uint64_t sluice_tx_offload_mbuf_fast_free(void)
{
	return RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
}
