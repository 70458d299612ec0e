/**
 * The service proxy's Prometheus figures on the agent's /metrics (the kubelet server's registry), after kube-proxy's
 * (`kubeproxy_sync_proxy_rules_duration_seconds`, `…_last_timestamp_seconds`, `…_iptables_restore_failures_total`).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class ProxyMetrics {
  readonly syncDuration: Histogram;
  readonly lastSync: Gauge;
  readonly failures: Counter;
  readonly transactions: Counter;
  readonly servicePorts: Gauge;
  readonly podRoutes: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.syncDuration = new Histogram({
      name: 'kedge_edge_proxy_sync_duration_seconds', help: 'Time to bring nftables rules and pod routes in line with the local store (one batch)', registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });
    this.lastSync = new Gauge({ name: 'kedge_edge_proxy_sync_last_timestamp_seconds', help: 'When the rules were last synced successfully (Unix seconds)', registers });
    this.failures = new Counter({ name: 'kedge_edge_proxy_sync_failures_total', help: 'Syncs that failed (nft or ip refused); retried with backoff', registers });
    this.transactions = new Counter({ name: 'kedge_edge_proxy_nft_transactions_total', help: 'nft -f transactions applied (a sync with no rule change applies none)', registers });
    this.servicePorts = new Gauge({ name: 'kedge_edge_proxy_service_ports', help: 'Service ports (ClusterIP and NodePort) programmed on this node', registers });
    this.podRoutes = new Gauge({ name: 'kedge_edge_proxy_pod_routes', help: 'Routes to pool peers\' pod CIDRs installed on this node', registers });
  }
}
