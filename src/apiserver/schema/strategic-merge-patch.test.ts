import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { strategicMergePatch, StrategicMergePatchError, supportsStrategicMergePatch } from './strategic-merge-patch.js';
import { FakeDiscoveryServer, BUILTIN_SAMPLE } from './testing/fake-discovery-server.js';
import { FakeObjectStore } from './testing/fake-object-store.js';

const POD = { group: '', version: 'v1', kind: 'Pod' };
const DEPLOY = { group: 'apps', version: 'v1', kind: 'Deployment' };

const pod = () => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'p', labels: { a: '1', b: '2' }, finalizers: ['f1', 'f2'] },
  spec: {
    containers: [
      { name: 'app', image: 'nginx:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80 }], args: ['x', 'y'] },
      { name: 'side', image: 'busybox' },
    ],
    tolerations: [{ key: 'k1' }],
    volumes: [{ name: 'v', emptyDir: {} }],
  },
});

test('containers merge by name, env by name, nulls delete, atomic lists replace', () => {
  const out = strategicMergePatch(pod(), {
    metadata: { labels: { b: null, c: '3' } },
    spec: {
      containers: [{ name: 'app', image: 'nginx:2', env: [{ name: 'C', value: '3' }], args: ['z'] }, { name: 'new', image: 'alpine' }],
      tolerations: [{ key: 'k2' }],
    },
  }, POD) as any;
  assert.deepEqual(out.metadata.labels, { a: '1', c: '3' });
  assert.deepEqual(out.spec.containers.map((c: any) => c.name), ['app', 'side', 'new']);
  assert.equal(out.spec.containers[0].image, 'nginx:2');
  assert.deepEqual(out.spec.containers[0].env.map((e: any) => e.name), ['A', 'B', 'C']);
  assert.deepEqual(out.spec.containers[0].args, ['z'], 'args has no merge strategy: replaced');
  assert.deepEqual(out.spec.tolerations, [{ key: 'k2' }]);
});

test('$patch delete / replace on list elements, maps and whole lists', () => {
  let out = strategicMergePatch(pod(), { spec: { containers: [{ name: 'side', $patch: 'delete' }] } }, POD) as any;
  assert.deepEqual(out.spec.containers.map((c: any) => c.name), ['app']);
  out = strategicMergePatch(pod(), { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'x' }] } }, POD) as any;
  assert.deepEqual(out.spec.containers, [{ name: 'only', image: 'x' }]);
  out = strategicMergePatch(pod(), { metadata: { labels: { $patch: 'replace', z: '9' } } }, POD) as any;
  assert.deepEqual(out.metadata.labels, { z: '9' });
  out = strategicMergePatch(pod(), { metadata: { labels: { $patch: 'delete' } } }, POD) as any;
  assert.equal(out.metadata.labels, undefined);
  assert.throws(() => strategicMergePatch(pod(), { spec: { $patch: 'bogus' } }, POD), StrategicMergePatchError);
});

test('primitive set lists, $deleteFromPrimitiveList and $setElementOrder', () => {
  let out = strategicMergePatch(pod(), { metadata: { finalizers: ['f3', 'f1'] } }, POD) as any;
  assert.deepEqual(out.metadata.finalizers, ['f1', 'f2', 'f3']);
  out = strategicMergePatch(pod(), { metadata: { '$deleteFromPrimitiveList/finalizers': ['f1'] } }, POD) as any;
  assert.deepEqual(out.metadata.finalizers, ['f2']);
  out = strategicMergePatch(pod(), { spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }] } }, POD) as any;
  assert.deepEqual(out.spec.containers.map((c: any) => c.name), ['side', 'app']);
  out = strategicMergePatch(pod(), {
    spec: { '$setElementOrder/containers': [{ name: 'n' }, { name: 'app' }], containers: [{ name: 'n', image: 'i' }] },
  }, POD) as any;
  assert.deepEqual(out.spec.containers.map((c: any) => c.name), ['n', 'app', 'side'], 'server-only elements keep their place after the ordered ones');
});

test('$retainKeys clears fields of a union (deployment strategy, volume source)', () => {
  const d = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } };
  const out = strategicMergePatch(d, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, DEPLOY) as any;
  assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
  const v = strategicMergePatch(pod(), { spec: { volumes: [{ name: 'v', $retainKeys: ['configMap', 'name'], configMap: { name: 'cm' } }] } }, POD) as any;
  assert.deepEqual(v.spec.volumes, [{ name: 'v', configMap: { name: 'cm' } }]);
});

test('merge-key errors and unsupported kinds', () => {
  assert.throws(() => strategicMergePatch(pod(), { spec: { containers: [{ image: 'x' }] } }, POD), /does not contain declared merge key: name/);
  assert.equal(supportsStrategicMergePatch('stable.example.com', 'v1', 'CronTab'), false);
  assert.equal(supportsStrategicMergePatch('apps', 'v1', 'Deployment'), true);
  const original = pod();
  strategicMergePatch(original, { metadata: { labels: { a: null } } }, POD);
  assert.equal(original.metadata.labels.a, '1', 'original is not mutated');
});

// ---- the real kubectl producing the patches -------------------------------------------------
let server: FakeDiscoveryServer;
let store: FakeObjectStore;
let dir: string;
before(async () => {
  server = new FakeDiscoveryServer(BUILTIN_SAMPLE);
  store = new FakeObjectStore(BUILTIN_SAMPLE);
  server.handler = store.handle;
  await server.start();
  dir = mkdtempSync(path.join(tmpdir(), 'kedge-smp-'));
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function deployment(opts: { image: string; env: Array<[string, string]>; containers: string[]; ports: number[]; labels: Record<string, string>; replicas: number; recreate?: boolean }): string {
  const containers = opts.containers.map((name) => name === 'app'
    ? { name, image: opts.image, env: opts.env.map(([n, v]) => ({ name: n, value: v })), ports: opts.ports.map((p) => ({ containerPort: p })) }
    : { name, image: 'busybox' });
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: opts.labels },
    spec: {
      replicas: opts.replicas,
      selector: { matchLabels: { app: 'web' } },
      strategy: opts.recreate ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers } },
    },
  });
}

test('kubectl apply twice: the server applies kubectl\'s three-way strategic patch correctly', async () => {
  const file = path.join(dir, 'd.json');
  writeFileSync(file, deployment({ image: 'nginx:1', env: [['A', '1'], ['B', '2']], containers: ['app', 'side'], ports: [80], labels: { app: 'web', tier: 'fe' }, replicas: 2 }));
  let r = await server.kubectl(['apply', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment.apps\/web created/);
  const key = store.key(BUILTIN_SAMPLE[5], 'default', 'web');
  // Another actor changes the live object: kubectl's three-way patch must keep these.
  const live = store.objects.get(key)!;
  live.metadata.annotations = { ...live.metadata.annotations, other: 'x' };
  live.spec.template.spec.containers[0].env.push({ name: 'SERVER', value: 's' });

  writeFileSync(file, deployment({ image: 'nginx:2', env: [['D', '4'], ['A', '1']], containers: ['app'], ports: [80, 443], labels: { app: 'web' }, replicas: 3, recreate: true }));
  r = await server.kubectl(['apply', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment.apps\/web configured/);
  const sent = store.patches.at(-1)!;
  assert.equal(sent.contentType, 'application/strategic-merge-patch+json');
  assert.ok(JSON.stringify(sent.body).includes('$setElementOrder/containers'), JSON.stringify(sent.body));
  assert.match(sent.url, /fieldValidation=Strict/, 'kubectl found fieldValidation in our OpenAPI and asks the server to validate');

  const out = store.objects.get(key)!;
  assert.deepEqual(out.metadata.labels, { app: 'web' });
  assert.equal(out.metadata.annotations.other, 'x');
  assert.equal(out.spec.replicas, 3);
  assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
  const containers = out.spec.template.spec.containers;
  assert.deepEqual(containers.map((c: any) => c.name), ['app']);
  assert.equal(containers[0].image, 'nginx:2');
  assert.deepEqual(containers[0].env.map((e: any) => e.name), ['D', 'A', 'SERVER']);
  assert.deepEqual(containers[0].ports, [{ containerPort: 80 }, { containerPort: 443 }]);
});

test('kubectl patch (strategic, default type) with directives', async () => {
  let r = await server.kubectl(['patch', 'deployment', 'web', '-n', 'default', '-p',
    JSON.stringify({ metadata: { finalizers: ['a', 'b'] }, spec: { template: { spec: { containers: [{ name: 'extra', image: 'x' }] } } } })]);
  assert.equal(r.code, 0, r.stderr);
  r = await server.kubectl(['patch', 'deployment', 'web', '-n', 'default', '--type', 'strategic', '-p',
    JSON.stringify({ metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] }, spec: { template: { spec: { containers: [{ name: 'app', $patch: 'delete' }] } } } })]);
  assert.equal(r.code, 0, r.stderr);
  const out = store.objects.get(store.key(BUILTIN_SAMPLE[5], 'default', 'web'))!;
  assert.deepEqual(out.metadata.finalizers, ['b']);
  assert.deepEqual(out.spec.template.spec.containers.map((c: any) => c.name), ['extra']);
});

test('kubectl label / annotate --overwrite produce patches the server applies', async () => {
  let r = await server.kubectl(['label', 'deployment', 'web', '-n', 'default', 'env=prod']);
  assert.equal(r.code, 0, r.stderr);
  r = await server.kubectl(['label', 'deployment', 'web', '-n', 'default', 'app-']);
  assert.equal(r.code, 0, r.stderr);
  const out = store.objects.get(store.key(BUILTIN_SAMPLE[5], 'default', 'web'))!;
  assert.deepEqual(out.metadata.labels, { env: 'prod' });
});

test('a custom resource kind named like a built-in does not borrow its schema', () => {
  assert.equal(supportsStrategicMergePatch('stable.example.com', 'v1', 'Pod'), false);
  assert.equal(supportsStrategicMergePatch('rbac.authorization.k8s.io', 'v1', 'Role'), true);
});

test('kubectl set image / set env / set resources / rollout restart patches', async () => {
  const key = store.key(BUILTIN_SAMPLE[5], 'default', 'web');
  const live = store.objects.get(key)!;
  live.spec.template.spec.containers = [{ name: 'extra', image: 'x', env: [{ name: 'KEEP', value: '1' }, { name: 'DROP', value: '2' }] }, { name: 'two', image: 'y' }];
  let r = await server.kubectl(['set', 'image', 'deployment/web', '-n', 'default', 'two=y:2']);
  assert.equal(r.code, 0, r.stderr);
  r = await server.kubectl(['set', 'env', 'deployment/web', '-n', 'default', '-c', 'extra', 'NEW=3', 'DROP-']);
  assert.equal(r.code, 0, r.stderr);
  r = await server.kubectl(['set', 'resources', 'deployment/web', '-n', 'default', '-c', 'two', '--limits=cpu=200m']);
  assert.equal(r.code, 0, r.stderr);
  r = await server.kubectl(['rollout', 'restart', 'deployment/web', '-n', 'default']);
  assert.equal(r.code, 0, r.stderr);
  const out = store.objects.get(key)!;
  const [extra, two] = out.spec.template.spec.containers;
  assert.equal(two.image, 'y:2');
  assert.deepEqual(extra.env, [{ name: 'KEEP', value: '1' }, { name: 'NEW', value: '3' }]);
  assert.deepEqual(two.resources, { limits: { cpu: '200m' } });
  assert.ok(out.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']);
});

/** Found by test/fuzz/api.fuzz.test.ts: a `__proto__` key merged into Object.prototype and crashed the server later. */
test('a __proto__ key in a strategic merge patch is data: Object.prototype is never touched', () => {
  const gvk = { group: '', version: 'v1', kind: 'ConfigMap' };
  for (const text of ['{"__proto__":{"polluted":1}}', '{"metadata":{"__proto__":{"polluted":1}}}', '{"metadata":{"labels":{"__proto__":{"polluted":1}}}}', '{"metadata":{"__proto__":["polluted"]}}']) {
    const out = strategicMergePatch({ metadata: { name: 'c', labels: { a: 'b' } } }, JSON.parse(text), gvk);
    assert.equal('polluted' in {}, false, text);
    assert.equal(Object.getPrototypeOf(out), Object.prototype, text);
  }
});
