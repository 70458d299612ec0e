/**
 * `kedge server`: opens its datastore (SQLite in the data dir, or etcd/PostgreSQL: --datastore-endpoint), ensures the PKI (CA kept across restarts), starts the API server,
 * writes DATA_DIR/admin.kubeconfig, starts the controllers hook, and shuts down cleanly on SIGTERM/SIGINT.
 */
import type { PodSecurityConfig } from './admission/admission-config.js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { watchLoopStalls } from '../common/loop-stall.js';
import { createLogger } from '../common/logger.js';
import { useLoopbackFor, type LoopbackTransport } from '../common/kubeconfig.js';
import { startAutoCompaction } from '../storage/auto-compaction.js';
import { openDatastore, type DatastoreEndpoint } from '../storage/datastore.js';
import { syncBootstrapData } from './bootstrap-data.js';
import { ensureServerPki, ensureServiceAccountKeyPair, pkiDir, writeAdminKubeconfig } from '../pki/index.js';
import { createApiServer, type ApiServer } from './server.js';
import { ClusterIpAllocator } from './ip-allocator.js';
import { ApiLoopback, LOOPBACK_SOCKET_NAME } from './loopback.js';
import { connectProxyDialer } from './node-dialer.js';
import { KUBELET_PROXY_SOCKET_NAME } from '../common/kubelet-endpoint.js';

export interface RunServerOptions {
  dataDir: string;
  bindAddress: string;
  port: number;
  serviceClusterIpRange: string;
  tokenAuthFile?: string;
  advertiseAddress?: string;
  tlsSans?: string[];
  minRequestTimeoutSeconds?: number;
  maxRequestsInflight?: number;
  maxMutatingRequestsInflight?: number;
  /** In-process components reach the API over the data dir's Unix socket, no TLS (loopback.ts). Default true. */
  loopback?: boolean;
  /** kube-apiserver's --event-ttl in ms (0 = events never expire); default 1h. */
  eventTtlMs?: number;
  /** kube-apiserver's --admission-control-config-file, loaded (PodSecurity's defaults and exemptions). */
  podSecurity?: PodSecurityConfig;
  /** kube-apiserver's --anonymous-auth; default true. */
  anonymousAuth?: boolean;
  /** Where objects live (`--datastore-endpoint`); default embedded SQLite in the data dir. */
  datastore?: DatastoreEndpoint;
  /** `--token`: share the CA and service-account keys through the (external) datastore, sealed with it (bootstrap-data.ts). */
  serverToken?: string;
  /** How often nodes are scraped for metrics.k8s.io (metrics-server's --metric-resolution) in ms; 0 = no metrics API. Default 60 s. */
  metricResolutionMs?: number;
  /** `--disable`: packaged components (src/common/batteries.ts) that must not run. Default none. */
  disabledBatteries?: ReadonlySet<string>;
}

/**
 * In-process components started after the API server is up (controllers, cloud hub). Each receives the server
 * and the admin kubeconfig path and returns a stop function. Other packages add themselves here.
 */
export type ServerComponent = (ctx: { server: ApiServer; kubeconfigPath: string; dataDir: string; loopback?: LoopbackTransport }) => Promise<() => Promise<void> | void>;
export const serverComponents: ServerComponent[] = [];

export async function runServer(o: RunServerOptions): Promise<void> {
  const log = createLogger('kedge-server');
  // The API server's own thread: a stall here delays every request and watch event (the hub has its own watcher).
  watchLoopStalls(log);
  const dataDir = path.resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // WAL checkpoints on a thread of their own, not inside commits on this one (issue 6; src/storage/README.md).
  // For benchmarks: KEDGE_STORE_CHECKPOINT=inline restores SQLite's autocheckpoint; KEDGE_STORE_COMMIT_INTERVAL_MS=N
  // makes commits start at most every N ms (0, the default: bench:heartbeats showed no CPU gain, a higher p99).
  const checkpoint = process.env.KEDGE_STORE_CHECKPOINT === 'inline' ? 'inline' : 'background';
  const commitIntervalMs = Number(process.env.KEDGE_STORE_COMMIT_INTERVAL_MS ?? 0) || 0;
  const datastore = o.datastore ?? { kind: 'sqlite' };
  // An external engine that is not up yet is waited for (a log line per attempt), not crash-looped on.
  const store = await openDatastore(datastore, { dataDir, sqlite: { checkpoint, commitIntervalMs }, logger: log });
  const compaction = startAutoCompaction(store, { intervalMs: 5 * 60_000, retainRevisions: 10_000 });
  const advertise = o.advertiseAddress ?? (o.bindAddress === '0.0.0.0' || o.bindAddress === '::' ? '127.0.0.1' : o.bindAddress);
  // In-cluster clients reach the API server through the `kubernetes` Service's ClusterIP: it must be a SAN too.
  const serviceIp = new ClusterIpAllocator(o.serviceClusterIpRange).firstAddress;
  const loopback = o.loopback === false ? undefined : new ApiLoopback(path.join(dataDir, LOOPBACK_SOCKET_NAME));
  if (o.serverToken !== undefined) {
    await mkdir(pkiDir(dataDir), { recursive: true, mode: 0o700 });
    await syncBootstrapData(store, pkiDir(dataDir), o.serverToken, log);
  }
  const pki = await ensureServerPki(dataDir, { hosts: [o.bindAddress, advertise, serviceIp, ...(o.tlsSans ?? [])] });
  const server = await createApiServer({
    store,
    tls: { cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caCertPem },
    bindAddress: o.bindAddress,
    port: o.port,
    serviceClusterIpRange: o.serviceClusterIpRange,
    tokenAuthFile: o.tokenAuthFile,
    serviceAccountKey: await ensureServiceAccountKeyPair(pkiDir(dataDir)),
    tokenAuthenticators: loopback ? [loopback.authenticator] : undefined,
    minRequestTimeoutSeconds: o.minRequestTimeoutSeconds,
    maxRequestsInflight: o.maxRequestsInflight,
    maxMutatingRequestsInflight: o.maxMutatingRequestsInflight,
    eventTtlMs: o.eventTtlMs,
    podSecurity: o.podSecurity,
    anonymousAuth: o.anonymousAuth,
    // Edge kubelets through the hub's CONNECT proxy (src/cloudhub/kubelet-proxy.ts), which the hub component serves here.
    nodeDialer: connectProxyDialer(path.join(dataDir, KUBELET_PROXY_SOCKET_NAME)),
    logger: log,
  });
  const host = advertise.includes(':') ? `[${advertise}]` : advertise;
  const kubeconfigPath = await writeAdminKubeconfig(dataDir, `https://${host}:${server.port}`);
  log.info({ kubeconfig: kubeconfigPath, url: `https://${host}:${server.port}`, dataDir, datastore: datastore.kind }, 'kedge server ready');

  // In-process clients of the admin kubeconfig (this thread's via loadKubeClient, component threads via ctx)
  // use the loopback socket; if it cannot be served they keep HTTPS.
  let transport: LoopbackTransport | undefined;
  if (loopback) {
    try {
      await loopback.start(server, kubeconfigPath);
      transport = loopback.transport;
      useLoopbackFor(kubeconfigPath, transport);
      log.info({ socket: loopback.socketPath }, 'in-process clients use the loopback socket');
    } catch (err) {
      log.warn({ err: String((err as Error).message ?? err) }, 'loopback socket unavailable: in-process clients use HTTPS');
    }
  }
  const stops: (() => Promise<void> | void)[] = [];
  if (server.nodeDialer && o.metricResolutionMs !== 0) {
    // metrics.k8s.io from the nodes' /metrics/resource (docs/design/metrics.md: why here and not on a worker).
    const { installResourceMetrics, dialerMetricsFetcher } = await import('./resource-metrics/index.js');
    const dialer = server.nodeDialer;
    const metrics = installResourceMetrics(server, {
      fetch: dialerMetricsFetcher(dialer),
      ...(dialer.usage ? { pushed: (since, signal) => dialer.usage!(since, signal) } : {}),
      intervalMs: o.metricResolutionMs,
      log: log.child({ component: 'metrics-scraper' }),
    });
    stops.push(() => metrics.stop());
  }
  for (const start of serverComponents) stops.push(await start({ server, kubeconfigPath, dataDir, loopback: transport }));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    for (const stop of stops.reverse()) { try { await stop(); } catch (err) { log.warn({ err }, 'component stop failed'); } }
    await loopback?.close();
    await server.close();
    compaction.stop();
    await store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
