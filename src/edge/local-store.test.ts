import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../storage/sqlite.js';
import { LocalStore } from './local-store.js';
import { StatusReporter, type StatusTransport } from './status-reporter.js';
import { backoffDelay } from './hub-client.js';
import { createLogger } from '../common/logger.js';

const log = createLogger('test', 'silent');
const pod = (rv: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u1', resourceVersion: rv } });

test('applying the same upsert or delete twice changes nothing', async () => {
  const store = await openSqliteStore(':memory:');
  const ls = new LocalStore(store);
  assert.equal(await ls.applyUpsert('/registry/pods/ns/p', pod('5')), true);
  const rev = await store.currentRevision();
  assert.equal(await ls.applyUpsert('/registry/pods/ns/p', pod('5')), false);
  assert.equal(await store.currentRevision(), rev);
  assert.equal(await ls.applyUpsert('/registry/pods/ns/p', pod('6')), true);
  assert.deepEqual(await ls.inventory(), [{ key: '/registry/pods/ns/p', uid: 'u1', rv: '6' }]);
  assert.equal(await ls.applyDelete('/registry/pods/ns/p'), true);
  assert.equal(await ls.applyDelete('/registry/pods/ns/p'), false);
  assert.deepEqual(await ls.inventory(), []);
  await store.close();
});

test('status items coalesce, survive a restart while offline, and leave only when acked', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kedge-status-'));
  try {
    const offline: StatusTransport = { connected: () => false, send: () => false };
    let store = await openSqliteStore(path.join(dir, 's.db'));
    let r = new StatusReporter(new LocalStore(store), offline, log, 'n1');
    r.setPodStatus('ns', 'p', 'u1', { phase: 'Pending' });
    r.setPodStatus('ns', 'p', 'u1', { phase: 'Running' });
    r.renewLease(40); // offline: not buffered
    assert.equal(r.pending(), 1);
    await r.settle();
    await store.close();

    // "Restart": a new reporter over the same file finds the latest state only.
    store = await openSqliteStore(path.join(dir, 's.db'));
    const sent: Array<{ id: number; body: Record<string, unknown> }> = [];
    const online: StatusTransport = { connected: () => true, send: (id, _k, body) => (sent.push({ id, body }), true) };
    r = new StatusReporter(new LocalStore(store), online, log, 'n1');
    await r.restore();
    assert.equal(r.pending(), 1);
    r.flush();
    assert.equal(sent.length, 1);
    assert.equal((sent[0]!.body.status as { phase: string }).phase, 'Running');
    // A forged/unknown ack id changes nothing.
    r.onAck({ type: 'status-ack', id: 999, ok: true });
    assert.equal(r.pending(), 1);
    r.onAck({ type: 'status-ack', id: sent[0]!.id, ok: true });
    assert.equal(r.pending(), 0);
    await r.settle();
    assert.equal((await store.list('/kedge/status/')).items.length, 0);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('backoff uses full jitter under an exponential cap', () => {
  const o = { initialMs: 100, maxMs: 5000 };
  assert.equal(backoffDelay(0, o, () => 0.999), 99);
  assert.equal(backoffDelay(3, o, () => 0.5), 400);
  assert.equal(backoffDelay(20, o, () => 0.999), 4995);
  assert.equal(backoffDelay(5, o, () => 0), 0);
});

test('a large offline backlog is flushed under an in-flight cap, all of it eventually', async () => {
  const store = await openSqliteStore(':memory:');
  let online = false;
  const sent: number[] = [];
  const r = new StatusReporter(new LocalStore(store), { connected: () => online, send: (id) => (sent.push(id), true) }, log, 'n1');
  for (let i = 0; i < 300; i++) r.setPodStatus('ns', `p${i}`, `u${i}`, { phase: 'Running' });
  online = true;
  r.flush();
  assert.equal(sent.length, 64);
  while (r.pending() > 0) {
    const batch = sent.splice(0);
    assert.ok(batch.length > 0 && batch.length <= 64);
    for (const id of batch) r.onAck({ type: 'status-ack', id, ok: true });
    await new Promise((res) => setImmediate(res));
  }
  assert.equal(r.acked, 300);
  await r.settle();
  await store.close();
});

test('the lease renewal goes out first and past the in-flight cap: a backlog of pod statuses never delays the node\'s liveness', async () => {
  const store = await openSqliteStore(':memory:');
  const sent: Array<{ id: number; kind: string }> = [];
  const r = new StatusReporter(new LocalStore(store), { connected: () => true, send: (id, kind) => (sent.push({ id, kind }), true) }, log, 'n1');
  for (let i = 0; i < 300; i++) r.setPodStatus('ns', `p${i}`, `u${i}`, { phase: 'Running' });
  r.renewLease(40);
  r.flush();
  assert.equal(sent[0]!.kind, 'lease', 'the renewal first');
  r.onAck({ type: 'status-ack', id: sent[0]!.id, ok: true });
  assert.equal(sent.length, 64, 'the cap holds for the rest');
  r.renewLease(40);
  r.flush();
  assert.equal(sent.at(-1)!.kind, 'lease', 'with 63 pod statuses in flight, the next renewal still goes out');
  // its ack is slow (a loaded API): the next renewal does not wait for it, and the late ack clears nothing newer
  const slow = sent.at(-1)!.id;
  await new Promise((res) => setTimeout(res, 5));
  r.renewLease(40);
  r.flush();
  const next = sent.at(-1)!;
  assert.ok(next.kind === 'lease' && next.id !== slow, 'a newer renewal goes out while the older one is in flight');
  r.flush();
  assert.equal(sent.at(-1)!.id, next.id, 'the same renewal is not sent twice');
  r.onAck({ type: 'status-ack', id: slow, ok: true });
  r.flush();
  assert.equal(sent.at(-1)!.id, next.id, 'the older ack leaves the newer renewal in flight, not resent');
  r.onAck({ type: 'status-ack', id: next.id, ok: true });
  r.stop();
  await r.settle();
  await store.close();
});

test('a repeated event keeps its Event name and counts on after the earlier occurrence was acked (x3, not x1 three times)', async () => {
  const store = await openSqliteStore(':memory:');
  const sent: Array<{ id: number; body: Record<string, unknown> }> = [];
  const r = new StatusReporter(new LocalStore(store), { connected: () => true, send: (id, _k, body) => (sent.push({ id, body }), true) }, log, 'n1');
  const backOff = { metadata: {}, involvedObject: { kind: 'Pod', namespace: 'ns', name: 'p', uid: 'u1' }, reason: 'BackOff', message: 'Back-off restarting failed container', type: 'Warning' };
  for (let i = 0; i < 3; i++) {
    r.recordEvent(backOff);
    await new Promise((res) => setImmediate(res));
    const item = sent.at(-1)!;
    r.onAck({ type: 'status-ack', id: item.id, ok: true });
  }
  assert.equal(sent.length, 3);
  const names = new Set(sent.map((s) => (s.body.metadata as { name: string }).name));
  assert.equal(names.size, 1, 'one Event, updated');
  assert.deepEqual(sent.map((s) => s.body.count), [1, 2, 3]);
  assert.equal((sent[2]!.body.metadata as { namespace: string }).namespace, 'ns');
  assert.equal(sent[2]!.body.firstTimestamp, sent[0]!.body.firstTimestamp);
  await r.settle();
  await store.close();
});
