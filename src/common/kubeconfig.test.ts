import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadKubeClient, useLoopbackFor, LOOPBACK_SERVER_URL } from './kubeconfig.js';
import type { WatchEvent } from './kube-client.js';

/** A file kubeconfig with a token user (TLS credentials are src/cloudhub/api-client.test.ts's business). */
const kubeconfigYaml = (server: string) => [
  'apiVersion: v1', 'kind: Config', 'current-context: x',
  'clusters:', '- name: c', `  cluster: {server: "${server}"}`,
  'users:', '- name: u', '  user: {token: file-token}',
  'contexts:', '- name: x', '  context: {cluster: c, user: u}', '',
].join('\n');

test('useLoopbackFor: loadKubeClient of that path speaks plain HTTP to the Unix socket with the token (requests and watches); unregistered, the file again', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-kubeconfig-'));
  const socketPath = path.join(dir, 'api.sock');
  const seen: { url: string; auth?: string; host?: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url!, auth: req.headers.authorization, host: req.headers.host });
    res.setHeader('content-type', 'application/json');
    if (req.url!.includes('watch=true')) {
      res.write(JSON.stringify({ type: 'ADDED', object: { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'w', resourceVersion: '7' } } }) + '\n');
      res.end();
      return;
    }
    res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'listed' } }] }));
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  const file = path.join(dir, 'admin.kubeconfig');
  writeFileSync(file, kubeconfigYaml('https://127.0.0.1:1'));
  try {
    // registered under a relative spelling of the same path: paths are resolved
    useLoopbackFor(path.relative(process.cwd(), file), { socketPath, token: 'in-memory-token' });
    const kc = loadKubeClient(file);
    assert.equal(kc.server, `${LOOPBACK_SERVER_URL}/`);
    assert.deepEqual(kc.loopbackTransport, { socketPath, token: 'in-memory-token' });
    const list = await kc.request<{ items: Array<{ metadata: { name: string } }> }>('GET', '/api/v1/namespaces');
    assert.deepEqual(list.items.map((n) => n.metadata?.name), ['listed']);
    const events: string[] = [];
    await kc.watch('/api/v1/namespaces', { resourceVersion: '5' }, (ev: WatchEvent) => events.push(`${ev.type} ${(ev.object as { metadata: { name: string } }).metadata.name}`)).done;
    assert.deepEqual(events, ['ADDED w']);
    kc.close();
    assert.equal(seen.length, 2);
    for (const s of seen) assert.equal(s.auth, 'Bearer in-memory-token');

    useLoopbackFor(file, undefined);
    const again = loadKubeClient(file);
    assert.match(again.server, /^https:\/\/127\.0\.0\.1:1/);
    assert.equal(again.loopbackTransport, undefined);
  } finally {
    useLoopbackFor(file, undefined);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
