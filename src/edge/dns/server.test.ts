import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { openSqliteStore } from '../../storage/sqlite.js';
import { createLogger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import { Registry } from 'prom-client';
import { NodeDns } from './server.js';
import { exchange, queryDns, recordData, type DnsReply } from './query.js';

const log = createLogger('dns-test', 'silent');

/** A stand-in upstream resolver on UDP and TCP: answers every A question with 192.0.2.1 (and counts queries). */
async function fakeUpstream(): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const queries: string[] = [];
  const reply = (msg: Buffer, transport: string) => {
    const q = dnsPacket.decode(msg);
    queries.push(`${transport} ${q.questions![0]!.name}`);
    return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.1' }] });
  };
  const tcp = net.createServer((s) => {
    s.on('data', (d) => {
      const out = reply(d.subarray(2), 'tcp');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(out.length);
      s.end(Buffer.concat([len, out]));
    });
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m, rinfo) => udp.send(reply(m, 'udp'), rinfo.port, rinfo.address));
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  return { port, queries, close: async () => void (await Promise.all([new Promise((r) => udp.close(() => r(null))), new Promise((r) => tcp.close(() => r(null)))])) };
}

async function put(store: Store, key: string, value: unknown): Promise<void> {
  const cur = await store.get(key);
  if (cur) await store.update(key, JSON.stringify(value));
  else await store.create(key, JSON.stringify(value));
}

async function setup(allow?: (a: string) => boolean, metrics?: Registry) {
  const store = await openSqliteStore(':memory:');
  const upstream = await fakeUpstream();
  await put(store, '/registry/services/default/web', { metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] } });
  const dns = new NodeDns({ store, log, address: '127.0.0.1', port: 0, forwarder: { upstreams: [`127.0.0.1:${upstream.port}`] }, ...(allow ? { allowClient: allow } : {}), ...(metrics ? { metrics } : {}) });
  await dns.start();
  const ask = (name: string, type: 'A' | 'AAAA' | 'SRV' = 'A', transport: 'udp' | 'tcp' = 'udp', ednsUdpSize?: number) => queryDns({ host: '127.0.0.1', port: dns.port, name, type, transport, ...(ednsUdpSize ? { ednsUdpSize } : {}) });
  return {
    store, dns, upstream, ask,
    async close() {
      await dns.stop();
      await upstream.close();
      await store.close();
    },
  };
}

const addresses = (p: DnsReply) => (p.answers ?? []).filter((a) => a.type === 'A').map((a) => recordData(a) as string).sort();

test('cluster names from the store over UDP and TCP, authoritative; other names forwarded over the same transport', async () => {
  const s = await setup();
  try {
    for (const transport of ['udp', 'tcp'] as const) {
      const r = await s.ask('web.default.svc.cluster.local', 'A', transport);
      assert.equal(r.rcode, 'NOERROR');
      assert.ok(r.flag_aa);
      assert.deepEqual(addresses(r), ['10.96.0.10']);
      const nx = await s.ask('nope.default.svc.cluster.local', 'A', transport);
      assert.equal(nx.rcode, 'NXDOMAIN');
      assert.equal(nx.authorities?.[0]?.type, 'SOA', 'negative answers carry the SOA (negative caching)');
      const ext = await s.ask(`${transport}.example.org`, 'A', transport);
      assert.deepEqual(addresses(ext), ['192.0.2.1']);
    }
    assert.deepEqual(s.upstream.queries, ['udp udp.example.org', 'tcp tcp.example.org']);
  } finally {
    await s.close();
  }
});

test('store changes show in the next answer', async () => {
  const s = await setup();
  try {
    await put(s.store, '/registry/services/default/web', { metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.99' } });
    for (let i = 0; i < 100; i++) {
      if (addresses(await s.ask('web.default.svc.cluster.local')).includes('10.96.0.99')) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('the update never reached the answers');
  } finally {
    await s.close();
  }
});

test('an answer too big for UDP comes back truncated (TC) and whole over TCP', async () => {
  const s = await setup();
  try {
    await put(s.store, '/registry/services/default/big', { metadata: { namespace: 'default', name: 'big' }, spec: { clusterIP: 'None' } });
    const endpoints = Array.from({ length: 60 }, (_, i) => ({ addresses: [`10.88.1.${i + 1}`], conditions: { ready: true } }));
    await put(s.store, '/registry/endpointslices.discovery.k8s.io/default/big-x', { metadata: { namespace: 'default', name: 'big-x', labels: { 'kubernetes.io/service-name': 'big' } }, addressType: 'IPv4', endpoints });
    let udp: DnsReply | undefined;
    for (let i = 0; i < 100 && !udp?.flag_tc; i++) {
      udp = await s.ask('big.default.svc.cluster.local');
      if (!udp.flag_tc) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(udp?.flag_tc, '60 A records (> 512 bytes) must set TC over UDP');
    assert.equal(udp.answers?.length ?? 0, 0);
    assert.equal(addresses(await s.ask('big.default.svc.cluster.local', 'A', 'tcp')).length, 60);
    // A client that advertises a bigger EDNS buffer gets it all over UDP.
    assert.equal(addresses(await s.ask('big.default.svc.cluster.local', 'A', 'udp', 4096)).length, 60);
  } finally {
    await s.close();
  }
});

test('garbage gets FORMERR or nothing; responses sent to the server are not answered; the server keeps serving', async () => {
  const s = await setup();
  try {
    const junk = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01]), Buffer.alloc(20, 0xff)]);
    const reply = await exchange('127.0.0.1', s.dns.port, junk, 'udp');
    assert.equal(reply.readUInt16BE(0), 0x1234);
    assert.equal(reply.readUInt16BE(2) & 0x000f, 1, 'FORMERR');
    const response = dnsPacket.encode({ type: 'response', id: 7, questions: [{ type: 'A', name: 'web.default.svc.cluster.local' }] });
    await assert.rejects(exchange('127.0.0.1', s.dns.port, response, 'udp', 300), /no DNS reply/);
    await assert.rejects(exchange('127.0.0.1', s.dns.port, Buffer.from([1, 2, 3]), 'udp', 300), /no DNS reply/);
    assert.deepEqual(addresses(await s.ask('web.default.svc.cluster.local', 'A', 'tcp')), ['10.96.0.10']);
  } finally {
    await s.close();
  }
});

test('a client the policy refuses gets no answer (UDP dropped, TCP closed)', async () => {
  const s = await setup(() => false);
  try {
    await assert.rejects(s.ask('web.default.svc.cluster.local', 'A', 'udp'), /no DNS reply/);
    await assert.rejects(s.ask('web.default.svc.cluster.local', 'A', 'tcp'), /closed|ECONNRESET/);
  } finally {
    await s.close();
  }
});

test('metrics: requests, responses by source and rcode, refused clients', async () => {
  const registry = new Registry();
  let allow = true;
  const s = await setup(() => allow, registry);
  try {
    await s.ask('web.default.svc.cluster.local');
    await s.ask('nope.default.svc.cluster.local', 'A', 'tcp');
    await s.ask('example.org');
    allow = false;
    await assert.rejects(queryDns({ host: '127.0.0.1', port: s.dns.port, name: 'web.default.svc.cluster.local', type: 'A', timeoutMs: 300 }));
    const text = await registry.metrics();
    assert.match(text, /kedge_edge_dns_requests_total\{proto="udp"\} 2/);
    assert.match(text, /kedge_edge_dns_requests_total\{proto="tcp"\} 1/);
    assert.match(text, /kedge_edge_dns_responses_total\{source="cluster",rcode="NOERROR"\} 1/);
    assert.match(text, /kedge_edge_dns_responses_total\{source="cluster",rcode="NXDOMAIN"\} 1/);
    assert.match(text, /kedge_edge_dns_responses_total\{source="forward",rcode="NOERROR"\} 1/);
    assert.match(text, /kedge_edge_dns_refused_total\{proto="udp"\} 1/);
  } finally {
    await s.close();
  }
});

test('forwarded answers are cached for their TTL (at most 30 s): asked upstream once, served with the asker\'s ID and aged TTLs', async () => {
  const registry = new Registry();
  const s = await setup(undefined, registry);
  try {
    const first = await s.ask('cached.example.org');
    assert.equal((first.answers?.[0] as { ttl?: number } | undefined)?.ttl, 60, 'the first answer is upstream\'s as it came');
    const again = await s.ask('CACHED.example.org', 'A', 'tcp');
    assert.deepEqual(addresses(again), ['192.0.2.1']);
    assert.equal(again.questions?.[0]?.name, 'CACHED.example.org', 'the asker\'s question (its case) comes back');
    assert.ok(((again.answers?.[0] as { ttl?: number } | undefined)?.ttl ?? 99) <= 30, 'TTL capped at 30 s');
    assert.deepEqual(s.upstream.queries, ['udp cached.example.org'], 'the second query never went upstream');
    const text = await registry.metrics();
    assert.match(text, /kedge_edge_dns_cache_hits_total\{type="success"\} 1/);
    assert.match(text, /kedge_edge_dns_cache_misses_total 1/);
    assert.match(text, /kedge_edge_dns_cache_entries 1/);
    assert.match(text, /kedge_edge_dns_responses_total\{source="cache",rcode="NOERROR"\} 1/);
  } finally {
    await s.close();
  }
});
