import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { ForwardCache } from './cache.js';

const query = (name: string, opts: { id?: number; edns?: number; type?: 'A' | 'AAAA' } = {}): DecodedPacket =>
  dnsPacket.decode(dnsPacket.encode({
    type: 'query', id: opts.id ?? 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: opts.type ?? 'A', name }],
    ...(opts.edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as unknown as Answer] } : {}),
  }));
const soa = (ttl: number, minimum: number) => ({ type: 'SOA', name: 'example.org', ttl, data: { mname: 'ns', rname: 'h', serial: 1, refresh: 1, retry: 1, expire: 1, minimum } }) as Answer;
const reply = (q: DecodedPacket, opts: { answers?: Answer[]; authorities?: Answer[]; rcode?: number; tc?: boolean }) =>
  dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (opts.rcode ?? 0) | (opts.tc ? dnsPacket.TRUNCATED_RESPONSE : 0), questions: q.questions, answers: opts.answers ?? [], authorities: opts.authorities ?? [] });
const a = (name: string, ttl: number, ip = '192.0.2.1') => ({ type: 'A', name, ttl, data: ip }) as Answer;

test('success kept for min(answer TTLs, 30 s), aged on the way out, gone once expired', () => {
  let now = 1_000_000;
  const c = new ForwardCache({ now: () => now });
  const q = query('x.example.org');
  c.put(q, reply(q, { answers: [a('x.example.org', 20), a('x.example.org', 300, '192.0.2.2')] }));
  now += 5_500;
  const hit = c.get(query('X.EXAMPLE.ORG', { id: 77 }), 'udp')!;
  const p = dnsPacket.decode(hit.reply);
  assert.equal(hit.kind, 'success');
  assert.equal(p.id, 77);
  assert.equal(p.questions?.[0]?.name, 'X.EXAMPLE.ORG');
  assert.deepEqual(p.answers?.map((x) => (x as { ttl: number }).ttl), [15, 15], 'aged by the 5 s spent here, none past the entry\'s 20 s');
  now += 14_600; // 20.1 s after put: past the 20 s lifetime
  assert.equal(c.get(q, 'udp'), undefined);
  assert.equal(c.size, 0);
});

test('denial kept for min(SOA TTL, SOA minimum, 30 s); SERVFAIL, truncated, TTL 0 and SOA-less denials are not kept', () => {
  let now = 0;
  const c = new ForwardCache({ now: () => now });
  const nx = query('nope.example.org');
  c.put(nx, reply(nx, { rcode: 3, authorities: [soa(3600, 10)] }));
  assert.equal(c.get(nx, 'udp')?.kind, 'denial');
  now = 10_000;
  assert.equal(c.get(nx, 'udp'), undefined, 'SOA minimum 10 s');
  const kept: Array<[string, Parameters<typeof reply>[1]]> = [
    ['fail', { rcode: 2 }],
    ['tc', { answers: [a('tc', 60)], tc: true }],
    ['zero', { answers: [a('zero', 0)] }],
    ['nosoa', { rcode: 3 }],
  ];
  for (const [name, r] of kept) {
    const q = query(name);
    c.put(q, reply(q, r));
    assert.equal(c.get(q, 'tcp'), undefined, name);
  }
});

test('keyed by type and EDNS: no OPT back to a client that sent none; too big for the asker\'s UDP is not served; bounded', () => {
  const c = new ForwardCache({ capacity: 2 });
  const withEdns = query('e.example.org', { edns: 4096 });
  const many = Array.from({ length: 40 }, (_, i) => a('e.example.org', 60, `192.0.2.${i + 1}`));
  c.put(withEdns, reply(withEdns, { answers: many }));
  assert.equal(c.get(query('e.example.org'), 'udp'), undefined, 'a client without EDNS is another key');
  assert.equal(c.get(query('e.example.org', { type: 'AAAA', edns: 4096 }), 'udp'), undefined, 'another type');
  assert.ok(c.get(query('e.example.org', { edns: 4096 }), 'udp'));
  assert.equal(c.get(query('e.example.org', { edns: 512 }), 'udp'), undefined, 'does not fit 512 bytes');
  for (const n of ['a1', 'a2', 'a3']) {
    const q = query(n);
    c.put(q, reply(q, { answers: [a(n, 60)] }));
  }
  assert.equal(c.size, 2);
  assert.equal(c.get(query('a1'), 'tcp'), undefined, 'the oldest went first');
  assert.ok(c.get(query('a3'), 'tcp'));
});
