/**
 * The edge agent: local store + hub client + status reporter + node heartbeats + local read-only API
 * + (optionally) a pod manager. Constructible in-process, several per process, no globals, so the
 * hollow-node simulator runs thousands of them with only the container runtime replaced.
 *
 * Offline autonomy: start() never waits for the cloud. Everything the node needs is in the store,
 * the pod manager starts from it, and the hub client keeps retrying in the background.
 */
import type { HubResolver } from './hubs.js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../common/logger.js';
import { KUBELET_PORT } from '../common/kubelet-endpoint.js';
import type { Store } from '../storage/types.js';
import type { StatusAckMessage } from '../protocol/messages.js';
import type { EdgeCredentials } from './config.js';
import type { PodManagerFactory, PodManagerHandle } from './contracts.js';
import { HubClient, type BackoffOptions } from './hub-client.js';
import { LocalStore } from './local-store.js';
import { StatusReporter } from './status-reporter.js';
import { formatPeerHealth, PEER_HEALTH_ANNOTATION } from '../common/peer-health.js';
import { buildNode, internalIp, filesystemBytes, readOsImage, NodeStatusReportPolicy, NODE_STATUS_REPORT_MS, NODE_STATUS_UPDATE_MS, type NodeFacts } from './node-status.js';
// inspect.js needs only node:crypto; join.js (x509 + CSR generation) is loaded when a renewal is due.
import { msUntilRotation, needsRotation } from '../pki/inspect.js';
import { DeviceTwins } from './devices/twin.js';
import { LOCAL_STORAGE_PATH_ANNOTATION, localStoragePath } from '../common/local-storage.js';
import type { MqttBrokerSetting } from './devices/mqtt-broker.js';

/** Device twins over MQTT (src/edge/devices): which broker, and where the embedded one listens. */
export interface EdgeDeviceOptions {
  /** embedded (aedes; the default when `devices` is given), external (a broker such as mosquitto), none (twins still run for DMI). */
  mqttBroker?: MqttBrokerSetting;
  /** Embedded broker bind address (default 127.0.0.1) and port (default 1883; 0 = ephemeral). */
  mqttHost?: string;
  mqttPort?: number;
}

export interface EdgeDnsOptions {
  /** The cluster DNS IP: where the server listens and what ClusterFirst pods get as nameserver. */
  clusterDns: string;
  /** Default 53; 0 = ephemeral (tests: pods cannot use another port, so only node-side clients then). */
  port?: number;
  /** Default cluster.local. */
  clusterDomain?: string;
  /** Put clusterDns on the kedge-dns0 dummy interface when the node lacks it (default true). */
  ensureAddress?: boolean;
  /** Fixed upstream resolvers instead of the host's /etc/resolv.conf (tests, benches). */
  upstreams?: string[];
}

/** Something else that serves devices next to the twin module (KubeEdge's DMI server: src/edge/devices/dmi). */
export type DeviceServiceFactory = (ctx: { twins: DeviceTwins; nodeName: string; dataDir: string; log: Logger }) => Promise<{ stop(): Promise<void> }>;

export interface EdgeAgentOptions {
  nodeName: string;
  dataDir: string;
  /** https://HOST:PORT of the cloud hub, or several comma-separated (hubs.ts). */
  hubUrl: string;
  /** Resolves a hub name to all its addresses (default: the system resolver; tests inject one). */
  resolveHub?: HubResolver;
  credentials: EdgeCredentials;
  /** Injected store (simulator: ':memory:' SQLite); default: SQLite at DATA_DIR/store.db. */
  store?: Store;
  /** Page cache of that SQLite store, KiB (default: the store's 32 MiB; the simulator caps thousands of them). */
  storeCacheSizeKiB?: number;
  /** WAL pages of that store before a checkpoint, and the -wal file's size after one (default SQLite's 1000 pages, kept up to 64 MiB). */
  storeWalPages?: number;
  /** Starts the pod manager over the store (runtime engineer's src/edge/podmanager, or a fake). */
  podManager?: PodManagerFactory;
  /** Serve the local read-only Kubernetes API on 127.0.0.1:port (0 = ephemeral); omit to not serve it. */
  localApiPort?: number;
  leaseDurationSeconds?: number;
  /** Lease renewal period (default 10 s, as the kubelet). */
  heartbeatIntervalMs?: number;
  /** Node status computation period (default 10 s, the kubelet's nodeStatusUpdateFrequency); posted only if changed. */
  nodeStatusIntervalMs?: number;
  /** An unchanged Node status is still posted this often (default 5 min, the kubelet's nodeStatusReportFrequency; also on every connect). */
  nodeStatusReportIntervalMs?: number;
  backoff?: BackoffOptions;
  deadAfterMs?: number;
  /** Renew the node certificate through the hub before it expires, writing it to the data dir. */
  rotateCertificates?: boolean;
  labels?: Record<string, string>;
  capacity?: { cpu: string; memory: string; ephemeralStorage?: string };
  /** How often OS image, runtime version and disk size are re-read for the Node status (default 1 min). */
  nodeFactsIntervalMs?: number;
  /**
   * Device twins' MQTT side. Omitted: no MQTT (a library agent, e.g. the hollow-node simulator's thousands, must not
   * all claim port 1883); `kedge edge` passes the embedded broker on 127.0.0.1:1883 by default.
   */
  devices?: EdgeDeviceOptions;
  /** Started with the twin module, stopped before it (e.g. the DMI server). */
  deviceServices?: DeviceServiceFactory[];
  /** The hub revoked this node (Node deleted, certificate refused): the agent no longer reconnects; join again. */
  onRevoked?: (message: string) => void;
  /** Node usage for the kubelet stats endpoints (default: this host's /proc; hollow nodes pass a synthetic one). */
  nodeUsage?: import('./kubelet/node-usage.js').NodeUsageSource;
  /**
   * Node-local DNS (src/edge/dns): answers the cluster zone from the local store on `clusterDns`:`port` (UDP and
   * TCP), forwards the rest to the host's resolvers, and pods' resolv.conf names it (as the kubelet's --cluster-dns).
   * Omitted: no node DNS; pods get the host's resolvers.
   */
  dns?: EdgeDnsOptions;
  /**
   * Run the node's service proxy (src/edge/proxy): nftables rules for ClusterIP/NodePort Services and routes to the
   * pool's pod CIDRs, from the local store (so offline too). Needs root and `nft`; a failure is logged and retried.
   */
  serviceProxy?: boolean;
  /**
   * Probe the pool's peers and answer their probes (src/edge/peer-health.ts), reporting what it sees in the
   * `kedge.io/peer-health` annotation of this Node: the cloud's vote on a node it lost. Omitted: off.
   */
  peerHealth?: { port?: number; periodMs?: number };
  /** Serve process_* / nodejs_* metrics on the kubelet's /metrics (`kedge edge run`: yes; many agents per process: no). */
  processMetrics?: boolean;
  log?: Logger;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)));
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/** Read once per process: the OS does not change under a running agent (the simulator runs thousands). */
let osImage: Promise<string> | undefined;

/** The edge store's SQLite page cache (KiB) and WAL autocheckpoint (pages, also its size limit after a checkpoint). */
export const EDGE_STORE_CACHE_KIB = 4096;
export const EDGE_STORE_WAL_PAGES = 256;

export class EdgeAgent {
  readonly log: Logger;
  store!: Store;
  local!: LocalStore;
  hub!: HubClient;
  reporter!: StatusReporter;
  /** KubeEdge device twins of the devices bound to this node. */
  devices!: DeviceTwins;
  private deviceStops: Array<() => Promise<void>> = [];
  private mqtt: { url: string } | undefined;
  private podManager: PodManagerHandle | undefined;
  private localApi: { port: number; socketPath?: string; close(): Promise<void> } | undefined;
  private dnsServer: import('./dns/server.js').NodeDns | undefined;
  /** The node's service proxy (src/edge/proxy), when enabled. */
  serviceProxy: import('./proxy/proxier.js').ServiceProxy | undefined;
  /** NetworkPolicy enforcement (src/edge/netpol), on with the service proxy: both need nft and root. */
  netpol: import('./netpol/enforcer.js').NetpolEnforcer | undefined;
  /** The kubelet API, reachable only through tunnel streams the hub opens (src/edge/kubelet). */
  kubelet: import('./kubelet/index.js').EdgeKubelet | undefined;
  /** Pool peer probing (src/edge/peer-health.ts), when enabled. */
  peerHealth: import('./peer-health.js').PeerHealth | undefined;
  private timers: NodeJS.Timeout[] = [];
  private ownsStore = false;
  private stopCompaction: () => void = () => {};
  private credentials: EdgeCredentials;
  private readonly since = new Date();
  private nodeStatusPolicy = new NodeStatusReportPolicy();
  private started = false;
  private facts: Partial<NodeFacts> = {};

  constructor(readonly opts: EdgeAgentOptions) {
    this.log = opts.log ?? createLogger('edge').child({ node: opts.nodeName });
    this.credentials = opts.credentials;
  }

  /** Where the node DNS answers (undefined when it is off or failed to start). */
  get dnsPort(): number | undefined {
    return this.dnsServer?.port;
  }

  get localApiPort(): number | undefined {
    return this.localApi?.port;
  }

  /** mqtt://HOST:PORT of the node's MQTT broker (embedded or external); undefined with --mqtt-broker none. */
  get mqttUrl(): string | undefined {
    return this.mqtt?.url;
  }

  /** Swap in a rotated certificate; the next connection uses it. */
  setCredentials(c: EdgeCredentials): void {
    this.credentials = c;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    const o = this.opts;
    await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
    if (o.store) {
      this.store = o.store;
    } else {
      const { openSqliteStore, startAutoCompaction } = await import('../storage/sqlite.js');
      // An edge store is a copy of cloud state plus buffered status: FULL sync, since "persisted before
      // acked" is the promise the sync protocol relies on across power loss.
      // Bounded by default (issue 19): the store holds one node's objects (a few MiB), so a 4 MiB page cache keeps
      // it hot without the server-sized 32 MiB that showed up as the agent's peak during pod churn, and a WAL
      // checkpointed every 256 pages and truncated back to 1 MiB instead of growing to ~4 MiB and staying there.
      this.store = await openSqliteStore(path.join(o.dataDir, 'store.db'), {
        synchronous: 'full',
        cacheSizeKiB: o.storeCacheSizeKiB ?? EDGE_STORE_CACHE_KIB,
        walAutocheckpointPages: o.storeWalPages ?? EDGE_STORE_WAL_PAGES,
      });
      this.ownsStore = true;
      const compaction = startAutoCompaction(this.store, { intervalMs: 5 * 60_000, retainRevisions: 1000 });
      this.stopCompaction = () => compaction.stop();
    }
    this.local = new LocalStore(this.store);
    this.hub = new HubClient({
      hubUrl: o.hubUrl,
      ...(o.resolveHub ? { resolveHub: o.resolveHub } : {}),
      nodeName: o.nodeName,
      credentials: () => this.credentials,
      store: this.local,
      log: this.log,
      backoff: o.backoff,
      deadAfterMs: o.deadAfterMs,
      onTunnelStream: (stream, port) => {
        if (this.kubelet && port === KUBELET_PORT) return this.kubelet.accept(stream);
        stream.destroy(new Error(this.kubelet ? `nothing serves port ${port} on this node` : 'the kubelet API is not started yet'));
      },
      usage: async () => {
        if (!this.kubelet) throw new Error('the kubelet API is not started yet');
        return this.kubelet.usage();
      },
    });
    this.reporter = new StatusReporter(
      this.local,
      { connected: () => this.hub.connected, send: (id, kind, body) => this.hub.send({ type: 'status', id, kind, body }) },
      this.log,
      o.nodeName,
    );
    await this.reporter.restore();
    // Like the kubelet's "Starting kubelet." event: recorded even offline, delivered when the link is back.
    this.reporter.recordEvent({
      metadata: {},
      involvedObject: { kind: 'Node', name: o.nodeName, uid: o.nodeName },
      reason: 'Starting',
      message: 'Starting kedge edge agent.',
      type: 'Normal',
    });
    this.hub.on('message', (m) => {
      if (m.type === 'status-ack') this.reporter.onAck(m as StatusAckMessage);
    });
    this.hub.on('connected', () => {
      this.reportNode(true);
      this.reporter.renewLease(o.leaseDurationSeconds ?? 40);
      this.reporter.flush();
    });
    this.hub.on('disconnected', () => this.reporter.onDisconnected());
    this.hub.on('revoked', (message) => o.onRevoked?.(message));

    const { AgentMetrics } = await import('./kubelet/stats-routes.js');
    const metrics = new AgentMetrics(o.nodeName, { processMetrics: o.processMetrics });
    await this.startDns(metrics.registry);
    if (o.podManager) {
      this.podManager = await o.podManager({
        ...(o.dns ? { podDns: (await import('./dns/pod-dns.js')).defaultPodDnsSettings([o.dns.clusterDns], o.dns.clusterDomain) } : {}),
        nodeName: o.nodeName,
        dataDir: o.dataDir,
        store: this.store,
        podStatus: this.reporter,
        events: this.reporter,
        log: this.log.child({ component: 'podmanager' }),
        onPodTerminated: (ns, name, uid) => this.reporter.podTerminated(ns, name, uid),
      });
    }
    await this.startServiceProxy(metrics.registry);
    await this.startPeerHealth();
    const { startKubeletServer } = await import('./kubelet/index.js');
    this.kubelet = startKubeletServer({
      nodeName: o.nodeName, store: this.store, log: this.log, podManager: this.podManager, dataDir: o.dataDir,
      nodeUsage: o.nodeUsage, processMetrics: o.processMetrics, metrics,
    });
    await this.startDevices();
    if (o.localApiPort !== undefined) {
      const { startLocalApi } = await import('./localapi/server.js');
      const { ensureLocalApiToken, LOCAL_API_SOCKET_FILE } = await import('./localapi/credentials.js');
      this.localApi = await startLocalApi({
        store: this.store, port: o.localApiPort, log: this.log, nodeName: o.nodeName,
        adminToken: await ensureLocalApiToken(o.dataDir, this.log),
        socketPath: path.join(o.dataDir, LOCAL_API_SOCKET_FILE),
      });
    }
    this.timers.push(setInterval(() => this.reporter.renewLease(o.leaseDurationSeconds ?? 40), o.heartbeatIntervalMs ?? 10_000));
    this.nodeStatusPolicy = new NodeStatusReportPolicy(o.nodeStatusReportIntervalMs ?? NODE_STATUS_REPORT_MS);
    await this.refreshNodeFacts();
    this.timers.push(setInterval(() => void this.refreshNodeFacts(), o.nodeFactsIntervalMs ?? 60_000));
    this.timers.push(setInterval(() => this.reportNode(), o.nodeStatusIntervalMs ?? NODE_STATUS_UPDATE_MS));
    this.hub.start();
    if (o.rotateCertificates) this.scheduleRotation();
    this.log.info({ localApiPort: this.localApi?.port, localApiSocket: this.localApi?.socketPath }, 'edge agent started');
  }

  /**
   * The node DNS, from the local store (so offline too). A failure to take the address or the port is logged and
   * the agent runs on: pods still start, and names resolve again once the node DNS is fixed and restarted.
   */
  private async startDns(registry: import('prom-client').Registry): Promise<void> {
    const d = this.opts.dns;
    if (!d) return;
    const log = this.log.child({ component: 'dns' });
    const { NodeDns } = await import('./dns/server.js');
    const server = new NodeDns({ store: this.store, log, nodeName: this.opts.nodeName, metrics: registry, address: d.clusterDns, port: d.port ?? 53, zone: d.clusterDomain, forwarder: d.upstreams ? { upstreams: d.upstreams } : {} });
    try {
      if (d.ensureAddress ?? true) await (await import('./dns/local-address.js')).ensureDnsAddress(d.clusterDns, log);
      await server.start();
      this.dnsServer = server;
    } catch (err) {
      log.error({ err: String(err), address: d.clusterDns, port: d.port ?? 53 }, 'node DNS not started');
      await server.stop().catch(() => {});
    }
  }

  /** Rules and routes stay in place on stop (as kube-proxy's): `kedge edge cleanup` removes them. */
  private async startServiceProxy(registry: import('prom-client').Registry): Promise<void> {
    if (!this.opts.serviceProxy) return;
    const { ServiceProxy } = await import('./proxy/proxier.js');
    const proxy = new ServiceProxy({ store: this.store, nodeName: this.opts.nodeName, log: this.log.child({ component: 'proxy' }), metrics: registry });
    await proxy.start();
    this.serviceProxy = proxy;
    const { NetpolEnforcer } = await import('./netpol/enforcer.js');
    const netpol = new NetpolEnforcer({ store: this.store, nodeName: this.opts.nodeName, log: this.log.child({ component: 'netpol' }) });
    await netpol.start();
    this.netpol = netpol;
  }

  private async startPeerHealth(): Promise<void> {
    const p = this.opts.peerHealth;
    if (!p) return;
    const { PeerHealth } = await import('./peer-health.js');
    const health = new PeerHealth({
      store: this.store, nodeName: this.opts.nodeName, log: this.log.child({ component: 'peer-health' }),
      credentials: () => this.credentials, bindAddress: () => internalIp(), port: p.port, periodMs: p.periodMs,
      onChange: () => this.reportNode(),
    });
    this.peerHealth = health;
    await health.start();
  }

  /** The twin module (from the local store: works offline), its MQTT side, and other device services (DMI). */
  private async startDevices(): Promise<void> {
    const o = this.opts;
    const log = this.log.child({ component: 'devices' });
    this.devices = new DeviceTwins({ store: this.store, nodeName: o.nodeName, log, sink: this.reporter });
    await this.devices.start();
    this.deviceStops.push(() => this.devices.stop());
    const broker = o.devices ? o.devices.mqttBroker ?? { kind: 'embedded' } : { kind: 'none' as const };
    if (broker.kind !== 'none') {
      const { startDeviceMqtt } = await import('./devices/mqtt-client.js');
      const mqtt = await startDeviceMqtt({ broker, host: o.devices?.mqttHost ?? '127.0.0.1', port: o.devices?.mqttPort ?? 1883, twins: this.devices, nodeName: o.nodeName, log });
      this.mqtt = mqtt;
      this.deviceStops.push(() => mqtt.stop());
    }
    for (const factory of o.deviceServices ?? []) {
      const svc = await factory({ twins: this.devices, nodeName: o.nodeName, dataDir: o.dataDir, log });
      this.deviceStops.push(() => svc.stop());
    }
  }

  private rotationTimer: NodeJS.Timeout | undefined;

  /** Check again at the rotation point (80% of the lifetime), at least every 6 h, retrying every minute on failure. */
  private scheduleRotation(retryMs?: number): void {
    const due = retryMs ?? Math.max(1000, Math.min(msUntilRotation(this.credentials.certPem), 6 * 3600_000));
    this.rotationTimer = setTimeout(() => {
      if (!needsRotation(this.credentials.certPem)) return this.scheduleRotation();
      import('./join.js')
        .then(({ renewCertificate }) => renewCertificate(this.hub.hubName, this.opts.nodeName, this.opts.dataDir, this.credentials))
        .then((c) => {
          this.setCredentials(c);
          this.log.info('node certificate rotated');
          // Never renew more than once a minute, even for certificates so short-lived they are "due" at once.
          this.scheduleRotation(Math.max(60_000, msUntilRotation(c.certPem)));
        })
        .catch((err) => {
          this.log.warn({ err: String(err) }, 'certificate rotation failed; retrying');
          this.scheduleRotation(60_000);
        });
    }, due);
    this.rotationTimer.unref();
  }

  /** OS image, runtime version and disk size, as the kubelet reports them; a failed read keeps the last value. */
  private async refreshNodeFacts(): Promise<void> {
    const [image, runtime, disk] = await Promise.all([
      (osImage ??= readOsImage()),
      // Bounded: a hung runtime must not hold up the agent's start (offline autonomy) or stack refreshes.
      this.podManager?.nodeInfo
        ? withTimeout(this.podManager.nodeInfo(), 5_000).catch((err: unknown) => {
            this.log.debug({ err: String(err) }, 'runtime version unavailable');
            return undefined;
          })
        : undefined,
      filesystemBytes(this.opts.dataDir).catch(() => undefined),
    ]);
    this.facts = {
      osImage: image,
      containerRuntimeVersion: runtime?.containerRuntimeVersion ?? this.facts.containerRuntimeVersion ?? '',
      ephemeralStorageBytes: disk ?? this.facts.ephemeralStorageBytes,
    };
  }

  /** Compute the Node status; post it if it changed or is due (`force`: on connect, always). */
  private reportNode(force = false): void {
    const peers = this.peerHealth?.report();
    // The local-path directory under this agent's data dir (K3s: <data-dir>/storage), for the cloud's provisioner.
    const annotations: Record<string, string> = { [LOCAL_STORAGE_PATH_ANNOTATION]: localStoragePath(this.opts.dataDir) };
    if (peers && Object.keys(peers).length) annotations[PEER_HEALTH_ANNOTATION] = formatPeerHealth(peers);
    const node = buildNode({ nodeName: this.opts.nodeName, labels: this.opts.labels, capacity: this.opts.capacity, facts: this.facts, since: this.since, annotations });
    if (force) this.nodeStatusPolicy.reset();
    if (!this.nodeStatusPolicy.shouldReport(node)) return;
    this.reporter.setNode(JSON.parse(JSON.stringify(node)) as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.stopCompaction();
    clearTimeout(this.rotationTimer);
    this.reporter?.stop();
    await this.hub?.stop();
    this.kubelet?.close();
    await this.podManager?.stop();
    for (const stop of this.deviceStops.reverse()) await stop().catch((err: unknown) => this.log.warn({ err: String(err) }, 'device service stop failed'));
    this.deviceStops = [];
    await this.localApi?.close();
    await this.dnsServer?.stop();
    await this.serviceProxy?.stop();
    await this.netpol?.stop();
    await this.peerHealth?.stop();
    await this.reporter?.settle();
    if (this.ownsStore) await this.store.close();
  }
}
