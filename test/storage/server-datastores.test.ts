/**
 * `kedge server --datastore-endpoint` against real engines: kubectl create/get, a kill -9 and restart of the
 * server (objects, resourceVersions and watch history come back from the engine), a watch resumed from a
 * resourceVersion older than the restart; an engine that is down at start is waited for; a bad endpoint is a
 * flag error.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Harness, type ManagedProcess } from '../harness/processes.js';
import { startEtcd, startPostgres } from '../harness/datastores.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';

const h = new Harness('server-datastores');
after(() => h.cleanup());

function run(command: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

/** Start `kedge server` on the endpoint; `ready: false` returns as soon as it runs (for an engine not up yet). */
async function startServer(name: string, endpoint: string, ready = true): Promise<{ server: ManagedProcess; kubectl: (...args: string[]) => Promise<string> }> {
  const dataDir = h.tempDir(name);
  const port = await h.freePort();
  const args = ['server', '--data-dir', dataDir, '--secure-port', String(port), '--hub-port', '-1', '--disable-controllers', '--datastore-endpoint', endpoint];
  const env = { ...process.env, KEDGE_LOG_LEVEL: 'info' };
  const server = ready
    ? await h.startKedge(name, args, { ready: { logLine: /kedge server ready/, timeoutMs: 90_000 }, env })
    : h.process({ name, args, env });
  if (!ready) await server.start();
  const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
  const kubectl = async (...kargs: string[]) => {
    const r = await run('/usr/bin/kubectl', [`--kubeconfig=${kubeconfig}`, ...kargs]);
    assert.equal(r.code, 0, `kubectl ${kargs.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  return { server, kubectl };
}

async function createGetWatchAcrossRestart(name: string, { server, kubectl }: Awaited<ReturnType<typeof startServer>>): Promise<void> {
  assert.match(server.currentOutput, new RegExp(`"datastore":"${name}"`));
  await kubectl('create', 'configmap', 'before', '--from-literal=k=v1');
  const before = JSON.parse(await kubectl('get', 'configmap', 'before', '-o', 'json'));
  assert.equal(before.data.k, 'v1');

  await server.restart({ kill9: true });
  await server.waitForLog(/kedge server ready/, 90_000);
  const again = JSON.parse(await kubectl('get', 'configmap', 'before', '-o', 'json'));
  assert.equal(again.metadata.resourceVersion, before.metadata.resourceVersion, 'same object, same resourceVersion after kill -9');
  await kubectl('create', 'configmap', 'after', '--from-literal=k=v2');
  const after = JSON.parse(await kubectl('get', 'configmap', 'after', '-o', 'json'));
  assert.ok(Number(after.metadata.resourceVersion) > Number(before.metadata.resourceVersion), 'revisions go on from the datastore');

  // A watch from the resourceVersion read before the restart replays exactly what changed since.
  const watched = await kubectl('get', '--raw', `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${before.metadata.resourceVersion}&timeoutSeconds=3`);
  const events = watched.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
  assert.deepEqual(events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED after']);
  const list = JSON.parse(await kubectl('get', 'configmaps', '-o', 'json')).items.map((i: { metadata: { name: string } }) => i.metadata.name);
  assert.ok(list.includes('before') && list.includes('after'), `list: ${list}`);
  await server.stop();
}

describe('kedge server --datastore-endpoint', () => {
  test('etcd: create, get, kill -9 and restart, watch from before the restart; waits for an etcd that is not up yet', async () => {
    const clientPort = await h.freePort();
    const endpoint = `http://127.0.0.1:${clientPort}`;
    // The server starts first: it must wait (logging) rather than exit, then come up once etcd does.
    const started = await startServer('etcd', endpoint, false);
    await started.server.waitForLog(/datastore unreachable; retrying/, 60_000);
    assert.ok(started.server.running, 'the server waits instead of exiting');
    await startEtcd(h, { clientPort });
    await started.server.waitForLog(/kedge server ready/, 90_000);
    await createGetWatchAcrossRestart('etcd', started);
  });

  test('etcd over TLS with a client certificate (--datastore-cafile/-certfile/-keyfile)', async () => {
    const etcd = await startEtcd(h, { tls: true, name: 'etcd-tls' });
    const files = etcd.tlsFiles!;
    const dataDir = h.tempDir('tls-data');
    const port = await h.freePort();
    const server = await h.startKedge('tls-server', [
      'server', '--data-dir', dataDir, '--secure-port', String(port), '--hub-port', '-1', '--disable-controllers',
      '--datastore-endpoint', etcd.endpoint, '--datastore-cafile', files.cafile, '--datastore-certfile', files.certfile, '--datastore-keyfile', files.keyfile,
    ], { ready: { logLine: /kedge server ready/, timeoutMs: 90_000 } });
    const r = await run('/usr/bin/kubectl', [`--kubeconfig=${path.join(dataDir, 'admin.kubeconfig')}`, 'create', 'configmap', 'over-tls']);
    assert.equal(r.code, 0, r.stderr);
    await server.stop();
  });

  test('postgres: create, get, kill -9 and restart, watch from before the restart', async () => {
    const pg = await startPostgres(h, { durable: false });
    const url = await pg.createDatabase('kedge');
    await createGetWatchAcrossRestart('postgres', await startServer('postgres', url));

    // Credentials the engine refuses cannot get better by waiting: the server says so and stops.
    const wrong = kedgeCommand(['server', '--data-dir', h.tempDir('wrong'), '--hub-port', '-1', '--disable-controllers', '--datastore-endpoint', url.replace(/:[^:@/]+@/, ':not-the-password@')]);
    const r = await run(wrong.command, wrong.args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /kedge server: datastore: .*password authentication failed/);
    assert.doesNotMatch(r.stderr, /not-the-password/);
  });

  test('a bad endpoint is a flag error naming the flag and what it expects', async () => {
    const bad = kedgeCommand(['server', '--data-dir', h.tempDir('bad'), '--datastore-endpoint', 'mysql://u:secret@h/db']);
    const r = await run(bad.command, bad.args);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid --datastore-endpoint "mysql:\/\/u:\*\*\*@h\/db": unknown scheme; want "sqlite"/);
  });
});
