import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FakeDiscoveryServer, BUILTIN_SAMPLE } from './testing/fake-discovery-server.js';
import { OpenApiPublisher } from './openapi-documents.js';

type Doc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };

const publisher = new OpenApiPublisher(() => BUILTIN_SAMPLE);
const v3 = (key: string): Doc => JSON.parse(publisher.v3GroupVersionByKey(key)!.body.toString());

test('v3 index lists one document per group-version with a content hash', () => {
  const index = JSON.parse(publisher.v3Index().body.toString());
  assert.deepEqual(Object.keys(index.paths).sort(), ['api/v1', 'apis/apps/v1']);
  assert.match(index.paths['api/v1'].serverRelativeURL, /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
  assert.equal(publisher.v3GroupVersion('batch', 'v1'), undefined);
});

test('kind schemas carry GVK and the patch extensions strategic merge patch needs', () => {
  const doc = v3('api/v1');
  const pod = doc.components.schemas['io.k8s.api.core.v1.Pod'];
  assert.deepEqual(pod['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Pod' }]);
  const spec = doc.components.schemas['io.k8s.api.core.v1.PodSpec'];
  assert.equal(spec.properties.containers['x-kubernetes-patch-merge-key'], 'name');
  assert.equal(spec.properties.containers['x-kubernetes-patch-strategy'], 'merge');
  assert.deepEqual(spec.properties.containers.items, { allOf: [{ $ref: '#/components/schemas/io.k8s.api.core.v1.Container' }], default: {} });
  assert.ok(spec.required.includes('containers'));
  const container = doc.components.schemas['io.k8s.api.core.v1.Container'];
  assert.equal(container.properties.ports['x-kubernetes-patch-merge-key'], 'containerPort');
  assert.deepEqual(container.properties.ports['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
  assert.equal(container.properties.volumeMounts['x-kubernetes-patch-merge-key'], 'mountPath');
  const meta = doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'];
  assert.equal(meta.properties.ownerReferences['x-kubernetes-patch-merge-key'], 'uid');
  assert.equal(meta.properties.finalizers['x-kubernetes-list-type'], 'set');
  assert.ok(doc.components.schemas['io.k8s.api.core.v1.Event'], 'CoreV1Event maps to io.k8s.api.core.v1.Event');
  const apps = v3('apis/apps/v1');
  assert.ok(apps.components.schemas['io.k8s.api.apps.v1.DeploymentSpec']);
  assert.equal(apps.components.schemas['io.k8s.api.apps.v1.DeploymentSpec'].properties.strategy['x-kubernetes-patch-strategy'], 'retainKeys');
});

test('PATCH operations advertise fieldValidation for their kind (kubectl checks this before sending Strict)', () => {
  const doc = v3('apis/apps/v1');
  const op = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
  assert.deepEqual(op['x-kubernetes-group-version-kind'], { group: 'apps', version: 'v1', kind: 'Deployment' });
  assert.ok(op.parameters.some((p: { name: string }) => p.name === 'fieldValidation'));
  assert.ok(doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].patch);
  const ns = v3('api/v1').paths['/api/v1/namespaces/{name}'];
  assert.ok(ns.patch, 'cluster-scoped resources have no namespace segment');
});

test('v2 document is Swagger 2.0 with definitions refs', () => {
  const doc = JSON.parse(publisher.v2().body.toString());
  assert.equal(doc.swagger, '2.0');
  const spec = doc.definitions['io.k8s.api.core.v1.PodSpec'];
  assert.deepEqual(spec.properties.containers.items, { $ref: '#/definitions/io.k8s.api.core.v1.Container' });
  assert.ok(doc.paths['/api/v1/namespaces/{namespace}/pods/{name}'].patch.parameters.some((p: { name: string; in: string }) => p.name === 'body' && p.in === 'body'));
});

test('custom resources are published under their reversed-group name', () => {
  const p = new OpenApiPublisher(() => [{ group: 'stable.example.com', version: 'v1', kind: 'CronTab', plural: 'crontabs', namespaced: true,
    schema: { type: 'object', properties: { spec: { type: 'object', properties: { cronSpec: { type: 'string' } } } } } }]);
  const doc = JSON.parse(p.v3GroupVersion('stable.example.com', 'v1')!.body.toString());
  const s = doc.components.schemas['com.example.stable.v1.CronTab'];
  assert.deepEqual(s['x-kubernetes-group-version-kind'], [{ group: 'stable.example.com', version: 'v1', kind: 'CronTab' }]);
  assert.equal(s.properties.spec.properties.cronSpec.type, 'string');
  assert.ok(s.properties.metadata);
  const patchTypes = Object.keys(doc.paths['/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}'].patch.requestBody.content);
  assert.ok(!patchTypes.includes('application/strategic-merge-patch+json'), 'kubectl apply picks merge patch for custom resources from this');
  assert.ok(patchTypes.includes('application/apply-patch+yaml'));
});

test('invalidate() rebuilds documents when the resource set changes', () => {
  const resources = [...BUILTIN_SAMPLE];
  const p = new OpenApiPublisher(() => resources);
  const before = p.v3Index().hash;
  resources.push({ group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true });
  assert.equal(p.v3Index().hash, before, 'cached until invalidated');
  p.invalidate();
  assert.notEqual(p.v3Index().hash, before);
  assert.ok(p.v3GroupVersion('batch', 'v1'));
});

let server: FakeDiscoveryServer;
before(async () => {
  server = new FakeDiscoveryServer(BUILTIN_SAMPLE);
  await server.start();
});
after(async () => { await server.stop(); });

test('real kubectl explain walks the v3 documents', async () => {
  const r = await server.kubectl(['explain', 'pod.spec.containers.ports']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /KIND:\s+Pod/);
  assert.match(r.stdout, /FIELD:\s+ports <\[\]ContainerPort>/);
  assert.match(r.stdout, /containerPort\s+<integer> -required-/);
  const d = await server.kubectl(['explain', 'deployment.spec.strategy']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /GROUP:\s+apps/);
  assert.match(d.stdout, /rollingUpdate\s+<RollingUpdateDeployment>/);
  const bad = await server.kubectl(['explain', 'pod.spec.nosuchfield']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /field "nosuchfield" does not exist/);
});

test('real kubectl reads the protobuf /openapi/v2 (explain --output=plaintext-openapiv2)', async () => {
  const r = await server.kubectl(['explain', 'pod.spec.containers.ports', '--output=plaintext-openapiv2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /KIND:\s+Pod/);
  assert.match(r.stdout, /RESOURCE: ports <\[\]Object>/);
  assert.match(r.stdout, /containerPort\t<integer> -required-/);
  const d = await server.kubectl(['explain', 'deployment.spec.strategy', '--output=plaintext-openapiv2']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /rollingUpdate\t<Object>/);
  assert.ok(server.requests.some((q) => q.url.startsWith('/openapi/v2') && (q.accept ?? '').includes('protobuf')));
});
