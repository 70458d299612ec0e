import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeProfile } from '../../bench/lib/cpuprofile.js';

test('self time is attributed per function and per file from samples and time deltas', () => {
  const frame = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });
  const profile = {
    startTime: 0,
    endTime: 10_000,
    nodes: [
      { id: 1, callFrame: frame('(root)', '', -1), children: [2, 3] },
      { id: 2, callFrame: frame('encode', 'file:///work/main/dist/apiserver/handler.js', 9) },
      { id: 3, callFrame: frame('getPeerCertificate', 'node:_tls_wrap', 1136) },
    ],
    samples: [2, 2, 3, 2],
    timeDeltas: [1000, 2000, 3000, 4000],
  };
  const s = summarizeProfile(profile);
  assert.equal(s.totalMs, 10);
  assert.deepEqual(s.byFunction[0], { name: 'encode dist/apiserver/handler.js:10', selfMs: 7, percent: 70 });
  assert.deepEqual(s.byFunction[1], { name: 'getPeerCertificate node:_tls_wrap:1137', selfMs: 3, percent: 30 });
  assert.deepEqual(s.byFile.map((e) => e.name), ['dist/apiserver/handler.js', 'node:_tls_wrap']);
});
