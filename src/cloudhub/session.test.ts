import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { KEEPALIVE_MISSES, NodeSession, type SessionDeps } from './session.js';
import { Deltas } from './deltas.js';
import { DesiredSets } from './desired.js';
import { HubMetrics } from './metrics.js';
import type { CacheListener, CachedObject, SharedCache } from './cache.js';
import type { StatusWriter } from './status-writer.js';
import { objectKey } from '../protocol/keys.js';
import { CloseCode } from '../protocol/close-codes.js';
import { createLogger } from '../common/logger.js';

/** Stand-in socket: records frames, lets the test play the edge. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: Array<Record<string, unknown>> = [];
  closedWith: number | undefined;
  send(text: string, opts?: { compress?: boolean } | (() => void), cb?: () => void): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
    (typeof opts === 'function' ? opts : cb)?.();
  }
  ping(): void {}
  close(code?: number): void {
    this.closedWith = code ?? 1000;
    this.readyState = 3;
  }
  terminate(): void {
    this.close(1006);
  }
  edge(msg: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(msg)), false);
  }
}

class FakeCache {
  objects = new Map<string, CachedObject>();
  listeners: CacheListener[] = [];
  rv = 1;
  get(k: string) {
    return this.objects.get(k);
  }
  *keysOf(resource: string) {
    for (const k of this.objects.keys()) if (k.startsWith(`/registry/${resource}/`)) yield k;
  }
  onChange(l: CacheListener) {
    this.listeners.push(l);
  }
  putPod(name: string, node: string) {
    const key = objectKey('pods', 'default', name);
    const old = this.objects.get(key);
    // Every put is a real change (a label moves): status-only updates are not shipped (desired.ts).
    const rv = String(++this.rv);
    const o = { metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: rv, labels: { generation: rv } }, spec: { nodeName: node, containers: [] } } as unknown as CachedObject;
    this.objects.set(key, o);
    for (const l of this.listeners) l('pods', 'upsert', key, o, old);
  }
  /** Writes the edge Node `name`: `taints` is its spec (shipped), `ready` its status (edge-authored, not shipped). */
  putNode(name: string, taints: string[], ready: string) {
    const key = objectKey('nodes', undefined, name);
    const old = this.objects.get(key);
    const o = {
      metadata: { name, uid: `uid-${name}`, resourceVersion: String(++this.rv), labels: { 'node-role.kubernetes.io/edge': '' } },
      spec: { taints: taints.map((t) => ({ key: t, effect: 'NoSchedule' })) },
      // A realistic status is most of a Node: a taint change is then worth a patch.
      status: { conditions: [{ type: 'Ready', status: ready }], images: Array.from({ length: 20 }, (_, i) => ({ names: [`registry.example/image-${i}:v1`], sizeBytes: 1000 + i })) },
    } as unknown as CachedObject;
    this.objects.set(key, o);
    for (const l of this.listeners) l('nodes', 'upsert', key, o, old);
    return o.metadata.resourceVersion!;
  }
}

/**
 * Plays the edge's store for patch checks: the resourceVersion it holds per key, as hub-client.ts applies
 * messages (a patch whose base it does not hold is counted: the real edge then reads the object through `get`).
 */
function edgeStore(ws: FakeSocket) {
  const held = new Map<string, string>();
  let applied = 0;
  const baseMisses: string[] = [];
  return {
    held,
    baseMisses,
    /** Apply every frame not applied yet, and ack the last one. */
    catchUp() {
      let last: number | undefined;
      for (; applied < ws.sent.length; applied++) {
        const m = ws.sent[applied] as { type: string; key?: string; seq?: number; base?: string; object?: CachedObject; patch?: { metadata?: { resourceVersion?: string } } };
        if (m.type === 'upsert') held.set(m.key!, m.object!.metadata.resourceVersion!);
        else if (m.type === 'patch') {
          if (held.get(m.key!) !== m.base) baseMisses.push(`${m.key} base ${m.base}, edge holds ${held.get(m.key!)}`);
          held.set(m.key!, m.patch!.metadata!.resourceVersion!);
        } else if (m.type === 'delete') held.delete(m.key!);
        if (typeof m.seq === 'number' && m.type !== 'synced') last = m.seq;
      }
      if (last !== undefined) ws.edge({ type: 'ack', seq: last });
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function setup(window = 5, maxTombstonesPerNode?: number) {
  const cache = new FakeCache();
  const desired = new DesiredSets(cache as unknown as SharedCache, { maxTombstonesPerNode });
  const deltas = new Deltas(cache as unknown as SharedCache);
  const sessions: NodeSession[] = [];
  const deps: SessionDeps = {
    epoch: 'e1',
    cache: cache as unknown as SharedCache,
    desired,
    deltas,
    status: { write: async () => ({ ok: true }) } as unknown as StatusWriter,
    metrics: new HubMetrics(),
    log: createLogger('test', 'silent'),
    window,
    maxBufferedBytes: 1 << 20,
    maxPendingStatus: 10,
    apiWrites: { inFlight: 0, max: 100 },
    onClose: () => {},
  };
  desired.onNodeChanged((n) => sessions.filter((s) => s.node === n).forEach((s) => s.schedulePump()));
  const open = () => {
    const ws = new FakeSocket();
    const s = new NodeSession('n1', ws as unknown as WebSocket, deps, 60_000);
    sessions.push(s);
    return { ws, s };
  };
  return { cache, desired, open, sessions };
}

test('back-pressure: at most `window` unacked messages; acks release more', async () => {
  const { cache, open, sessions } = setup(5);
  const { ws } = open();
  ws.edge({ type: 'hello', versions: [1], node: 'n1' });
  ws.edge({ type: 'inventory', items: [], done: true });
  await tick();
  for (let i = 0; i < 40; i++) cache.putPod(`p${i}`, 'n1');
  await tick();
  await tick();
  const upserts = () => ws.sent.filter((m) => m.type === 'upsert');
  assert.equal(upserts().length, 5, 'window of 5');
  assert.equal(sessions[0]!.queueDepth(), 40, 'the rest waits in the view, not in a buffer');
  ws.edge({ type: 'ack', seq: upserts()[4]!.seq });
  await tick();
  await tick();
  assert.equal(upserts().length, 10);
  for (const s of sessions) s.close();
});

test('a session lagging behind compacted tombstones ends for a diff resync instead of skipping those deletions', async (t) => {
  const { cache, open, sessions } = setup(1, 2);
  t.after(() => sessions.forEach((s) => s.close()));
  const { ws } = open();
  ws.edge({ type: 'hello', versions: [1], node: 'n1' });
  ws.edge({ type: 'inventory', items: [], done: true });
  for (let i = 0; i < 6; i++) cache.putPod(`p${i}`, 'n1');
  await tick();
  await tick();
  const first = ws.sent.find((m) => m.type === 'upsert')!;
  assert.equal(ws.sent.filter((m) => m.type === 'upsert').length, 1, 'window of 1: the session lags');
  // Every pod leaves the node: six tombstones, of which all but two are pruned before the session sent them.
  for (let i = 0; i < 6; i++) cache.putPod(`p${i}`, 'n2');
  ws.edge({ type: 'ack', seq: first.seq });
  await tick();
  await tick();
  assert.equal(ws.closedWith, CloseCode.Resync, 'the session ends rather than stream on past deletions it no longer has');
  assert.equal(ws.sent.filter((m) => m.type === 'delete').length, 0);
  // The edge comes back with the cursor it holds: compacted, so it gets a diff, which deletes what it holds.
  const again = open();
  again.ws.edge({ type: 'hello', versions: [1], node: 'n1', cursor: { epoch: 'e1', seq: first.seq } });
  assert.equal(again.ws.sent[0]!.resume, false);
  again.ws.edge({ type: 'inventory', items: [{ key: first.key, uid: 'uid-p0', rv: '2' }], done: true });
  await tick();
  assert.deepEqual(again.ws.sent.filter((m) => m.type === 'delete').map((m) => m.key), [first.key]);
});

test('resume from a cursor sends only later changes, latest state once', async () => {
  const { cache, desired, open, sessions } = setup(100);
  desired.ensureView('n1');
  for (let i = 0; i < 10; i++) cache.putPod(`p${i}`, 'n1');
  const cursor = desired.currentSeq();
  cache.putPod('p3', 'n1');
  cache.putPod('p3', 'n1');
  cache.putPod('new', 'n1');
  const { ws } = open();
  ws.edge({ type: 'hello', versions: [1], node: 'n1', cursor: { epoch: 'e1', seq: cursor } });
  await tick();
  await tick();
  assert.equal(ws.sent[0]!.resume, true);
  const keys = ws.sent.filter((m) => m.type === 'upsert').map((m) => m.key);
  assert.deepEqual(keys, ['/registry/pods/default/p3', '/registry/pods/default/new']);
  assert.equal(ws.sent.at(-1)!.type, 'synced');
  for (const s of sessions) s.close();
});

test('unknown epoch → inventory diff: unchanged objects are not resent, stale keys are deleted', async () => {
  const { cache, desired, open, sessions } = setup(100);
  desired.ensureView('n1');
  cache.putPod('same', 'n1');
  cache.putPod('changed', 'n1');
  const same = cache.get('/registry/pods/default/same')!;
  const { ws } = open();
  ws.edge({ type: 'hello', versions: [1], node: 'n1', cursor: { epoch: 'old-hub', seq: 99 } });
  assert.equal(ws.sent[0]!.resume, false);
  ws.edge({
    type: 'inventory',
    done: true,
    items: [
      { key: '/registry/pods/default/same', uid: same.metadata.uid, rv: same.metadata.resourceVersion },
      { key: '/registry/pods/default/changed', uid: 'uid-changed', rv: '1' },
      { key: '/registry/pods/default/gone', uid: 'x', rv: '1' },
    ],
  });
  await tick();
  const sent = ws.sent.filter((m) => m.type === 'upsert' || m.type === 'delete').map((m) => `${m.type} ${m.key}`);
  assert.deepEqual(sent.sort(), ['delete /registry/pods/default/gone', 'upsert /registry/pods/default/changed']);
  for (const s of sessions) s.close();
});

test('identity mismatch, unsupported version and forged acks close the session', async () => {
  const { open } = setup();
  let { ws } = open();
  ws.edge({ type: 'hello', versions: [1], node: 'someone-else' });
  assert.equal(ws.sent[0]!.code, 'forbidden');
  assert.equal(ws.closedWith, 1008);
  ({ ws } = open());
  ws.edge({ type: 'hello', versions: [7], node: 'n1' });
  assert.equal(ws.sent[0]!.code, 'unsupported-version');
  ({ ws } = open());
  ws.edge({ type: 'hello', versions: [1], node: 'n1' });
  ws.edge({ type: 'ack', seq: 12345 });
  assert.equal(ws.sent.at(-1)!.code, 'forged-ack');
  assert.equal(ws.closedWith, 1008);
});

test('status writes beyond the hub-wide API cap are answered "retry", not queued; a lease renewal is never held back', async () => {
  const { open, sessions } = setup();
  const { ws } = open();
  ws.edge({ type: 'hello', versions: [1], node: 'n1' });
  // Simulate a storm: every API write slot is taken by other nodes.
  const deps = (sessions[0] as unknown as { deps: SessionDeps }).deps;
  deps.apiWrites.inFlight = deps.apiWrites.max;
  const podStatus = { namespace: 'ns', name: 'p', uid: 'u', status: { phase: 'Running' } };
  ws.edge({ type: 'status', id: 7, kind: 'pod', body: podStatus });
  // the node's liveness: behind a backlog it would reach the API after the lifecycle's grace (bench:fleet, 400 nodes)
  ws.edge({ type: 'status', id: 9, kind: 'lease', body: { renewTime: new Date().toISOString() } });
  await tick();
  const ack = ws.sent.find((m) => m.type === 'status-ack' && m.id === 7)!;
  assert.equal(ack.ok, false);
  assert.equal(ack.retry, true);
  assert.equal(ws.sent.find((m) => m.type === 'status-ack' && m.id === 9)!.ok, true, 'lease written at the cap');
  deps.apiWrites.inFlight = 0;
  ws.edge({ type: 'status', id: 8, kind: 'pod', body: podStatus });
  await tick();
  assert.equal(ws.sent.find((m) => m.type === 'status-ack' && m.id === 8)!.ok, true);
  for (const s of sessions) s.close();
});

test('lease renewals in flight do not take the hub-wide API budget: a pod status behind them is written', async (t) => {
  const { open, sessions } = setup();
  t.after(() => sessions.forEach((s) => s.close()));
  const deps = (() => {
    const { ws } = open();
    ws.edge({ type: 'hello', versions: [1], node: 'n1' });
    return { ws, deps: (sessions[0] as unknown as { deps: SessionDeps }).deps };
  })();
  const { ws } = deps;
  // Lease writes that stay in flight (a node-write batch's round trip), as many as the whole budget.
  const held: Array<() => void> = [];
  const write = deps.deps.status.write;
  deps.deps.status.write = ((_node: string, kind: string) =>
    kind === 'lease' ? new Promise((r) => held.push(() => r({ ok: true }))) : Promise.resolve({ ok: true })) as typeof write;
  deps.deps.apiWrites.max = 3;
  for (let i = 0; i < 3; i++) ws.edge({ type: 'status', id: 100 + i, kind: 'lease', body: { renewTime: new Date().toISOString() } });
  await tick();
  ws.edge({ type: 'status', id: 200, kind: 'pod', body: { namespace: 'ns', name: 'p', uid: 'u', status: { phase: 'Running' } } });
  await tick();
  assert.equal(ws.sent.find((m) => m.type === 'status-ack' && m.id === 200)?.ok, true, 'the pod status is not "hub busy"');
  assert.equal(deps.deps.apiWrites.inFlight, 0);
  for (const r of held) r();
  await tick();
  deps.deps.status.write = write;
  for (const s of sessions) s.close();
});

/** Moves the mocked clock one ping interval (60 s in setup()) at a time, so each tick runs on time. */
function advance(t: { mock: { timers: { tick(ms: number): void } } }, intervals: number): void {
  for (let i = 0; i < intervals; i++) t.mock.timers.tick(60_000);
}

test('keepalive: a silent edge is dropped after KEEPALIVE_MISSES intervals, and any sign of life resets the count', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  const { open, sessions } = setup();
  const { ws } = open();
  t.after(() => sessions[0]!.close());
  advance(t, KEEPALIVE_MISSES);
  assert.equal(ws.closedWith, undefined, 'silence of exactly the allowance is tolerated');
  ws.emit('pong');
  advance(t, KEEPALIVE_MISSES);
  assert.equal(ws.closedWith, undefined, 'the pong restarted the count');
  advance(t, 1);
  assert.equal(ws.closedWith, 1006, 'silent for longer than the allowance: terminated');
});

test('keepalive: a stall of the hub itself is not blamed on the edge', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  const { open, sessions } = setup();
  const { ws } = open();
  t.after(() => sessions[0]!.close());
  advance(t, 1);
  // The event loop is blocked for 10 minutes: the clock moves, no timer runs, pongs stay unread.
  t.mock.timers.setTime(60_000 + 600_000);
  advance(t, 1);
  assert.equal(ws.closedWith, undefined, 'the late tick discounts the stall');
  advance(t, KEEPALIVE_MISSES + 1);
  assert.equal(ws.closedWith, 1006, 'real silence after the stall still ends the session');
});

test('protocol v2: a changed object the edge holds goes as a merge patch onto the version it was shipped; v1 edges get it whole', async () => {
  const { cache, desired, open, sessions } = setup(100);
  desired.ensureView('n1');
  for (let i = 0; i < 3; i++) cache.putPod(`p${i}`, 'n1');
  const cursor = desired.currentSeq();
  const shipped = cache.get('/registry/pods/default/p1')!.metadata.resourceVersion;
  cache.putPod('p1', 'n1');
  cache.putPod('fresh', 'n1');
  const v2 = open().ws;
  v2.edge({ type: 'hello', versions: [1, 2], node: 'n1', cursor: { epoch: 'e1', seq: cursor } });
  await tick();
  await tick();
  assert.equal(v2.sent[0]!.version, 2);
  const p1 = v2.sent.find((m) => m.key === '/registry/pods/default/p1')!;
  const now = cache.get('/registry/pods/default/p1')!.metadata.resourceVersion;
  assert.equal(p1.type, 'patch');
  assert.equal(p1.base, shipped);
  assert.deepEqual(p1.patch, { metadata: { resourceVersion: now, labels: { generation: now } } });
  assert.equal(v2.sent.find((m) => m.key === '/registry/pods/default/fresh')!.type, 'upsert', 'an object new to the node goes whole');
  for (const s of sessions) s.close();
  const v1 = open().ws;
  v1.edge({ type: 'hello', versions: [1], node: 'n1', cursor: { epoch: 'e1', seq: cursor } });
  await tick();
  await tick();
  assert.deepEqual(v1.sent.filter((m) => m.key).map((m) => m.type), ['upsert', 'upsert']);
  for (const s of sessions) s.close();
});

test('Node: a status-only version shipped whole (status posted before the pump) is a valid base for the next patch', async (t) => {
  const { cache, open, sessions } = setup(100);
  t.after(() => sessions.forEach((s) => s.close()));
  const { ws } = open();
  const edge = edgeStore(ws);
  ws.edge({ type: 'hello', versions: [1, 2], node: 'n1' });
  ws.edge({ type: 'inventory', items: [], done: true });
  await tick();
  // Registration: the Node is created, then its first status lands before the session pumps (the hub lags).
  cache.putNode('n1', [], 'Unknown');
  cache.putNode('n1', [], 'True');
  await tick();
  await tick();
  edge.catchUp();
  const key = objectKey('nodes', undefined, 'n1');
  assert.equal(edge.held.get(key), cache.get(key)!.metadata.resourceVersion, 'the edge holds the status-only version');
  // The lifecycle controller taints it (a late Lease): shipped.
  cache.putNode('n1', ['node.kubernetes.io/unreachable'], 'True');
  await tick();
  await tick();
  edge.catchUp();
  const last = ws.sent.at(-1)!;
  assert.equal(last.key, key);
  assert.equal(last.type, 'patch', 'the taint goes as a patch');
  assert.deepEqual(edge.baseMisses, [], 'patch bases are what the edge holds');
  assert.equal(edge.held.get(key), cache.get(key)!.metadata.resourceVersion);
  for (const s of sessions) s.close();
});

test('Node: two shipped changes coalesced by a lagging session go whole, not as a patch onto the skipped version', async (t) => {
  const { cache, open, sessions } = setup(100);
  t.after(() => sessions.forEach((s) => s.close()));
  const { ws } = open();
  const edge = edgeStore(ws);
  ws.edge({ type: 'hello', versions: [1, 2], node: 'n1' });
  ws.edge({ type: 'inventory', items: [], done: true });
  await tick();
  cache.putNode('n1', [], 'True');
  await tick();
  await tick();
  edge.catchUp();
  // Taint added and removed again before the session sends anything (delivery lag): only the latest goes.
  cache.putNode('n1', ['node.kubernetes.io/unreachable'], 'Unknown');
  cache.putNode('n1', [], 'True');
  await tick();
  await tick();
  edge.catchUp();
  const key = objectKey('nodes', undefined, 'n1');
  assert.deepEqual(edge.baseMisses, [], 'no patch onto a version the edge never received');
  assert.equal(edge.held.get(key), cache.get(key)!.metadata.resourceVersion);
  // The next single change (edge current again) goes as a patch.
  cache.putNode('n1', ['node.kubernetes.io/unreachable'], 'True');
  await tick();
  await tick();
  edge.catchUp();
  assert.equal(ws.sent.at(-1)!.type, 'patch');
  assert.deepEqual(edge.baseMisses, []);
  for (const s of sessions) s.close();
});

test('probeAlive: true as soon as the edge answers the ping, false when it stays silent or the socket closes', async () => {
  const { open, sessions } = setup();
  const { ws, s } = open();
  const answered = s.probeAlive(5_000);
  ws.emit('pong');
  assert.equal(await answered, true);
  assert.equal(await s.probeAlive(30), false, 'silent: a half-open connection');
  const closing = s.probeAlive(5_000);
  ws.emit('close');
  assert.equal(await closing, false);
  for (const x of sessions) x.close();
});

test('revoke: the session ends with CloseCode.Revoked (4003) and later frames are ignored', () => {
  const { open } = setup();
  const { ws, s } = open();
  s.revoke('the Node was deleted');
  assert.equal(ws.closedWith, 4003);
  const before = ws.sent.length;
  ws.edge({ type: 'hello', versions: [1], node: 'n1' });
  assert.equal(ws.sent.length, before, 'nothing answered after revocation');
});
