/**
 * The two-node (or more) edge site for the Services suites: a real `kedge server` on the host, and per edge node a
 * network namespace on a private link-local LAN (test/harness/netns.ts) holding that node's own containerd (own
 * root/state/socket, CNI bridge with the node's pod CIDR) and its `kedge edge` agent, joined into a NodePool. Nodes
 * reach the hub at the host's LAN address; `lab.cutCloud(node)` cuts one node's uplink, its LAN stays.
 *
 * Shared by the proxy suite and the DNS / peer-health suite (issue 14): import from here.
 */
import http from 'node:http';
import path from 'node:path';
import { createToken, eventually, startCluster, type Cluster } from '../edge/cluster.js';
import type { ManagedProcess } from '../harness/processes.js';
import { NetnsLab, inNetns, netnsSkipReason, type LabNode } from '../harness/netns.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { skipReason as runtimeSkipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';

export { eventually };

export interface NodeSpec {
  name: string;
  pool: string;
  /** false: `--runtime none` (a node that only syncs: enough to look at what it is sent). */
  cri?: boolean;
  /** More `kedge edge join` flags (stored by join, so restarts keep them), e.g. `--cluster-dns 169.254.20.10`. */
  flags?: string[];
}

export interface SiteNode {
  name: string;
  pool: string;
  lab: LabNode;
  dataDir: string;
  /** This node's pod CIDR (its CNI bridge's subnet, and the Node's spec.podCIDR). */
  podCidr: string;
  runtime?: RuntimeFixture;
  /** The running agent (`edge join` first, `edge run` after restartEdge). */
  proc: ManagedProcess;
  /** Flags every run of this agent gets (per-run timings). */
  runFlags: string[];
}

export interface Site {
  cluster: Cluster;
  lab: NetnsLab;
  nodes: SiteNode[];
  /** The hub URL as nodes dial it. */
  hubUrl: string;
  kubectl(args: string[], input?: string): Promise<string>;
  apply(obj: unknown): Promise<string>;
  node(name: string): SiteNode;
  stop(): Promise<void>;
}

export function siteSkipReason(): string | undefined {
  return runtimeSkipReason() ?? netnsSkipReason();
}

const RUN_FLAGS = ['--heartbeat', '1000', '--keepalive', '1000', '--reconnect-max', '1500', '--mqtt-port', '0'];

/** The agent as a process inside the node's network namespace. */
function agentProcess(site: Pick<Site, 'cluster'>, node: Pick<SiteNode, 'lab'>, name: string, args: string[], ready: RegExp): Promise<ManagedProcess> {
  const k = kedgeCommand(args);
  const c = inNetns(node.lab.netns, k.command, k.args);
  return site.cluster.h.start({ name, command: c.command, args: c.args, ready: { logLine: ready, timeoutMs: 120_000 } });
}

/**
 * A server, a LAN, and one node per spec (in that order). Pools are created as NodePools first. Each CRI node gets
 * pod CIDR 10.244.<i+1>.0/24 (namespaces keep them private to this test).
 */
export async function startSite(label: string, specs: NodeSpec[], opts: { serverArgs?: string[] } = {}): Promise<Site> {
  const lab = NetnsLab.create();
  let cluster: Cluster | undefined;
  const nodes: SiteNode[] = [];
  const stop = async () => {
    await cluster?.proxy.close();
    await cluster?.h.cleanup();
    for (const n of nodes) await n.runtime?.stop().catch(() => undefined);
    lab.destroy();
  };
  try {
    cluster = await startCluster(label, { serverArgs: ['--tls-san', lab.hostAddress, ...(opts.serverArgs ?? [])] });
    const c = cluster;
    const hubUrl = `https://${lab.hostAddress}:${c.hubPort}`;
    const site: Site = {
      cluster: c,
      lab,
      nodes,
      hubUrl,
      kubectl: (args, input) => c.kubectl(args, input),
      apply: (obj) => c.kubectl(['apply', '-f', '-'], JSON.stringify(obj)),
      node: (name) => {
        const n = nodes.find((x) => x.name === name);
        if (!n) throw new Error(`no node ${name}`);
        return n;
      },
      stop,
    };
    for (const pool of new Set(specs.map((s) => s.pool))) {
      await site.apply({ apiVersion: 'apps.openyurt.io/v1beta1', kind: 'NodePool', metadata: { name: pool }, spec: { type: 'Edge' } });
    }
    const token = await createToken(c);
    for (const [i, spec] of specs.entries()) {
      const labNode = lab.addNode(spec.name);
      const podCidr = `10.244.${i + 1}.0/24`;
      // eth0 exists before the CNI bridge: the agent reports the first non-loopback IPv4 address as InternalIP.
      const runtime = spec.cri === false ? undefined : await startRuntime({ netns: labNode.netns, podCidr });
      const dataDir = c.h.tempDir(spec.name);
      const runtimeFlags = runtime ? ['--runtime', 'cri', '--cri-socket', runtime.socket] : ['--runtime', 'none'];
      const proc = await agentProcess(site, { lab: labNode }, spec.name, [
        'edge', 'join', '--server', hubUrl, '--token', token.token, '--ca-cert-hash', token.hash, '--node-name', spec.name,
        '--nodepool', spec.pool, '--pod-cidr', podCidr, '--data-dir', dataDir, ...runtimeFlags, ...RUN_FLAGS, ...(spec.flags ?? []),
      ], /connected to hub/);
      nodes.push({ name: spec.name, pool: spec.pool, lab: labNode, dataDir, podCidr, runtime, proc, runFlags: RUN_FLAGS });
    }
    return site;
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Stop (SIGKILL by default, as a power cut) and start the agent again with `kedge edge run`. `ready` is the log line
 * to wait for: `/connected to hub/` when the cloud is reachable, something local when it is not.
 */
export async function restartEdge(site: Site, node: SiteNode, opts: { kill9?: boolean; ready?: RegExp } = {}): Promise<void> {
  if (opts.kill9 === false) await node.proc.stop();
  else await node.proc.kill9();
  node.proc = await agentProcess(site, node, `${node.name}-run${Date.now() % 100000}`, ['edge', 'run', '--data-dir', node.dataDir, ...node.runFlags], opts.ready ?? /connected to hub/);
}

/** GET from a node's local API over its Unix socket (the node's own credential: root on the node). */
export function localGet<T = unknown>(node: SiteNode, p: string): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: path.join(node.dataDir, 'local-api.sock'), path: p, timeout: 10_000 }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as T });
        } catch (err) {
          reject(new Error(`bad JSON from ${node.name}'s local API ${p}: ${data.slice(0, 200)} (${String(err)})`));
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('local API timeout')));
  });
}

export interface PodInfo {
  metadata: { name: string; namespace?: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string; reason?: string }>; containerStatuses?: Array<{ name: string; ready: boolean; containerID?: string }> };
}

export async function podsBySelector(site: Site, selector: string, namespace = 'default'): Promise<PodInfo[]> {
  return (JSON.parse(await site.kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json'])) as { items: PodInfo[] }).items;
}

/** Run a command in a pod's container through its node's containerd (works with the cloud gone). */
export async function execInPod(node: SiteNode, containerId: string, cmd: string[], timeoutSeconds = 15): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  if (!node.runtime) throw new Error(`${node.name} has no runtime`);
  const r = await node.runtime.runtime.execSync(containerId.replace(/^containerd:\/\//, ''), cmd, timeoutSeconds);
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exitCode: r.exitCode };
}

/** A container spec on the site's busybox image (imported into every node's containerd; never pulled). */
export function busybox(site: Site, name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const image = site.nodes.find((n) => n.runtime)?.runtime?.busybox;
  if (!image) throw new Error('no node with a runtime');
  return { name, image, imagePullPolicy: 'Never', command: ['sh', '-c', script], ...extra };
}

/** Wait until `count` pods matching `selector` are Running and Ready; returns them. */
export async function waitReadyPods(site: Site, selector: string, count: number, timeoutMs = 240_000): Promise<PodInfo[]> {
  let ready: PodInfo[] = [];
  await eventually(`${count} Ready pods ${selector}`, async () => {
    const ps = await podsBySelector(site, selector);
    ready = ps.filter((p) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === count || JSON.stringify(ps.map((p) => [p.metadata.name, p.spec.nodeName, p.status?.phase]));
  }, timeoutMs, 1000);
  return ready;
}
