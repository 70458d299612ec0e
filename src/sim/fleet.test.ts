/**
 * The fleet's start gate: with `startGateMs`, a start slot is held until the node's first sync, so
 * `startConcurrency` bounds the nodes joining at once. No hub here: nodes dial a closed port and never sync
 * on their own; the test marks a node synced by emitting the hub client's own 'synced' event.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Fleet } from './fleet.js';
import { HOLLOW_STORE_CACHE_KIB, HOLLOW_STORE_WAL_PAGES } from './hollow-node.js';

const creds = { caCertPem: 'unused', certPem: 'unused', keyPem: 'unused' };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, pred: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; Date.now() < end; await sleep(20)) if (pred()) return;
  assert.fail(`timed out waiting for ${what}`);
}

describe('Fleet start gate', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-fleet-gate-'));
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const fleet = (gateMs: number, sub: string) => {
    const f = new Fleet({
      hubUrl: 'https://127.0.0.1:1',
      baseDir: path.join(dir, sub),
      credentials: async () => creds,
      startConcurrency: 1,
      startGateMs: gateMs,
      logLevel: 'silent',
      node: { backoff: { initialMs: 60_000, maxMs: 60_000 } },
    });
    fleets.push(f);
    return f;
  };

  it('starts the next node only once the previous one synced', async () => {
    const f = fleet(60_000, 'gated');
    const growing = f.grow(2);
    // Started means the hollow node listens for 'synced' (agent.start() creates the hub client, then awaits more).
    await until('the first node', () => f.nodes.filter(Boolean).length === 1 && (f.nodes[0]!.agent.hub?.listenerCount('synced') ?? 0) > 0);
    await sleep(300);
    assert.equal(f.nodes.filter(Boolean).length, 1, 'the second node waits for the first one to sync');
    assert.equal(f.nodes[0]!.synced, false);
    f.nodes[0]!.agent.hub.emit('synced', 1);
    // the second node now takes the slot; mark it synced too rather than wait out its 60 s gate
    await until('the second node', () => f.nodes.filter(Boolean).length === 2 && (f.nodes[1]!.agent.hub?.listenerCount('synced') ?? 0) > 0);
    f.nodes[1]!.agent.hub.emit('synced', 1);
    await growing;
    assert.equal(f.nodes.length, 2);
    assert.equal(f.nodes[0]!.synced, true);
  });

  it('moves on after startGateMs when a node never syncs', async () => {
    const f = fleet(200, 'timeout');
    const added = await f.grow(2);
    assert.equal(added.length, 2);
    assert.ok(added.every((n) => !n.synced));
  });

  it("caps each hollow store's SQLite page cache (thousands share one process)", async () => {
    const f = fleet(0, 'cache');
    const [n] = await f.grow(1);
    // the agent's own SQLite store; its default cache is 32 MiB (-32768)
    const db = (n!.agent.store as unknown as { db: { pragma(p: string, o: { simple: true }): unknown } }).db;
    assert.equal(db.pragma('cache_size', { simple: true }), -HOLLOW_STORE_CACHE_KIB);
  });

  it("bounds each hollow store's WAL file (on tmpfs it is RAM outside the simulator's RSS)", async () => {
    const f = fleet(0, 'wal');
    const [n] = await f.grow(1);
    // ~300 writes of pod-sized values, as 10 pods arriving, starting and reporting do (SQLite's default let
    // this WAL grow to ~2.3 MiB and keep it)
    const value = JSON.stringify({ metadata: { name: 'p' }, pad: 'x'.repeat(2500) });
    for (let i = 0; i < 300; i++) await n!.agent.local.put(`/registry/pods/fleet/p${i % 10}`, value.replace('"p"', `"p${i}"`));
    const wal = statSync(path.join(n!.opts.dataDir, 'store.db-wal')).size;
    assert.ok(wal <= (HOLLOW_STORE_WAL_PAGES + 16) * 4096, `WAL ${wal} bytes, bound ${HOLLOW_STORE_WAL_PAGES} pages`);
    assert.equal(JSON.parse((await n!.agent.store.get('/registry/pods/fleet/p9'))!.value).metadata.name, 'p299');
  });

  it('whenSynced answers true at once for a synced node', async () => {
    const f = fleet(0, 'nogate');
    const [n] = await f.grow(1);
    n!.agent.hub.emit('synced', 1);
    assert.equal(await n!.whenSynced(10), true);
  });

  it('grows with given names (a fleet split over processes takes its slice of one naming), data dirs by name', async () => {
    const f = fleet(0, 'named');
    await f.grow(2, ['hollow-00003', 'hollow-00007']);
    assert.deepEqual(f.nodes.map((n) => n.name), ['hollow-00003', 'hollow-00007']);
    assert.equal(f.node('hollow-00007')?.opts.dataDir, path.join(dir, 'named', 'hollow-00007'));
    await assert.rejects(f.grow(2, ['only-one']), /2 nodes but 1 names/);
  });
});
