/**
 * The node DNS' Prometheus figures on the agent's /metrics (the kubelet server's registry), named after CoreDNS's
 * (`coredns_dns_requests_total`, `coredns_dns_responses_total{rcode}`, `coredns_dns_request_duration_seconds`).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class DnsMetrics {
  readonly requests: Counter<'proto'>;
  readonly responses: Counter<'source' | 'rcode'>;
  readonly refused: Counter<'proto'>;
  readonly duration: Histogram<'source'>;
  private readonly cacheHits: Counter<'type'>;
  private readonly cacheMisses: Counter;

  constructor(registry: Registry, cacheSize: () => number = () => 0) {
    const registers = [registry];
    this.cacheHits = new Counter({ name: 'kedge_edge_dns_cache_hits_total', help: 'Forwarded names answered from the node DNS cache (success, denial), as coredns_cache_hits_total', labelNames: ['type'], registers });
    this.cacheMisses = new Counter({ name: 'kedge_edge_dns_cache_misses_total', help: 'Forwarded names not in the node DNS cache (asked upstream)', registers });
    new Gauge({ name: 'kedge_edge_dns_cache_entries', help: 'Forwarded answers held in the node DNS cache', registers, collect() { this.set(cacheSize()); } });
    this.requests = new Counter({ name: 'kedge_edge_dns_requests_total', help: 'DNS queries received by the node DNS from allowed clients', labelNames: ['proto'], registers });
    this.responses = new Counter({ name: 'kedge_edge_dns_responses_total', help: 'DNS responses sent, by where the answer came from (cluster, forward, error) and rcode', labelNames: ['source', 'rcode'], registers });
    this.refused = new Counter({ name: 'kedge_edge_dns_refused_total', help: 'DNS queries or connections dropped because the client is not this node or its pods', labelNames: ['proto'], registers });
    this.duration = new Histogram({
      name: 'kedge_edge_dns_request_duration_seconds', help: 'Time to answer a DNS query, by where the answer came from', labelNames: ['source'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
  }

  /** A forwarded name looked up in the cache: its kind on a hit, undefined on a miss. */
  cache(kind: 'success' | 'denial' | undefined): void {
    if (kind) this.cacheHits.inc({ type: kind });
    else this.cacheMisses.inc();
  }
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** The rcode name of a wire-format reply (its header's low 4 bits). */
export function replyRcode(reply: Buffer): string {
  return reply.length >= 4 ? RCODES[reply.readUInt16BE(2) & 0xf] ?? String(reply.readUInt16BE(2) & 0xf) : 'none';
}
