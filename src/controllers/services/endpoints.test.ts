import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { EndpointsController, serviceMembers } from './endpoints.js';

const pod = (name: string, ready: boolean, extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'web' }, ...extra },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: `10.1.0.${name.length}`, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const svc: V1Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'web', port: 80, targetPort: 'http' as never }] } };

test('members resolve named target ports and carry readiness/terminating', () => {
  const m = serviceMembers(svc, [pod('a', true), pod('bb', false), pod('ccc', true, { deletionTimestamp: new Date().toISOString() as never }), { ...pod('dddd', true), status: { phase: 'Pending' } }]);
  assert.deepEqual(m.map((x) => [x.pod.metadata!.name, x.ready, x.terminating, x.ports[0]?.port]), [
    ['a', true, false, 8080],
    ['bb', false, false, 8080],
    ['ccc', false, true, 8080],
  ]);
});

test('slice and Endpoints follow readiness', async () => {
  const fake = new FakeCluster();
  const c = new EndpointsController(fakeContext(fake), { endpoints: true, slices: true });
  c.start();
  await fake.create(svc);
  await fake.create(pod('a', true));
  await fake.create(pod('bb', true));
  const ready = () => fake.list<V1EndpointSlice>('EndpointSlice', 'default').flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).map((e) => e.addresses[0])).sort();
  await eventually(() => ready().length === 2, 3000, 'two ready');
  await fake.update('Pod', 'bb', 'default', { status: { conditions: [{ type: 'Ready', status: 'False' }] } });
  await eventually(() => ready().length === 1, 3000, 'one ready');
  const ep = fake.find<any>('Endpoints', 'web', 'default');
  assert.equal(ep.subsets[0].addresses.length, 1);
  assert.equal(ep.subsets[0].notReadyAddresses.length, 1);
  assert.equal(fake.list('EndpointSlice', 'default').length, 1);
  await c.stop();
});

test('a pod whose subdomain names the Service gets its hostname on its endpoint (DNS <hostname>.<svc>.<ns>.svc)', async () => {
  const fake = new FakeCluster();
  const c = new EndpointsController(fakeContext(fake), { endpoints: true, slices: true });
  c.start();
  await fake.create(svc);
  const named = pod('a', true);
  named.spec = { ...named.spec!, hostname: 'web-0', subdomain: 'web' };
  const other = pod('bb', true);
  other.spec = { ...other.spec!, hostname: 'x', subdomain: 'elsewhere' };
  await fake.create(named);
  await fake.create(other);
  const hostnames = () => fake.list<V1EndpointSlice>('EndpointSlice', 'default').flatMap((s) => (s.endpoints ?? []).map((e) => `${e.addresses[0]}=${e.hostname ?? ''}`)).sort();
  await eventually(() => hostnames().length === 2, 3000, 'two endpoints');
  assert.deepEqual(hostnames(), ['10.1.0.1=web-0', '10.1.0.2=']);
  const ep = fake.find<{ subsets: { addresses: { ip: string; hostname?: string }[] }[] }>('Endpoints', 'web', 'default');
  assert.deepEqual(ep?.subsets[0]!.addresses.map((a) => a.hostname ?? ''), ['web-0', '']);
  await c.stop();
});

test('endpoints carry their node\'s zone and the hints the Service asks for; a node\'s zone change re-syncs them', async () => {
  const fake = new FakeCluster();
  const c = new EndpointsController(fakeContext(fake), { endpoints: false, slices: true });
  c.start();
  for (const [name, zone] of [['n1', 'z1'], ['n2', 'z2']]) {
    await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'topology.kubernetes.io/zone': zone! } }, status: { allocatable: { cpu: '2' }, conditions: [{ type: 'Ready', status: 'True' }] } });
  }
  await fake.create<V1Service>({ ...svc, spec: { ...svc.spec, trafficDistribution: 'PreferClose' } as V1Service['spec'] });
  const onN2 = pod('bb', true);
  onN2.spec = { ...onN2.spec!, nodeName: 'n2' };
  await fake.create(pod('a', true));
  await fake.create(onN2);
  const view = () => fake.list<V1EndpointSlice>('EndpointSlice', 'default').flatMap((s) => (s.endpoints ?? []).map((e) => `${e.nodeName}:${e.zone ?? '-'}:${e.hints?.forZones?.map((z) => z.name).join(',') ?? '-'}`)).sort();
  await eventually(() => view().length === 2, 3000, 'two endpoints');
  assert.deepEqual(view(), ['n1:z1:z1', 'n2:z2:z2']);
  await fake.update('Node', 'n2', undefined, { metadata: { labels: { 'topology.kubernetes.io/zone': 'z3' } } });
  await eventually(() => view()[1] === 'n2:z3:z3', 3000, 'zone followed');
  await c.stop();
});
