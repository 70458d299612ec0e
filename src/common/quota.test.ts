import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatQuantity } from './quantity.js';
import { missingPodResources, quotaCounts, usageOf } from './quota.js';

const show = (m: Map<string, { mantissa: bigint }>) => Object.fromEntries([...m].map(([k, v]) => [k, formatQuantity(v as never)]));

test('usageOf: pods sum containers (an init container counts when larger), terminal pods count nothing', () => {
  const pod = { spec: {
    containers: [{ resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m' } } }, { resources: { requests: { cpu: '150m' } } }],
    initContainers: [{ resources: { requests: { cpu: '1' } } }],
  } };
  assert.deepEqual(show(usageOf('', 'pods', pod)), {
    'count/pods': '1', pods: '1', 'requests.cpu': '1', cpu: '1', 'limits.cpu': '200m', 'requests.memory': '64Mi', memory: '64Mi',
  });
  assert.deepEqual(show(usageOf('', 'pods', { ...pod, status: { phase: 'Succeeded' } })), {});
  assert.deepEqual(show(usageOf('', 'persistentvolumeclaims', { spec: { resources: { requests: { storage: '2Gi' } } } })), { 'count/persistentvolumeclaims': '1', persistentvolumeclaims: '1', 'requests.storage': '2Gi' });
  assert.deepEqual(show(usageOf('', 'services', { spec: { type: 'LoadBalancer' } })), { 'count/services': '1', services: '1', 'services.loadbalancers': '1', 'services.nodeports': '1' });
  assert.deepEqual(show(usageOf('apps', 'deployments', {})), { 'count/deployments.apps': '1' });
});

test('missingPodResources: a tracked compute resource some container leaves unset', () => {
  const pod = { spec: { containers: [{ resources: { requests: { cpu: '1' }, limits: { cpu: '1' } } }, { resources: { requests: { cpu: '1' } } }] } };
  assert.deepEqual(missingPodResources(pod, ['pods', 'requests.cpu', 'limits.cpu', 'memory']), ['limits.cpu', 'memory']);
});

test('quotaCounts: scoped quotas count only pods in every scope (BestEffort, Terminating, PriorityClass selector)', () => {
  const bestEffort = { spec: { containers: [{}] } };
  const burstable = { spec: { containers: [{ resources: { requests: { cpu: '1' } } }], activeDeadlineSeconds: 30, priorityClassName: 'high' } };
  assert.equal(quotaCounts({}, '', 'configmaps', {}), true);
  assert.equal(quotaCounts({ scopes: ['BestEffort'] }, '', 'pods', bestEffort), true);
  assert.equal(quotaCounts({ scopes: ['BestEffort'] }, '', 'pods', burstable), false);
  assert.equal(quotaCounts({ scopes: ['BestEffort'] }, '', 'configmaps', {}), false);
  assert.equal(quotaCounts({ scopes: ['NotBestEffort', 'Terminating'] }, '', 'pods', burstable), true);
  assert.equal(quotaCounts({ scopes: ['NotTerminating'] }, '', 'pods', burstable), false);
  const sel = (operator: string, values?: string[]) => ({ scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator, values }] } });
  assert.equal(quotaCounts(sel('In', ['high']), '', 'pods', burstable), true);
  assert.equal(quotaCounts(sel('NotIn', ['high']), '', 'pods', burstable), false);
  assert.equal(quotaCounts(sel('DoesNotExist'), '', 'pods', bestEffort), true);
});
