import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readKubeconfigSync } from './kubeconfig-file.js';
import { loadKubeClient } from './kubeconfig.js';

/** A real plugin process: records each run (and what it was told) in calls.log, prints what OUT holds. */
function plugin(dir: string, name: string, out: string, exit = 0): void {
  const file = path.join(dir, name);
  writeFileSync(file, [
    '#!/bin/sh',
    `echo "$KUBERNETES_EXEC_INFO|$PLUGIN_ENV|$*" >> "${path.join(dir, 'calls.log')}"`,
    exit ? `echo "denied: no session" >&2; exit ${exit}` : `cat <<'JSON'\n${out}\nJSON`,
    '',
  ].join('\n'));
  chmodSync(file, 0o755);
}

function kubeconfig(dir: string, server: string, exec: string): string {
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: x',
    'clusters:', '- name: c', `  cluster: {server: "${server}"}`,
    'users:', '- name: u', '  user:', '    exec:', ...exec.split('\n').map((l) => `      ${l}`),
    'contexts:', '- name: x', '  context: {cluster: c, user: u}', '',
  ].join('\n'));
  return file;
}

const credential = (status: object, apiVersion = 'client.authentication.k8s.io/v1') => JSON.stringify({ apiVersion, kind: 'ExecCredential', status });
const calls = (dir: string) => readFileSync(path.join(dir, 'calls.log'), 'utf8').trim().split('\n');

test('exec plugin: its token is used, reused until near its expiry, then renewed; a relative command is found beside the kubeconfig', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-exec-'));
  try {
    plugin(dir, 'get-token', credential({ token: 'tok-1', expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() }));
    const file = kubeconfig(dir, 'https://api.example:6443', 'apiVersion: client.authentication.k8s.io/v1\ncommand: ./get-token\nargs: [--cluster, one]\nenv: [{name: PLUGIN_ENV, value: set}]\ninteractiveMode: Never\nprovideClusterInfo: true');
    assert.equal(readKubeconfigSync(file).token, 'tok-1');
    assert.equal(readKubeconfigSync(file).token, 'tok-1');
    assert.equal(calls(dir).length, 1, 'an unexpired credential is reused, not fetched again');
    const [info, env, args] = calls(dir)[0]!.split('|');
    const spec = JSON.parse(info!) as { kind: string; spec: { interactive: boolean; cluster?: { server: string } } };
    assert.equal(spec.kind, 'ExecCredential');
    assert.equal(spec.spec.interactive, false);
    assert.equal(spec.spec.cluster?.server, 'https://api.example:6443', 'provideClusterInfo passes the cluster');
    assert.equal(env, 'set');
    assert.equal(args, '--cluster one');

    // A credential within 5 minutes of expiry is renewed.
    plugin(dir, 'get-token', credential({ token: 'tok-2', expirationTimestamp: new Date(Date.now() + 60_000).toISOString() }));
    const soon = kubeconfig(dir, 'https://api.example:6443', 'apiVersion: client.authentication.k8s.io/v1\ncommand: ./get-token\nargs: [--cluster, two]');
    assert.equal(readKubeconfigSync(soon).token, 'tok-2');
    assert.equal(readKubeconfigSync(soon).token, 'tok-2');
    assert.equal(calls(dir).length, 3, 'a credential about to expire is fetched again each time');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec plugin: a client certificate from v1beta1; a token in the kubeconfig wins over the plugin', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-exec-'));
  try {
    plugin(dir, 'get-cert', credential({ clientCertificateData: 'CERT', clientKeyData: 'KEY' }, 'client.authentication.k8s.io/v1beta1'));
    const file = kubeconfig(dir, 'https://api.example:6443', 'apiVersion: client.authentication.k8s.io/v1beta1\ncommand: ./get-cert');
    const kc = readKubeconfigSync(file);
    assert.equal(kc.clientCertPem, 'CERT');
    assert.equal(kc.clientKeyPem, 'KEY');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  user:\n', '  user:\n    token: static\n'));
    assert.equal(readKubeconfigSync(file).token, 'static');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec plugin: failures name the user and say what went wrong', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-exec-'));
  try {
    const cfg = (exec: string) => kubeconfig(dir, 'https://api.example:6443', exec);
    plugin(dir, 'fails', '', 3);
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1\ncommand: ./fails')), /user "u": exec plugin "\.\/fails" failed \(exit 3\): denied: no session/);
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1\ncommand: kedge-no-such-plugin\ninstallHint: install it from your vendor')), /exec plugin "kedge-no-such-plugin" not found: install it from your vendor/);
    plugin(dir, 'garbage', 'not json');
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1\ncommand: ./garbage')), /did not print an ExecCredential as JSON/);
    plugin(dir, 'empty', credential({}));
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1\ncommand: ./empty')), /neither a token nor a client certificate/);
    plugin(dir, 'other-version', credential({ token: 't' }, 'client.authentication.k8s.io/v1beta1'));
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1\ncommand: ./other-version')), /want client\.authentication\.k8s\.io\/v1\/ExecCredential/);
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1alpha1\ncommand: ./empty')), /exec\.apiVersion must be one of/);
    assert.throws(() => readKubeconfigSync(cfg('apiVersion: client.authentication.k8s.io/v1\ncommand: ./empty\ninteractiveMode: Always')), /runs without a terminal/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec plugin: the API client sends the plugin\'s token', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-exec-'));
  const seen: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'default' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    plugin(dir, 'get-token', credential({ token: 'from-plugin' }));
    const file = kubeconfig(dir, `http://127.0.0.1:${(server.address() as { port: number }).port}`, 'apiVersion: client.authentication.k8s.io/v1\ncommand: ./get-token');
    const client = loadKubeClient(file);
    await client.request('GET', '/api/v1/namespaces/default');
    assert.deepEqual(seen, ['Bearer from-plugin']);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
