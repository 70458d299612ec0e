/**
 * Issue 10, end to end with real processes: a real `kedge server`, a real `kedge edge` whose link to the hub
 * goes through the fault proxy, kubectl as the writer. While the writer changes the node's pods (labels: merge
 * patches onto the version the edge holds) and the configmaps they mount, seeded random faults hit the edge:
 * its link is reset or cut for a while, and the process is killed with SIGKILL and started again with
 * `kedge edge run` (the same data dir). After the last fault the edge must serve, through its local API, exactly
 * what the cloud wants for the node: no object missing, none stale, none extra.
 *
 * SYNC_KILL9_SEED=S replays the fault schedule of seed S (printed); the timings of real processes vary.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../src/common/seeded-random.js';
import { createToken, edgeRunArgs, eventually, joinEdge, localGet, startCluster, type Cluster, type Edge } from '../edge/cluster.js';

const SEED = Number(process.env.SYNC_KILL9_SEED ?? Math.floor(Math.random() * 1e9));
const ROUNDS = 14;
const PODS = 12;
const CONFIGMAPS = 6;

let c: Cluster;
let e: Edge;

before(async () => {
  c = await startCluster('sync-kill9');
  e = await joinEdge(c, 'edge-k', await createToken(c));
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

interface K8sObj {
  metadata: { name: string; uid?: string; labels?: Record<string, string> };
  spec?: { nodeName?: string; volumes?: Array<{ configMap?: { name: string } }> };
  data?: Record<string, string>;
}

const cm = (i: number, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `k9-cm-${i}`, namespace: 'default' }, data: { value } });
const pod = (i: number, cmIndex: number, gen: number) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `k9-pod-${i}`, namespace: 'default', labels: { app: 'k9', gen: String(gen) } },
  spec: {
    nodeName: 'edge-k',
    automountServiceAccountToken: false,
    containers: [{ name: 'main', image: 'busybox' }],
    volumes: [{ name: 'cfg', configMap: { name: `k9-cm-${cmIndex}` } }],
  },
});
const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

/** name, uid, labels, data: what the edge must hold exactly as the cloud has it. */
const fingerprint = (items: K8sObj[]) => items.filter((i) => i.metadata.name.startsWith('k9-')).map((i) => `${i.metadata.name} ${i.metadata.uid} ${JSON.stringify(i.metadata.labels ?? {})} ${JSON.stringify(i.data ?? {})}`).sort();

async function cloudWants(): Promise<string[]> {
  const pods = (JSON.parse(await c.kubectl(['get', 'pods', '-n', 'default', '-o', 'json'])) as { items: K8sObj[] }).items.filter((p) => p.spec?.nodeName === 'edge-k');
  const mounted = new Set(pods.flatMap((p) => (p.spec?.volumes ?? []).map((v) => v.configMap?.name)));
  const cms = (JSON.parse(await c.kubectl(['get', 'configmaps', '-n', 'default', '-o', 'json'])) as { items: K8sObj[] }).items.filter((m) => mounted.has(m.metadata.name));
  return [...fingerprint(pods), ...fingerprint(cms)].sort();
}

async function edgeHolds(): Promise<string[]> {
  const pods = await localGet<{ items: K8sObj[] }>(e, '/api/v1/namespaces/default/pods');
  const cms = await localGet<{ items: K8sObj[] }>(e, '/api/v1/namespaces/default/configmaps');
  return [...fingerprint(pods.body.items), ...fingerprint(cms.body.items)].sort();
}

test('random link resets, cuts and kill -9 of the edge while the cloud changes: the edge ends holding exactly the desired set', async () => {
  const random = seededRandom(SEED);
  const gens = new Map<number, number>();
  const cmOf = new Map<number, number>();
  const live = new Set<number>();
  let nextPod = PODS;
  const faults = { resets: 0, cuts: 0, kills: 0 };
  // A baseline the edge holds before the faults start.
  const base: unknown[] = [];
  for (let i = 0; i < CONFIGMAPS; i++) base.push(cm(i, 'v0'));
  for (let i = 0; i < PODS; i++) {
    cmOf.set(i, i % CONFIGMAPS);
    gens.set(i, 1);
    live.add(i);
    base.push(pod(i, i % CONFIGMAPS, 1));
  }
  await c.kubectl(['apply', '-f', '-'], list(base));
  await eventually('baseline on the edge', async () => JSON.stringify(await edgeHolds()) === JSON.stringify(await cloudWants()), 120_000, 250);

  for (let round = 0; round < ROUNDS; round++) {
    // The cloud changes: label changes (patches), configmap edits, deletions and re-creations.
    const changes: unknown[] = [];
    const deletions: string[] = [];
    for (let n = 0; n < 6; n++) {
      const r = random();
      const alive = [...live];
      const i = alive[Math.floor(random() * alive.length)];
      if (r < 0.5 && i !== undefined) {
        gens.set(i, (gens.get(i) ?? 0) + 1);
        changes.push(pod(i, cmOf.get(i)!, gens.get(i)!));
      } else if (r < 0.75) {
        changes.push(cm(Math.floor(random() * CONFIGMAPS), `r${round}-${n}`));
      } else if (r < 0.88 || i === undefined) {
        // A new pod (a pod's spec is immutable, and a deleted one may still be terminating: new names only).
        const j = nextPod++;
        cmOf.set(j, Math.floor(random() * CONFIGMAPS));
        gens.set(j, 1);
        live.add(j);
        changes.push(pod(j, cmOf.get(j)!, 1));
      } else {
        live.delete(i);
        deletions.push(`k9-pod-${i}`);
      }
    }
    // Later changes to one object win: apply only the last of each.
    const last = new Map<string, unknown>();
    for (const ch of changes) last.set(`${(ch as { kind: string }).kind}/${(ch as K8sObj).metadata.name}`, ch);
    const writes = [...last.values()].filter((ch) => !deletions.includes((ch as K8sObj).metadata.name));
    const write = (async () => {
      if (writes.length) await c.kubectl(['apply', '-f', '-'], list(writes));
      if (deletions.length) await c.kubectl(['delete', 'pod', '--wait=false', '--ignore-not-found', ...deletions]);
    })();
    // Meanwhile, a fault at a random moment.
    await sleep(Math.floor(random() * 400));
    const f = random();
    if (f < 0.3) {
      faults.resets++;
      e.link.reset();
    } else if (f < 0.5) {
      faults.cuts++;
      await e.link.cut();
      await sleep(200 + Math.floor(random() * 1500));
      await e.link.heal();
    } else if (f < 0.85) {
      faults.kills++;
      await e.proc.kill9();
      await sleep(Math.floor(random() * 500));
      e.proc = await c.h.startKedge(`edge-k-run-${round}`, edgeRunArgs(e), { ready: { logLine: /edge agent started/, timeoutMs: 60_000 } });
    }
    await write;
  }
  await e.link.heal();
  const started = Date.now();
  await eventually('the edge holds exactly what the cloud wants for it', async () => {
    const [want, have] = await Promise.all([cloudWants(), edgeHolds()]);
    if (JSON.stringify(want) === JSON.stringify(have)) return true;
    const missing = want.filter((x) => !have.includes(x));
    const extra = have.filter((x) => !want.includes(x));
    return `seed ${SEED}: missing or stale ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`;
  }, 120_000, 250);
  console.log(JSON.stringify({ measure: 'sync-kill9', seed: SEED, rounds: ROUNDS, faults, convergedAfterMs: Date.now() - started }));
  assert.ok(faults.kills > 0 && faults.resets + faults.cuts > 0, `seed ${SEED} injected ${JSON.stringify(faults)}`);
});
