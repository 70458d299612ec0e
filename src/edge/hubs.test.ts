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

test('a name with several addresses is a list of hubs: dialled by address, re-resolved after a move', async () => {
  let records = ['127.0.0.2', '127.0.0.1', '::1'];
  const asked: string[] = [];
  const resolver = async (host: string) => (asked.push(host), records);
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const r = new HubRotation('https://hubs.example:10000', `node-${i}`, resolver);
    await r.resolveIfStale();
    seen.add(r.current());
    assert.equal(r.currentTarget().url, 'https://hubs.example:10000', 'the certificate is checked against the name');
  }
  assert.deepEqual([...seen].sort(), ['https://127.0.0.1:10000', 'https://127.0.0.2:10000'], 'nodes start on the IPv4 addresses, spread');

  const r = new HubRotation('https://hubs.example:10000', 'edge-1', resolver);
  await r.resolveIfStale();
  const first = r.current();
  await r.resolveIfStale();
  assert.equal(asked.filter((h) => h === 'hubs.example').length, 17, 'resolved once until something fails');
  const second = r.next();
  assert.notEqual(second, first);
  const removed = ['127.0.0.1', '127.0.0.2', '::1'].find((a) => !second.includes(a))!;
  records = ['127.0.0.3', ...['127.0.0.1', '127.0.0.2', '::1'].filter((a) => a !== removed)];
  await r.resolveIfStale();
  assert.equal(r.current(), second, 'a re-resolution keeps the current hub');
  assert.ok(r.several);
  const all = new Set([r.current(), r.next(), r.next(), r.next()]);
  assert.ok(all.has('https://127.0.0.3:10000'), 'an address added to the name is followed');
  assert.ok(![...all].some((u) => u.includes(removed)), 'an address removed from the name is dropped');

  records = [];
  r.next();
  await r.resolveIfStale();
  assert.ok(r.several, 'a failed resolution keeps the last addresses');
});

test('a hub asking a node to move names the hub to go to; unknown names fall back to the next one', async () => {
  const r = new HubRotation('https://127.0.0.1:1,https://127.0.0.1:2,https://127.0.0.1:3', 'edge-7');
  await r.resolveIfStale();
  const start = r.current();
  const target = ['https://127.0.0.1:1', 'https://127.0.0.1:2', 'https://127.0.0.1:3'].find((u) => u !== start && u !== r.hubs[(r.hubs.indexOf(start) + 1) % 3])!;
  assert.equal(r.moveTo(target), target, 'the named hub, even when it is not the next one');
  assert.equal(r.moveTo(target), r.hubs[(r.hubs.indexOf(target) + 1) % 3], 'naming the current hub moves to the next');
  const named = new HubRotation('https://hubs.example:10000', 'edge-7', async () => ['10.0.0.1', '10.0.0.2']);
  await named.resolveIfStale();
  const other = named.current() === 'https://10.0.0.1:10000' ? 'https://10.0.0.2:10000' : 'https://10.0.0.1:10000';
  assert.equal(named.moveTo(other), other, 'matched by resolved address and port');
  assert.notEqual(named.moveTo('not a url'), other, 'garbage reason: next hub');
});
