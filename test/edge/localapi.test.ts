/**
 * The edge's local API against a local process and a web page (docs/design/security.md §4), with the real
 * `kedge server`, a real `kedge edge join`, kubectl and curl: a DNS-rebinding Host is refused, Secrets (and
 * pods, configmaps) are not served without a credential, and each credential reads what it should — the node's
 * token file, the 0600 Unix socket, a pod's own service account token (only what that pod references) — also
 * with the cloud gone (kill -9), verified from what the edge stored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createToken, edgeRunArgs, eventually, joinEdge, localApiToken, localGet, run, startCluster, KUBECTL, type Cluster, type Edge } from './cluster.js';

let c: Cluster;
let e: Edge;

interface List { items: { metadata: { name: string } }[] }
const names = (l: List) => l.items.map((i) => i.metadata.name).sort();

before(async () => {
  c = await startCluster('localapi');
  e = await joinEdge(c, 'edge-l', await createToken(c));
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret', namespace: 'default' }, stringData: { password: 'app' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other-secret', namespace: 'default' }, stringData: { password: 'other' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } },
      // Both pods run on edge-l, so both secrets are on the node; each pod references one.
      ...[['app', 'app-secret'], ['other', 'other-secret']].map(([name, secret]) => ({
        apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
        spec: { nodeName: 'edge-l', containers: [{ name: 'c', image: 'busybox', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } }] }] },
      })),
    ],
  }));
  await eventually('both secrets on the edge', async () => {
    const r = await localGet<List>(e, '/api/v1/namespaces/default/secrets');
    return r.status === 200 && names(r.body).join() === 'app-secret,other-secret';
  });
});
after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

/**
 * The projected token the hub delivered for `pod` — the bytes the pod finds in its kube-api-access volume (a
 * `--runtime none` edge writes no files, so it is read where the edge keeps it: its store, which the agent holds
 * exclusively while it runs). The edge is stopped, read and started again with `kedge edge run`, which also
 * shows the token verifies after an agent restart.
 */
async function podServiceAccountToken(pod: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    await e.proc.stop();
    const db = new Database(path.join(e.dataDir, 'store.db'), { readonly: true, fileMustExist: true });
    let token: string | undefined;
    try {
      const row = db.prepare('SELECT l.value AS value FROM kv JOIN log l ON l.revision = kv.mod_revision WHERE kv.key = ?').get(`/registry/podtokens.kedge.io/default/${pod}`) as { value: string } | undefined;
      token = row ? (JSON.parse(row.value) as { tokens: { audience?: string; token: string }[] }).tokens.find((t) => !t.audience)?.token : undefined;
    } finally {
      db.close();
    }
    e.proc = await c.h.startKedge(`${e.name}-run-${attempt}`, edgeRunArgs(e), { ready: { logLine: /edge agent started/, timeoutMs: 60_000 } });
    if (token) return token;
    if (attempt >= 10) throw new Error(`no service account token for pod ${pod} on ${e.name}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
let podToken = '';

/** curl as a local process or a browser would send it. */
async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const out = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

test('a DNS-rebinding Host is refused; anonymous local processes get public reads only, never Secrets', async () => {
  const base = `http://127.0.0.1:${e.localApiPort}`;
  const rebound = await curl(['-H', `Host: attacker.example:${e.localApiPort}`, `${base}/api/v1/namespaces/default/services`]);
  assert.equal(rebound.status, 403);
  assert.match(JSON.parse(rebound.body).message, /host "attacker\.example:\d+" is not allowed: the local API answers only requests addressed to localhost, 127\.0\.0\.1, \[::1\] or the node's name "edge-l"/);
  // Public reads for node-local proxies and DNS, without credentials (also by the node's name and localhost).
  for (const host of ['127.0.0.1', 'localhost', 'edge-l']) {
    const services = await curl(['-H', `Host: ${host}:${e.localApiPort}`, `${base}/api/v1/namespaces/default/services`]);
    assert.equal(services.status, 200, `${host}: ${services.body}`);
    assert.ok(names(JSON.parse(services.body) as List).includes('web'));
  }
  assert.equal((await curl([`${base}/api/v1/nodes/edge-l`])).status, 200);
  // Secrets: refused, with upstream's wording, and nothing of the secret in the answer.
  const secret = await curl([`${base}/api/v1/namespaces/default/secrets/app-secret`]);
  assert.equal(secret.status, 403);
  assert.match(JSON.parse(secret.body).message, /^secrets "app-secret" is forbidden: User "system:anonymous" cannot get resource "secrets" in API group "" in the namespace "default"/);
  assert.doesNotMatch(secret.body, /YXBw/); // base64 of "app"
  for (const p of ['/api/v1/secrets', '/api/v1/namespaces/default/pods', '/api/v1/configmaps']) assert.equal((await curl([`${base}${p}`])).status, 403, p);
  // Stock kubectl without credentials, as a node-local client would start out.
  const kc = path.join(c.h.tempDir('kc'), 'empty');
  writeFileSync(kc, 'apiVersion: v1\nkind: Config\n');
  await assert.rejects(run(KUBECTL, ['--kubeconfig', kc, '-s', base, 'get', 'secrets']), /Forbidden|forbidden/);
  // A wrong token is 401.
  assert.equal((await curl(['-H', 'Authorization: Bearer not-a-token', `${base}/api/v1/namespaces/default/services`])).status, 401);
});

test('credentials: the node token file (0600) and the 0600 Unix socket read Secrets; a pod token reads only what its pod references', async () => {
  const tokenFile = path.join(e.dataDir, 'local-api.token');
  const socket = path.join(e.dataDir, 'local-api.sock');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  assert.ok(statSync(socket).isSocket());
  assert.equal(statSync(socket).mode & 0o777, 0o600);

  // (kubectl sends tokens only over TLS (kubernetes/kubectl#744), so a token client here is curl or a library.)
  const withToken = await curl(['-H', `Authorization: Bearer ${localApiToken(e)}`, `http://127.0.0.1:${e.localApiPort}/api/v1/namespaces/default/secrets`]);
  assert.equal(withToken.status, 200);
  assert.deepEqual(names(JSON.parse(withToken.body) as List), ['app-secret', 'other-secret']);
  const viaSocket = await curl(['--unix-socket', socket, 'http://localhost/api/v1/namespaces/default/secrets']);
  assert.equal(viaSocket.status, 200);
  assert.deepEqual(names(JSON.parse(viaSocket.body) as List), ['app-secret', 'other-secret']);

  podToken = await podServiceAccountToken('app');
  const asPod = ['-H', `Authorization: Bearer ${podToken}`];
  const base = `http://127.0.0.1:${e.localApiPort}/api/v1/namespaces/default`;
  const own = await curl([...asPod, `${base}/secrets/app-secret`]);
  assert.equal(own.status, 200, own.body);
  assert.equal(Buffer.from(JSON.parse(own.body).data.password, 'base64').toString(), 'app');
  assert.equal((await curl([...asPod, `${base}/pods/app`])).status, 200);
  const foreign = await curl([...asPod, `${base}/secrets/other-secret`]);
  assert.equal(foreign.status, 403);
  assert.match(JSON.parse(foreign.body).message, /User "system:serviceaccount:default:default" cannot get resource "secrets"/);
  assert.equal((await curl([...asPod, `${base}/secrets`])).status, 403, 'a pod token does not list secrets');
  assert.equal((await curl([...asPod, `${base}/pods/other`])).status, 403);
});

test('with the cloud gone (kill -9), the node token, the socket and pod tokens still work from what the edge stored', async () => {
  const token = podToken;
  assert.ok(token, 'the previous test read the pod token');
  await c.server.kill9();
  await eventually('the edge notices the hub is gone', async () => (await run('/usr/bin/curl', ['-s', '--max-time', '2', `https://127.0.0.1:${c.hubPort}/healthz`, '-k']).then(() => false, () => true)));
  const base = `http://127.0.0.1:${e.localApiPort}/api/v1/namespaces/default`;
  assert.equal((await curl(['-H', `Authorization: Bearer ${token!}`, `${base}/secrets/app-secret`])).status, 200);
  assert.equal((await curl(['-H', `Authorization: Bearer ${token!}`, `${base}/secrets/other-secret`])).status, 403);
  assert.equal((await localGet<List>(e, '/api/v1/namespaces/default/secrets')).status, 200);
  assert.equal((await curl(['--unix-socket', path.join(e.dataDir, 'local-api.sock'), 'http://localhost/api/v1/namespaces/default/pods/app'])).status, 200);
  assert.equal((await curl([`${base}/secrets/app-secret`])).status, 403);
});
