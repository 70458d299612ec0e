import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { mountServiceAccountToken, SERVICE_ACCOUNT_MOUNT_PATH } from './serviceaccount-admission.js';

const pod = (): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns' },
  spec: { initContainers: [{ name: 'i', image: 'busybox' }], containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox', volumeMounts: [] }] },
});

test('adds kube-api-access-xxxxx projected volume and mounts it in every container', () => {
  const p = pod();
  const name = mountServiceAccountToken(p, { metadata: { name: 'default' } });
  assert.match(name!, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  const v = p.spec!.volumes!.find((x) => x.name === name)!;
  const srcs = v.projected!.sources!;
  assert.deepEqual(srcs[0].serviceAccountToken, { path: 'token', expirationSeconds: 3607 });
  assert.deepEqual(srcs[1].configMap, { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
  assert.equal(srcs[2].downwardAPI!.items![0].fieldRef!.fieldPath, 'metadata.namespace');
  for (const c of [...p.spec!.initContainers!, ...p.spec!.containers]) {
    assert.deepEqual(c.volumeMounts, [{ name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }]);
  }
});

test('automountServiceAccountToken=false on the pod or the ServiceAccount: nothing added; pod true overrides SA false', () => {
  const a = pod(); a.spec!.automountServiceAccountToken = false;
  assert.equal(mountServiceAccountToken(a, null), null);
  assert.equal(a.spec!.volumes, undefined);
  const b = pod();
  assert.equal(mountServiceAccountToken(b, { automountServiceAccountToken: false }), null);
  assert.equal(b.spec!.volumes, undefined);
  const c = pod(); c.spec!.automountServiceAccountToken = true;
  assert.ok(mountServiceAccountToken(c, { automountServiceAccountToken: false }));
});

test('a container mounting its own volume at the path keeps it; applying twice adds nothing', () => {
  const p = pod();
  p.spec!.volumes = [{ name: 'mine', emptyDir: {} }];
  p.spec!.containers[0].volumeMounts = [{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }];
  const name = mountServiceAccountToken(p, null)!;
  assert.deepEqual(p.spec!.containers[0].volumeMounts, [{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }]);
  assert.equal(mountServiceAccountToken(p, null), null);
  assert.equal(p.spec!.volumes!.filter((v) => v.name === name).length, 1);
  assert.equal(p.spec!.containers[1].volumeMounts!.length, 1);
});
