import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Endpoint, V1Node, V1Service } from '@kubernetes/client-node';
import { cpuRatiosByZone, withTopologyHints } from './hints.js';

const node = (name: string, zone: string | undefined, cpu = '4', ready = 'True', extra: Record<string, string> = {}): V1Node => ({
  metadata: { name, labels: { ...(zone ? { 'topology.kubernetes.io/zone': zone } : {}), ...extra } },
  status: { allocatable: { cpu }, conditions: [{ type: 'Ready', status: ready }] },
});
const ep = (i: number, zone: string | undefined, ready = true): V1Endpoint => ({ addresses: [`10.0.0.${i}`], conditions: { ready }, nodeName: `n-${zone}`, ...(zone ? { zone } : {}) });
const svc = (spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}): V1Service => ({ metadata: { name: 's', namespace: 'd', annotations }, spec: { ...spec } as V1Service['spec'] });
const zonesOf = (eps: V1Endpoint[]) => eps.map((e) => e.hints?.forZones?.map((z) => z.name).join(',') ?? '-');
const count = (eps: V1Endpoint[]) => zonesOf(eps).reduce<Record<string, number>>((m, z) => ((m[z] = (m[z] ?? 0) + 1), m), {});

test('PreferClose / PreferSameZone: each ready endpoint hinted to its own zone; PreferSameNode adds its node; none without a zone or not ready', () => {
  const eps = [ep(1, 'a'), ep(2, 'b'), ep(3, undefined), ep(4, 'a', false)];
  for (const d of ['PreferClose', 'PreferSameZone']) {
    assert.deepEqual(zonesOf(withTopologyHints(svc({ trafficDistribution: d }), eps, () => []).endpoints), ['a', 'b', '-', '-']);
  }
  const same = withTopologyHints(svc({ trafficDistribution: 'PreferSameNode' }), eps, () => []).endpoints;
  assert.deepEqual(same[0]!.hints, { forZones: [{ name: 'a' }], forNodes: [{ name: 'n-a' }] });
  assert.deepEqual(same[2]!.hints, { forNodes: [{ name: 'n-undefined' }] });
  // No topology setting: stale hints are removed.
  const stale = [{ ...ep(1, 'a'), hints: { forZones: [{ name: 'b' }] } }];
  assert.equal(withTopologyHints(svc(), stale, () => []).endpoints[0]!.hints, undefined);
});

test('Auto: endpoints shared among zones in proportion to Ready CPU, surplus zones give to short ones', () => {
  const nodes = [node('a1', 'a'), node('a2', 'a'), node('a3', 'a'), node('b1', 'b'), node('b2', 'b'), node('cp', 'c', '64', 'True', { 'node-role.kubernetes.io/control-plane': '' }), node('down', 'c', '4', 'Unknown')];
  // 4 endpoints in a, 1 in b; CPU 60/40: a should serve 3, b 2 → one of a's is hinted to b.
  const eps = [ep(1, 'a'), ep(2, 'a'), ep(3, 'a'), ep(4, 'a'), ep(5, 'b'), ep(6, 'b', false)];
  const r = withTopologyHints(svc({}, { 'service.kubernetes.io/topology-mode': 'Auto' }), eps, () => nodes);
  assert.equal(r.disabledReason, undefined);
  assert.deepEqual(count(r.endpoints), { a: 3, b: 2, '-': 1 });
  assert.equal(r.endpoints[5]!.hints, undefined, 'a not-ready endpoint gets no hint');
  // Balanced already: every endpoint keeps its own zone. The legacy annotation asks the same.
  const even = withTopologyHints(svc({}, { 'service.kubernetes.io/topology-aware-hints': 'auto' }), [ep(1, 'a'), ep(2, 'a'), ep(3, 'a'), ep(4, 'b'), ep(5, 'b')], () => nodes);
  assert.deepEqual(zonesOf(even.endpoints), ['a', 'a', 'a', 'b', 'b']);
});

test('Auto: no hints, with upstream\'s reason, when the cluster or the Service cannot support them', () => {
  const auto = svc({}, { 'service.kubernetes.io/topology-mode': 'Auto' });
  const two = [node('a1', 'a'), node('b1', 'b')];
  const hinted = [{ ...ep(1, 'a'), hints: { forZones: [{ name: 'a' }] } }, ep(2, 'b')];
  const off = (nodes: V1Node[], eps: V1Endpoint[]) => {
    const r = withTopologyHints(auto, eps, () => nodes);
    assert.ok(r.endpoints.every((e) => e.hints === undefined), 'hints removed');
    return r.disabledReason;
  };
  assert.match(off([node('a1', 'a'), node('x', undefined)], hinted)!, /Insufficient Node information/);
  assert.match(off([node('a1', 'a'), node('a2', 'a')], hinted)!, /one zone/);
  assert.match(off(two, [ep(1, 'a')])!, /Insufficient number of endpoints \(1 endpoints, 2 zones\)/);
  assert.match(off(two, [ep(1, 'a'), ep(2, undefined)])!, /do not have a zone/);
  // 90/10 CPU with 2 endpoints: a needs ceil(1.8/1.2) = 2, b ceil(0.2/1.2) = 1 → 3 > 2.
  assert.match(off([node('a1', 'a', '9'), node('b1', 'b', '1')], [ep(1, 'a'), ep(2, 'b')])!, /overload threshold/);
});

test('CPU ratios count Ready, non-control-plane nodes only', () => {
  const r = cpuRatiosByZone([node('a', 'a', '3'), node('b', 'b', '1000m'), node('m', 'c', '8', 'True', { 'node-role.kubernetes.io/master': '' }), node('d', 'd', '8', 'False')]);
  assert.deepEqual(r instanceof Map ? Object.fromEntries(r) : r, { a: 0.75, b: 0.25 });
});
