import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Store } from '../../storage/types.js';
import { registryKey } from '../contracts.js';
import { prepareVolumes } from './volumes.js';
import { PODTOKENS_RESOURCE, type PodToken } from './store-objects.js';

/** Just enough of the store for volume preparation: get by key. */
function fakeStore(objects: Map<string, unknown>): Store {
  return { get: async (key: string) => (objects.has(key) ? { key, value: JSON.stringify(objects.get(key)), modRevision: 1, createRevision: 1, version: 1 } : null) } as unknown as Store;
}

const pod: V1Pod = {
  metadata: { name: 'web', namespace: 'ns', uid: 'u1' },
  spec: {
    serviceAccountName: 'default',
    containers: [{ name: 'c', image: 'busybox' }],
    volumes: [{ name: 'kube-api-access-abcde', projected: { sources: [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
    ] } }],
  },
};
const facts = { nodeCpuCores: 2, nodeMemoryBytes: 1 << 30, nodeName: 'n1', hostIP: '127.0.0.1' } as never;
const token = (t: string): PodToken => ({
  apiVersion: 'kedge.io/v1', kind: 'PodToken', metadata: { namespace: 'ns', name: 'web' }, podUID: 'u1',
  tokens: [{ volume: 'kube-api-access-abcde', path: 'token', token: t, expirationTimestamp: new Date(Date.now() + 3600_000).toISOString() }],
});

describe('projected service account token from the PodToken object', () => {
  it('writes token, ca.crt and namespace; a refreshed token replaces the file atomically', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-sat-'));
    try {
      const objects = new Map<string, unknown>([
        [registryKey('configmaps', 'ns', 'kube-root-ca.crt'), { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': 'CA PEM' } }],
        [registryKey(PODTOKENS_RESOURCE, 'ns', 'web'), token('first.jwt')],
      ]);
      assert.equal(registryKey(PODTOKENS_RESOURCE, 'ns', 'web'), '/registry/podtokens.kedge.io/ns/web');
      const store = fakeStore(objects);
      const vols = await prepareVolumes(store, pod, dir, facts);
      const vdir = vols.get('kube-api-access-abcde')!;
      assert.equal(readFileSync(path.join(vdir, 'token'), 'utf8'), 'first.jwt');
      assert.equal(readFileSync(path.join(vdir, 'ca.crt'), 'utf8'), 'CA PEM');
      assert.equal(readFileSync(path.join(vdir, 'namespace'), 'utf8'), 'ns');
      const before = readlinkSync(path.join(vdir, '..data'));
      objects.set(registryKey(PODTOKENS_RESOURCE, 'ns', 'web'), token('second.jwt'));
      await prepareVolumes(store, pod, dir, facts);
      assert.equal(readFileSync(path.join(vdir, 'token'), 'utf8'), 'second.jwt');
      assert.notEqual(readlinkSync(path.join(vdir, '..data')), before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a written-versions map, a refresh with unchanged content skips the disk; a change is written', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-sat-'));
    try {
      const objects = new Map<string, unknown>([
        [registryKey('configmaps', 'ns', 'kube-root-ca.crt'), { data: { 'ca.crt': 'CA PEM' } }],
        [registryKey(PODTOKENS_RESOURCE, 'ns', 'web'), token('first.jwt')],
      ]);
      const store = fakeStore(objects);
      const written = new Map<string, string>();
      const vdir = (await prepareVolumes(store, pod, dir, facts, written)).get('kube-api-access-abcde')!;
      assert.equal(written.get(vdir), readlinkSync(path.join(vdir, '..data')));
      // the disk is not looked at again for the same content (removed here only to observe that)
      rmSync(vdir, { recursive: true, force: true });
      await prepareVolumes(store, pod, dir, facts, written);
      assert.throws(() => readlinkSync(path.join(vdir, '..data')), /ENOENT/);
      objects.set(registryKey(PODTOKENS_RESOURCE, 'ns', 'web'), token('second.jwt'));
      await prepareVolumes(store, pod, dir, facts, written);
      assert.equal(readFileSync(path.join(vdir, 'token'), 'utf8'), 'second.jwt');
      // without the map every refresh checks the disk (and repairs it)
      rmSync(vdir, { recursive: true, force: true });
      await prepareVolumes(store, pod, dir, facts);
      assert.equal(readFileSync(path.join(vdir, 'token'), 'utf8'), 'second.jwt');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a PodToken the token file is absent; a missing root CA configmap fails the mount', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-sat-'));
    try {
      const objects = new Map<string, unknown>([[registryKey('configmaps', 'ns', 'kube-root-ca.crt'), { data: { 'ca.crt': 'CA PEM' } }]]);
      const vols = await prepareVolumes(fakeStore(objects), pod, dir, facts);
      assert.throws(() => readFileSync(path.join(vols.get('kube-api-access-abcde')!, 'token')), /ENOENT/);
      await assert.rejects(prepareVolumes(fakeStore(new Map()), pod, dir, facts), /kube-root-ca.crt/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
