/**
 * CustomResourceDefinitions end to end: the real `kedge server` binary and the stock kubectl.
 * Create a CRD, serve its custom resources (namespaced and cluster-scoped), validate, default,
 * prune, print columns, status and scale subresources, explain, and clean up on CRD deletion.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { kedgeCommand } from '../helpers/kedge-cli.js';

let dir: string;
let server: ChildProcess | undefined;
let serverLog = '';

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}\n${serverLog.slice(-3000)}`);
}

function kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/kubectl', [`--kubeconfig=${path.join(dir, 'admin.kubeconfig')}`, `--cache-dir=${path.join(dir, 'kubectl-cache')}`, ...args],
      { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function startServer(): Promise<void> {
  rmSync(path.join(dir, 'admin.kubeconfig'), { force: true });
  rmSync(path.join(dir, 'kubectl-cache'), { recursive: true, force: true });
  const cmd = kedgeCommand(['server', '--data-dir', dir, '--secure-port', '0']);
  server = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  server.stderr?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  await waitFor('admin.kubeconfig', () => existsSync(path.join(dir, 'admin.kubeconfig')));
  await waitFor('the API server to answer', async () => (await kubectl(['get', '--raw', '/readyz'])).code === 0);
}

async function stopServer(): Promise<void> {
  const s = server;
  if (!s || s.exitCode !== null || s.signalCode !== null) return;
  const exited = new Promise((r) => s.once('exit', r));
  s.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (s.exitCode === null && s.signalCode === null) {
    s.kill('SIGKILL');
    await exited;
  }
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kedge-crd-'));
  await startServer();
});

after(async () => {
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

const CRONTAB_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Mode, type: string, jsonPath: .spec.mode, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, description: "cron schedule"}
              image: {type: string, default: busybox}
              replicas: {type: integer, minimum: 1, default: 1}
              mode: {type: string, enum: [Allow, Forbid]}
          status:
            type: object
            properties:
              replicas: {type: integer}
`;

test('CRD create, established, listed by kubectl get crd', async () => {
  assert.match(await ok(['apply', '-f', '-'], CRONTAB_CRD), /customresourcedefinition.apiextensions.k8s.io\/crontabs.stable.example.com created/);
  assert.match(await ok(['wait', '--for', 'condition=established', '--timeout=20s', 'crd/crontabs.stable.example.com']), /condition met/);
  const list = await ok(['get', 'crd']);
  assert.match(list, /^NAME\s+CREATED AT\n/);
  assert.match(list, /crontabs\.stable\.example\.com\s+\d{4}-\d\d-\d\dT/);
  const status = JSON.parse(await ok(['get', 'crd', 'crontabs.stable.example.com', '-o', 'jsonpath={.status}']));
  assert.deepEqual(status.storedVersions, ['v1']);
  assert.equal(status.acceptedNames.kind, 'CronTab');
  const names = await ok(['api-resources', '--api-group=stable.example.com', '--no-headers']);
  assert.match(names, /crontabs\s+ct\s+stable.example.com\/v1\s+true\s+CronTab/);
});

test('custom resources: create with defaults and pruning, printer columns, get/list/patch', async () => {
  assert.match(await ok(['apply', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: my-cron}\nspec: {cronSpec: "* * * * */5", mode: Allow}\n'),
    /crontab.stable.example.com\/my-cron created/);
  // --validate=false sends fieldValidation=Ignore: the unknown field is pruned, not stored.
  await ok(['create', '--validate=false', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: pruned}\nspec: {cronSpec: "0 * * * *", junk: 1}\n');
  const pruned = JSON.parse(await ok(['get', 'ct', 'pruned', '-o', 'json']));
  assert.deepEqual(pruned.spec, { cronSpec: '0 * * * *', image: 'busybox', replicas: 1 });
  const table = await ok(['get', 'crontabs']);
  assert.match(table, /^NAME\s+SPEC\s+REPLICAS\s+AGE\n/);
  assert.match(table, /my-cron\s+\* \* \* \* \*\/5\s+1\s+\d+s/);
  assert.match(await ok(['get', 'ct', '-o', 'wide']), /^NAME\s+SPEC\s+REPLICAS\s+MODE\s+AGE\n[\s\S]*my-cron\s+.*\s+Allow\s+/);
  assert.match(await ok(['patch', 'ct', 'my-cron', '--type', 'merge', '-p', '{"spec":{"replicas":3}}']), /crontab.stable.example.com\/my-cron patched/);
  assert.equal(await ok(['get', 'ct', 'my-cron', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']), '3 2');
  const sp = await kubectl(['patch', 'ct', 'my-cron', '--type', 'strategic', '-p', '{"spec":{"replicas":4}}']);
  assert.notEqual(sp.code, 0, 'strategic merge patch is not supported for custom resources');
  assert.match(sp.stderr, /UnsupportedMediaType|unknown format|not supported/i);
});

test('validation errors use upstream wording and change nothing', async () => {
  const bad = await kubectl(['apply', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: my-cron}\nspec: {cronSpec: "* * * * */5", replicas: two, mode: Sometimes}\n');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /The CronTab "my-cron" is invalid:/);
  assert.match(bad.stderr, /spec\.replicas: Invalid value: "string": spec\.replicas in body must be of type integer: "string"/);
  assert.match(bad.stderr, /spec\.mode: Unsupported value: "Sometimes": supported values: "Allow", "Forbid"/);
  const missing = await kubectl(['create', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nospec}\nspec: {image: x}\n');
  assert.match(missing.stderr, /The CronTab "nospec" is invalid: spec\.cronSpec: Required value/);
  const strict = await kubectl(['create', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: strict}\nspec: {cronSpec: "* * * * *", junk: 1}\n');
  assert.match(strict.stderr, /BadRequest[\s\S]*unknown field "spec\.junk"/);
  assert.equal(await ok(['get', 'ct', 'my-cron', '-o', 'jsonpath={.spec.replicas}']), '3', 'rejected apply left the object alone');
  assert.equal((await kubectl(['get', 'ct', 'strict'])).code, 1);
  const badCrd = await kubectl(['create', '-f', '-'], CRONTAB_CRD.replace('name: crontabs.stable.example.com', 'name: wrong.stable.example.com').replace('storage: true', 'storage: false'));
  assert.match(badCrd.stderr, /The CustomResourceDefinition "wrong.stable.example.com" is invalid/);
  assert.match(badCrd.stderr, /metadata\.name: Invalid value: "wrong.stable.example.com": must be spec.names.plural\+"."\+spec.group/);
  assert.match(badCrd.stderr, /spec\.versions: Invalid value: .*must have exactly one version marked as storage version/);
  const noNames = await kubectl(['create', '-f', '-'], 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.stable.example.com}\nspec: {group: stable.example.com, scope: Namespaced}\n');
  assert.match(noNames.stderr, /The CustomResourceDefinition "x.stable.example.com" is invalid/, 'a malformed CRD is a 422, not a 500');
});

test('status and scale subresources', async () => {
  await ok(['patch', 'ct', 'my-cron', '--subresource=status', '--type', 'merge', '-p', '{"status":{"replicas":2}}']);
  // Status is not the main resource's to write.
  await ok(['patch', 'ct', 'my-cron', '--type', 'merge', '-p', '{"status":{"replicas":9},"spec":{"mode":"Forbid"}}']);
  assert.equal(await ok(['get', 'ct', 'my-cron', '-o', 'jsonpath={.status.replicas} {.spec.mode}']), '2 Forbid');
  assert.match(await ok(['scale', 'ct', 'my-cron', '--replicas=5']), /crontab.stable.example.com\/my-cron scaled/);
  assert.equal(await ok(['get', 'ct', 'my-cron', '-o', 'jsonpath={.spec.replicas}']), '5');
  const scale = JSON.parse(await ok(['get', '--raw', '/apis/stable.example.com/v1/namespaces/default/crontabs/my-cron/scale']));
  assert.deepEqual([scale.kind, scale.spec.replicas, scale.status.replicas], ['Scale', 5, 2]);
});

test('kubectl explain reads the published custom resource schema', async () => {
  const out = await ok(['explain', 'crontab.spec']);
  assert.match(out, /GROUP:\s+stable.example.com/);
  assert.match(out, /cronSpec\s+<string> -required-/);
  assert.match(out, /cron schedule/);
});

test('cluster-scoped CRD', async () => {
  const crd = CRONTAB_CRD.replace(/crontabs/g, 'regions').replace(/crontab/g, 'region').replace(/CronTab/g, 'Region').replace('shortNames: [ct]', 'shortNames: [rg]')
    .replace('scope: Namespaced', 'scope: Cluster');
  await ok(['apply', '-f', '-'], crd);
  await ok(['wait', '--for', 'condition=established', '--timeout=20s', 'crd/regions.stable.example.com']);
  await ok(['apply', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: Region\nmetadata: {name: eu-west}\nspec: {cronSpec: "@daily"}\n');
  const obj = JSON.parse(await ok(['get', 'region', 'eu-west', '-o', 'json']));
  assert.equal(obj.metadata.namespace, undefined);
  assert.equal(obj.metadata.name, 'eu-west');
  assert.match(await ok(['get', 'rg', '-A']), /^NAME\s+SPEC\s+REPLICAS\s+AGE\n/, 'cluster-scoped: no NAMESPACE column even with -A');
});

test('server-side apply of custom resources: defaults, pruning rules, conflicts', async () => {
  const ct = (replicas: number) => `apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: ssa-cron}\nspec: {cronSpec: "* * * * *", replicas: ${replicas}}\n`;
  assert.match(await ok(['apply', '--server-side', '-f', '-'], ct(2)), /crontab.stable.example.com\/ssa-cron serverside-applied/);
  const obj = JSON.parse(await ok(['get', 'ct', 'ssa-cron', '-o', 'json', '--show-managed-fields']));
  assert.equal(obj.spec.image, 'busybox', 'schema defaults apply to server-side applied objects too');
  assert.equal(obj.metadata.managedFields[0].manager, 'kubectl');
  await ok(['patch', 'ct', 'ssa-cron', '--type', 'merge', '-p', '{"spec":{"replicas":3}}']);
  const conflict = await kubectl(['apply', '--server-side', '-f', '-'], ct(4));
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl-patch" using stable.example.com\/v1: \.spec\.replicas/);
  assert.equal(await ok(['get', 'ct', 'ssa-cron', '-o', 'jsonpath={.spec.replicas}']), '3');
  const unknown = await kubectl(['apply', '--server-side', '-f', '-'], ct(2).replace('replicas: 2', 'replicas: 2, junk: 1'));
  assert.match(unknown.stderr, /\.spec\.junk: field not declared in schema/);
  await ok(['delete', 'ct', 'ssa-cron']);
});

test('a second served version shares storage; CRD updates change what is served', async () => {
  const crd = JSON.parse(await ok(['get', 'crd', 'crontabs.stable.example.com', '-o', 'json']));
  const v1 = crd.spec.versions[0];
  const beta = { ...structuredClone(v1), name: 'v1beta1', storage: false };
  beta.additionalPrinterColumns = [{ name: 'Image', type: 'string', jsonPath: '.spec.image' }];
  crd.spec.versions = [beta, v1];
  delete crd.metadata.resourceVersion;
  await ok(['replace', '-f', '-'], JSON.stringify(crd));
  const viaBeta = JSON.parse(await ok(['get', '--raw', '/apis/stable.example.com/v1beta1/namespaces/default/crontabs/my-cron']));
  assert.equal(viaBeta.apiVersion, 'stable.example.com/v1beta1');
  assert.equal(viaBeta.spec.replicas, 5);
  assert.match(await ok(['get', 'crontabs.v1beta1.stable.example.com', 'my-cron']), /^NAME\s+IMAGE\n[\s\S]*my-cron\s+busybox/);
});

test('custom resources survive a server restart on the same data dir', async () => {
  await stopServer();
  await startServer();
  assert.equal(await ok(['get', 'ct', 'my-cron', '-o', 'jsonpath={.spec.replicas} {.status.replicas}']), '5 2');
  assert.match(await ok(['get', 'region', 'eu-west', '-o', 'name']), /region.stable.example.com\/eu-west/);
});

test('deleting a CRD deletes its custom resources and stops serving them', async () => {
  await ok(['delete', 'crd', 'crontabs.stable.example.com', '--timeout=30s']);
  const r = await kubectl(['get', 'crontabs']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /the server doesn't have a resource type "crontabs"|could not find the requested resource/);
  // Recreating the CRD does not bring the old objects back.
  await ok(['apply', '-f', '-'], CRONTAB_CRD);
  await ok(['wait', '--for', 'condition=established', '--timeout=20s', 'crd/crontabs.stable.example.com']);
  let last = '';
  await waitFor('crontabs to be served again', async () => {
    const r = await kubectl(['get', 'crontabs', '-A']);
    last = r.stderr;
    return r.code === 0;
  }, 20_000).catch((err: Error) => { throw new Error(`${err.message.split('\n')[0]}: ${last}`); });
  const list = await kubectl(['get', 'crontabs', '-A', '-o', 'name']);
  assert.equal(list.stdout.trim(), '');
});
