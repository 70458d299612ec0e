/**
 * Test helpers for the edge suites: a real `kedge server` (API + hub), real kubectl, real `kedge edge`
 * processes dialling the hub through the fault-injecting proxy (test/harness), and the edges' local
 * read-only APIs to look at what each edge holds.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { cpSync, lstatSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness, type ManagedProcess } from '../harness/processes.js';
import { FaultProxy, type FaultLink } from '../harness/fault-proxy.js';

export const KUBECTL = '/usr/bin/kubectl';

export interface Cluster {
  h: Harness;
  server: ManagedProcess;
  dataDir: string;
  kubeconfig: string;
  apiPort: number;
  /** Where edges dial (the server's hub, or a separate `kedge cloud`). */
  hubPort: number;
  proxy: FaultProxy;
  kubectl(args: string[], input?: string): Promise<string>;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/**
 * `hub: false` runs the server with --hub-port -1 (for suites that run `kedge cloud` separately);
 * `serverArgs` are added to `kedge server`'s (e.g. a short --node-monitor-grace-period).
 */
export async function startCluster(label: string, opts: { hub?: boolean; serverArgs?: string[]; seed?: (dataDir: string) => void } = {}): Promise<Cluster> {
  const h = new Harness(label);
  const dataDir = h.tempDir('server');
  opts.seed?.(dataDir); // files the server must find on its first start (e.g. server/manifests)
  const apiPort = await h.freePort();
  const hubPort = await h.freePort();
  const server = await h.startKedge(
    'server',
    ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', opts.hub === false ? '-1' : String(hubPort), ...(opts.serverArgs ?? [])],
    { ready: { url: `https://127.0.0.1:${apiPort}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 60_000 }, env: { KEDGE_LOG_LEVEL: 'info' } },
  );
  // /readyz answers (401) as soon as the API listens, a moment before admin.kubeconfig is written: wait for that too.
  await server.waitForLog(/kedge server ready/, 60_000);
  if (opts.hub !== false) await server.waitForLog(/cloud hub listening/, 60_000);
  const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
  const proxy = new FaultProxy();
  return {
    h,
    server,
    dataDir,
    kubeconfig,
    apiPort,
    hubPort,
    proxy,
    // --validate=false: apply's client-side schema validation is not what these suites test.
    kubectl: (args, input) => run(KUBECTL, ['--kubeconfig', kubeconfig, ...args, ...(args[0] === 'apply' ? ['--validate=false'] : [])], { input }),
  };
}

export async function createToken(c: Cluster, ttl = '1h', extra: string[] = []): Promise<{ token: string; hash: string }> {
  const { kedgeCommand } = await import('../helpers/kedge-cli.js');
  const cmd = kedgeCommand(['token', 'create', '--kubeconfig', c.kubeconfig, '--ttl', ttl, ...extra]);
  const out = (await run(cmd.command, cmd.args)).trim().split('\n');
  return { token: out[0]!, hash: out[1]! };
}

export interface Edge {
  name: string;
  dataDir: string;
  link: FaultLink;
  localApiPort: number;
  proc: ManagedProcess;
  extraFlags: string[];
}

// --mqtt-port 0: each edge's embedded device-twin MQTT broker on a port of its own (many edges share this machine).
// --service-proxy none: these edges share the host's network namespace; the proxy's suites give each node its own
// (test/services/cluster.ts).
export const EDGE_FLAGS = ['--runtime', 'none', '--heartbeat', '1000', '--keepalive', '1000', '--reconnect-max', '1500', '--mqtt-port', '0', '--service-proxy', 'none'];

/** Join through a fresh proxy link; `extraFlags` come last, so they override EDGE_FLAGS (e.g. --runtime cri). */
export async function joinEdge(c: Cluster, name: string, token: { token: string; hash: string }, extraFlags: string[] = []): Promise<Edge> {
  // A node joined again (tests of re-joins) gets a link of its own.
  const taken = new Set(c.proxy.all().map((l) => l.name));
  let linkName = name;
  for (let i = 2; taken.has(linkName); i++) linkName = `${name}-${i}`;
  const link = await c.proxy.addLink(linkName, { host: '127.0.0.1', port: c.hubPort });
  const dataDir = c.h.tempDir(name);
  const localApiPort = await c.h.freePort();
  const proc = await c.h.startKedge(
    name,
    [
      'edge', 'join',
      '--server', `https://127.0.0.1:${link.port}`,
      '--token', token.token,
      '--ca-cert-hash', token.hash,
      '--node-name', name,
      '--data-dir', dataDir,
      '--local-api-port', String(localApiPort),
      ...EDGE_FLAGS,
      ...extraFlags,
    ],
    { ready: { logLine: /connected to hub/, timeoutMs: 90_000 } },
  );
  return { name, dataDir, link, localApiPort, proc, extraFlags };
}

/** `kedge edge run` for an already-joined edge (same data dir, local API port). */
export function edgeRunArgs(e: Edge): string[] {
  return ['edge', 'run', '--data-dir', e.dataDir, '--local-api-port', String(e.localApiPort), ...EDGE_FLAGS, ...e.extraFlags];
}

/** The node's local-API credential (DATA_DIR/local-api.token, 0600): the suites read the edge as root on its node would. */
export function localApiToken(e: Edge): string {
  return readFileSync(path.join(e.dataDir, 'local-api.token'), 'utf8').trim();
}

/** GET from the edge's local API, with the node's token unless `headers` says otherwise (`{}`: anonymous). */
export function localGet<T = unknown>(e: Edge, p: string, headers?: Record<string, string>): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: e.localApiPort, path: p, timeout: 10_000, headers: headers ?? { authorization: `Bearer ${localApiToken(e)}` } }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as T });
        } catch (err) {
          reject(new Error(`bad JSON from local API ${p}: ${data.slice(0, 200)} (${String(err)})`));
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('local API timeout')));
  });
}

interface Obj {
  metadata: { name: string; namespace?: string; uid?: string };
  data?: Record<string, string>;
}

/** names of the objects of one kind in one namespace, as the edge's local API lists them */
export async function edgeNames(e: Edge, resourcePath: string): Promise<string[]> {
  const r = await localGet<{ items: Obj[] }>(e, resourcePath);
  if (r.status !== 200) throw new Error(`local API ${resourcePath}: HTTP ${r.status}`);
  return r.body.items.map((i) => i.metadata.name).sort();
}

/** The hub's Prometheus text (its /metrics is public on the hub port, served with the cluster CA). */
export function hubMetricsText(c: Cluster): Promise<string> {
  const ca = readFileSync(path.join(c.dataDir, 'pki', 'ca.crt'), 'utf8');
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: c.hubPort, path: '/metrics', ca, servername: '', timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Poll until check() returns true (bounded); throws with the last reason. */
export async function eventually(what: string, check: () => Promise<boolean | string>, timeoutMs = 60_000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = '';
  for (;;) {
    try {
      const r = await check();
      if (r === true) return;
      last = r;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await sleep(everyMs);
  }
}

/** A stable fingerprint of a list of objects: name, uid, data — for exact edge-vs-cloud comparison. */
export function fingerprint(items: Obj[]): string[] {
  return items.map((i) => `${i.metadata.namespace ?? ''}/${i.metadata.name} ${i.metadata.uid ?? ''} ${JSON.stringify(i.data ?? {})}`).sort();
}

/** A v1 List of Secrets (one key each) for `kubectl apply -f -`. */
export function secretList(names: string[]): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: names.map((n) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: n, namespace: 'default' }, stringData: { k: n } })),
  });
}

/**
 * Copy an edge's data dir as an operator copying a disk would (a "copied data dir"). A running agent's local API
 * socket is not a file to copy (cpSync refuses sockets): the copy's agent makes its own.
 */
export function copyDataDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, filter: (src) => !lstatSync(src).isSocket() });
}
