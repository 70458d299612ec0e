import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { KubeClient } from '../common/kube-client.js';
import { createLogger } from '../common/logger.js';
import { objectKey } from '../protocol/keys.js';
import { SharedCache, type CachedObject } from './cache.js';
import { DesiredSets, EDGE_ROLE_LABEL } from './desired.js';
import { PodTokenManager, podTokenKey, type TokenRequester } from './pod-tokens.js';

const log = createLogger('test', 'silent');
const pod = (name: string, node: string, uid: string): CachedObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', uid, resourceVersion: uid },
  spec: {
    nodeName: node, serviceAccountName: 'default', containers: [{ name: 'c', image: 'i' }],
    volumes: [{ name: 'kube-api-access-abcde', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } },
      { name: 'vault', projected: { sources: [{ serviceAccountToken: { path: 'vt', audience: 'vault', expirationSeconds: 600 } }] } }],
  },
}) as unknown as CachedObject;
const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, uid: name, resourceVersion: '1', labels: { [EDGE_ROLE_LABEL]: '' } } }) as unknown as CachedObject;

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) { const v = f(); if (v) return v; await new Promise((r) => setTimeout(r, 20)); }
  throw new Error(`timed out waiting for ${what}`);
}

test('bound tokens per projected source reach only the pod\'s node, are refreshed, and go with the pod', async () => {
  const cache = new SharedCache(KubeClient.fromConfig({ server: 'http://127.0.0.1:1' }), log);
  const desired = new DesiredSets(cache);
  const calls: Array<{ ns: string; sa: string; spec: Parameters<TokenRequester>[2] }> = [];
  let lifetimeMs = 3_600_000;
  let fail = 1;
  const request: TokenRequester = async (ns, sa, spec) => {
    if (fail-- > 0) throw new Error('API unavailable'); // the first attempt fails: retried
    calls.push({ ns, sa, spec });
    return { token: `tok-${calls.length}`, expirationTimestamp: new Date(Date.now() + lifetimeMs) };
  };
  const mgr = new PodTokenManager(cache, request, log);
  try {
    cache.inject('nodes', 'upsert', node('n1'));
    cache.inject('nodes', 'upsert', node('n2'));
    cache.inject('pods', 'upsert', pod('web', 'n1', 'u1'));
    const key = podTokenKey('ns', 'web');
    assert.equal(key, '/registry/podtokens.kedge.io/ns/web');
    const tok = await until('token published', () => cache.get(key)) as unknown as { podUID: string; tokens: Array<{ volume: string; path: string; audience?: string; token: string }> };
    assert.equal(tok.podUID, 'u1');
    assert.deepEqual(tok.tokens.map((t) => [t.volume, t.path, t.audience, t.token]), [['kube-api-access-abcde', 'token', undefined, 'tok-1'], ['vault', 'vt', 'vault', 'tok-2']]);
    assert.deepEqual(calls[0], { ns: 'ns', sa: 'default', spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'u1' } } });
    assert.deepEqual(calls[1]!.spec.audiences, ['vault']);
    assert.equal(desired.canRead('n1', key), true);
    assert.equal(desired.canRead('n2', key), false);

    // Refresh at 80 % of the lifetime: a short-lived token is replaced by a newer object (new resourceVersion).
    lifetimeMs = 1_500;
    cache.inject('pods', 'upsert', { ...pod('web', 'n1', 'u2'), metadata: { ...pod('web', 'n1', 'u2').metadata, resourceVersion: 'x' } } as CachedObject);
    const first = await until('token for the new pod uid', () => { const o = cache.get(key) as unknown as { podUID: string } | undefined; return o?.podUID === 'u2' ? cache.get(key) : undefined; });
    const refreshed = await until('refresh', () => { const o = cache.get(key); return o && o.metadata.resourceVersion !== first.metadata.resourceVersion ? o : undefined; });
    assert.notDeepEqual((refreshed as unknown as { tokens: unknown[] }).tokens, (first as unknown as { tokens: unknown[] }).tokens);

    cache.inject('pods', 'delete', cache.get(objectKey('pods', 'ns', 'web'))!);
    await until('token dropped', () => !cache.get(key));
    assert.equal(desired.canRead('n1', key), false);
    assert.equal(desired.view('n1')!.entries.get(key)?.deleted, true);
  } finally {
    mgr.stop();
  }
});

test('pods without projected token sources, unbound or finished pods get no token', async () => {
  const cache = new SharedCache(KubeClient.fromConfig({ server: 'http://127.0.0.1:1' }), log);
  let called = 0;
  const mgr = new PodTokenManager(cache, async () => { called++; return { token: 't', expirationTimestamp: new Date(Date.now() + 3_600_000) }; }, log);
  try {
    const plain = pod('plain', 'n1', 'p1') as unknown as V1Pod; plain.spec!.volumes = [];
    const unbound = pod('unbound', '', 'p2');
    const done = pod('done', 'n1', 'p3') as unknown as V1Pod; done.status = { phase: 'Succeeded' };
    for (const p of [plain, unbound, done]) cache.inject('pods', 'upsert', p as unknown as CachedObject);
    cache.inject('pods', 'upsert', pod('marker', 'n1', 'p4'));
    await until('marker token', () => cache.get(podTokenKey('ns', 'marker')));
    assert.equal(called, 2); // the marker's two sources only
    for (const n of ['plain', 'unbound', 'done']) assert.equal(cache.get(podTokenKey('ns', n)), undefined);
  } finally {
    mgr.stop();
  }
});
