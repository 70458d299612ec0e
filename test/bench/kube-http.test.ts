import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { KubeHttp, ApiError } from '../../bench/lib/kube-http.js';

/** A stub API server (unit test only): 25 pods, paginated; a watch that splits events across writes. */
const names = Array.from({ length: 25 }, (_, i) => `p${i}`);
const created = new Set<string>();
let server: http.Server;
let client: KubeHttp;

before(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (req.headers.authorization !== 'Bearer t0k') {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized', code: 401 }));
      return;
    }
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const name = (JSON.parse(body) as { metadata: { name: string } }).metadata.name;
        const exists = created.has(name);
        created.add(name);
        res.writeHead(exists ? 409 : 201, { 'content-type': 'application/json' });
        res.end(exists ? JSON.stringify({ kind: 'Status', reason: 'AlreadyExists', message: `pods "${name}" already exists` }) : body);
      });
      return;
    }
    if (u.searchParams.get('watch') === '1') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const lines = names.slice(0, 3).map((n, i) => JSON.stringify({ type: i === 2 ? 'DELETED' : 'ADDED', object: { metadata: { name: n } } }) + '\n');
      const all = lines.join('');
      // cut the stream mid-event to check line reassembly
      res.write(all.slice(0, 17));
      setTimeout(() => res.write(all.slice(17, 60)), 5);
      setTimeout(() => res.end(all.slice(60)), 10);
      return;
    }
    const limit = Number(u.searchParams.get('limit') ?? 0) || names.length;
    const start = Number(u.searchParams.get('continue') ?? 0);
    const page = names.slice(start, start + limit);
    const next = start + limit < names.length ? String(start + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: '42', ...(next ? { continue: next } : {}) }, items: page.map((n) => ({ metadata: { name: n } })) }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  client = new KubeHttp({ server: `http://127.0.0.1:${port}`, headers: { authorization: 'Bearer t0k' }, maxSockets: 4 });
});

after(() => {
  client.close();
  server.close();
});

test('listAll walks limit/continue pages and counts items and bytes', async () => {
  const full = await client.listAll('/api/v1/namespaces/ns/pods');
  assert.equal(full.items, 25);
  assert.equal(full.pages, 1);
  const paged = await client.listAll('/api/v1/namespaces/ns/pods', 10);
  assert.equal(paged.items, 25);
  assert.equal(paged.pages, 3);
  assert.equal(paged.pageMs.length, 3);
  assert.equal(paged.resourceVersion, '42');
  assert.ok(paged.bytes > full.bytes / 2);
});

test('json() throws ApiError with the Status reason; ensure() accepts AlreadyExists', async () => {
  const anon = new KubeHttp({ server: client.server });
  await assert.rejects(anon.json('GET', '/api/v1/pods'), (e: ApiError) => e.status === 401 && /Unauthorized: Unauthorized/.test(e.message));
  anon.close();
  await client.ensure('/api/v1/namespaces', { metadata: { name: 'bench' } });
  await client.ensure('/api/v1/namespaces', { metadata: { name: 'bench' } });
  await assert.rejects(client.json('POST', '/api/v1/namespaces', { metadata: { name: 'bench' } }), /409 AlreadyExists: pods "bench" already exists/);
});

test('watch reassembles events split across chunks and reports its end', async () => {
  const seen: string[] = [];
  const w = client.watch('/api/v1/namespaces/ns/pods', '42', (type, obj) => seen.push(`${type} ${obj.metadata?.name}`));
  await w.established;
  await w.ended;
  assert.deepEqual(seen, ['ADDED p0', 'ADDED p1', 'DELETED p2']);
});

test('a refused watch rejects established', async () => {
  const anon = new KubeHttp({ server: client.server });
  const w = anon.watch('/api/v1/pods', '0', () => {});
  await assert.rejects(w.established, (e: ApiError) => e.status === 401);
  anon.close();
});
