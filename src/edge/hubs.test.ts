import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HubRotation, parseHubList } from './hubs.js';

test('hub lists: origins, duplicates dropped, bad entries name the flag', () => {
  assert.deepEqual(parseHubList('https://a:10000'), ['https://a:10000']);
  assert.deepEqual(parseHubList('https://a:10000/, https://b:10000,https://a:10000'), ['https://a:10000', 'https://b:10000']);
  assert.throws(() => parseHubList('https://a:10000,http://b:10000'), /invalid --server "http:\/\/b:10000": expected https:\/\/HOST:PORT/);
  assert.throws(() => parseHubList('https://a:10000/v1'), /invalid --server/);
});

test('a node starts on the hub its name picks, moves round the list, and nodes spread over the hubs', () => {
  const list = 'https://a:1,https://b:1,https://c:1';
  const r = new HubRotation(list, 'edge-7');
  const first = r.current();
  assert.equal(new HubRotation(list, 'edge-7').current(), first, 'stable per node name');
  const seen = [first, r.next(), r.next()];
  assert.deepEqual([...seen].sort(), ['https://a:1', 'https://b:1', 'https://c:1']);
  assert.equal(r.next(), first);
  const starts = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const hub = new HubRotation(list, `node-${i}`).current();
    starts.set(hub, (starts.get(hub) ?? 0) + 1);
  }
  for (const n of starts.values()) assert.ok(n > 60, `spread: ${[...starts.values()]}`);
  assert.equal(new HubRotation('https://only:1', 'x').next(), 'https://only:1');
});
