import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { containerConfig } from './runtime-config.js';

test('mounts: a claim marked readOnly is read-only in every container, whatever the volumeMount says', () => {
  const container = { name: 'c', image: 'busybox', volumeMounts: [{ name: 'ro', mountPath: '/ro' }, { name: 'rw', mountPath: '/rw' }, { name: 'rw', mountPath: '/rw2', readOnly: true }] };
  const pod: V1Pod = { metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { containers: [container], volumes: [
    { name: 'ro', persistentVolumeClaim: { claimName: 'a', readOnly: true } }, { name: 'rw', persistentVolumeClaim: { claimName: 'b' } },
  ] } };
  const cfg = containerConfig({ nodeName: 'n', pod, container, kind: 'regular', attempt: 0, envs: [], volumes: new Map([['ro', '/host/a'], ['rw', '/host/b']]), image: 'busybox', nodeMemoryBytes: 1 << 30 });
  assert.deepEqual((cfg.mounts ?? []).map((m) => [m.containerPath, m.hostPath, m.readonly]), [['/ro', '/host/a', true], ['/rw', '/host/b', false], ['/rw2', '/host/b', true]]);
});
