import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTypeError } from './decode-types.js';

const deployment = (spec: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec });

test('type errors read as Go encoding/json words them: innermost struct, JSON path from the root, Go type', () => {
  assert.equal(decodeTypeError(deployment({ replicas: 'three' }), 'apps', 'v1', 'Deployment'),
    'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
  assert.equal(decodeTypeError(deployment({ replicas: 2.5 }), 'apps', 'v1', 'Deployment'),
    'json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32');
  assert.equal(decodeTypeError({ kind: 'ConfigMap', data: { a: 1 } }, '', 'v1', 'ConfigMap'),
    'json: cannot unmarshal number into Go struct field ConfigMap.data of type string');
  assert.equal(decodeTypeError(deployment({ template: { spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: '80' }] }] } } }), 'apps', 'v1', 'Deployment'),
    'json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32');
  assert.equal(decodeTypeError({ kind: 'Pod', spec: { containers: 'x' } }, '', 'v1', 'Pod'),
    'json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container');
  assert.equal(decodeTypeError({ kind: 'Pod', spec: { hostNetwork: 'yes' } }, '', 'v1', 'Pod'),
    'json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool');
  assert.equal(decodeTypeError({ kind: 'Secret', data: { a: '!!' } }, '', 'v1', 'Secret'), 'illegal base64 data at input byte 0');
  assert.equal(decodeTypeError({ kind: 'Secret', data: { a: 'YWJj' } }, '', 'v1', 'Secret'), undefined);
});

test('quantities: resource.Quantity\'s own parse error, and canonical form stored', () => {
  const pod = { kind: 'Pod', spec: { containers: [{ name: 'c', image: 'i', resources: { requests: { cpu: 'banana' } } }] } };
  assert.equal(decodeTypeError(pod, '', 'v1', 'Pod'), "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  const ok = { kind: 'Pod', spec: { containers: [{ name: 'c', image: 'i', resources: { requests: { cpu: 1.5, memory: '1.5Gi' }, limits: { cpu: '2000m' } } }] } };
  assert.equal(decodeTypeError(ok, '', 'v1', 'Pod'), undefined);
  assert.deepEqual(ok.spec.containers[0]!.resources, { requests: { cpu: '1500m', memory: '1536Mi' }, limits: { cpu: '2' } });
  assert.equal(decodeTypeError({ kind: 'Pod', spec: { containers: [{ resources: { limits: 'x' } }] } }, '', 'v1', 'Pod'),
    'json: cannot unmarshal string into Go struct field ResourceRequirements.spec.containers.resources.limits of type v1.ResourceList');
});

test('what fits passes untouched; nulls are zero values; custom kinds are not checked', () => {
  const obj = deployment({ replicas: null, selector: { matchLabels: { a: 'b' } }, strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } } });
  assert.equal(decodeTypeError(obj, 'apps', 'v1', 'Deployment'), undefined);
  assert.equal(decodeTypeError({ metadata: { creationTimestamp: '2024-01-01T00:00:00.123Z' } }, '', 'v1', 'ConfigMap'), undefined);
  assert.equal(decodeTypeError({ metadata: { creationTimestamp: 'yesterday' } }, '', 'v1', 'ConfigMap'),
    'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"');
  assert.equal(decodeTypeError({ spec: { replicas: 'three' } }, 'stable.example.com', 'v1', 'Deployment'), undefined);
  // MicroTime (a model client-node names but does not ship): a timestamp string, milliseconds accepted.
  assert.equal(decodeTypeError({ spec: { renewTime: '2026-12-06T22:50:13.123Z', holderIdentity: 'x' } }, 'coordination.k8s.io', 'v1', 'Lease'), undefined);
  assert.equal(decodeTypeError({ spec: { renewTime: 5 } }, 'coordination.k8s.io', 'v1', 'Lease'), 'json: cannot unmarshal number into Go value of type string');
  assert.equal(decodeTypeError(deployment({ strategy: { rollingUpdate: { maxSurge: true } } }), 'apps', 'v1', 'Deployment'),
    'json: cannot unmarshal bool into Go value of type int32');
});

test('a null element of a list decodes to the element type\'s zero value, as Go decodes it (no null left for readers)', () => {
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [null, { port: 80 }], externalIPs: [null] } };
  assert.equal(decodeTypeError(svc, '', 'v1', 'Service'), undefined);
  assert.deepEqual(svc.spec.ports, [{}, { port: 80 }]);
  assert.deepEqual(svc.spec.externalIPs, ['']);
});
