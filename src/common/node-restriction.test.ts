import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EDGE_ROLE_LABEL, NODEPOOL_LABEL, forbiddenNodeLabelChanges, isKubeletLabel, nodeEventRefusal, nodeMayModifyLabel,
} from './node-restriction.js';

test('isKubeletLabel: upstream kubelet allow-list and label namespaces', () => {
  for (const k of [
    'kubernetes.io/hostname', 'kubernetes.io/os', 'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch',
    'topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
    'failure-domain.beta.kubernetes.io/region', 'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type',
    'kubelet.kubernetes.io/anything', 'x.kubelet.kubernetes.io/y', 'node.kubernetes.io/custom', 'foo.node.kubernetes.io/bar',
  ]) assert.equal(isKubeletLabel(k), true, k);
  for (const k of ['node-role.kubernetes.io/control-plane', 'kubernetes.io/other', 'k8s.io/x', 'example.com/x', 'plain', 'notnode.kubernetes.io/x']) {
    assert.equal(isKubeletLabel(k), false, k);
  }
});

test('nodeMayModifyLabel: reserved namespaces, node-restriction and cloud-assigned labels are off limits', () => {
  for (const k of ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master', 'node-restriction.kubernetes.io/secure',
    'a.node-restriction.kubernetes.io/x', 'kubernetes.io/role', 'foo.k8s.io/x', 'k8s.io/x', EDGE_ROLE_LABEL, NODEPOOL_LABEL]) {
    assert.equal(nodeMayModifyLabel(k), false, k);
  }
  for (const k of ['kubernetes.io/hostname', 'topology.kubernetes.io/zone', 'example.com/rack', 'plain', 'apps.openyurt.io/other']) {
    assert.equal(nodeMayModifyLabel(k), true, k);
  }
});

test('forbiddenNodeLabelChanges: adding, changing and removing are all modifications; unchanged labels are not', () => {
  const cloud = { [EDGE_ROLE_LABEL]: '', [NODEPOOL_LABEL]: 'pool-a', 'kubernetes.io/hostname': 'n1' };
  assert.deepEqual(forbiddenNodeLabelChanges(cloud, cloud), []);
  assert.deepEqual(forbiddenNodeLabelChanges({ ...cloud, 'example.com/x': '1', 'kubernetes.io/hostname': 'n2' }, cloud), []);
  assert.deepEqual(
    forbiddenNodeLabelChanges({ ...cloud, 'node-role.kubernetes.io/control-plane': '', 'node-restriction.kubernetes.io/pci': 'yes' }, cloud),
    ['node-restriction.kubernetes.io/pci', 'node-role.kubernetes.io/control-plane'],
  );
  const { [EDGE_ROLE_LABEL]: _e, ...withoutRole } = cloud;
  assert.deepEqual(forbiddenNodeLabelChanges(withoutRole, cloud), [EDGE_ROLE_LABEL]);
  assert.deepEqual(forbiddenNodeLabelChanges({ ...cloud, [NODEPOOL_LABEL]: 'pool-b' }, cloud), [NODEPOOL_LABEL]);
});

test('nodeEventRefusal: own Node in default, pods bound to it in their namespace, nothing else', () => {
  const pods: Record<string, string> = { 'default/mine': 'n1', 'default/theirs': 'n2', 'apps/mine2': 'n1' };
  const podNode = (ns: string, name: string) => pods[`${ns}/${name}`];
  assert.equal(nodeEventRefusal('n1', 'default', { kind: 'Node', name: 'n1' }, podNode), undefined);
  assert.equal(nodeEventRefusal('n1', 'default', { kind: 'Pod', namespace: 'default', name: 'mine' }, podNode), undefined);
  assert.equal(nodeEventRefusal('n1', 'apps', { kind: 'Pod', namespace: 'apps', name: 'mine2' }, podNode), undefined);
  assert.match(nodeEventRefusal('n1', 'default', { kind: 'Node', name: 'n2' }, podNode)!, /can only record events about itself, not node "n2"/);
  assert.match(nodeEventRefusal('n1', 'kube-system', { kind: 'Node', name: 'n1' }, podNode)!, /in namespace "default"/);
  assert.match(nodeEventRefusal('n1', 'default', { kind: 'Pod', namespace: 'default', name: 'theirs' }, podNode)!, /pods with spec.nodeName set to itself/);
  assert.match(nodeEventRefusal('n1', 'default', { kind: 'Pod', namespace: 'default', name: 'ghost' }, podNode)!, /pods with spec.nodeName set to itself/);
  assert.match(nodeEventRefusal('n1', 'kube-system', { kind: 'Pod', namespace: 'default', name: 'mine' }, podNode)!, /in the pod's namespace/);
  assert.match(nodeEventRefusal('n1', 'default', { kind: 'Secret', namespace: 'default', name: 's' }, podNode)!, /not a Secret/);
  assert.match(nodeEventRefusal('n1', 'default', undefined, podNode)!, /about itself or pods bound to it/);
});
