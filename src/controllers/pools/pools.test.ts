import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { attributePatch, PREVIOUS_ATTRIBUTES_ANNOTATION } from './nodepool.js';
import { selectedPools, workloadForPool } from './yurtappset.js';
import { gridService, gridWorkload, templateFor } from './grid.js';
import { threeWayMergePatch } from './owned-workloads.js';
import type { NodePool, YurtAppSet } from './types.js';

const pool = (name: string, extra: Partial<NodePool> = {}): NodePool => ({ metadata: { name, labels: {} }, spec: { type: 'Edge' }, ...extra });

test('a pool applies its labels, annotations and taints, and removes only what it applied before', () => {
  const node: V1Node = {
    metadata: {
      name: 'n', resourceVersion: '7',
      labels: { mine: 'x', old: 'gone-soon', user: 'u' },
      annotations: { [PREVIOUS_ATTRIBUTES_ANNOTATION]: '{}' },
    },
    spec: { taints: [{ key: 'old', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }] },
  };
  const prev = { labels: { old: 'gone-soon' }, taints: [{ key: 'old', effect: 'NoSchedule' }] };
  const want = { labels: { region: 'north' }, annotations: { a: 'b' }, taints: [{ key: 'dedicated', value: 'p', effect: 'NoSchedule' }] };
  const patch = attributePatch(node, prev, want) as { metadata: { labels: object; annotations: Record<string, string>; resourceVersion: string }; spec: { taints: object[] } };
  assert.deepEqual(patch.metadata.labels, { old: null, region: 'north' });
  assert.equal(patch.metadata.annotations.a, 'b');
  assert.equal(patch.metadata.resourceVersion, '7');
  assert.deepEqual(patch.spec.taints, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }, { key: 'dedicated', value: 'p', effect: 'NoSchedule' }]);
  // Applied again: nothing to do.
  const applied: V1Node = {
    metadata: { name: 'n', labels: { mine: 'x', user: 'u', region: 'north' }, annotations: { a: 'b', [PREVIOUS_ATTRIBUTES_ANNOTATION]: patch.metadata.annotations[PREVIOUS_ATTRIBUTES_ANNOTATION]! } },
    spec: { taints: patch.spec.taints as never },
  };
  assert.equal(attributePatch(applied, want, want), undefined);
  // Leaving the pool takes everything the pool applied away again.
  const left = attributePatch(applied, want, {}) as { metadata: { labels: object; annotations: object }; spec: { taints: object[] } };
  assert.deepEqual(left.metadata.labels, { region: null });
  assert.deepEqual(left.metadata.annotations, { a: null, [PREVIOUS_ATTRIBUTES_ANNOTATION]: null });
  assert.deepEqual(left.spec.taints, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }]);
});

const yas = (): YurtAppSet => ({
  apiVersion: 'apps.openyurt.io/v1beta1', kind: 'YurtAppSet', metadata: { name: 'web', namespace: 'd', uid: 'u1' },
  spec: {
    pools: ['a', 'gone'],
    nodepoolSelector: { matchLabels: { tier: 'big' } },
    workload: {
      workloadTemplate: { deploymentTemplate: { metadata: { labels: { app: 'web' } }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i:1' }] } } } } },
      workloadTweaks: [
        { pools: ['a'], tweaks: { replicas: 5 } },
        { nodepoolSelector: { matchLabels: { tier: 'big' } }, tweaks: { containerImages: [{ name: 'c', targetImage: 'i:2' }], patches: [{ path: '/metadata/labels/extra', operation: 'add', value: 'yes' }] } },
      ],
    },
  },
});

test('YurtAppSet selects named and matching pools, and reports names that do not exist', () => {
  const { selected, missing } = selectedPools(yas(), [pool('a'), pool('b', { metadata: { name: 'b', labels: { tier: 'big' } } }), pool('c')]);
  assert.deepEqual(selected.map((p) => p.metadata!.name), ['a', 'b']);
  assert.deepEqual(missing, ['gone']);
});

test('a pool\'s workload: pinned to the pool, tolerating its taints, labelled, tweaked in order', () => {
  const a = workloadForPool(yas(), pool('a', { spec: { taints: [{ key: 'dedicated', value: 'a', effect: 'NoSchedule' }] } }));
  assert.equal(a.metadata!.name, 'web-a');
  assert.equal((a.spec as { replicas: number }).replicas, 5);
  assert.deepEqual(a.spec!.template.spec!.nodeSelector, { 'apps.openyurt.io/nodepool': 'a' });
  assert.deepEqual(a.spec!.template.spec!.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'a', effect: 'NoSchedule' }]);
  assert.deepEqual(a.metadata!.labels, { app: 'web', 'apps.openyurt.io/ref-yurtappset': 'web', 'apps.openyurt.io/pool-name': 'a' });
  assert.deepEqual(a.spec!.selector.matchLabels, { app: 'web', 'apps.openyurt.io/pool-name': 'a' });
  assert.equal(a.spec!.template.spec!.containers[0]!.image, 'i:1');
  const b = workloadForPool(yas(), pool('b', { metadata: { name: 'b', labels: { tier: 'big' } } }));
  assert.equal(b.spec!.template.spec!.containers[0]!.image, 'i:2');
  assert.equal(b.metadata!.labels!.extra, 'yes');
  const bad = yas();
  bad.spec!.workload!.workloadTweaks = [{ pools: ['a'], tweaks: { patches: [{ path: '/spec/nope/deeper', operation: 'replace', value: 1 }] } }];
  assert.throws(() => workloadForPool(bad, pool('a')));
});

test('three-way merge patch removes what the owner dropped and leaves what others set', () => {
  const last = { labels: { a: '1', b: '2' }, spec: { replicas: 2, template: { spec: { nodeSelector: { x: '1', y: '2' } } } } };
  const want = { labels: { a: '1' }, spec: { replicas: 3, template: { spec: { nodeSelector: { x: '1' } } } } };
  assert.deepEqual(threeWayMergePatch(last, want), { labels: { b: null }, spec: { replicas: 3, template: { spec: { nodeSelector: { y: null } } } } });
});

test('grids: per-value templates, names, nodeSelector; the ServiceGrid Service carries the topology key', () => {
  const grid = {
    metadata: { name: 'g', namespace: 'd' },
    spec: { gridUniqKey: 'zone', template: { replicas: 1 }, templatePool: { t2: { replicas: 2 }, t3: { replicas: 3 } }, templates: { z2: 't2' }, defaultTemplateName: 't3' },
  };
  assert.deepEqual(templateFor(grid.spec, 'z2'), { replicas: 2 });
  assert.deepEqual(templateFor(grid.spec, 'z9'), { replicas: 3 });
  assert.deepEqual(templateFor({ ...grid.spec, defaultTemplateName: 'default' }, 'z9'), { replicas: 1 });
  const w = gridWorkload(grid, 'Deployment', 'z2')!;
  assert.equal(w.metadata!.name, 'g-z2');
  assert.deepEqual((w.spec as { template: { spec: { nodeSelector: object } } }).template.spec.nodeSelector, { zone: 'z2' });
  assert.deepEqual(w.metadata!.labels, { 'superedge.io/grid-selector': 'g', 'superedge.io/grid-uniq-key': 'zone' });
  const svc = gridService({ metadata: { name: 's', namespace: 'd' }, spec: { gridUniqKey: 'zone', template: { selector: { app: 'x' } } } })!;
  assert.equal(svc.metadata!.name, 's-svc');
  assert.equal(svc.metadata!.annotations!.topologyKeys, '["zone"]');
});
