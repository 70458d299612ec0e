import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { watchLoopStalls } from './loop-stall.js';

test('a synchronous step longer than the threshold is logged with its length', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString())), cb()) });
  const stop = watchLoopStalls(pino({}, sink), { stallMs: 200, periodMs: 50 });
  try {
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(lines.length, 0, 'an idle loop is not a stall');
    const until = Date.now() + 400;
    while (Date.now() < until); // block the loop
    await new Promise((r) => setTimeout(r, 120));
    const stall = lines.find((l) => l.msg === 'event loop stalled');
    assert.ok(stall, JSON.stringify(lines));
    assert.ok((stall.stalledMs as number) >= 300 && (stall.stalledMs as number) < 1000, String(stall.stalledMs));
  } finally {
    stop();
  }
});
