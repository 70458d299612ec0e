import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStore } from '../storage/sqlite.js';
import { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { createLogger } from '../common/logger.js';
import { ObjectStore } from './objects.js';
import type { StrategyContext } from './registry.js';
import { configMapsDef } from './resources/core.js';
import { createRootCaPublisher } from './root-ca-publisher.js';

const sys = (ns: string): StrategyContext => ({ user: { username: 'system:apiserver', groups: ['system:masters'] }, namespace: ns, dryRun: false, subresource: '' });

test('kube-root-ca.crt: created per namespace, restored when edited, recreated when deleted', async () => {
  const store = await openSqliteStore(':memory:');
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  try {
    const objects = new ObjectStore({ store, feed, namespaces: { namespaceState: async () => 'active' } });
    const pub = createRootCaPublisher({ objects, configMapDef: configMapsDef, systemContext: sys, caPem: 'CA PEM', log: createLogger('test', 'silent') });
    const def = pub.wrapConfigMapDef(configMapsDef);
    const read = async () => ((await objects.get(def, 'ns', 'kube-root-ca.crt')).obj as { data?: Record<string, string> }).data;
    await pub.ensure('ns');
    assert.deepEqual(await read(), { 'ca.crt': 'CA PEM' });
    await pub.ensure('ns'); // idempotent
    await objects.update(def, 'ns', 'kube-root-ca.crt', sys('ns'), (o) => ({ ...o, data: { 'ca.crt': 'forged' } }) as never);
    await pub.ensure('ns');
    assert.deepEqual(await read(), { 'ca.crt': 'CA PEM' });
    assert.equal((await objects.delete(def, 'ns', 'kube-root-ca.crt', {} as never, sys('ns'))).deleted, true);
    let data: Record<string, string> | undefined;
    for (let i = 0; i < 100 && !data; i++) { await new Promise((r) => setTimeout(r, 20)); data = await read().catch(() => undefined); }
    assert.deepEqual(data, { 'ca.crt': 'CA PEM' });
  } finally {
    feed.close();
    await store.close();
  }
});
