import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from './cluster.js';

const c = new TestCluster('controllers-gc');

before(async () => {
  await c.start();
  await c.addNodes('node', 3, (i) => ({ subnet: 40 + i }));
});
after(() => c.stop());

const list = async (kind: string, app: string) =>
  (await c.json<{ items: any[] }>(['get', kind, '-l', `app=${app}`])).items.filter((o) => !o.metadata.deletionTimestamp);

async function deployment(name: string) {
  await c.kubectl(['create', 'deployment', name, '--image=nginx:1.25', '--replicas=2']);
  await c.kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=60s']);
  assert.equal((await list('rs', name)).length, 1);
  assert.equal((await list('pods', name)).length, 2);
}

test('kubectl delete --cascade=background: the Deployment goes at once, ReplicaSet and pods follow', async () => {
  await deployment('bg');
  await c.kubectl(['delete', 'deployment', 'bg', '--cascade=background']);
  await waitFor('everything gone', async () => (await list('rs', 'bg')).length === 0 && (await c.json<{ items: any[] }>(['get', 'pods', '-l', 'app=bg'])).items.length === 0);
  assert.match(await c.kubectl(['get', 'deployment', 'bg', '--ignore-not-found']), /^$/);
});

test('kubectl delete --cascade=foreground: dependents are deleted before the Deployment', async () => {
  await deployment('fg');
  // A finalizer on one pod holds the cascade, so we can watch the intermediate state upstream shows.
  const held = (await list('pods', 'fg'))[0].metadata.name;
  await c.kubectl(['patch', 'pod', held, '--type=merge', '-p', JSON.stringify({ metadata: { finalizers: ['example.com/hold'] } })]);
  await c.kubectl(['delete', 'deployment', 'fg', '--cascade=foreground', '--wait=false']);
  await waitFor('the other pod deleted', async () => (await c.json<{ items: any[] }>(['get', 'pods', '-l', 'app=fg'])).items.length === 1);
  const dep = await c.json(['get', 'deployment', 'fg']);
  assert.ok(dep.metadata.deletionTimestamp, 'Deployment marked for deletion');
  assert.deepEqual(dep.metadata.finalizers, ['foregroundDeletion']);
  const rs = (await c.json<{ items: any[] }>(['get', 'rs', '-l', 'app=fg'])).items;
  assert.equal(rs.length, 1);
  assert.ok(rs[0].metadata.deletionTimestamp && rs[0].metadata.finalizers.includes('foregroundDeletion'), 'ReplicaSet deleted in foreground too');
  await c.kubectl(['patch', 'pod', held, '--type=merge', '-p', JSON.stringify({ metadata: { finalizers: null } })]);
  await waitFor('deployment gone', async () => (await c.kubectl(['get', 'deployment', 'fg', '--ignore-not-found'])).trim() === '');
  assert.equal((await c.json<{ items: any[] }>(['get', 'rs', '-l', 'app=fg'])).items.length, 0, 'no ReplicaSet left');
  await waitFor('pods gone', async () => (await c.json<{ items: any[] }>(['get', 'pods', '-l', 'app=fg'])).items.length === 0);
});

test('kubectl delete --cascade=orphan: the ReplicaSet and pods stay, without the owner reference', async () => {
  await deployment('or');
  const rsBefore = (await list('rs', 'or'))[0];
  const podsBefore = (await list('pods', 'or')).map((p) => p.metadata.uid).sort();
  await c.kubectl(['delete', 'deployment', 'or', '--cascade=orphan']);
  await waitFor('deployment gone', async () => (await c.kubectl(['get', 'deployment', 'or', '--ignore-not-found'])).trim() === '');
  await waitFor('owner reference removed', async () => !(await list('rs', 'or'))[0]?.metadata.ownerReferences);
  const rs = await list('rs', 'or');
  assert.equal(rs.length, 1);
  assert.equal(rs[0].metadata.uid, rsBefore.metadata.uid);
  assert.match(await c.kubectl(['get', 'rs', rsBefore.metadata.name]), /\s2\s+2\s+2\s/);
  // Give the collector time to (wrongly) act, then check nothing else changed.
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual((await list('pods', 'or')).map((p) => p.metadata.uid).sort(), podsBefore, 'same pods, still owned by the ReplicaSet');
  assert.ok((await list('pods', 'or')).every((p) => p.metadata.ownerReferences[0].uid === rsBefore.metadata.uid));
  // As upstream, a new Deployment with the same selector adopts the orphaned ReplicaSet instead of duplicating it.
  await c.kubectl(['create', 'deployment', 'or', '--image=nginx:1.25', '--replicas=2']);
  await c.kubectl(['rollout', 'status', 'deployment/or', '--timeout=60s']);
  const adopted = await list('rs', 'or');
  assert.equal(adopted.length, 1, 'no second ReplicaSet');
  assert.equal(adopted[0].metadata.uid, rsBefore.metadata.uid);
  assert.equal(adopted[0].metadata.ownerReferences[0].kind, 'Deployment');
  assert.deepEqual((await list('pods', 'or')).map((p) => p.metadata.uid).sort(), podsBefore, 'same pods after adoption');
});
