/**
 * OpenAPI, field validation and strategic merge patch through the real `kedge server` binary
 * and the stock kubectl: explain, strict unknown-field errors, client-side apply three-way
 * patches, strategic patch directives.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { kedgeCommand } from '../helpers/kedge-cli.js';

let dir: string;
let server: ChildProcess | undefined;
let serverLog = '';

function kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/kubectl', [`--kubeconfig=${path.join(dir, 'admin.kubeconfig')}`, `--cache-dir=${path.join(dir, 'kubectl-cache')}`, ...args],
      { timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr || String((err as Error | null)?.message ?? '') }));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kedge-schema-'));
  const cmd = kedgeCommand(['server', '--data-dir', dir, '--secure-port', '0']);
  server = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  server.stderr?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  const deadline = Date.now() + 60_000;
  while (!(existsSync(path.join(dir, 'admin.kubeconfig')) && (await kubectl(['get', '--raw', '/readyz'])).code === 0)) {
    if (Date.now() > deadline) throw new Error(`kedge server did not come up\n${serverLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  const s = server;
  if (s && s.exitCode === null && s.signalCode === null) {
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (s.exitCode === null && s.signalCode === null) { s.kill('SIGKILL'); await exited; }
  }
  rmSync(dir, { recursive: true, force: true });
});

test('OpenAPI v3 index and documents, v2 JSON', async () => {
  const index = JSON.parse(await ok(['get', '--raw', '/openapi/v3']));
  for (const gv of ['api/v1', 'apis/apps/v1', 'apis/apiextensions.k8s.io/v1']) assert.match(index.paths[gv]?.serverRelativeURL ?? '', /\?hash=[0-9A-F]{128}$/, gv);
  const core = JSON.parse(await ok(['get', '--raw', '/openapi/v3/api/v1']));
  assert.deepEqual(core.components.schemas['io.k8s.api.core.v1.Pod']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Pod' }]);
  const v2 = JSON.parse(await ok(['get', '--raw', '/openapi/v2']));
  assert.equal(v2.swagger, '2.0');
  assert.ok(v2.definitions['io.k8s.api.apps.v1.Deployment']);
});

test('kubectl explain through the protobuf /openapi/v2', async () => {
  const out = await ok(['explain', 'pods.spec.containers', '--output=plaintext-openapiv2']);
  assert.match(out, /RESOURCE: containers <\[\]Object>/);
  assert.match(out, /image\t<string>/);
});

test('kubectl explain for built-in types', async () => {
  const out = await ok(['explain', 'pod.spec.containers']);
  assert.match(out, /KIND:\s+Pod\nVERSION:\s+v1/);
  assert.match(out, /FIELD: containers <\[\]Container>/);
  assert.match(out, /image\s+<string>/);
  assert.match(await ok(['explain', 'deployments.spec.strategy.rollingUpdate']), /maxSurge\s+<IntOrString>/);
  const bad = await kubectl(['explain', 'pod.spec.nope']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /field "nope" does not exist/);
});

test('unknown fields fail with Strict (kubectl default)', async () => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: strict-pod}\nspec:\n  containers: [{name: c, image: busybox, imagePolicy: x}]\n  bogus: true\n';
  const r = await kubectl(['create', '-f', '-'], pod);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /BadRequest/);
  assert.match(r.stderr, /strict decoding error: .*unknown field "spec\.containers\[0\]\.imagePolicy"/);
  assert.match(r.stderr, /unknown field "spec\.bogus"/);
  assert.equal((await kubectl(['get', 'pod', 'strict-pod'])).code, 1, 'nothing was created');
});

function deployment(containers: Array<{ name: string; image: string; env?: Record<string, string> }>, labels: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: {
      containers: containers.map((c) => ({ name: c.name, image: c.image, ...(c.env ? { env: Object.entries(c.env).map(([name, value]) => ({ name, value })) } : {}) })),
    } } },
  });
}

test('client-side kubectl apply: three-way strategic patches keep other writers\' changes', async () => {
  assert.match(await ok(['apply', '-f', '-'], deployment([{ name: 'app', image: 'nginx:1', env: { A: '1', B: '2' } }, { name: 'side', image: 'busybox' }], { app: 'web', tier: 'fe' })),
    /deployment.apps\/web created/);
  // Another writer adds an annotation and an env var the manifest does not know.
  await ok(['annotate', 'deployment', 'web', 'owner=ops']);
  await ok(['set', 'env', 'deployment/web', '-c', 'app', 'EXTRA=x']);
  assert.match(await ok(['apply', '-f', '-'], deployment([{ name: 'app', image: 'nginx:2', env: { A: '1' } }], { app: 'web' })), /deployment.apps\/web configured/);
  const d = JSON.parse(await ok(['get', 'deployment', 'web', '-o', 'json']));
  assert.deepEqual(d.metadata.labels, { app: 'web' });
  assert.equal(d.metadata.annotations.owner, 'ops');
  assert.deepEqual(d.spec.template.spec.containers.map((c: { name: string }) => c.name), ['app']);
  assert.equal(d.spec.template.spec.containers[0].image, 'nginx:2');
  assert.deepEqual(d.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name).sort(), ['A', 'EXTRA']);
});

test('strategic patch directives and errors', async () => {
  await ok(['patch', 'deployment', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"two","image":"busybox"}]}}}}']);
  await ok(['patch', 'deployment', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","$patch":"delete"}]}}}}']);
  assert.equal(await ok(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[*].name}']), 'two');
  const bad = await kubectl(['patch', 'deployment', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /does not contain declared merge key: name/);
  assert.equal(await ok(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[*].image}']), 'busybox', 'failed patch changed nothing');
});

test('server-side apply: create, managedFields, conflict with another manager, --force-conflicts, removal', async () => {
  const cm = (data: Record<string, string>) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data });
  assert.match(await ok(['apply', '--server-side', '-f', '-'], cm({ a: '1', b: '2' })), /configmap\/ssa serverside-applied/);
  const created = JSON.parse(await ok(['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields']));
  assert.deepEqual(created.metadata.managedFields.map((m: { manager: string; operation: string }) => [m.manager, m.operation]), [['kubectl', 'Apply']]);
  assert.deepEqual(created.metadata.managedFields[0].fieldsV1, { 'f:data': { 'f:a': {}, 'f:b': {} } });
  await ok(['patch', 'cm', 'ssa', '--type', 'merge', '-p', '{"data":{"a":"patched"}}']);
  const conflict = await kubectl(['apply', '--server-side', '-f', '-'], cm({ a: 'mine', b: '2' }));
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: \.data\.a/);
  assert.equal(await ok(['get', 'cm', 'ssa', '-o', 'jsonpath={.data.a}']), 'patched');
  await ok(['apply', '--server-side', '--force-conflicts', '-f', '-'], cm({ a: 'mine', b: '2' }));
  await ok(['apply', '--server-side', '-f', '-'], cm({ a: 'mine' }));
  const after = JSON.parse(await ok(['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields']));
  assert.deepEqual(after.data, { a: 'mine' });
  assert.deepEqual(after.metadata.managedFields.map((m: { manager: string }) => m.manager), ['kubectl']);
  const strict = await kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { a: 'x' }, extra: 1 }));
  assert.notEqual(strict.code, 0);
  assert.match(strict.stderr, /failed to create typed patch object \(default\/ssa; \/v1, Kind=ConfigMap\): \.extra: field not declared in schema/);
});

test('server-side apply of a Deployment: list-map elements keyed with server defaults are not duplicated', async () => {
  const d = (image: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ssa-web}\nspec:\n  selector: {matchLabels: {app: ssa-web}}\n  template:\n    metadata: {labels: {app: ssa-web}}\n    spec:\n      containers: [{name: app, image: ${image}, ports: [{containerPort: 80}]}]\n`;
  await ok(['apply', '--server-side', '-f', '-'], d('nginx:1'));
  await ok(['apply', '--server-side', '-f', '-'], d('nginx:2'));
  const out = JSON.parse(await ok(['get', 'deployment', 'ssa-web', '-o', 'json']));
  assert.deepEqual(out.spec.template.spec.containers.map((c: { image: string; ports: unknown }) => [c.image, c.ports]), [['nginx:2', [{ containerPort: 80, protocol: 'TCP' }]]]);
});
