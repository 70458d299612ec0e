import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeDiscoveryServer, BUILTIN_SAMPLE } from '../testing/fake-discovery-server.js';
import { FakeObjectStore } from '../testing/fake-object-store.js';

let server: FakeDiscoveryServer;
let store: FakeObjectStore;
let dir: string;
before(async () => {
  server = new FakeDiscoveryServer(BUILTIN_SAMPLE);
  store = new FakeObjectStore(BUILTIN_SAMPLE);
  server.handler = store.handle;
  await server.start();
  dir = mkdtempSync(path.join(tmpdir(), 'kedge-ssa-'));
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const cm = (data: Record<string, string>) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data });
const CM = BUILTIN_SAMPLE.find((r) => r.kind === 'ConfigMap')!;

test('kubectl apply --server-side: create, conflict with another manager, --force-conflicts', async () => {
  const file = path.join(dir, 'cm.json');
  writeFileSync(file, cm({ a: '1', b: '2' }));
  let r = await server.kubectl(['apply', '--server-side', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /configmap\/settings serverside-applied/);
  const key = store.key(CM, 'default', 'settings');
  assert.deepEqual(store.objects.get(key)!.metadata.managedFields.map((e: any) => [e.manager, e.operation]), [['kubectl', 'Apply']]);

  // kubectl patch as another manager changes data.a.
  r = await server.kubectl(['patch', 'configmap', 'settings', '-n', 'default', '--type', 'merge', '-p', '{"data":{"a":"patched"}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(store.objects.get(key)!.metadata.managedFields.map((e: any) => e.manager), ['kubectl', 'kubectl-patch']);

  writeFileSync(file, cm({ a: 'applied', b: '2' }));
  r = await server.kubectl(['apply', '--server-side', '-f', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: \.data\.a/);
  assert.equal(store.objects.get(key)!.data.a, 'patched', 'a failed apply changes nothing');

  r = await server.kubectl(['apply', '--server-side', '--force-conflicts', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  const obj = store.objects.get(key)!;
  assert.equal(obj.data.a, 'applied');
  assert.deepEqual(obj.metadata.managedFields.map((e: any) => e.manager), ['kubectl']);

  writeFileSync(file, cm({ b: '2' }));
  r = await server.kubectl(['apply', '--server-side', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(store.objects.get(key)!.data, { b: '2' }, 'fields no longer applied are removed');
  r = await server.kubectl(['get', 'configmap', 'settings', '-n', 'default', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[0].fieldsV1}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { 'f:data': { 'f:b': {} } });
});
