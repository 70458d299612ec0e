import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { KubeApi, ObjectRef } from './client.js';
import { ApiEventRecorder } from './events.js';

/** Just the two calls the recorder makes, over a map of stored Events; creates answer after `delayMs`. */
function eventApi(delayMs: number) {
  const stored = new Map<string, CoreV1Event>();
  const notFound = () => Object.assign(new Error('not found'), { code: 404 });
  const api = {
    async create<T extends KubernetesObject>(obj: T): Promise<T> {
      await new Promise((r) => setTimeout(r, delayMs));
      stored.set(obj.metadata!.name!, obj as unknown as CoreV1Event);
      return obj;
    },
    async patch<T extends KubernetesObject>(ref: ObjectRef, patch: object): Promise<T> {
      const cur = stored.get(ref.name);
      if (!cur) throw notFound();
      const next = { ...cur, ...patch };
      stored.set(ref.name, next);
      return next as unknown as T;
    },
  } as unknown as KubeApi;
  return { api, stored };
}

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', uid: 'u1' } };

test('a burst of identical events is one Event with the full count: updates wait for the create they count on', async () => {
  const { api, stored } = eventApi(20);
  const r = new ApiEventRecorder(api, 'kedge-scheduler');
  for (let i = 0; i < 7; i++) r.event(pod, 'Warning', 'FailedScheduling', '0/2 nodes are available: 2 node(s) didn\'t match Pod\'s node affinity/selector.');
  await r.flush();
  assert.equal(stored.size, 1);
  const ev = [...stored.values()][0]!;
  assert.equal(ev.count, 7);
  assert.equal(ev.involvedObject.name, 'web');
  assert.equal(ev.source?.component, 'kedge-scheduler');
});

test('an update of an Event that expired meanwhile writes it anew with its count', async () => {
  const { api, stored } = eventApi(0);
  const r = new ApiEventRecorder(api, 'c');
  r.event(pod, 'Normal', 'Scaled', 'x');
  await r.flush();
  stored.clear(); // the API server's event TTL
  r.event(pod, 'Normal', 'Scaled', 'x');
  await r.flush();
  assert.equal([...stored.values()][0]!.count, 2);
});
