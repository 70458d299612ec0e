/**
 * The pieces of the randomized sync model test (sync-model.test.ts): the cloud's desired objects as the model
 * knows them, a hub serving the real NodeSession over a real TLS WebSocket, and an edge (the real HubClient on a
 * real SQLite LocalStore) whose store and link fail where the seeded PRNG says.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { KubeClient } from '../../src/common/kube-client.js';
import { createLogger } from '../../src/common/logger.js';
import { createCertificateAuthority, issueCertificate, issueServerCertificate } from '../../src/pki/index.js';
import { hubTlsOptions, nodeFromPeer } from '../../src/cloudhub/hub.js';
import { bindingUri, type NodeBinding } from '../../src/cloudhub/node-identity.js';
import { SharedCache, type CachedObject } from '../../src/cloudhub/cache.js';
import { DesiredSets } from '../../src/cloudhub/desired.js';
import { Deltas } from '../../src/cloudhub/deltas.js';
import { HubMetrics } from '../../src/cloudhub/metrics.js';
import { NodeSession } from '../../src/cloudhub/session.js';
import { StatusWriter } from '../../src/cloudhub/status-writer.js';
import { SUBPROTOCOL } from '../../src/protocol/messages.js';
import { objectKey } from '../../src/protocol/keys.js';
import { HubClient } from '../../src/edge/hub-client.js';
import { CURSOR_KEY, LocalStore } from '../../src/edge/local-store.js';
import { openSqliteStore, type SqliteStore } from '../../src/storage/sqlite.js';
import type { Store } from '../../src/storage/types.js';
import type { EdgeCredentials } from '../../src/edge/config.js';

export const NODE = 'n1';
const OTHER_NODE = 'n2';
const NS = 'default';
const silent = createLogger('sync-model', 'silent');

/** Probabilities of each injected fault, per opportunity. */
export interface FaultRates {
  /** An object write (create/update/delete under /registry/) fails. */
  apply: number;
  /** A read of an object fails (the base of a patch, the current copy before an upsert). */
  read: number;
  /** A write of the sync cursor fails. */
  persist: number;
  /** The hub receives an ack and the link dies instead (the ack is lost). */
  ack: number;
  /** The hub's answer to a read through the hub (`get`) is lost: the edge's read times out. */
  getResult: number;
  /** The edge process dies (kill -9) at a store operation: nothing after it happens. */
  crash: number;
}

/** How many faults of each kind were injected, plus the driver's cuts and hub restarts. */
export type FaultCounts = Record<keyof FaultRates | 'disconnect' | 'hubRestart', number>;

export const noFaults = (): FaultCounts => ({ apply: 0, read: 0, persist: 0, ack: 0, getResult: 0, crash: 0, disconnect: 0, hubRestart: 0 });

class InjectedFault extends Error {}

interface PodModel {
  name: string;
  node: string;
  configMap: string;
  gen: number;
}

/**
 * The cloud: the model of what exists (pods and configmaps) and the hub built on it. Every change goes into the
 * hub's real SharedCache (as its informers would deliver it); `expected()` says, from the model alone, what the
 * node must end up holding: its pods and the configmaps they mount.
 */
export class Cloud {
  private rv = 100;
  readonly pods = new Map<string, PodModel & { uid: string; rv: string }>();
  readonly configMaps = new Map<string, { uid: string; rv: string; gen: number }>();
  private cache!: SharedCache;
  desired!: DesiredSets;
  private deltas!: Deltas;
  epoch = '';
  private readonly metrics = new HubMetrics();
  private readonly status = new StatusWriter(KubeClient.fromConfig({ server: 'http://127.0.0.1:1' }), () => undefined);

  constructor(private readonly maxTombstones: number) {
    this.restartHub();
  }

  /** A new hub process: new epoch, caches refilled from the objects (edges must diff their inventory). */
  restartHub(): void {
    this.cache = new SharedCache(KubeClient.fromConfig({ server: 'http://127.0.0.1:1' }), silent);
    this.desired = new DesiredSets(this.cache, { maxTombstonesPerNode: this.maxTombstones });
    this.deltas = new Deltas(this.cache);
    this.epoch = randomBytes(4).toString('hex');
    for (const [name, c] of this.configMaps) this.cache.inject('configmaps', 'upsert', this.configMapObject(name, c));
    for (const p of this.pods.values()) this.cache.inject('pods', 'upsert', this.podObject(p));
  }

  private nextRv(): string {
    return String(++this.rv);
  }

  private configMapObject(name: string, c: { uid: string; rv: string; gen: number }): CachedObject {
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, uid: c.uid, resourceVersion: c.rv }, data: { gen: String(c.gen) } } as CachedObject;
  }

  private podObject(p: PodModel & { uid: string; rv: string }): CachedObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: NS, uid: p.uid, resourceVersion: p.rv, labels: { gen: String(p.gen) } },
      spec: { nodeName: p.node, containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 'cfg', configMap: { name: p.configMap } }] },
    } as unknown as CachedObject;
  }

  putConfigMap(name: string): void {
    const cur = this.configMaps.get(name);
    const c = { uid: cur?.uid ?? `uid-cm-${name}-${this.rv}`, rv: this.nextRv(), gen: (cur?.gen ?? 0) + 1 };
    this.configMaps.set(name, c);
    this.cache.inject('configmaps', 'upsert', this.configMapObject(name, c));
  }

  deleteConfigMap(name: string): void {
    const cur = this.configMaps.get(name);
    if (!cur) return;
    this.configMaps.delete(name);
    this.cache.inject('configmaps', 'delete', { ...this.configMapObject(name, cur), metadata: { name, namespace: NS, uid: cur.uid, resourceVersion: this.nextRv() } } as CachedObject);
  }

  /** Create or change a pod (a label change, a move to another node, another configmap). */
  putPod(p: PodModel): void {
    const cur = this.pods.get(p.name);
    const next = { ...p, uid: cur?.uid ?? `uid-pod-${p.name}-${this.rv}`, rv: this.nextRv() };
    this.pods.set(p.name, next);
    this.cache.inject('pods', 'upsert', this.podObject(next));
  }

  deletePod(name: string): void {
    const cur = this.pods.get(name);
    if (!cur) return;
    this.pods.delete(name);
    this.cache.inject('pods', 'delete', { ...this.podObject(cur), metadata: { name, namespace: NS, uid: cur.uid, resourceVersion: this.nextRv() } } as CachedObject);
  }

  /** What the node must hold, from the model: key → `uid@resourceVersion`. */
  expected(): Map<string, string> {
    const out = new Map<string, string>();
    for (const p of this.pods.values()) {
      if (p.node !== NODE) continue;
      out.set(objectKey('pods', NS, p.name), `${p.uid}@${p.rv}`);
      const cm = this.configMaps.get(p.configMap);
      if (cm) out.set(objectKey('configmaps', NS, p.configMap), `${cm.uid}@${cm.rv}`);
    }
    return out;
  }

  /** A random change of the cloud's desired state. */
  mutate(random: () => number): void {
    const podNames = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
    const cmNames = ['c0', 'c1', 'c2'];
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const r = random();
    const name = pick(podNames);
    const cur = this.pods.get(name);
    if (r < 0.5) {
      // Mostly label changes of pods on this node: these travel as merge patches onto the version the edge holds.
      this.putPod({ name, node: cur && random() < 0.85 ? cur.node : random() < 0.8 ? NODE : OTHER_NODE, configMap: cur && random() < 0.9 ? cur.configMap : pick(cmNames), gen: (cur?.gen ?? 0) + 1 });
    } else if (r < 0.65) this.deletePod(name);
    else if (r < 0.92) this.putConfigMap(pick(cmNames));
    else this.deleteConfigMap(pick(cmNames));
  }

  sessionDeps(onClose: (s: NodeSession) => void, window: number) {
    return {
      epoch: this.epoch,
      cache: this.cache,
      desired: this.desired,
      deltas: this.deltas,
      status: this.status,
      metrics: this.metrics,
      log: silent,
      window,
      maxBufferedBytes: 4 * 1024 * 1024,
      maxPendingStatus: 16,
      apiWrites: { inFlight: 0, max: 16 },
      onClose,
    };
  }
}

export interface Pki {
  caCertPem: string;
  serving: { certPem: string; keyPem: string };
  node: EdgeCredentials;
}

export async function makePki(): Promise<Pki> {
  const ca = await createCertificateAuthority();
  const serving = await issueServerCertificate(ca, 'hub', ['127.0.0.1']);
  // As the hub's join signs it: bound to the Node's UID and identity generation.
  const node = await issueCertificate(ca, { commonName: `system:node:${NODE}`, organizations: ['system:nodes'], purposes: ['client'], uris: [bindingUri({ uid: 'uid-node-n1', generation: 1 })] });
  return { caCertPem: ca.certPem, serving, node: { caCertPem: ca.certPem, certPem: node.certPem, keyPem: node.keyPem } };
}

/**
 * The hub's edge port as hub.ts serves it (TLS with the node's client certificate, the node session protocol,
 * the newest session wins), on the model cloud. Its socket loses acks and read answers where the PRNG says.
 */
export class Hub {
  private readonly server: https.Server;
  private readonly wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  readonly sessions = new Set<NodeSession>();
  /** Why the hub's authentication refused the edge, if it did (the model's certificate must pass it). */
  refused: string | undefined;
  faultsOn = false;
  port = 0;

  constructor(private readonly cloud: Cloud, pki: Pki, private readonly random: () => number, private readonly rates: FaultRates, private readonly counts: FaultCounts, private readonly window: number) {
    this.server = https.createServer(hubTlsOptions(pki.serving, pki.caCertPem));
    this.server.on('upgrade', (req, socket, head) => {
      const who = nodeFromPeer(socket as TLSSocket);
      if ('error' in who || who.node !== NODE) {
        this.refused = 'error' in who ? who.error : `node ${who.node}`;
        return socket.destroy();
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, who.binding));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private accept(ws: WebSocket, binding: NodeBinding): void {
    // The edge's previous connection is dead whenever it dials again here (cut, crash or abandoned link): replace it.
    for (const s of this.sessions) s.terminate();
    this.injectFaults(ws);
    const session: NodeSession = new NodeSession(NODE, ws, this.cloud.sessionDeps((s) => this.sessions.delete(s), this.window), 60_000, { binding, remote: 'model' });
    this.sessions.add(session);
  }

  /** Lost acks (the link dies with them) and lost answers to reads through the hub. */
  private injectFaults(ws: WebSocket): void {
    const emit = ws.emit.bind(ws) as (event: string | symbol, ...args: unknown[]) => boolean;
    ws.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      if (event === 'message' && this.faultsOn && (JSON.parse(String(args[0])) as { type: string }).type === 'ack' && this.random() < this.rates.ack) {
        this.counts.ack++;
        ws.terminate();
        return true;
      }
      return emit(event, ...args);
    }) as typeof ws.emit;
    const send = ws.send.bind(ws) as (data: string, cb?: (err?: Error) => void) => void;
    ws.send = ((data: string, cb?: (err?: Error) => void): void => {
      if (this.faultsOn && (JSON.parse(data) as { type: string }).type === 'get-result' && this.random() < this.rates.getResult) {
        this.counts.getResult++;
        return;
      }
      send(data, cb);
    }) as typeof ws.send;
  }

  /** A random cut of the link. */
  disconnect(): void {
    for (const s of this.sessions) s.terminate();
  }

  /** The hub process restarts: every session ends, the caches are rebuilt under a new epoch. */
  restart(): void {
    this.disconnect();
    this.cloud.restartHub();
  }

  async close(): Promise<void> {
    this.disconnect();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const WRITES = new Set(['create', 'update', 'delete']);

/**
 * The edge agent's sync half: the real HubClient on a real SQLite store file. Its store fails where the PRNG
 * says; a crash (kill -9) makes every later store operation of that incarnation fail and throws the client away,
 * and `restart()` opens the same file again with a new client, as `kedge edge run` would.
 */
export class Edge {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'kedge-sync-model-'));
  private raw!: SqliteStore;
  private client!: HubClient;
  crashed = false;
  faultsOn = false;

  constructor(private readonly hubUrl: string, private readonly creds: EdgeCredentials, private readonly random: () => number, private readonly rates: FaultRates, private readonly counts: FaultCounts, private readonly ackEvery: number) {}

  async start(): Promise<void> {
    this.raw = await openSqliteStore(path.join(this.dir, 'store.db'));
    this.crashed = false;
    const incarnation = { dead: false };
    this.client = new HubClient({
      hubUrl: this.hubUrl,
      nodeName: NODE,
      credentials: () => this.creds,
      store: new LocalStore(this.faulty(this.raw, incarnation)),
      log: silent,
      backoff: { initialMs: 2, maxMs: 40 },
      deadAfterMs: 6_000,
      ackEvery: this.ackEvery,
      getQuietMs: 150,
      getMaxMs: 1_000,
    });
    this.current = incarnation;
    this.client.start();
  }

  private current = { dead: false };

  /** The store as this incarnation of the agent sees it: injected failures, and nothing once it is dead. */
  private faulty(inner: Store, incarnation: { dead: boolean }): Store {
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (incarnation.dead) return Promise.reject(new InjectedFault('the edge process is dead'));
          const fault = this.faultsOn ? this.pickFault(String(prop), args[0]) : undefined;
          if (fault === 'crash') {
            this.crashed = true;
            incarnation.dead = true;
          }
          if (fault) return Promise.reject(new InjectedFault(`injected ${fault} fault`));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  private pickFault(op: string, key: unknown): keyof FaultRates | undefined {
    const k = typeof key === 'string' ? key : '';
    const chance = (what: keyof FaultRates): boolean => {
      if (this.random() >= this.rates[what]) return false;
      this.counts[what]++;
      return true;
    };
    if (chance('crash')) return 'crash';
    if (k.startsWith('/registry/') && WRITES.has(op)) return chance('apply') ? 'apply' : undefined;
    if (k.startsWith('/registry/') && op === 'get') return chance('read') ? 'read' : undefined;
    if (k === CURSOR_KEY && WRITES.has(op)) return chance('persist') ? 'persist' : undefined;
    return undefined;
  }

  /** kill -9 now: the process's store operations stop where they are. */
  crash(): void {
    this.counts.crash++;
    this.crashed = true;
    this.current.dead = true;
  }

  /** Reap a crashed incarnation (its socket dies with it) and start the agent again on the same store file. */
  async restart(): Promise<void> {
    this.current.dead = true;
    await this.client.stop();
    await this.raw.close();
    await this.start();
  }

  /** What the store holds under /registry/: key → `uid@resourceVersion`. */
  async holds(): Promise<Map<string, string>> {
    const items = await new LocalStore(this.raw).inventory();
    return new Map(items.map((i) => [i.key, `${i.uid}@${i.rv}`]));
  }

  async close(): Promise<void> {
    await this.client.stop();
    await this.raw.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function describeDiff(want: Map<string, string>, have: Map<string, string>): string {
  const out: string[] = [];
  for (const [k, v] of want) if (have.get(k) !== v) out.push(`${k}: cloud ${v}, edge ${have.get(k) ?? 'missing'}`);
  for (const [k, v] of have) if (!want.has(k)) out.push(`${k}: edge holds ${v}, cloud wants none`);
  return out.join('; ');
}
