/**
 * The edge nodes of the HA acceptance suite, seen one way whatever they are: a real `kedge edge` process on the
 * shared containerd (the node that runs real containers) and hollow nodes (src/sim: the real EdgeAgent with the
 * fake runtime, in this process). Each knows every hub; what it holds is compared with what the cloud holds.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Harness, ManagedProcess } from '../harness/processes.js';
import { EDGE_FLAGS, localGet, type Edge } from '../edge/cluster.js';
import { createLogger } from '../../src/common/logger.js';
import { joinCluster } from '../../src/edge/join.js';
import { HollowNode } from '../../src/sim/hollow-node.js';
import { CriRuntime } from '../../src/runtime/cri/client.js';
import { ensureSandboxImage } from '../../src/runtime/image/ensure.js';
import { importImageBuffer } from '../../src/runtime/image/import.js';
import { buildBusyboxArchive } from '../../src/runtime/image/busybox.js';
import { connectedHub, kubectl } from './ha-cluster.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The one containerd every suite shares (scripts/containerd.sh defaults): started if absent, never restarted. */
export const SHARED_CRI_SOCKET = process.env.KEDGE_CONTAINERD_SOCK ?? '/run/kedge/containerd.sock';

export interface HaEdge {
  name: string;
  /** The hub it is connected to now (undefined while it is not). */
  hub(): string | undefined;
  /**
   * `pod NS/NAME UID` and `service NS/NAME UID RV` for every pod and service of `ns` the edge holds, sorted. RV is
   * the cloud's resourceVersion where the edge keeps it (its store); empty through the local API, which serves the
   * edge's own revisions.
   */
  holds(ns: string): Promise<string[]>;
  /** Whether holds() carries the cloud's resourceVersions. */
  cloudVersions: boolean;
  stop(): Promise<void>;
}

const HELD = (ns: string) => new RegExp(`/(pods|services)/${ns}/([^/]+)$`);

function line(kind: string, ns: string, name: string, uid: string, rv: string): string {
  return kind === 'pods' ? `pod ${ns}/${name} ${uid}` : `service ${ns}/${name} ${uid} ${rv}`;
}

/** Hollow nodes joined with a bootstrap token through the hubs in the order given for each. */
export async function startHollowEdges(names: string[], hubOrder: (name: string) => string[], token: [string, string], baseDir: (name: string) => string): Promise<HaEdge[]> {
  const edges: HaEdge[] = [];
  for (const name of names) {
    const hubs = hubOrder(name).join(',');
    const dataDir = baseDir(name);
    const credentials = await joinCluster({ server: hubs, token: token[0], caCertHash: token[1], nodeName: name, dataDir });
    const node = new HollowNode({ nodeName: name, dataDir, hubUrl: hubs, credentials, log: createLogger(name, 'error'), heartbeatIntervalMs: 2_000, backoff: { initialMs: 200, maxMs: 1_500 } });
    await node.start();
    edges.push({
      name,
      cloudVersions: true,
      hub: () => (node.connected ? node.agent.hub.hubUrl : undefined),
      holds: async (ns) => {
        const out: string[] = [];
        for (const item of await node.agent.local.inventory()) {
          const m = HELD(ns).exec(item.key);
          if (m) out.push(line(m[1]!, ns, m[2]!, item.uid, item.rv));
        }
        return out.sort();
      },
      stop: () => node.stop(),
    });
  }
  return edges;
}

/** Makes sure the shared containerd answers and has the sandbox and busybox images (all idempotent). */
export async function prepareSharedContainerd(): Promise<void> {
  execFileSync('bash', [path.join(repo, 'scripts/containerd.sh'), 'start'], { stdio: 'inherit' });
  const runtime = new CriRuntime({ socket: SHARED_CRI_SOCKET });
  try {
    await ensureSandboxImage(runtime, SHARED_CRI_SOCKET);
    await importImageBuffer(SHARED_CRI_SOCKET, buildBusyboxArchive());
  } finally {
    runtime.close();
  }
}

/** Removes every sandbox of namespace `ns` left on the shared containerd (a failed run must not leak pods). */
export async function removeSandboxes(ns: string): Promise<void> {
  const runtime = new CriRuntime({ socket: SHARED_CRI_SOCKET });
  try {
    for (const sb of await runtime.listPodSandbox().catch(() => [])) {
      if (sb.metadata?.namespace !== ns) continue;
      await runtime.stopPodSandbox(sb.id).catch(() => undefined);
      await runtime.removePodSandbox(sb.id).catch(() => undefined);
    }
  } finally {
    runtime.close();
  }
}

/** A real `kedge edge join` process running pods on the shared containerd. */
export async function startContainerdEdge(h: Harness, name: string, hubs: string[], token: [string, string]): Promise<HaEdge & { process: ManagedProcess; dataDir: string }> {
  const localApiPort = await h.freePort();
  const dataDir = h.tempDir(name);
  const proc = await h.startKedge(name, [
    'edge', 'join', '--server', hubs.join(','), '--token', token[0], '--ca-cert-hash', token[1], '--node-name', name,
    '--data-dir', dataDir, '--local-api-port', String(localApiPort), ...EDGE_FLAGS, '--runtime', 'cri', '--cri-socket', SHARED_CRI_SOCKET,
  ], { ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
  const view = { name, dataDir, localApiPort } as Edge;
  const list = async (resource: string, ns: string) => {
    const r = await localGet<{ items: Array<{ metadata: { name: string; uid?: string; resourceVersion?: string } }> }>(view, `/api/v1/namespaces/${ns}/${resource}`);
    if (r.status !== 200) throw new Error(`local API ${resource}: HTTP ${r.status}`);
    return r.body.items.map((i) => line(resource, ns, i.metadata.name, i.metadata.uid ?? '', ''));
  };
  return {
    name,
    process: proc,
    dataDir,
    cloudVersions: false,
    hub: () => (proc.currentOutput.split('\n').filter((l) => /connected to hub|disconnected/.test(l)).at(-1)?.includes('disconnected') ? undefined : connectedHub(proc)),
    holds: async (ns) => [...(await list('pods', ns)), ...(await list('services', ns))].sort(),
    stop: async () => { await proc.stop(); },
  };
}

/** What the cloud says `node` should hold of namespace `ns`: its pods (by uid) and every service (uid, and resourceVersion `withVersions`). */
export async function cloudHolds(kubeconfig: string, ns: string, node: string, withVersions: boolean): Promise<string[]> {
  const get = async (resource: string) => {
    const r = await kubectl(kubeconfig, ['get', resource, '-n', ns, '-o', 'json']);
    if (r.code !== 0) throw new Error(`kubectl get ${resource}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { items: Array<{ metadata: { name: string; uid: string; resourceVersion: string }; spec?: { nodeName?: string } }> }).items;
  };
  const pods = (await get('pods')).filter((p) => p.spec?.nodeName === node).map((p) => line('pods', ns, p.metadata.name, p.metadata.uid, ''));
  const services = (await get('services')).map((s) => line('services', ns, s.metadata.name, s.metadata.uid, withVersions ? s.metadata.resourceVersion : ''));
  return [...pods, ...services].sort();
}
