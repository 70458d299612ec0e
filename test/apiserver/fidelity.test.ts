/**
 * API fidelity details the stock kubectl (v1.32) shows its users: fieldValidation warnings and strict errors
 * (unknown and duplicate fields), the group-qualified kind in Invalid messages, and managedFields recorded for
 * writes through the scale subresource — each checked against the upstream wording.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { KedgeServerEnv } from './kubectl-env.js';

const env = new KedgeServerEnv();
before(() => env.start());
after(() => env.cleanup());

const podWithUnknownField = (name: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  foo: bar
  containers: [{name: c, image: busybox}]
`;

test('fieldValidation=Warn: kubectl prints the upstream warning, the object is created without the field', async () => {
  const r = await env.kubectl(['create', '--validate=warn', '-f', '-'], podWithUnknownField('warned'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Warning: unknown field "spec\.foo"$/m);
  const pod = await env.json(['get', 'pod', 'warned']);
  assert.equal(pod.spec.foo, undefined, 'unknown fields are never stored');
  // The same through a merge patch: the patched result is checked.
  // Server-side apply drops undeclared fields with the same warning under Warn.
  const applied = await env.kubectl(['apply', '--server-side', '--validate=warn', '-f', '-'], podWithUnknownField('applied'));
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stderr, /^Warning: unknown field "spec\.foo"$/m);
  assert.equal((await env.json(['get', 'pod', 'applied'])).spec.foo, undefined);
  // kubectl patch sends no fieldValidation: upstream's default (Warn) applies.
  const p = await env.kubectl(['patch', 'pod', 'warned', '--type=merge', '-p', '{"spec":{"bar":1}}']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /^Warning: unknown field "spec\.bar"$/m);
});

test('fieldValidation=Strict on create and update: 400 with upstream\'s decoding prefix, nothing changed', async () => {
  const err = await env.fails(['create', '--validate=strict', '-f', '-'], podWithUnknownField('strict'));
  assert.match(err, /Error from server \(BadRequest\).*Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec\.foo"/);
  const got = await env.kubectl(['get', 'pod', 'strict']);
  assert.notEqual(got.code, 0, 'a refused create stores nothing');
  // Update (kubectl replace) decodes the same way.
  await env.ok(['create', 'configmap', 'replaced', '--from-literal=a=1']);
  const cm = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"replaced"},"data":{"a":"2"},"extra":true}';
  const replaced = await env.fails(['replace', '--validate=strict', '-f', '-'], cm);
  assert.match(replaced, /ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "extra"/);
  assert.equal((await env.json(['get', 'configmap', 'replaced'])).data.a, '1', 'a refused update changes nothing');
});

test('duplicate fields: Strict refuses with the upstream text, Warn warns, on bodies and patches', async () => {
  // kubectl create -f re-encodes the document (duplicates vanish client-side); --raw sends the bytes as they are.
  const dupJson = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}';
  const file = path.join(env.dir, 'dup.json');
  writeFileSync(file, dupJson);
  const cms = '/api/v1/namespaces/default/configmaps';
  const strict = await env.fails(['create', '--raw', `${cms}?fieldValidation=Strict`, '-f', file]);
  assert.match(strict, /\(BadRequest\): ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data"$/);
  assert.notEqual((await env.kubectl(['get', 'configmap', 'dup'])).code, 0, 'a refused create stores nothing');
  const warn = await env.kubectl(['create', '--raw', `${cms}?fieldValidation=Warn`, '-f', file]);
  assert.equal(warn.code, 0, warn.stderr);
  assert.match(warn.stderr, /^Warning: duplicate field "data"$/m);
  // kubectl patch sends -p verbatim: the patch body's duplicates are found too.
  const patched = await env.kubectl(['patch', 'configmap', 'dup', '--type=merge', '-p', '{"data":{"x":"1"},"data":{"y":"2"}}']);
  assert.equal(patched.code, 0, patched.stderr);
  assert.match(patched.stderr, /^Warning: duplicate field "data"$/m);
});

test('Invalid errors name the kind with its group as upstream (Deployment.apps, Scale.autoscaling)', async () => {
  const bad = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"nosel"},"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}';
  // kubectl's own text uses details.kind (`The Deployment "nosel" is invalid`); the raw Status message has the group.
  const r = await env.kubectl(['create', '-f', '-', '-v=8'], bad);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /The Deployment "nosel" is invalid: spec\.selector: Required value/);
  // -v=8 logs the response body (its quotes escaped once more).
  assert.match(r.stderr, /"message\\+":\\+"Deployment\.apps \\+"nosel\\+" is invalid: spec\.selector: Required value/);
  const ok = await env.kubectl(['create', 'deployment', 'web', '--image=nginx']);
  assert.equal(ok.code, 0, ok.stderr);
  const scale = await env.kubectl(['patch', 'deployment', 'web', '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":-1}}', '-v=8']);
  assert.notEqual(scale.code, 0);
  assert.match(scale.stderr, /Scale\.autoscaling \\+"web\\+" is invalid: spec\.replicas: Invalid value: -1/);
});

test('kubectl scale records managedFields for the scale subresource', async () => {
  await env.ok(['create', 'deployment', 'scaled', '--image=nginx']);
  await env.ok(['scale', 'deployment', 'scaled', '--replicas=3']);
  const dep = await env.json(['get', 'deployment', 'scaled', '--show-managed-fields']);
  assert.equal(dep.spec.replicas, 3);
  const entry = (dep.metadata.managedFields as Array<Record<string, any>>).find((e) => e.subresource === 'scale'); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.ok(entry, `a scale entry in ${JSON.stringify(dep.metadata.managedFields)}`);
  assert.equal(entry.manager, 'kubectl');
  assert.equal(entry.operation, 'Update');
  assert.equal(entry.apiVersion, 'apps/v1');
  assert.deepEqual(entry.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
  // The creator no longer owns spec.replicas: the scale writer took it over.
  const creator = (dep.metadata.managedFields as Array<Record<string, any>>).find((e) => e.manager === 'kubectl-create'); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(creator?.fieldsV1?.['f:spec']?.['f:replicas'], undefined);
});
