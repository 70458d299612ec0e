import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultHpaV2, hpaV1ToV2, hpaV2ToV1, HPA_ANNOTATIONS, validateHpaV2 } from './autoscaling.js';

test('autoscaling v1 ⇄ v2: the CPU target maps to targetCPUUtilizationPercentage, the rest round-trips in annotations', () => {
  const v2 = {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h', namespace: 'd' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
        { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 60 } },
    },
    status: { currentReplicas: 2, desiredReplicas: 3, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 90 } } }], conditions: [{ type: 'AbleToScale', status: 'True' }] },
  };
  const v1 = hpaV2ToV1(v2);
  assert.equal(v1.spec.targetCPUUtilizationPercentage, 60);
  assert.equal(v1.status.currentCPUUtilizationPercentage, 90);
  assert.deepEqual(JSON.parse(v1.metadata.annotations[HPA_ANNOTATIONS.metrics]), [{ type: 'Resource', resource: { name: 'memory', targetAverageValue: '100Mi' } }]);
  const back = hpaV1ToV2(v1);
  assert.deepEqual(back.spec, v2.spec);
  assert.deepEqual(back.status.conditions, v2.status.conditions);
  assert.equal(back.metadata.annotations, undefined, 'conversion annotations do not leak into v2');
});

test('v2 defaults as upstream: minReplicas 1, CPU 80% when no metric, behavior only when given', () => {
  const o: Record<string, any> = { spec: { scaleTargetRef: { kind: 'Deployment', name: 'w' }, maxReplicas: 3 } }; // eslint-disable-line @typescript-eslint/no-explicit-any
  defaultHpaV2(o);
  assert.equal(o.spec.minReplicas, 1);
  assert.equal(o.spec.metrics[0].resource.target.averageUtilization, 80);
  assert.equal(o.spec.behavior, undefined);
  const b: Record<string, any> = { spec: { maxReplicas: 3, behavior: { scaleUp: { stabilizationWindowSeconds: 5 } } } }; // eslint-disable-line @typescript-eslint/no-explicit-any
  defaultHpaV2(b);
  assert.deepEqual(b.spec.behavior.scaleDown, { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] });
  assert.equal(b.spec.behavior.scaleUp.policies.length, 2);
  assert.deepEqual(validateHpaV2({ spec: { scaleTargetRef: { kind: 'Deployment', name: 'w' }, minReplicas: 4, maxReplicas: 2 } }).map((e) => e.detail), ['must be greater than or equal to `minReplicas`']);
});
