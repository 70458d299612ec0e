import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import * as pki from '../../src/pki/index.js';
import { Harness, type ManagedProcess } from '../harness/processes.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';

/**
 * RBAC and authentication end to end: the real `kedge server`, the stock kubectl, client certificates signed by
 * the server's CA, the server's --token-auth-file, and the default policy the server creates at first start.
 */

const KUBECTL = '/usr/bin/kubectl';
const h = new Harness('auth-rbac');
let server: ManagedProcess;
let dataDir: string;
let url: string;
let admin: string;
const kc = (name: string): string => path.join(dataDir, '..', `${name}.kubeconfig`);

function kubectl(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dataDir, '..', 'kcache'), '--request-timeout', '20s', ...args],
      { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(dataDir, '..') } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

async function ok(kubeconfig: string, args: string[]): Promise<string> {
  const r = await kubectl(kubeconfig, args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Adds --hub-port on a free port when the server has a hub, so parallel suites never collide on 10000. */
async function hubArgs(): Promise<string[]> {
  const { command, args } = kedgeCommand(['server', '--help']);
  const help = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  return help.includes('--hub-port') ? ['--hub-port', String(await h.freePort())] : [];
}

before(async () => {
  const base = h.tempDir('rbac');
  dataDir = path.join(base, 'data');
  const tokenFile = path.join(base, 'tokens.csv');
  await writeFile(tokenFile, 'tok-0123456789abcdef,tokenuser,uid-77,"readers"\n', { mode: 0o600 });
  const port = await h.freePort();
  url = `https://127.0.0.1:${port}`;
  server = await h.startKedge('server', [
    'server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(port), '--token-auth-file', tokenFile, ...(await hubArgs()),
  ], { ready: { url: `${url}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 90_000 } });
  admin = pki.adminKubeconfigPath(dataDir);
  // The operator signs a user certificate with the cluster CA, as with `kubeadm kubeconfig user`.
  const ca = { certPem: await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8'), keyPem: await readFile(path.join(dataDir, 'pki', 'ca.key'), 'utf8') };
  const jane = await pki.issueClientCertificate(ca, 'jane', ['devs']);
  await pki.writeKubeconfig(kc('jane'), pki.buildKubeconfig({ server: url, caCertPem: ca.certPem, userName: 'jane', clientCertPem: jane.certPem, clientKeyPem: jane.keyPem }));
  await pki.writeKubeconfig(kc('token'), pki.buildKubeconfig({ server: url, caCertPem: ca.certPem, userName: 't', token: 'tok-0123456789abcdef' }));
  await pki.writeKubeconfig(kc('badtoken'), pki.buildKubeconfig({ server: url, caCertPem: ca.certPem, userName: 'b', token: 'tok-0123456789abcdeX' }));
  const rogue = await pki.createCertificateAuthority('rogue');
  const mallory = await pki.issueClientCertificate(rogue, 'kubernetes-admin', ['system:masters']);
  await pki.writeKubeconfig(kc('rogue'), pki.buildKubeconfig({ server: url, caCertPem: ca.certPem, userName: 'm', clientCertPem: mallory.certPem, clientKeyPem: mallory.keyPem }));
  await writeFile(path.join(base, 'pod.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }));
});

after(() => h.cleanup());

const podFile = (): string => path.join(dataDir, '..', 'pod.json');
/** Setup objects go in as JSON manifests (kubectl sends those as JSON, whatever its typed clients do). */
function manifest(name: string, obj: unknown): string {
  const file = path.join(dataDir, '..', `${name}.json`);
  writeFileSync(file, JSON.stringify(obj));
  return file;
}

test('the server creates the default roles and bindings at first start', async () => {
  const roles = await ok(admin, ['get', 'clusterroles', '-o', 'name']);
  for (const r of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer', 'system:node', 'system:node-bootstrapper']) {
    assert.ok(roles.split('\n').includes(`clusterrole.rbac.authorization.k8s.io/${r}`), `${r} missing:\n${roles}`);
  }
  const crb = JSON.parse(await ok(admin, ['get', 'clusterrolebinding', 'cluster-admin', '-o', 'json']));
  assert.deepEqual(crb.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:masters' }]);
});

test('the serving certificate covers loopback, the kubernetes Service ClusterIP and its DNS names; keys are 0600', async () => {
  const cert = pki.inspectCertificate(await readFile(path.join(dataDir, 'pki', 'server.crt'), 'utf8'));
  for (const ip of ['127.0.0.1', '10.43.0.1']) assert.ok(cert.ipAddresses.includes(ip), `${ip} in ${cert.ipAddresses}`);
  for (const dns of ['localhost', 'kubernetes', 'kubernetes.default.svc.cluster.local']) assert.ok(cert.dnsNames.includes(dns), dns);
  for (const f of ['ca.key', 'server.key', 'sa.key']) assert.equal((await stat(path.join(dataDir, 'pki', f))).mode & 0o777, 0o600, f);
  assert.equal((await stat(admin)).mode & 0o777, 0o600, 'admin.kubeconfig');
});

test('a client-cert user bound to view can get but not create pods (upstream Forbidden text)', async () => {
  await ok(admin, ['create', '-f', podFile(), '-n', 'default', '--validate=false']);
  await ok(admin, ['create', '-f', manifest('jane-view', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'jane-view' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'jane' }],
  })]);
  const got = await ok(kc('jane'), ['get', 'pod', 'p1', '-n', 'default', '-o', 'name']);
  assert.equal(got.trim(), 'pod/p1');
  const create = await kubectl(kc('jane'), ['create', '-f', podFile(), '-n', 'default', '--validate=false']);
  assert.notEqual(create.code, 0);
  assert.ok(create.stderr.includes('pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "default"'), create.stderr);
  const secrets = await kubectl(kc('jane'), ['get', 'secrets', '-n', 'default']);
  assert.ok(secrets.stderr.includes('secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace "default"'), secrets.stderr);
});

test('kubectl auth can-i yes/no and --list', async () => {
  const yes = await kubectl(kc('jane'), ['auth', 'can-i', 'get', 'pods', '-n', 'default']);
  assert.deepEqual([yes.code, yes.stdout.trim()], [0, 'yes'], yes.stderr);
  const no = await kubectl(kc('jane'), ['auth', 'can-i', 'create', 'pods', '-n', 'default']);
  assert.deepEqual([no.code, no.stdout.trim()], [1, 'no'], no.stderr);
  const adminYes = await kubectl(admin, ['auth', 'can-i', 'delete', 'nodes']);
  assert.equal(adminYes.stdout.trim(), 'yes', adminYes.stderr);
  const list = await ok(kc('jane'), ['auth', 'can-i', '--list', '-n', 'default']);
  assert.match(list, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
});

test('token-file user authenticates with its groups; its RoleBinding applies only in its namespace', async () => {
  const who = JSON.parse(await ok(kc('token'), ['auth', 'whoami', '-o', 'json']));
  assert.equal(who.status.userInfo.username, 'tokenuser');
  assert.deepEqual(who.status.userInfo.groups, ['readers', 'system:authenticated']);
  await ok(admin, ['create', '-f', manifest('team', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } })]);
  await ok(admin, ['create', '-f', manifest('readers-edit', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'readers-edit', namespace: 'team' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'readers' }],
  })]);
  assert.equal((await kubectl(kc('token'), ['auth', 'can-i', 'create', 'deployments.apps', '-n', 'team'])).stdout.trim(), 'yes');
  const other = await kubectl(kc('token'), ['get', 'pods', '-n', 'default']);
  assert.ok(other.stderr.includes('pods is forbidden: User "tokenuser" cannot list resource "pods" in API group "" in the namespace "default"'), other.stderr);
});

test('bad token and a certificate from another CA: 401, kubectl says Unauthorized', async () => {
  for (const name of ['badtoken', 'rogue']) {
    const r = await kubectl(kc(name), ['get', 'pods', '-n', 'default']);
    assert.notEqual(r.code, 0, name);
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/, `${name}: ${r.stderr}`);
  }
});

test('anonymous requests: /version, /healthz, /livez, /readyz answer (system:public-info-viewer); everything else is 403 for system:anonymous', async () => {
  const ca = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  const get = (p: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(`${url}${p}`, { ca, timeout: 10_000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
  const version = await get('/version');
  assert.equal(version.status, 200, version.body);
  assert.match(JSON.parse(version.body).gitVersion, /^v1\./);
  for (const p of ['/healthz', '/livez', '/readyz']) assert.equal((await get(p)).status, 200, p);
  // Upstream's default (--anonymous-auth=true with RBAC): the request runs as system:anonymous and is forbidden.
  const pods = await get('/api/v1/namespaces/default/pods');
  assert.equal(pods.status, 403, pods.body);
  const s = JSON.parse(pods.body);
  assert.deepEqual([s.kind, s.reason, s.code, s.message], ['Status', 'Forbidden', 403,
    'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"']);
  for (const p of ['/api', '/apis', '/openapi/v2', '/metrics', '/api/v1/namespaces/kube-system/secrets', '/.well-known/openid-configuration']) {
    assert.equal((await get(p)).status, 403, `${p} must not be anonymous`);
  }
});

test('escalation prevention: a namespace admin cannot grant what they do not hold', async () => {
  await ok(admin, ['create', '-f', manifest('esc-ns', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'esc' } })]);
  await ok(admin, ['create', '-f', manifest('jane-esc-admin', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'jane-admin', namespace: 'esc' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'jane' }],
  })]);
  // Within her rights: a Role and a binding to `edit` in her namespace.
  await ok(kc('jane'), ['create', '-f', manifest('pod-reader', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: 'esc' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
  })]);
  await ok(kc('jane'), ['create', 'rolebinding', 'bob-edit', '--clusterrole=edit', '--user=bob', '-n', 'esc']);
  // Beyond them: node access in a Role, and a binding to cluster-admin.
  const role = await kubectl(kc('jane'), ['create', '-f', manifest('node-reader', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'node-reader', namespace: 'esc' },
    rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
  })]);
  assert.notEqual(role.code, 0);
  assert.ok(role.stderr.includes('roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "jane" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:'), role.stderr);
  assert.ok(role.stderr.includes('{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}'), role.stderr);
  const bind = await kubectl(kc('jane'), ['create', 'rolebinding', 'me-root', '--clusterrole=cluster-admin', '--user=jane', '-n', 'esc']);
  assert.notEqual(bind.code, 0);
  assert.match(bind.stderr, /rolebindings\.rbac\.authorization\.k8s\.io "me-root" is forbidden: user "jane" .* is attempting to grant RBAC permissions not currently held/);
  const after = await kubectl(kc('jane'), ['auth', 'can-i', 'delete', 'nodes']);
  assert.equal(after.stdout.trim(), 'no');
});

test('service account tokens: kubectl create token issues a JWT the server accepts; RBAC applies to the SA', async () => {
  await ok(admin, ['create', '-f', manifest('robot-ns', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'robots' } })]);
  await ok(admin, ['create', '-f', manifest('robot-sa', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot', namespace: 'robots' } })]);
  await ok(admin, ['create', 'rolebinding', 'robot-view', '--clusterrole=view', '--serviceaccount=robots:robot', '-n', 'robots']);
  const token = (await ok(admin, ['create', 'token', 'robot', '-n', 'robots', '--duration=15m'])).trim();
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  assert.equal(claims.sub, 'system:serviceaccount:robots:robot');
  assert.equal(claims.exp - claims.iat, 900, '--duration honoured');
  const ca = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  await pki.writeKubeconfig(kc('robot'), pki.buildKubeconfig({ server: url, caCertPem: ca, userName: 'robot', token }));
  const who = JSON.parse(await ok(kc('robot'), ['auth', 'whoami', '-o', 'json']));
  assert.equal(who.status.userInfo.username, 'system:serviceaccount:robots:robot');
  assert.ok(who.status.userInfo.groups.includes('system:serviceaccounts:robots'));
  await ok(kc('robot'), ['get', 'pods', '-n', 'robots']);
  const denied = await kubectl(kc('robot'), ['get', 'pods', '-n', 'default']);
  assert.ok(denied.stderr.includes('pods is forbidden: User "system:serviceaccount:robots:robot" cannot list resource "pods" in API group "" in the namespace "default"'), denied.stderr);
  const short = await kubectl(admin, ['create', 'token', 'robot', '-n', 'robots', '--duration=5m']);
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /spec\.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes/);
  // Deleting the service account revokes its tokens.
  await ok(admin, ['delete', 'serviceaccount', 'robot', '-n', 'robots']);
  const revoked = await kubectl(kc('robot'), ['get', 'pods', '-n', 'robots']);
  assert.match(revoked.stderr, /error: You must be logged in to the server \(Unauthorized\)/, revoked.stderr);
});

test('CSR onboarding: create a CSR, only an approver may approve, the cluster signer issues a working certificate', async () => {
  const { csrPem, keyPem } = await pki.createCertificateRequest({ commonName: 'carol', organizations: ['auditors'] });
  const csr = (name: string, request: string) => ({
    apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
    spec: { request: Buffer.from(request).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['digital signature', 'client auth'], expirationSeconds: 3600 },
  });
  await ok(admin, ['create', '-f', manifest('carol-csr', csr('carol', csrPem))]);
  // jane (view) may not approve.
  const denied = await kubectl(kc('jane'), ['certificate', 'approve', 'carol']);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /forbidden/);
  await ok(admin, ['certificate', 'approve', 'carol']);
  let certB64 = '';
  for (let i = 0; i < 100 && !certB64; i++) {
    certB64 = (await ok(admin, ['get', 'csr', 'carol', '-o', 'jsonpath={.status.certificate}'])).trim();
    if (!certB64) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(certB64, 'certificate issued within 20 s');
  const certPem = Buffer.from(certB64, 'base64').toString();
  const info = pki.inspectCertificate(certPem);
  assert.deepEqual([info.commonName, info.organizations], ['carol', ['auditors']]);
  const ca = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  await pki.writeKubeconfig(kc('carol'), pki.buildKubeconfig({ server: url, caCertPem: ca, userName: 'carol', clientCertPem: certPem, clientKeyPem: keyPem }));
  const who = JSON.parse(await ok(kc('carol'), ['auth', 'whoami', '-o', 'json']));
  assert.equal(who.status.userInfo.username, 'carol');
  assert.deepEqual(who.status.userInfo.groups, ['auditors', 'system:authenticated']);
  // The kube-apiserver-client signer never mints system:masters.
  const root = await pki.createCertificateRequest({ commonName: 'mallory', organizations: ['system:masters'] });
  const r = await kubectl(admin, ['create', '-f', manifest('mallory-csr', csr('mallory', root.csrPem))]);
  assert.notEqual(r.code, 0);
  assert.ok(r.stderr.includes('use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed'), r.stderr);
});

test('impersonation is authorized by RBAC: admin may act as jane and gets her answers', async () => {
  const asJane = await kubectl(admin, ['auth', 'can-i', 'create', 'pods', '-n', 'default', '--as=jane']);
  assert.equal(asJane.stdout.trim(), 'no', asJane.stderr);
  const list = await kubectl(admin, ['get', 'secrets', '-n', 'default', '--as=jane']);
  assert.ok(list.stderr.includes('secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace "default"'), list.stderr);
  const byJane = await kubectl(kc('jane'), ['get', 'pods', '-n', 'default', '--as=kubernetes-admin']);
  assert.ok(byJane.stderr.includes('users "kubernetes-admin" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope'), byJane.stderr);
});

test('after kill -9 and restart on the same data dir: CA, admin kubeconfig, user certs, SA tokens and policy all still hold', async () => {
  await ok(admin, ['create', '-f', manifest('keeper-sa', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'keeper', namespace: 'default' } })]);
  const token = (await ok(admin, ['create', 'token', 'keeper', '-n', 'default'])).trim();
  const ca = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  await pki.writeKubeconfig(kc('keeper'), pki.buildKubeconfig({ server: url, caCertPem: ca, userName: 'keeper', token }));
  const adminBefore = await readFile(admin, 'utf8');
  await server.restart({ kill9: true });
  assert.equal(await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8'), ca, 'CA kept');
  assert.equal(await readFile(admin, 'utf8'), adminBefore, 'admin.kubeconfig kept');
  assert.equal((await ok(kc('jane'), ['get', 'pod', 'p1', '-n', 'default', '-o', 'name'])).trim(), 'pod/p1');
  assert.equal(JSON.parse(await ok(kc('keeper'), ['auth', 'whoami', '-o', 'json'])).status.userInfo.username, 'system:serviceaccount:default:keeper');
  assert.equal((await kubectl(kc('jane'), ['auth', 'can-i', 'create', 'pods', '-n', 'default'])).stdout.trim(), 'no');
  assert.equal((await kubectl(kc('token'), ['auth', 'can-i', 'create', 'deployments.apps', '-n', 'team'])).stdout.trim(), 'yes');
});

test('TokenReview tells who a bearer token belongs to, and says why a bad one is refused', async () => {
  const review = (token: string) => manifest(`tr-${token.length}`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
  const good = JSON.parse(await ok(admin, ['create', '-f', review('tok-0123456789abcdef'), '-o', 'json']));
  assert.equal(good.status.authenticated, true);
  assert.deepEqual(good.status.user, { username: 'tokenuser', uid: 'uid-77', groups: ['readers', 'system:authenticated'] });
  const bad = JSON.parse(await ok(admin, ['create', '-f', review('not-a-real-token'), '-o', 'json']));
  assert.equal(bad.status.authenticated, false);
  const denied = await kubectl(kc('jane'), ['create', '-f', review('tok-0123456789abcdef'), '-o', 'json']);
  assert.ok(denied.stderr.includes('tokenreviews.authentication.k8s.io is forbidden: User "jane" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope'), denied.stderr);
});

test('legacy token Secrets are populated, work with kubectl, and die with the Secret', async () => {
  await ok(admin, ['create', '-f', manifest('legacy-sa', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'legacy', namespace: 'default' } })]);
  await ok(admin, ['create', '-f', manifest('legacy-secret', {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token',
    metadata: { name: 'legacy-token', namespace: 'default', annotations: { 'kubernetes.io/service-account.name': 'legacy' } },
  })]);
  let tokenB64 = '';
  for (let i = 0; i < 100 && !tokenB64; i++) {
    tokenB64 = (await ok(admin, ['get', 'secret', 'legacy-token', '-n', 'default', '-o', 'jsonpath={.data.token}'])).trim();
    if (!tokenB64) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(tokenB64, 'token populated within 20 s');
  const caB64 = (await ok(admin, ['get', 'secret', 'legacy-token', '-n', 'default', '-o', 'jsonpath={.data.ca\\.crt}'])).trim();
  const ca = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  assert.equal(Buffer.from(caB64, 'base64').toString(), ca);
  await pki.writeKubeconfig(kc('legacy'), pki.buildKubeconfig({ server: url, caCertPem: ca, userName: 'legacy', token: Buffer.from(tokenB64, 'base64').toString() }));
  assert.equal(JSON.parse(await ok(kc('legacy'), ['auth', 'whoami', '-o', 'json'])).status.userInfo.username, 'system:serviceaccount:default:legacy');
  await ok(admin, ['delete', 'secret', 'legacy-token', '-n', 'default']);
  const after = await kubectl(kc('legacy'), ['auth', 'whoami']);
  assert.match(after.stderr, /error: You must be logged in to the server \(Unauthorized\)/, after.stderr);
});

test('service account issuer discovery: the JWKS verifies tokens the server issues', async () => {
  const config = JSON.parse(await ok(admin, ['get', '--raw', '/.well-known/openid-configuration']));
  assert.equal(config.issuer, 'https://kubernetes.default.svc.cluster.local');
  assert.deepEqual(config.id_token_signing_alg_values_supported, ['ES256']);
  const jwks = JSON.parse(await ok(admin, ['get', '--raw', '/openid/v1/jwks']));
  const token = (await ok(admin, ['create', 'token', 'default', '-n', 'default'])).trim();
  const [h, p, sig] = token.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const jwk = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
  assert.ok(jwk, 'token kid published');
  const { createPublicKey, verify } = await import('node:crypto');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  assert.equal(verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url')), true);
  const denied = await kubectl(kc('jane'), ['get', '--raw', '/openid/v1/jwks']);
  assert.ok(denied.stderr.includes('forbidden: User "jane" cannot get path "/openid/v1/jwks"'), denied.stderr);
});

test('aggregated ClusterRoles show their rules, and pick up a new aggregate-to-view role', async () => {
  const hasRule = (role: { rules?: Array<{ apiGroups?: string[]; resources?: string[]; verbs: string[] }> }, group: string, resource: string, verb: string): boolean =>
    (role.rules ?? []).some((r) => (r.apiGroups ?? []).includes(group) && (r.resources ?? []).includes(resource) && r.verbs.includes(verb));
  const get = async (name: string) => JSON.parse(await ok(admin, ['get', 'clusterrole', name, '-o', 'json']));
  let view = await get('view');
  for (let i = 0; i < 100 && !hasRule(view, '', 'pods', 'get'); i++) { await new Promise((r) => setTimeout(r, 200)); view = await get('view'); }
  assert.ok(hasRule(view, '', 'pods', 'get') && !hasRule(view, '', 'pods', 'create'), 'view shows read rules only');
  assert.ok(hasRule(await get('edit'), '', 'pods', 'create'), 'edit shows write rules');
  await ok(admin, ['create', '-f', manifest('widgets-view', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
    metadata: { name: 'widgets-view', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
    rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list'] }],
  })]);
  for (let i = 0; i < 100 && !hasRule(view, 'example.com', 'widgets', 'get'); i++) { await new Promise((r) => setTimeout(r, 200)); view = await get('view'); }
  assert.ok(hasRule(view, 'example.com', 'widgets', 'get'), 'view aggregated the new role');
  assert.ok(hasRule(await get('admin'), 'example.com', 'widgets', 'get'), 'admin ← edit ← view');
  // kubectl can-i cannot name a group discovery does not know, so ask with an explicit SelfSubjectAccessReview.
  const review = JSON.parse(await ok(kc('jane'), ['create', '-o', 'json', '-f', manifest('ssar-widgets', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { namespace: 'default', verb: 'list', group: 'example.com', resource: 'widgets' } },
  })]));
  assert.equal(review.status.allowed, true);
});

test('kubectl auth reconcile creates roles and bindings idempotently', async () => {
  const list = manifest('reconcile', {
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'cm-lister', namespace: 'default' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'cm-lister', namespace: 'default' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-lister' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'zoe' }] },
    ],
  });
  for (let round = 0; round < 2; round++) {
    const out = await ok(admin, ['auth', 'reconcile', '-f', list]);
    assert.match(out, /role\.rbac\.authorization\.k8s\.io\/cm-lister reconciled/);
    assert.match(out, /rolebinding\.rbac\.authorization\.k8s\.io\/cm-lister reconciled/);
  }
  assert.equal((await kubectl(admin, ['auth', 'can-i', 'list', 'configmaps', '-n', 'default', '--as=zoe'])).stdout.trim(), 'yes');
  assert.equal((await kubectl(admin, ['auth', 'can-i', 'list', 'configmaps', '-n', 'other', '--as=zoe'])).stdout.trim(), 'no');
});
