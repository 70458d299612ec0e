import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../apimachinery/object.js';
import { defaultCrd, validateCrd } from '../crd-validation.js';
import { customResourceDefs } from '../custom-resources.js';
import { builtinKinds } from './index.js';
import { nodePoolKind, NODEPOOL_V1BETA2_FIELDS_ANNOTATION } from './nodepool.js';
import { yurtAppSetKind, YURTAPPSET_V1ALPHA1_ANNOTATION } from './yurtappset.js';

const ctx = { user: { username: 'u', groups: [] }, namespace: '', dryRun: false, subresource: '' };

test('every built-in CRD is a valid, structural CRD', () => {
  for (const k of builtinKinds) {
    const crd = structuredClone(k.crd);
    defaultCrd(crd);
    assert.deepEqual(validateCrd(crd), [], crd.metadata?.name);
  }
});

test('NodePool v1beta2 → v1beta1 → v1beta2 keeps the v1beta2-only fields', () => {
  const v2 = { apiVersion: 'apps.openyurt.io/v1beta2', kind: 'NodePool', metadata: { name: 'p' }, spec: { type: 'Edge', hostNetwork: true, interConnectivity: true, leaderReplicas: 3 }, status: { readyNodeNum: 1, leaderNum: 1 } } as KubeObject;
  const v1 = nodePoolKind.convert!(v2, 'v1beta1') as KubeObject & { spec: Record<string, unknown>; status: Record<string, unknown> };
  assert.equal(v1.apiVersion, 'apps.openyurt.io/v1beta1');
  assert.equal(v1.spec.interConnectivity, undefined);
  assert.equal(v1.spec.hostNetwork, true);
  assert.equal(v1.status.leaderNum, undefined);
  assert.ok(v1.metadata?.annotations?.[NODEPOOL_V1BETA2_FIELDS_ANNOTATION]);
  const back = nodePoolKind.convert!(v1, 'v1beta2') as KubeObject & { spec: Record<string, unknown> };
  assert.deepEqual(back.spec, { type: 'Edge', hostNetwork: true, interConnectivity: true, leaderReplicas: 3 });
  assert.equal(back.metadata?.annotations, undefined);
  // A v1beta1 pool that never had v1beta2 fields gets OpenYurt's conversion defaults.
  const fresh = nodePoolKind.convert!({ apiVersion: 'apps.openyurt.io/v1beta1', kind: 'NodePool', metadata: { name: 'q' }, spec: { type: 'Cloud' } } as KubeObject, 'v1beta2') as KubeObject & { spec: Record<string, unknown> };
  assert.deepEqual(fresh.spec, { type: 'Cloud', interConnectivity: false, leaderElectionStrategy: 'random', leaderReplicas: 1 });
});

test('NodePool admission: type, hostNetwork and interConnectivity are immutable; a pool with nodes cannot be deleted', () => {
  const old = { apiVersion: 'apps.openyurt.io/v1beta2', kind: 'NodePool', metadata: { name: 'p' }, spec: { type: 'Edge', interConnectivity: true } } as KubeObject;
  const changed = { ...old, spec: { type: 'Cloud', hostNetwork: true, interConnectivity: false } } as KubeObject;
  const errs = nodePoolKind.validateUpdate!(changed, old).map((e) => e.field).sort();
  assert.deepEqual(errs, ['spec.hostNetwork', 'spec.interConnectivity', 'spec.type']);
  assert.deepEqual(nodePoolKind.validate!({ ...old, metadata: { name: 'x'.repeat(64) } } as KubeObject).map((e) => e.field), ['metadata.name']);
  assert.throws(() => nodePoolKind.beforeDelete!({ ...old, status: { nodes: ['n1'] } } as KubeObject), /cannot be deleted while it has nodes \(n1\)/);
  assert.doesNotThrow(() => nodePoolKind.beforeDelete!(old));
});

test('the served v1beta1 NodePool strategy validates in the storage shape (immutability holds through v1beta1)', () => {
  const defs = customResourceDefs(nodePoolKind.crd);
  const v1 = defs.find((d) => d.version === 'v1beta1')!;
  const old = { apiVersion: 'apps.openyurt.io/v1beta1', kind: 'NodePool', metadata: { name: 'p' }, spec: { type: 'Edge' } } as KubeObject;
  const next = { ...old, spec: { type: 'Cloud' } } as KubeObject;
  assert.ok(v1.strategy.validateUpdate!(next, old, ctx).some((e) => e.field === 'spec.type' && e.type === 'Forbidden'));
  assert.ok(v1.convert, 'non-storage versions convert');
});

test('YurtAppSet v1alpha1 → v1beta1: pools, replicas, image patches and tolerations become tweaks; v1alpha1 reads back unchanged', () => {
  const alpha = {
    apiVersion: 'apps.openyurt.io/v1alpha1', kind: 'YurtAppSet', metadata: { name: 'y', namespace: 'd' },
    spec: {
      selector: { matchLabels: { app: 'y' } },
      workloadTemplate: { deploymentTemplate: { metadata: { labels: { app: 'y' } }, spec: { template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c', image: 'i:1' }] } } } } },
      topology: { pools: [
        { name: 'a', nodeSelectorTerm: { matchExpressions: [{ key: 'apps.openyurt.io/nodepool', operator: 'In', values: ['a'] }] }, replicas: 1, patch: { spec: { template: { spec: { containers: [{ name: 'c', image: 'i:2' }] } } } } },
        { name: 'b', replicas: 2, tolerations: [{ key: 't', operator: 'Exists', effect: 'NoSchedule' }] },
      ] },
    },
  } as unknown as KubeObject;
  const beta = yurtAppSetKind.convert!(alpha, 'v1beta1') as KubeObject & { spec: any };
  assert.deepEqual(beta.spec.pools, ['a', 'b']);
  assert.deepEqual(beta.spec.workload.workloadTemplate.deploymentTemplate.spec.selector, { matchLabels: { app: 'y' } });
  assert.deepEqual(beta.spec.workload.workloadTweaks, [
    { pools: ['a'], tweaks: { replicas: 1, containerImages: [{ name: 'c', targetImage: 'i:2' }] } },
    { pools: ['b'], tweaks: { replicas: 2, patches: [{ path: '/spec/template/spec/tolerations', operation: 'add', value: [{ key: 't', operator: 'Exists', effect: 'NoSchedule' }] }] } },
  ]);
  assert.ok(beta.metadata?.annotations?.[YURTAPPSET_V1ALPHA1_ANNOTATION]);
  assert.deepEqual(yurtAppSetKind.validate!(beta), []);
  const again = yurtAppSetKind.convert!(beta, 'v1alpha1') as KubeObject & { spec: any };
  assert.deepEqual(again.spec.topology, (alpha as unknown as { spec: { topology: unknown } }).spec.topology);
  assert.equal(again.metadata?.annotations, undefined);
});

test('YurtAppSet v1beta1 without v1alpha1 history reads as OpenYurt converts it', () => {
  const beta = {
    apiVersion: 'apps.openyurt.io/v1beta1', kind: 'YurtAppSet', metadata: { name: 'y' },
    spec: { pools: ['a', 'b'], workload: { workloadTemplate: { deploymentTemplate: { spec: { replicas: 2, selector: { matchLabels: { app: 'y' } } } } }, workloadTweaks: [{ pools: ['b'], tweaks: { replicas: 5 } }] } },
  } as unknown as KubeObject;
  const alpha = yurtAppSetKind.convert!(beta, 'v1alpha1') as KubeObject & { spec: any };
  assert.deepEqual(alpha.spec.selector, { matchLabels: { app: 'y' } });
  assert.deepEqual(alpha.spec.topology.pools.map((p: { name: string; replicas: number }) => [p.name, p.replicas]), [['a', 2], ['b', 5]]);
  assert.deepEqual(yurtAppSetKind.validate!({ ...beta, spec: { workload: { workloadTemplate: {} } } } as unknown as KubeObject).map((e) => e.field), ['spec.workload.workloadTemplate', 'spec.pools']);
});
