import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import https from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import * as pki from '../../src/pki/index.js';
import { StaticTokenAuthenticator, parseTokenFile, user as rbacUser, group as rbacGroup } from '../../src/apiserver/auth/index.js';
import { startAuthTestServer, type AuthTestServer } from './auth-test-server.js';

/**
 * The stock kubectl and @kubernetes/client-node against Kedge's certificates, kubeconfigs and auth over real TLS:
 * client certificates (admin in system:masters, a user bound to `view`), token-file users, bad and missing
 * credentials, and the upstream Forbidden / Unauthorized texts kubectl prints.
 */

const KUBECTL = '/usr/bin/kubectl';
let dir: string;
let server: AuthTestServer;
let serverPki: pki.ServerPki;
const kc = (name: string): string => path.join(dir, name);

function kubectl(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'kcache'), '--request-timeout', '20s', ...args],
      { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kedge-auth-'));
  serverPki = await pki.ensureServerPki(dir, { hosts: ['127.0.0.1'] });
  const tokens = new StaticTokenAuthenticator(parseTokenFile('s3cret-token-value,tokenuser,uid-7,"readers"\n'));
  server = await startAuthTestServer(serverPki, {
    tokenAuthenticators: [tokens],
    clusterRoleBindings: [
      { metadata: { name: 'jane-view' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [rbacUser('jane')] },
    ],
    roleBindings: [
      { metadata: { name: 'readers-edit', namespace: 'team' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [rbacGroup('readers')] },
    ],
  });
  await pki.writeAdminKubeconfig(dir, server.url);
  const ca = { certPem: serverPki.caCertPem, keyPem: serverPki.caKeyPem };
  const jane = await pki.issueClientCertificate(ca, 'jane', ['devs']);
  await pki.writeKubeconfig(kc('jane.kubeconfig'), pki.buildKubeconfig({ server: server.url, caCertPem: ca.certPem, userName: 'jane', clientCertPem: jane.certPem, clientKeyPem: jane.keyPem }));
  await pki.writeKubeconfig(kc('badtoken.kubeconfig'), pki.buildKubeconfig({ server: server.url, caCertPem: ca.certPem, userName: 'x', token: 'not-a-valid-token' }));
  await pki.writeKubeconfig(kc('token.kubeconfig'), pki.buildKubeconfig({ server: server.url, caCertPem: ca.certPem, userName: 't', token: 's3cret-token-value' }));
  const rogueCa = await pki.createCertificateAuthority('rogue');
  const mallory = await pki.issueClientCertificate(rogueCa, 'kubernetes-admin', ['system:masters']);
  await pki.writeKubeconfig(kc('rogue.kubeconfig'), pki.buildKubeconfig({ server: server.url, caCertPem: ca.certPem, userName: 'm', clientCertPem: mallory.certPem, clientKeyPem: mallory.keyPem }));
  await writeFile(kc('pod.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }));
});

after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('kubectl accepts admin.kubeconfig as is: the server sees kubernetes-admin in system:masters', async () => {
  const r = await kubectl(pki.adminKubeconfigPath(dir), ['auth', 'whoami', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout).status.userInfo;
  assert.equal(info.username, 'kubernetes-admin');
  assert.deepEqual(info.groups, ['system:masters', 'system:authenticated']);
  const create = await kubectl(pki.adminKubeconfigPath(dir), ['create', '-f', kc('pod.json'), '-n', 'default', '--validate=false']);
  assert.equal(create.code, 0, create.stderr);
  assert.match(create.stdout, /pod\/p1 created/);
});

test('a client-cert user bound to view can list but not create pods, with the upstream Forbidden text', async () => {
  const list = await kubectl(kc('jane.kubeconfig'), ['get', 'pods', '-n', 'default']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stderr, /No resources found in default namespace/);
  const create = await kubectl(kc('jane.kubeconfig'), ['create', '-f', kc('pod.json'), '-n', 'default', '--validate=false']);
  assert.notEqual(create.code, 0);
  assert.match(create.stderr, /Error from server \(Forbidden\)/);
  assert.ok(create.stderr.includes('pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "default"'), create.stderr);
});

test('kubectl auth can-i answers yes/no for the cert user, and --list shows the view rules', async () => {
  const yes = await kubectl(kc('jane.kubeconfig'), ['auth', 'can-i', 'get', 'pods', '-n', 'default']);
  assert.equal(yes.stdout.trim(), 'yes');
  assert.equal(yes.code, 0);
  const no = await kubectl(kc('jane.kubeconfig'), ['auth', 'can-i', 'create', 'pods', '-n', 'default']);
  assert.equal(no.stdout.trim(), 'no');
  assert.equal(no.code, 1);
  const list = await kubectl(kc('jane.kubeconfig'), ['auth', 'can-i', '--list', '-n', 'default']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  assert.match(list.stdout, /selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]/);
  assert.match(list.stdout, /\[\/api\/\*\]\s+\[\]\s+\[get\]/);
});

test('token-file user authenticates with its groups and gets only what its RoleBinding grants', async () => {
  const who = await kubectl(kc('token.kubeconfig'), ['auth', 'whoami', '-o', 'json']);
  assert.equal(who.code, 0, who.stderr);
  assert.deepEqual(JSON.parse(who.stdout).status.userInfo, { username: 'tokenuser', uid: 'uid-7', groups: ['readers', 'system:authenticated'] });
  assert.equal((await kubectl(kc('token.kubeconfig'), ['auth', 'can-i', 'create', 'pods', '-n', 'team'])).stdout.trim(), 'yes');
  const other = await kubectl(kc('token.kubeconfig'), ['get', 'pods', '-n', 'default']);
  assert.notEqual(other.code, 0);
  assert.ok(other.stderr.includes('pods is forbidden: User "tokenuser" cannot list resource "pods" in API group "" in the namespace "default"'), other.stderr);
});

test('a bad token and a certificate from another CA are refused: kubectl reports Unauthorized', async () => {
  for (const name of ['badtoken.kubeconfig', 'rogue.kubeconfig']) {
    const r = await kubectl(kc(name), ['get', 'pods', '-n', 'default']);
    assert.notEqual(r.code, 0, name);
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/, `${name}: ${r.stderr}`);
  }
});

test('anonymous requests (no certificate, no token) get the upstream 401 Status', async () => {
  // kubectl prompts for a password when a kubeconfig user has no credentials, so speak HTTPS directly.
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(`${server.url}/api/v1/namespaces/default/pods`, { ca: serverPki.caCertPem, timeout: 10_000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
  assert.equal(status, 401);
  assert.deepEqual(JSON.parse(body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
});

test('@kubernetes/client-node uses the admin kubeconfig over the same TLS', async () => {
  const config = new k8s.KubeConfig();
  config.loadFromFile(pki.adminKubeconfigPath(dir));
  const core = config.makeApiClient(k8s.CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace: 'default' });
  assert.equal(pods.kind, 'PodList');
  const authn = config.makeApiClient(k8s.AuthenticationV1Api);
  const review = await authn.createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  assert.equal(review.status?.userInfo?.username, 'kubernetes-admin');
  const janeConfig = new k8s.KubeConfig();
  janeConfig.loadFromFile(kc('jane.kubeconfig'));
  await assert.rejects(
    janeConfig.makeApiClient(k8s.CoreV1Api).createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'i' }] } } }),
    (err: unknown) => (err as { code?: number }).code === 403,
  );
});

test('the CA hash equals what the kubeadm-documented openssl pipeline computes', async (t) => {
  const openssl = await new Promise<string | null>((resolve) => {
    execFile('sh', ['-c', `openssl x509 -pubkey -noout -in ${serverPki.files.caCert} | openssl pkey -pubin -outform der | sha256sum`],
      (err, stdout) => resolve(err ? null : stdout.split(' ')[0]!));
  });
  if (openssl === null) return t.skip('openssl not installed');
  assert.equal(pki.caCertHash(serverPki.caCertPem), `sha256:${openssl}`);
});
