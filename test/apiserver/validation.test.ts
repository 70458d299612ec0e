/**
 * API validation as kube-apiserver does it, driven by the stock kubectl (and raw HTTPS for protobuf bodies) against
 * the real `kedge server`: type errors at decoding, resource quantities and QoS, ports, payload sizes, name lengths,
 * protobuf fields the server does not know. Every refusal carries upstream's text and leaves nothing stored.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KedgeServerEnv } from './kubectl-env.js';

const env = new KedgeServerEnv();
const QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

before(async () => { await env.start(); });
after(() => env.cleanup());

async function notStored(kind: string, name: string): Promise<void> {
  const err = await env.fails(['get', kind, name]);
  assert.match(err, /\(NotFound\)/, `${kind}/${name} must not exist`);
}

const pod = (name: string, resources: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
  - name: c
    image: nginx
    resources: ${resources}
`;

test('type errors are rejected at decoding with Go\'s wording (kubectl apply and create), nothing stored', async () => {
  const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: three}
spec:
  replicas: three
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
`;
  for (const verb of ['apply', 'create']) {
    assert.equal(await env.fails([verb, '-f', '-'], deployment),
      'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
  }
  await notStored('deployment', 'three');

  assert.equal(await env.fails(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: numeric}\ndata: {a: 1}\n'),
    'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string');
  await notStored('configmap', 'numeric');

  // A patch that makes the object ill-typed is refused as the patched object fails to decode; the object is unchanged.
  await env.ok(['create', 'deployment', 'typed', '--image=nginx', '--replicas=2']);
  const patched = await env.fails(['patch', 'deployment', 'typed', '--type=merge', '-p', '{"spec":{"replicas":"three"}}']);
  assert.match(patched, /is invalid: patch: Invalid value: ".*": json: cannot unmarshal string into Go struct field DeploymentSpec\.spec\.replicas of type int32$/);
  assert.equal((await env.json(['get', 'deployment', 'typed'])).spec.replicas, 2);

  const scale = await raw('PUT', '/apis/apps/v1/namespaces/default/deployments/typed/scale', { 'content-type': 'application/json' },
    JSON.stringify({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'typed', namespace: 'default' }, spec: { replicas: 'three' } }));
  assert.equal(scale.code, 400);
  assert.equal(scale.json.message, 'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32');
  assert.equal((await env.json(['get', 'deployment', 'typed'])).spec.replicas, 2);
});

test('quantities: invalid, negative and requests above limits are refused with upstream\'s messages; nothing stored', async () => {
  assert.equal(await env.fails(['apply', '-f', '-'], pod('banana', '{requests: {cpu: banana}}')),
    `Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a Pod: ${QUANTITY_MSG}`);
  await notStored('pod', 'banana');
  assert.equal(await env.fails(['apply', '-f', '-'], pod('negative', '{requests: {cpu: "-1"}}')),
    'The Pod "negative" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0');
  await notStored('pod', 'negative');
  assert.equal(await env.fails(['apply', '-f', '-'], pod('overcommit', '{requests: {cpu: "2", memory: 1Gi}, limits: {cpu: 1500m, memory: 1Gi}}')),
    'The Pod "overcommit" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1500m');
  await notStored('pod', 'overcommit');
  assert.equal(await env.fails(['apply', '-f', '-'], pod('gpu', '{requests: {example.com/gpu: "1"}, limits: {example.com/gpu: "2"}}')),
    'The Pod "gpu" is invalid: spec.containers[0].resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2');
});

test('QoS as upstream: 1 equals 1000m, requests default from limits, quantities stored in canonical form', async () => {
  await env.ok(['apply', '-f', '-'], pod('guaranteed', '{requests: {cpu: "1", memory: 1Gi}, limits: {cpu: 1000m, memory: 1024Mi}}'));
  const g = await env.json(['get', 'pod', 'guaranteed']);
  assert.equal(g.status.qosClass, 'Guaranteed');
  assert.deepEqual(g.spec.containers[0].resources, { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } });

  await env.ok(['apply', '-f', '-'], pod('limits-only', '{limits: {cpu: 0.5, memory: 1.5Gi}}'));
  const l = await env.json(['get', 'pod', 'limits-only']);
  assert.equal(l.status.qosClass, 'Guaranteed', 'requests default to the limits');
  assert.deepEqual(l.spec.containers[0].resources, { requests: { cpu: '500m', memory: '1536Mi' }, limits: { cpu: '500m', memory: '1536Mi' } });

  await env.ok(['apply', '-f', '-'], pod('burstable', '{requests: {cpu: 100m}}'));
  assert.equal((await env.json(['get', 'pod', 'burstable'])).status.qosClass, 'Burstable');
});

test('ports outside 1–65535 are refused with upstream\'s message', async () => {
  assert.equal(await env.fails(['create', 'deployment', 'port', '--image=nginx', '--port=70000']),
    'error: failed to create deployment: Deployment.apps "port" is invalid: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive');
  await notStored('deployment', 'port');
  const service = 'apiVersion: v1\nkind: Service\nmetadata: {name: big-port}\nspec:\n  ports: [{port: 80, targetPort: 70000}]\n';
  assert.equal(await env.fails(['apply', '-f', '-'], service),
    'The Service "big-port" is invalid: spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive');
  await notStored('service', 'big-port');
});

test('ConfigMap and Secret payloads over 1 MiB: 422 Invalid with upstream\'s message and causes; nothing stored', async () => {
  const file = path.join(env.dir, 'one-mib-and-a-byte');
  writeFileSync(file, Buffer.alloc(1024 * 1024 + 1, 'a'));
  assert.equal(await env.fails(['create', 'configmap', 'big', `--from-file=k=${file}`]),
    'error: failed to create configmap: ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes');
  await notStored('configmap', 'big');
  assert.equal(await env.fails(['create', 'secret', 'generic', 'big', `--from-file=k=${file}`]),
    'error: failed to create secret Secret "big" is invalid: data: Too long: must have at most 1048576 bytes');
  await notStored('secret', 'big');

  const status = await raw('POST', '/api/v1/namespaces/default/configmaps', { 'content-type': 'application/json' },
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { k: 'a'.repeat(1024 * 1024 + 1) } }));
  assert.equal(status.code, 422);
  assert.equal(status.json.reason, 'Invalid');
  assert.deepEqual(status.json.details.causes, [{ reason: 'FieldValueTooLong', message: 'Too long: must have at most 1048576 bytes', field: '[]' }]);
  // Exactly 1 MiB is allowed.
  const exact = path.join(env.dir, 'one-mib');
  writeFileSync(exact, Buffer.alloc(1024 * 1024, 'a'));
  await env.ok(['create', 'configmap', 'exact', `--from-file=k=${exact}`]);
});

test('over-long names and label values get upstream\'s messages', async () => {
  const long = 'a'.repeat(254);
  assert.equal(await env.fails(['create', 'configmap', long]),
    `error: failed to create configmap: ConfigMap "${long}" is invalid: metadata.name: Invalid value: "${long}": must be no more than 253 characters`);
  const label = 'b'.repeat(64);
  assert.equal(await env.fails(['apply', '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${label}}\n`),
    `The Namespace "${label}" is invalid: \n* metadata.name: Invalid value: "${label}": must be no more than 63 characters\n* metadata.labels: Invalid value: "${label}": must be no more than 63 characters`);
  await notStored('namespace', label);
  assert.equal(await env.fails(['apply', '-f', '-'], `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lv, labels: {k: ${label}}}\n`),
    `The ConfigMap "lv" is invalid: metadata.labels: Invalid value: "${label}": must be no more than 63 characters`);
  await notStored('configmap', 'lv');
});

// ---- protobuf bodies (kubectl's typed clients send application/vnd.kubernetes.protobuf) ----

function varint(n: number): Buffer {
  const out: number[] = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return Buffer.from(out);
}
const bytesField = (field: number, value: Buffer | string) => {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value);
  return Buffer.concat([varint((field << 3) | 2), varint(v.length), v]);
};
const intField = (field: number, value: number) => Buffer.concat([varint(field << 3), varint(value)]);

/** "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}. */
function protobufBody(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const typeMeta = Buffer.concat([bytesField(1, apiVersion), bytesField(2, kind)]);
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), bytesField(1, typeMeta), bytesField(2, raw), bytesField(4, 'application/vnd.kubernetes.protobuf')]);
}

const PROTOBUF = { 'content-type': 'application/vnd.kubernetes.protobuf' };

test('protobuf: a field the decoder does not know is refused with 400 naming it, never dropped; known ones decode', async () => {
  const meta = (name: string) => bytesField(1, bytesField(1, name));
  const entry = bytesField(2, Buffer.concat([bytesField(1, 'k'), bytesField(2, 'v')]));

  const ok = await raw('POST', '/api/v1/namespaces/default/configmaps', PROTOBUF, protobufBody('v1', 'ConfigMap', Buffer.concat([meta('pb-ok'), entry])));
  assert.equal(ok.code, 201, JSON.stringify(ok.json));
  assert.deepEqual((await env.json(['get', 'configmap', 'pb-ok'])).data, { k: 'v' });

  const unknown = await raw('POST', '/api/v1/namespaces/default/configmaps', PROTOBUF, protobufBody('v1', 'ConfigMap', Buffer.concat([meta('pb-unknown'), entry, bytesField(9, 'surprise')])));
  assert.equal(unknown.code, 400);
  assert.equal(unknown.json.reason, 'BadRequest');
  assert.match(unknown.json.message, /^unable to decode protobuf body: field 9 of ConfigMap is not known to this server/);
  await notStored('configmap', 'pb-unknown');

  // A Deployment whose pod spec carries affinity (PodSpec field 18), which this server's schema does not decode:
  // before, the Deployment was stored without it.
  const container = bytesField(2, Buffer.concat([bytesField(1, 'c'), bytesField(2, 'nginx')]));
  const podSpec = Buffer.concat([container, bytesField(18, bytesField(1, bytesField(1, Buffer.alloc(0))))]);
  const template = Buffer.concat([bytesField(1, bytesField(11, Buffer.concat([bytesField(1, 'app'), bytesField(2, 'pb')]))), bytesField(2, podSpec)]);
  const selector = bytesField(1, Buffer.concat([bytesField(1, 'app'), bytesField(2, 'pb')]));
  const spec = Buffer.concat([intField(1, 1), bytesField(2, selector), bytesField(3, template)]);
  const dep = await raw('POST', '/apis/apps/v1/namespaces/default/deployments', PROTOBUF, protobufBody('apps/v1', 'Deployment', Buffer.concat([meta('pb-affinity'), bytesField(2, spec)])));
  assert.equal(dep.code, 400, JSON.stringify(dep.json));
  assert.match(dep.json.message, /field 18 of PodSpec is not known to this server/);
  await notStored('deployment', 'pb-affinity');

  // kubectl's own protobuf requests keep working (they carry zero-valued fields such as selfLink and status).
  await env.ok(['create', 'deployment', 'pb-kubectl', '--image=nginx', '--port=80']);
  await env.ok(['create', 'service', 'clusterip', 'pb-kubectl', '--tcp=80:8080']);
  assert.equal((await env.ok(['auth', 'can-i', 'get', 'pods'])).trim(), 'yes');

  // kubectl drain posts policy/v1 Evictions as protobuf (refused as an unknown kind before).
  await env.ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Node\nmetadata: {name: drained}\n');
  await env.ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: on-drained}\nspec: {nodeName: drained, containers: [{name: c, image: nginx}]}\n');
  assert.match(await env.ok(['drain', 'drained', '--force', '--grace-period=0', '--timeout=60s']), /pod\/on-drained evicted/);
  await notStored('pod', 'on-drained');
});

/** One HTTPS request with the admin's credentials. */
async function raw(method: string, urlPath: string, headers: Record<string, string>, body?: Buffer | string): Promise<{ code: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: server.hostname, port: server.port, path: urlPath, method, headers, ca: opts.ca, cert: opts.cert, key: opts.key }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => { try { resolve({ code: res.statusCode!, json: JSON.parse(text) }); } catch { resolve({ code: res.statusCode!, json: text }); } });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('TypeMeta of the wrong JSON type is a 400 (not a 500); an exact read past the current revision is 504 Timeout, an overflowing one 400', async () => {
  const typeErr = await env.fails(['create', '--raw', '/api/v1/namespaces', '-f', '-'], '{"apiVersion": 1e999, "kind": "Namespace", "metadata": {"name": "tm-number"}}');
  assert.match(typeErr, /\(BadRequest\).*couldn't get version\/kind; json parse error: json: cannot unmarshal number into Go struct field \.apiVersion of type string/);
  await notStored('namespace', 'tm-number');
  const kindErr = await env.fails(['create', '--raw', '/api/v1/namespaces', '-f', '-'], '{"apiVersion": "v1", "kind": ["Namespace"], "metadata": {"name": "tm-array"}}');
  assert.match(kindErr, /\(BadRequest\).*cannot unmarshal array into Go struct field \.kind of type string/);
  const future = await env.fails(['get', '--raw', '/api/v1/namespaces/default/configmaps?resourceVersion=99999999&resourceVersionMatch=Exact']);
  assert.match(future, /\(Timeout\).*Too large resource version: 99999999, current: \d+/);
  const overflow = await env.fails(['get', '--raw', '/api/v1/namespaces/default/configmaps?resourceVersion=99999999999999999999999&resourceVersionMatch=Exact']);
  assert.match(overflow, /\(BadRequest\).*invalid resource version/);
});
