/**
 * The sharded fleet's plumbing without a hub: shards fork, mint their credentials from a CA on disk, split the
 * names between them, answer status/usage/counters over IPC, and exit on close. Nodes dial a closed port
 * through each shard's proxy, so nothing ever syncs; delivery is covered by the fleet bench itself.
 * Run: node --import tsx --test bench/lib/shard-pool.test.ts
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ShardPool } from './shard-pool.js';
import { freePort } from '../../test/harness/processes.js';

describe('ShardPool', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-shard-pool-'));
  let pool: ShardPool | undefined;
  after(async () => {
    await pool?.close(10_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('splits the nodes over the shards and sums what they report', async () => {
    const hubPort = await freePort(); // nobody listens: the nodes never connect
    pool = await ShardPool.start(
      2,
      { hubPort, serverDataDir: path.join(dir, 'server'), baseDir: path.join(dir, 'nodes'), heartbeatMs: 10_000, startConcurrency: 5, startGateMs: 0, templateName: 'hollow-00000', registerNodes: false },
      () => {},
    );
    assert.equal(new Set(pool.pids).size, 2);
    assert.ok(!pool.pids.includes(process.pid), 'shards are child processes');
    const names = ['hollow-00000', 'hollow-00001', 'hollow-00002', 'hollow-00003', 'hollow-00004'];
    await pool.grow(names);
    const st = await pool.status();
    assert.equal(st.started, 5);
    assert.equal(st.connected, 0);
    // name i goes to shard i % 2, each shard keeps its nodes' data dirs in a folder of its own
    assert.deepEqual(readdirSync(path.join(dir, 'nodes', 'shard-0')).sort(), [names[0], names[2], names[4]]);
    assert.deepEqual(readdirSync(path.join(dir, 'nodes', 'shard-1')).sort(), [names[1], names[3]]);
    const usage = await pool.usage();
    assert.equal(usage.shards.length, 2);
    assert.equal(usage.memory.rss, usage.shards[0]!.memory.rss + usage.shards[1]!.memory.rss);
    assert.ok(usage.shards.every((u) => u.fds > 0));
    const c = await pool.counters();
    assert.equal(c.downBytes, 0);
    await pool.cut();
    await pool.heal();
    await pool.destroyFleet();
    assert.equal((await pool.status()).started, 0);
    await pool.close(10_000);
    await assert.rejects(pool.status(), /exited/);
    pool = undefined;
  });
});
