import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { EnableLbLabel, LbPoolLabel, NodePoolLabel, placeLoadBalancers, ServiceLbController } from './servicelb.js';

const node = (name: string, ip: string, labels: Record<string, string> = {}, ready = true): V1Node => ({
  apiVersion: 'v1', kind: 'Node', metadata: { name, labels },
  status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const lb = (name: string, port: number, extra: { labels?: Record<string, string>; cls?: string; created?: string } = {}): V1Service => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name, namespace: 'default', labels: extra.labels, creationTimestamp: (extra.created ?? '2026-01-01T00:00:00Z') as never },
  spec: { type: 'LoadBalancer', loadBalancerClass: extra.cls, selector: { app: name }, ports: [{ port, protocol: 'TCP' }] },
});

test('all ready nodes serve, unless some carry enablelb=true; pool labels narrow to that pool', () => {
  const nodes = [node('a', '10.0.0.1', { [NodePoolLabel]: 'p1' }), node('b', '10.0.0.2', { [NodePoolLabel]: 'p2' }), node('c', '10.0.0.3', {}, false)];
  assert.deepEqual(placeLoadBalancers([lb('web', 80)], nodes).get('default/web')!.ingress, ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(placeLoadBalancers([lb('web', 80, { labels: { [NodePoolLabel]: 'p2' } })], nodes).get('default/web')!.nodes, ['b']);
  const allowList = [node('a', '10.0.0.1', { [EnableLbLabel]: 'true', [LbPoolLabel]: 'x' }), node('b', '10.0.0.2'), node('d', '10.0.0.4', { [EnableLbLabel]: 'true' })];
  assert.deepEqual(placeLoadBalancers([lb('web', 80)], allowList).get('default/web')!.nodes, ['a', 'd']);
  assert.deepEqual(placeLoadBalancers([lb('web', 80, { labels: { [LbPoolLabel]: 'x' } })], allowList).get('default/web')!.nodes, ['a']);
  // Another implementation's class is not ours.
  assert.equal(placeLoadBalancers([lb('web', 80, { cls: 'example.com/other' })], nodes).has('default/web'), false);
});

test('the older Service keeps a port on a node; the later one is left out there', () => {
  const nodes = [node('a', '10.0.0.1', { [NodePoolLabel]: 'p1' }), node('b', '10.0.0.2')];
  const first = lb('first', 80, { labels: { [NodePoolLabel]: 'p1' }, created: '2026-01-01T00:00:00Z' });
  const second = lb('second', 80, { created: '2026-01-02T00:00:00Z' });
  const p = placeLoadBalancers([second, first], nodes);
  assert.deepEqual(p.get('default/first')!.nodes, ['a']);
  assert.deepEqual(p.get('default/second')!.nodes, ['b']);
  assert.equal(p.get('default/second')!.conflicts.get('a'), '80/TCP by default/first');
});

test('externalTrafficPolicy Local advertises only the nodes with a ready endpoint; the port stays held on the others', () => {
  const nodes = [node('a', '10.0.0.1'), node('b', '10.0.0.2')];
  const local = lb('local', 80, { created: '2026-01-01T00:00:00Z' });
  local.spec!.externalTrafficPolicy = 'Local';
  const slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4', metadata: { name: 'local-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'local' } },
    endpoints: [{ addresses: ['10.244.0.5'], nodeName: 'b', conditions: { ready: true } }, { addresses: ['10.244.0.6'], nodeName: 'a', conditions: { ready: false } }] };
  const p = placeLoadBalancers([local, lb('later', 80, { created: '2026-01-02T00:00:00Z' })], nodes, [slice]);
  assert.deepEqual(p.get('default/local')!.ingress, ['10.0.0.2']);
  assert.deepEqual(p.get('default/local')!.nodes, ['a', 'b']);
  assert.deepEqual(p.get('default/later')!.nodes, []);
  assert.deepEqual(placeLoadBalancers([local], nodes, []).get('default/local')!.ingress, []);
});

test('controller: status.loadBalancer.ingress follows nodes; a Service with every port taken is Pending with a Warning', async () => {
  const fake = new FakeCluster();
  const c = new ServiceLbController(fakeContext(fake));
  c.start();
  await fake.create(node('a', '10.0.0.1'));
  await fake.create(lb('first', 80, { created: '2026-01-01T00:00:00Z' }));
  const ingress = (name: string) => (fake.find<V1Service>('Service', name, 'default')?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
  await eventually(() => ingress('first').join() === '10.0.0.1', 3000, 'first gets node a');
  await fake.create(lb('second', 80, { created: '2026-01-02T00:00:00Z' }));
  await eventually(() => fake.list<{ reason?: string; message?: string }>('Event', 'default').some((e) => e.reason === 'SyncLoadBalancerFailed' && /80\/TCP by default\/first/.test(e.message ?? '')), 3000, 'pending event');
  assert.deepEqual(ingress('second'), []);
  await fake.create(node('b', '10.0.0.2'));
  // The older Service takes its port on the new node too (as its svclb DaemonSet would): the later one stays Pending.
  await eventually(() => ingress('first').join() === '10.0.0.1,10.0.0.2', 3000, 'first on both nodes');
  assert.deepEqual(ingress('second'), []);
  await fake.delete({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'first' });
  await eventually(() => ingress('second').join() === '10.0.0.1,10.0.0.2', 3000, 'second takes both nodes once first is gone');
  await c.stop();
});
