/**
 * Several `kedge server` processes on one datastore, for the HA acceptance tests: start them (the joining ones with
 * the first one's CA and service-account keys, docs/design/datastores.md), run kubectl against one, and see which
 * hub an edge is on.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Harness, ManagedProcess } from '../harness/processes.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { HubRotation } from '../../src/edge/hubs.js';

export interface HaServer {
  server: ManagedProcess;
  dataDir: string;
  port: number;
  hubPort: number;
  hubUrl: string;
  kubeconfig: string;
}

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/kubectl', [`--kubeconfig=${kubeconfig}`, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Where a server listens: fresh ports on 127.0.0.1 unless given (a restart keeps its ports; hubs may share a port on two addresses). */
export interface ServerPlace {
  port?: number;
  hubPort?: number;
  hubHost?: string;
}

export async function startServer(h: Harness, name: string, dataDir: string, endpoint: string, extra: string[] = [], place: ServerPlace = {}): Promise<HaServer> {
  const port = place.port ?? await h.freePort();
  const hubPort = place.hubPort ?? await h.freePort();
  const hubHost = place.hubHost ?? '127.0.0.1';
  const server = await h.startKedge(name, [
    'server', '--data-dir', dataDir, '--secure-port', String(port), '--hub-port', String(hubPort), '--hub-bind-address', hubHost, '--datastore-endpoint', endpoint, ...extra,
  ], { ready: { logLine: /kedge server ready/, timeoutMs: 90_000 }, env: { ...process.env, KEDGE_LOG_LEVEL: 'info' } });
  await server.waitForLog(/cloud hub listening/, 60_000);
  return { server, dataDir, port, hubPort, hubUrl: `https://${hubHost}:${hubPort}`, kubeconfig: path.join(dataDir, 'admin.kubeconfig') };
}

/** The documented bootstrap of a joining server: the first one's CA and service-account signing keys, nothing else. */
export function copyBootstrapPki(fromDir: string, toDir: string): void {
  mkdirSync(path.join(toDir, 'pki'), { recursive: true, mode: 0o700 });
  for (const f of ['ca.crt', 'ca.key', 'sa.key', 'sa.pub']) copyFileSync(path.join(fromDir, 'pki', f), path.join(toDir, 'pki', f));
}

/** The hub URL of the edge's latest "connected to hub" log line. */
export function connectedHub(edge: ManagedProcess): string | undefined {
  const lines = edge.currentOutput.split('\n').filter((l) => l.includes('connected to hub') && !l.includes('disconnected'));
  return lines.length ? (JSON.parse(lines[lines.length - 1]!) as { hub?: string }).hub : undefined;
}

/** `hubs` reordered so that node `node` starts on `hubs[0]` and moves to `hubs[1]` next (HubRotation picks by name). */
export function orderForNode(hubs: string[], node: string): string[] {
  const n = hubs.length;
  const start = Number(new HubRotation(hubs.map((_, i) => `https://placeholder-${i}:1`).join(','), node).current().match(/placeholder-(\d+)/)![1]!);
  return Array.from({ length: n }, (_, i) => hubs[(i - start + n) % n]!);
}

/** `kedge token create` against a server: [token, CA hash]. */
export function createJoinToken(kubeconfig: string, ttl = '1h'): Promise<[string, string]> {
  const cmd = kedgeCommand(['token', 'create', '--kubeconfig', kubeconfig, '--ttl', ttl]);
  return new Promise((resolve, reject) =>
    execFile(cmd.command, cmd.args, (err, stdout) => (err ? reject(err) : resolve(stdout.trim().split('\n') as [string, string]))),
  );
}

/** The hub's Prometheus text (public on the hub port, served with the cluster CA). */
export function hubMetrics(s: HaServer): Promise<string> {
  const ca = readFileSync(path.join(s.dataDir, 'pki', 'ca.crt'), 'utf8');
  return new Promise((resolve, reject) => {
    https.get({ host: new URL(s.hubUrl).hostname, port: s.hubPort, path: '/metrics', ca, servername: '', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The value of one sample (`name{labels}`) in Prometheus text, 0 when absent. */
export function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Every sample of the hubs' Prometheus texts summed: `sample` over all servers given. */
export async function hubSum(servers: HaServer[], samples: string[]): Promise<number> {
  let total = 0;
  for (const s of servers) {
    const text = await hubMetrics(s);
    for (const sample of samples) total += metric(text, sample);
  }
  return total;
}

/** Bytes of objects sent to edges (upsert, patch, delete messages) by these hubs. */
export const OBJECT_BYTES = ['upsert', 'patch', 'delete'].map((t) => `kedge_hub_sent_bytes_total{type="${t}"}`);

/** When (ms since epoch, from the JSON log line) this server logged "became leader", if it did. */
export function becameLeaderAt(s: HaServer): number | undefined {
  for (const line of s.server.currentOutput.split('\n')) {
    if (!line.includes('became leader')) continue;
    const entry = JSON.parse(line) as { time: number; msg?: string };
    if (entry.msg === 'became leader') return entry.time;
  }
  return undefined;
}
