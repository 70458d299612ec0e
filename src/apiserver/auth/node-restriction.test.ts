import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeRestriction, nodeIdentity } from './node-restriction.js';
import { StatusError } from '../../apimachinery/status.js';

const nodeUser = (name: string) => ({ username: `system:node:${name}`, groups: ['system:nodes', 'system:authenticated'] });
const ctx = (user = nodeUser('n1'), namespace = '', subresource = '') => ({ user, namespace, subresource });
const NODE = { group: '', kind: 'Node' };
const EVENT = { group: '', kind: 'Event' };
const bound: Record<string, string> = { 'default/mine': 'n1', 'default/theirs': 'n2' };
const plugin = new NodeRestriction(async (ns, name) => bound[`${ns}/${name}`]);
const node = (labels: Record<string, string>, taints?: unknown[]) => ({ metadata: { name: 'n1', labels }, spec: { taints } });

async function refused(p: Promise<void>, message: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof StatusError, `expected a Forbidden, got ${String(err)}`);
  assert.equal(err.status.code, 403);
  assert.equal(err.status.reason, 'Forbidden');
  assert.equal(err.status.message, message);
}

test('nodeIdentity: system:node:NAME in system:nodes only', () => {
  assert.equal(nodeIdentity(nodeUser('n1')), 'n1');
  assert.equal(nodeIdentity({ username: 'system:node:n1', groups: [] }), undefined);
  assert.equal(nodeIdentity({ username: 'admin', groups: ['system:nodes'] }), undefined);
});

test('a node may not set reserved labels on create or update, nor remove cloud-assigned ones (upstream texts)', async () => {
  const cloud = { 'node-role.kubernetes.io/edge': '', 'apps.openyurt.io/nodepool': 'p', 'kubernetes.io/hostname': 'n1' };
  await refused(plugin.admit(NODE, node({ 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/os': 'linux' }), null, ctx()),
    'nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: node-role.kubernetes.io/control-plane');
  await refused(plugin.admit(NODE, node({ ...cloud, 'node-restriction.kubernetes.io/pci': 'y' }), node(cloud), ctx()),
    'nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pci');
  const { 'node-role.kubernetes.io/edge': _r, ...dropped } = cloud;
  await refused(plugin.admit(NODE, node(dropped), node(cloud), ctx()), 'nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/edge');
  await refused(plugin.admit(NODE, node({ ...cloud, 'apps.openyurt.io/nodepool': 'q' }), node(cloud), ctx()), 'nodes "n1" is forbidden: is not allowed to modify labels: apps.openyurt.io/nodepool');
  await refused(plugin.admit(NODE, node(cloud, [{ key: 'x', effect: 'NoSchedule' }]), node(cloud), ctx()), 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints');
  await refused(plugin.admit(NODE, { metadata: { name: 'n2' } }, { metadata: { name: 'n2' } }, ctx()), 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
  // Allowed: kubelet labels, custom labels, unchanged reserved ones; and anyone who is not a node.
  await plugin.admit(NODE, node({ ...cloud, 'topology.kubernetes.io/zone': 'z', 'example.com/rack': '4' }), node(cloud), ctx());
  await plugin.admit(NODE, node({ 'node-role.kubernetes.io/control-plane': '' }), node({}), ctx({ username: 'admin', groups: ['system:masters'] }));
});

test('a node records events only about itself and pods bound to it, in their namespaces (core and events.k8s.io)', async () => {
  const core = (ns: string, io: Record<string, string>) => ({ metadata: { name: 'e1', namespace: ns }, involvedObject: io });
  await plugin.admit(EVENT, core('default', { kind: 'Node', name: 'n1' }), null, ctx(undefined, 'default'));
  await plugin.admit(EVENT, core('default', { kind: 'Pod', namespace: 'default', name: 'mine' }), null, ctx(undefined, 'default'));
  await refused(plugin.admit(EVENT, core('default', { kind: 'Pod', namespace: 'default', name: 'theirs' }), null, ctx(undefined, 'default')),
    'events "e1" is forbidden: node "n1" can only record events about pods with spec.nodeName set to itself');
  await refused(plugin.admit(EVENT, core('default', { kind: 'Node', name: 'n2' }), null, ctx(undefined, 'default')),
    'events "e1" is forbidden: node "n1" can only record events about itself, not node "n2"');
  await refused(plugin.admit({ group: 'events.k8s.io', kind: 'Event' }, { metadata: { name: 'e2', namespace: 'default' }, regarding: { kind: 'Pod', namespace: 'default', name: 'theirs' } }, null, ctx(undefined, 'default')),
    'events.events.k8s.io "e2" is forbidden: node "n1" can only record events about pods with spec.nodeName set to itself');
});

test('pods: status only of pods bound to the node, labels untouched; only mirror pods, bound to itself, referencing nothing', async () => {
  const POD = { group: '', kind: 'Pod' };
  const p = (nodeName: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}, annotations?: Record<string, string>) =>
    ({ metadata: { name: 'p', namespace: 'default', labels, annotations }, spec: { nodeName, containers: [{ name: 'c', image: 'i' }], ...extra } });
  const status = ctx(undefined, 'default', 'status');
  await plugin.admit(POD, p('n1'), p('n1'), status);
  await refused(plugin.admit(POD, p('n2'), p('n2'), status), 'pods "p" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself');
  await refused(plugin.admit(POD, p('n1', { role: 'db' }), p('n1'), status), 'pods "p" is forbidden: node "n1" cannot update labels through pod status');
  const create = ctx(undefined, 'default');
  await refused(plugin.admit(POD, p('n1'), null, create), 'pods "p" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods');
  const mirror = { 'kubernetes.io/config.mirror': 'hash' };
  await plugin.admit(POD, p('n1', {}, {}, mirror), null, create);
  await refused(plugin.admit(POD, p('n2', {}, {}, mirror), null, create), 'pods "p" is forbidden: node "n1" can only create pods with spec.nodeName set to itself');
  await refused(plugin.admit(POD, p('n1', {}, { volumes: [{ name: 'v', secret: { secretName: 'db' } }] }, mirror), null, create), 'pods "p" is forbidden: node "n1" can not create pods that reference secrets');
  await refused(plugin.admit(POD, p('n1', {}, { containers: [{ name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'cfg' } }] }] }, mirror), null, create), 'pods "p" is forbidden: node "n1" can not create pods that reference configmaps');
  await refused(plugin.admit(POD, p('n1', {}, { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'data' } }] }, mirror), null, create), 'pods "p" is forbidden: node "n1" can not create pods that reference persistentvolumeclaims');
  await refused(plugin.admit(POD, p('n1'), p('n1'), create), 'pods "p" is forbidden: unexpected operation "UPDATE", node "n1" can only create and delete mirror pods');
});

test('leases: only its own, in kube-node-lease', async () => {
  const LEASE = { group: 'coordination.k8s.io', kind: 'Lease' };
  const lease = (name: string, namespace: string) => ({ metadata: { name, namespace } });
  await plugin.admit(LEASE, lease('n1', 'kube-node-lease'), null, ctx(undefined, 'kube-node-lease'));
  await refused(plugin.admit(LEASE, lease('n2', 'kube-node-lease'), null, ctx(undefined, 'kube-node-lease')),
    'leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the requesting node');
  await refused(plugin.admit(LEASE, lease('n1', 'kube-system'), null, ctx(undefined, 'kube-system')),
    'leases.coordination.k8s.io "n1" is forbidden: can only access leases in the "kube-node-lease" system namespace');
});
