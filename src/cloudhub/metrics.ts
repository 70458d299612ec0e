/** Hub metrics on a per-hub registry (several hubs per process in tests/benches: no global registry). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class HubMetrics {
  readonly registry = new Registry();
  readonly connectedNodes = new Gauge({ name: 'kedge_hub_connected_nodes', help: 'Edge nodes with an open session', registers: [this.registry] });
  readonly rebalanceMoves = new Counter({ name: 'kedge_hub_rebalance_moves_total', help: 'Nodes this hub asked to move to a less-loaded hub (several servers)', registers: [this.registry] });
  readonly tunnelStreams = new Gauge({ name: 'kedge_hub_tunnel_streams', help: 'Tunnel streams open to edge kubelets (logs, exec, port-forward, stats), all nodes', registers: [this.registry] });
  readonly tunnelProxyActive = new Gauge({ name: 'kedge_hub_kubelet_proxy_connections', help: 'CONNECT connections the kubelet proxy is relaying', registers: [this.registry] });
  readonly peerRelays = new Counter({
    name: 'kedge_hub_kubelet_peer_relays_total',
    help: 'Kubelet streams for nodes on another server\'s hub: out (asked of peer hubs: ok, not-connected) and in (asked by peer servers: ok, not-connected, refused identity)',
    labelNames: ['direction', 'result'],
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: 'kedge_hub_sent_bytes_total',
    help: 'Uncompressed bytes sent to edges, by message type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly messagesSent = new Counter({
    name: 'kedge_hub_sent_messages_total',
    help: 'Messages sent to edges, by type (objects delivered: upsert + patch; deletions: delete)',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'kedge_hub_received_bytes_total',
    help: 'Bytes received from edges, by message type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'kedge_hub_refused_frames_total',
    help: 'Inbound frames refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly statusBusy = new Counter({
    name: 'kedge_hub_status_busy_total',
    help: 'Status items answered "hub busy, retry" (the hub-wide API write budget or the node\'s pending cap was full), by kind',
    labelNames: ['kind', 'limit'],
    registers: [this.registry],
  });
  readonly statusWriteSeconds = new Histogram({
    name: 'kedge_hub_status_write_duration_seconds',
    help: 'Time from a status item\'s arrival at the hub to its answer from the API (a Lease renewal waiting behind the node\'s previous one included), by kind',
    labelNames: ['kind'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly apiWritesInFlight = new Gauge({
    name: 'kedge_hub_api_writes_in_flight',
    help: 'Status items being written to the API that count against the hub-wide budget (--max-api-writes; Lease renewals do not)',
    registers: [this.registry],
  });
  private apiQueue: () => number = () => 0;
  readonly apiRequestsQueued: Gauge = new Gauge({
    name: 'kedge_hub_api_requests_queued',
    help: 'Hub requests to the API waiting for a connection of its client (all in use)',
    registers: [this.registry],
    collect: (): void => this.apiRequestsQueued.set(this.apiQueue()),
  });
  watchApiQueue(queued: () => number): void {
    this.apiQueue = queued;
  }
  readonly usageReports = new Counter({
    name: 'kedge_hub_usage_reports_total',
    help: 'Resource usage reports from edges (protocol v6), by result: ok, too-frequent (dropped: sooner than half the interval), foreign-pods (ok, with figures for pods not bound to the node dropped)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly sessionsRefused = new Counter({
    name: 'kedge_hub_sessions_refused_total',
    help: 'Edge sessions refused or ended for identity reasons: revoked (Node deleted, identity issued again), duplicate (another agent holds the live session)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'kedge_hub_queue_depth',
    help: 'Desired-set changes not yet sent plus messages in flight (unacked), summed over sessions',
    registers: [this.registry],
  });
  readonly keepaliveDrops = new Counter({
    name: 'kedge_hub_keepalive_drops_total',
    help: 'Sessions dropped because the edge stayed silent for the keepalive allowance',
    registers: [this.registry],
  });
  readonly tlsResumed = new Counter({
    name: 'kedge_hub_tls_resumed_total',
    help: 'Edge sessions opened over a resumed TLS session (no certificate exchange)',
    registers: [this.registry],
  });
  readonly tlsFullHandshakes = new Counter({
    name: 'kedge_hub_tls_full_handshakes_total',
    help: 'Edge sessions opened with a full TLS handshake (certificates exchanged)',
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'kedge_hub_session_resumes_total',
    help: 'How edge sessions caught up: cursor (this hub\'s sequence), revision (the datastore revision: another server\'s or an earlier incarnation\'s cursor), inventory (a diff of what the edge holds)',
    labelNames: ['by'],
    registers: [this.registry],
  });
  readonly nodeWriteBatches = new Counter({
    name: 'kedge_hub_node_write_batches_total',
    help: 'Node-write batch requests sent to the API (node-write-batcher.ts), by result (ok: answered item by item; failed: refused or unanswered as a whole)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly nodeWriteBatchItems = new Counter({
    name: 'kedge_hub_node_write_batch_items_total',
    help: 'Writes carried in node-write batches, by the batch request\'s result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'kedge_hub_status_writes_total',
    help: 'Status items written to the API, by kind and result',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
}
