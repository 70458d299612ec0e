import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { foreignEdgeNode } from './join.js';

test('an edge-labelled Node Kedge never registered (KubeEdge\'s) is refused with the way out; Kedge\'s own is not', () => {
  const kubeedge: V1Node = { metadata: { name: 'e1', labels: { 'node-role.kubernetes.io/edge': '', 'node-role.kubernetes.io/agent': '' } }, status: { nodeInfo: { kubeletVersion: 'v1.26.10-kubeedge-v1.15.0' } as never } };
  assert.match(foreignEdgeNode(kubeedge)!, /managed by KubeEdge \(kubeletVersion v1\.26\.10-kubeedge-v1\.15\.0\).*keadm reset.*kubectl delete node/);
  assert.match(foreignEdgeNode({ metadata: { name: 'e2', labels: { 'node-role.kubernetes.io/edge': '' } } })!, /another edge system/);
  assert.equal(foreignEdgeNode({ metadata: { name: 'e3', annotations: { 'kedge.io/identity-generation': '1' } } }), undefined);
  assert.equal(foreignEdgeNode(undefined), undefined);
});
