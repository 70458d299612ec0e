/**
 * The edge data dir: what `kedge edge join` writes and `kedge edge run` reads.
 *   DIR/config.json      {server, nodeName} + how the node runs (runtime, CRI socket, local API port, timings)
 *   DIR/pki/current      -> gen-...: the identity in force (key, certificate and CA are replaced together)
 *   DIR/pki/gen-.../     ca.crt (the pinned cloud CA, exactly one certificate), node.crt, node.key (0600)
 *   DIR/pki/{ca.crt,node.crt,node.key} -> current/...  stable paths for people and tools
 *   DIR/store.db         the local SQLite store (desired objects, sync cursor, buffered status)
 *   DIR/pods/            owned by the pod manager
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { readFileSet, replaceFileSet, writePublicFile, type FileSetStepHook } from '../pki/files.js';
import { keyMatchesCertificate, singleCertificatePem } from '../pki/inspect.js';

export interface EdgeCredentials {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

export type EdgeRuntimeKind = 'cri' | 'none';

/** How the node runs, as `join` was told: `run` uses exactly this (see resolveRunSettings). */
export interface EdgeRunSettings {
  runtime: EdgeRuntimeKind;
  /** CRI socket (runtime cri only). */
  criSocket?: string;
  /** Local read-only API port on 127.0.0.1; -1 = off. */
  localApiPort: number;
  heartbeatMs: number;
  keepaliveMs: number;
  reconnectMaxMs: number;
  /** Device twin MQTT broker: embedded (aedes), none, or tcp://HOST:PORT of an external one (src/edge/devices). */
  mqttBroker?: string;
  /** Where the embedded broker listens (default 127.0.0.1:1883; port 0 = ephemeral). */
  mqttBind?: string;
  mqttPort?: number;
  /** Node-local DNS on this IP, written into ClusterFirst pods' resolv.conf (the kubelet's --cluster-dns); unset = off. */
  clusterDns?: string;
  /** The kubelet's --cluster-domain (default cluster.local). */
  clusterDomain?: string;
  /** The node DNS port (default 53; tests only: pods always ask port 53). */
  dnsPort?: number;
  /**
   * The node's service proxy (src/edge/proxy): nftables (ClusterIP/NodePort rules and the pool's pod routes) or none.
   * Unset: nftables with runtime cri (pods need it), none with runtime none (no pods).
   */
  serviceProxy?: 'nftables' | 'none';
  /** Probe the pool's peers and answer their probes on this port at the node's InternalIP (src/edge/peer-health.ts); unset or -1 = off. */
  peerHealthPort?: number;
  /** Peer probe period (default 10 s). */
  peerProbePeriodMs?: number;
}

export interface EdgeConfig extends Partial<EdgeRunSettings> {
  server: string;
  nodeName: string;
}

export const edgePaths = (dataDir: string) => ({
  config: path.join(dataDir, 'config.json'),
  pki: path.join(dataDir, 'pki'),
  caCert: path.join(dataDir, 'pki', 'ca.crt'),
  cert: path.join(dataDir, 'pki', 'node.crt'),
  key: path.join(dataDir, 'pki', 'node.key'),
  store: path.join(dataDir, 'store.db'),
});

const IDENTITY_FILES = { caCert: 'ca.crt', cert: 'node.crt', key: 'node.key' } as const;

/** Join: the identity first (committed as one unit), then config.json, whose presence means "joined". */
export async function writeEdgeIdentity(dataDir: string, cfg: EdgeConfig, creds: EdgeCredentials): Promise<void> {
  await writeNodeIdentity(dataDir, creds);
  await writeEdgeConfig(dataDir, cfg);
}

export async function writeEdgeConfig(dataDir: string, cfg: EdgeConfig): Promise<void> {
  await writePublicFile(edgePaths(dataDir).config, JSON.stringify(cfg, null, 2) + '\n');
}

export async function readEdgeConfig(dataDir: string): Promise<EdgeConfig> {
  const p = edgePaths(dataDir);
  let raw: string;
  try {
    raw = await readFile(p.config, 'utf8');
  } catch {
    throw new Error(`${dataDir} is not a joined edge data dir (no config.json): run \`kedge edge join\` first`);
  }
  let config: EdgeConfig;
  try {
    config = JSON.parse(raw) as EdgeConfig;
  } catch (err) {
    throw new Error(`${p.config} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof config?.server !== 'string' || typeof config.nodeName !== 'string') throw new Error(`${p.config} is malformed: server and nodeName must be strings`);
  if (config.runtime !== undefined && config.runtime !== 'cri' && config.runtime !== 'none') throw new Error(`${p.config} is malformed: runtime must be "cri" or "none"`);
  return config;
}

export async function readEdgeIdentity(dataDir: string): Promise<{ config: EdgeConfig; credentials: EdgeCredentials }> {
  const config = await readEdgeConfig(dataDir);
  return { config, credentials: await readNodeIdentity(dataDir) };
}

/** The identity in force: key, certificate and CA of one generation; refuses a key that is not the certificate's. */
export async function readNodeIdentity(dataDir: string): Promise<EdgeCredentials> {
  const p = edgePaths(dataDir);
  const files = await readFileSet(p.pki, Object.values(IDENTITY_FILES)).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the node identity in ${p.pki}: ${err.message}; join this node again`);
  });
  const creds = { caCertPem: files[IDENTITY_FILES.caCert]!, certPem: files[IDENTITY_FILES.cert]!, keyPem: files[IDENTITY_FILES.key]! };
  if (!keyMatchesCertificate(creds.certPem, creds.keyPem)) throw new Error(`${p.key} does not belong to ${p.cert}: join this node again`);
  try {
    // Only what the pin covered is trusted: a data dir with a CA bundle (written before the pin covered all of it) is refused.
    singleCertificatePem(creds.caCertPem);
  } catch (err) {
    throw new Error(`${p.caCert}: ${(err as Error).message}; join this node again`);
  }
  return creds;
}

/**
 * Write (join) or replace (rotation) the node's key, certificate and CA together: a crash at any point leaves
 * the old identity or the new one, never a key with another key's certificate (see replaceFileSet).
 */
export async function writeNodeIdentity(dataDir: string, creds: EdgeCredentials, step?: FileSetStepHook): Promise<void> {
  await replaceFileSet(
    edgePaths(dataDir).pki,
    [
      { name: IDENTITY_FILES.caCert, data: creds.caCertPem, mode: 0o644 },
      { name: IDENTITY_FILES.key, data: creds.keyPem, mode: 0o600 },
      { name: IDENTITY_FILES.cert, data: creds.certPem, mode: 0o644 },
    ],
    step,
  );
}

/** What `kedge edge join/run` were given on the command line (undefined = not given). */
export interface RunFlagValues {
  runtime?: string;
  criSocket?: string;
  localApiPort?: string;
  heartbeat?: string;
  keepalive?: string;
  reconnectMax?: string;
  mqttBroker?: string;
  mqttBind?: string;
  mqttPort?: string;
  clusterDns?: string;
  clusterDomain?: string;
  dnsPort?: string;
  serviceProxy?: string;
  peerHealthPort?: string;
  peerProbePeriod?: string;
  /** Per run, not stored: the kubelet's containerLogMaxSize / containerLogMaxFiles. */
  containerLogMaxSize?: string;
  containerLogMaxFiles?: string;
}

export const RUN_DEFAULTS = { runtime: 'cri', localApiPort: 10550, heartbeatMs: 10_000, keepaliveMs: 15_000, reconnectMaxMs: 30_000 } as const;

function parseFlags(flags: RunFlagValues): Partial<EdgeRunSettings> {
  const out: Partial<EdgeRunSettings> = {};
  if (flags.runtime !== undefined) {
    if (flags.runtime !== 'cri' && flags.runtime !== 'none') throw new Error(`invalid --runtime ${JSON.stringify(flags.runtime)}: cri or none`);
    out.runtime = flags.runtime;
  }
  if (flags.criSocket !== undefined) out.criSocket = flags.criSocket;
  if (flags.localApiPort !== undefined) {
    const port = Number(flags.localApiPort);
    if (!Number.isInteger(port) || port < -1 || port > 65535) throw new Error(`invalid --local-api-port ${flags.localApiPort}`);
    out.localApiPort = port;
  }
  const ms = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n >= 100)) throw new Error(`invalid ${flag} ${v}: milliseconds (≥ 100)`);
    return n;
  };
  const heartbeatMs = ms('--heartbeat', flags.heartbeat);
  const keepaliveMs = ms('--keepalive', flags.keepalive);
  const reconnectMaxMs = ms('--reconnect-max', flags.reconnectMax);
  if (flags.mqttBroker !== undefined) {
    if (!/^(embedded|none|(tcp|mqtt):\/\/\S+)$/.test(flags.mqttBroker)) throw new Error(`invalid --mqtt-broker ${JSON.stringify(flags.mqttBroker)}: embedded, none or tcp://HOST:PORT`);
    out.mqttBroker = flags.mqttBroker;
  }
  if (flags.mqttBind !== undefined) out.mqttBind = flags.mqttBind;
  if (flags.mqttPort !== undefined) {
    const port = Number(flags.mqttPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --mqtt-port ${flags.mqttPort}`);
    out.mqttPort = port;
  }
  if (flags.clusterDns !== undefined) {
    if (flags.clusterDns !== 'none' && !isIP(flags.clusterDns)) throw new Error(`invalid --cluster-dns ${JSON.stringify(flags.clusterDns)}: an IP address (e.g. 169.254.20.10) or none`);
    out.clusterDns = flags.clusterDns;
  }
  if (flags.clusterDomain !== undefined) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(flags.clusterDomain)) throw new Error(`invalid --cluster-domain ${JSON.stringify(flags.clusterDomain)}: a DNS name such as cluster.local`);
    out.clusterDomain = flags.clusterDomain;
  }
  if (flags.dnsPort !== undefined) {
    const port = Number(flags.dnsPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --dns-port ${flags.dnsPort}`);
    out.dnsPort = port;
  }
  if (flags.serviceProxy !== undefined) {
    if (flags.serviceProxy !== 'nftables' && flags.serviceProxy !== 'none') throw new Error(`invalid --service-proxy ${JSON.stringify(flags.serviceProxy)}: nftables or none`);
    out.serviceProxy = flags.serviceProxy;
  }
  if (flags.peerHealthPort !== undefined) {
    const port = Number(flags.peerHealthPort);
    if (!Number.isInteger(port) || port < -1 || port === 0 || port > 65535) throw new Error(`invalid --peer-health-port ${flags.peerHealthPort}: a port (the same on every node of the pool) or -1 (off)`);
    out.peerHealthPort = port;
  }
  const peerProbePeriodMs = ms('--peer-probe-period', flags.peerProbePeriod);
  if (peerProbePeriodMs !== undefined) out.peerProbePeriodMs = peerProbePeriodMs;
  if (heartbeatMs !== undefined) out.heartbeatMs = heartbeatMs;
  if (keepaliveMs !== undefined) out.keepaliveMs = keepaliveMs;
  if (reconnectMaxMs !== undefined) out.reconnectMaxMs = reconnectMaxMs;
  return out;
}

/** Settings other things on the node depend on: a run flag must not contradict them (timings may differ per run). */
const FIXED: ReadonlyArray<{ key: 'runtime' | 'criSocket' | 'localApiPort'; flag: string }> = [
  { key: 'runtime', flag: '--runtime' },
  { key: 'criSocket', flag: '--cri-socket' },
  { key: 'localApiPort', flag: '--local-api-port' },
];

/**
 * The settings a run uses: the stored ones (from join), flags filling what is not stored (a data dir from before
 * settings were kept), defaults last. A flag contradicting a stored runtime, CRI socket or local API port is an
 * error naming both: silently starting another runtime would re-create every pod beside the running ones.
 * `defaultCriSocket` is only consulted for runtime cri. `changed` says whether config.json should be rewritten.
 */
export function resolveRunSettings(
  stored: EdgeConfig,
  flags: RunFlagValues,
  defaultCriSocket: () => string,
  configFile = 'config.json',
): { settings: EdgeRunSettings; changed: boolean } {
  const given = parseFlags(flags);
  for (const { key, flag } of FIXED) {
    const want = given[key];
    const have = stored[key];
    if (want !== undefined && have !== undefined && want !== have) {
      throw new Error(`${flag} ${want} contradicts this node's configuration: it was joined with ${flag} ${have} (${configFile}); run it without ${flag}, or join it again to change it`);
    }
  }
  const runtime = stored.runtime ?? given.runtime ?? RUN_DEFAULTS.runtime;
  if (runtime === 'none' && given.criSocket !== undefined) {
    throw new Error(`--cri-socket ${given.criSocket} contradicts this node's configuration: it runs with --runtime none (${configFile})`);
  }
  const settings: EdgeRunSettings = {
    runtime,
    ...(runtime === 'cri' ? { criSocket: stored.criSocket ?? given.criSocket ?? defaultCriSocket() } : {}),
    localApiPort: stored.localApiPort ?? given.localApiPort ?? RUN_DEFAULTS.localApiPort,
    heartbeatMs: given.heartbeatMs ?? stored.heartbeatMs ?? RUN_DEFAULTS.heartbeatMs,
    keepaliveMs: given.keepaliveMs ?? stored.keepaliveMs ?? RUN_DEFAULTS.keepaliveMs,
    reconnectMaxMs: given.reconnectMaxMs ?? stored.reconnectMaxMs ?? RUN_DEFAULTS.reconnectMaxMs,
  };
  // Device MQTT: as join was told unless this run says otherwise (apps on the node connect there: keep it stable).
  const mqttBroker = given.mqttBroker ?? stored.mqttBroker;
  const mqttBind = given.mqttBind ?? stored.mqttBind;
  const mqttPort = given.mqttPort ?? stored.mqttPort;
  if (mqttBroker !== undefined) settings.mqttBroker = mqttBroker;
  if (mqttBind !== undefined) settings.mqttBind = mqttBind;
  if (mqttPort !== undefined) settings.mqttPort = mqttPort;
  // Node DNS: as join was told unless this run says otherwise (`--cluster-dns none` turns it off).
  for (const key of ['clusterDns', 'clusterDomain', 'dnsPort'] as const) {
    const v = given[key] ?? stored[key];
    if (v !== undefined) (settings as unknown as Record<string, unknown>)[key] = v;
  }
  const serviceProxy = given.serviceProxy ?? stored.serviceProxy;
  if (serviceProxy !== undefined) settings.serviceProxy = serviceProxy;
  // Peer health: as join was told unless this run says otherwise (`--peer-health-port -1` turns it off).
  for (const key of ['peerHealthPort', 'peerProbePeriodMs'] as const) {
    const v = given[key] ?? stored[key];
    if (v !== undefined) settings[key] = v;
  }
  const changed =
    stored.runtime !== settings.runtime ||
    stored.criSocket !== settings.criSocket ||
    stored.localApiPort !== settings.localApiPort ||
    stored.heartbeatMs === undefined ||
    stored.keepaliveMs === undefined ||
    stored.reconnectMaxMs === undefined;
  return { settings, changed };
}
