/** The pod manager's reconcile logic against the in-memory FakeRuntime (no containerd needed). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { openSqliteStore, type SqliteStore } from '../../storage/sqlite.js';
import { FakeRuntime } from '../../runtime/fake.js';
import { createLogger } from '../../common/logger.js';
import { PodManager } from './pod-manager.js';

describe('PodManager with the fake runtime', () => {
  let dir: string;
  let store: SqliteStore;
  let rt: FakeRuntime;
  let pm: PodManager | undefined;
  const statuses = new Map<string, V1PodStatus>();
  const start = () =>
    PodManager.start({
      nodeName: 'n1',
      dataDir: dir,
      store,
      runtime: rt,
      podStatus: { setPodStatus: (_ns, name, _uid, s) => void statuses.set(name, s) },
      events: { recordEvent: () => undefined },
      log: createLogger('pm-unit', 'silent'),
      syncIntervalMs: 50,
      backoffBaseMs: 300,
      backoffMaxMs: 600,
      nodeIP: '192.0.2.10',
      reservationDir: path.join(dir, 'resv'),
    });
  const waitFor = async <T>(what: string, fn: () => T | undefined | false): Promise<T> => {
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const v = fn();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out: ${what}`);
  };
  const mkPod = (name: string, image: string, cmd: string[], node = 'n1'): V1Pod => ({
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { nodeName: node, containers: [{ name: 'main', image, command: cmd }] },
  });
  const put = (p: V1Pod) => store.create(`/registry/pods/default/${p.metadata!.name}`, JSON.stringify(p));
  const cs = (name: string) => statuses.get(name)?.containerStatuses?.[0];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-pm-'));
    store = await openSqliteStore(path.join(dir, 'db'));
    rt = new FakeRuntime({ unpullable: new Set(['bad/image:1']), crashMarker: 'CRASH' });
    rt.addImage('app:1');
    pm = await start();
  });
  after(async () => {
    await pm?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs pods bound to this node only, with pod IP and host IP', async () => {
    await put(mkPod('a', 'app:1', ['serve']));
    await put(mkPod('other', 'app:1', ['serve'], 'n2'));
    const s = await waitFor('a running', () => statuses.get('a')?.phase === 'Running' && statuses.get('a'));
    assert.equal(s.hostIP, '192.0.2.10');
    assert.match(s.podIP ?? '', /^10\.244\./);
    assert.equal(cs('a')!.ready, true);
    assert.equal(statuses.has('other'), false);
    assert.equal((await rt.listPodSandbox()).length, 1);
  });

  it('restarts a crashing container with back-off (CrashLoopBackOff, restartCount grows)', async () => {
    await put(mkPod('c', 'app:1', ['CRASH']));
    await waitFor('crashloop', () => cs('c')?.state?.waiting?.reason === 'CrashLoopBackOff' && cs('c')!.restartCount >= 1);
    assert.equal(cs('c')!.lastState?.terminated?.exitCode, 1);
    await waitFor('restart count 2', () => (cs('c')?.restartCount ?? 0) >= 2);
  });

  it('reports ErrImagePull then ImagePullBackOff for an unpullable image', async () => {
    await put(mkPod('i', 'bad/image:1', ['x']));
    await waitFor('ErrImagePull', () => cs('i')?.state?.waiting?.reason === 'ErrImagePull');
    await waitFor('ImagePullBackOff', () => cs('i')?.state?.waiting?.reason === 'ImagePullBackOff');
  });

  it('a new pod manager adopts running containers instead of restarting them, and never reruns a finished pod', async () => {
    const once = mkPod('once', 'app:1', ['CRASH']);
    once.spec!.restartPolicy = 'Never';
    await put(once);
    await waitFor('once Failed', () => statuses.get('once')?.phase === 'Failed');
    const sandboxesBefore = rt.sandboxes.size;
    const id = cs('a')!.containerID;
    await pm!.stop();
    statuses.clear();
    pm = await start();
    await waitFor('a reported again', () => cs('a')?.state?.running);
    assert.equal(cs('a')!.containerID, id);
    assert.equal(cs('a')!.restartCount, 0);
    await waitFor('once reported again', () => statuses.get('once')?.phase === 'Failed');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(cs('once')!.restartCount, 0);
    assert.equal(cs('once')!.state?.terminated?.exitCode, 1);
    assert.equal(rt.sandboxes.size, sandboxesBefore, 'no new sandbox for a finished pod');
  });

  it('a container killed meanwhile is restarted from the local store', async () => {
    const id = cs('a')!.containerID!.replace('containerd://', '');
    rt.killContainer(id, 137);
    await waitFor('a restarted', () => cs('a')?.state?.running && cs('a')!.restartCount === 1);
    assert.equal(cs('a')!.lastState?.terminated?.exitCode, 137);
  });

  it('keeps startTime and condition transition times the cloud already has', async () => {
    const p = mkPod('seeded', 'app:1', ['serve']);
    p.status = { startTime: '2026-01-02T03:04:05Z' as never, conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-02T03:04:00Z' as never }] };
    await put(p);
    const s = await waitFor('seeded running', () => statuses.get('seeded')?.phase === 'Running' && statuses.get('seeded'));
    assert.equal(String(s.startTime), '2026-01-02T03:04:05Z');
    assert.equal(String(s.conditions!.find((c) => c.type === 'PodScheduled')!.lastTransitionTime), '2026-01-02T03:04:00Z');
  });

  it('keeps no second copy of a reported status: the stored one is dropped once seeded, a digest marks the last report', async () => {
    const key = '/registry/pods/default/seeded';
    const cur = (await store.get(key))!;
    // the agent records its own report in the store (recordOwnPodStatus); the pod manager sees that write
    await store.update(key, JSON.stringify({ ...JSON.parse(cur.value), status: statuses.get('seeded') }), cur.modRevision);
    const internals = pm as unknown as { desired: Map<string, V1Pod>; state: Map<string, { lastReported?: string }> };
    await waitFor('status dropped from the desired copy', () => internals.desired.get('uid-seeded') && internals.desired.get('uid-seeded')!.status === undefined);
    assert.ok((internals.state.get('uid-seeded')!.lastReported ?? '').length < 40, 'a digest, not the JSON');
    assert.deepEqual(pm!.containerLogLocation('default', 'seeded', 'main')?.attempt, 0, 'kubectl logs still finds the attempt');
    assert.equal(pm!.containerLogLocation('default', 'seeded', 'constructor')?.attempt, undefined);
    // an unchanged status is still not reported again, a changed one is
    const before = statuses.get('seeded');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(statuses.get('seeded'), before);
  });

  it('bad input shows the upstream reasons and does not disturb other pods', async () => {
    const bad = mkPod('badvol', 'app:1', ['x']);
    bad.spec!.volumes = [{ name: 'h', hostPath: { path: '/definitely/not/here', type: 'Directory' } }];
    bad.spec!.containers[0]!.volumeMounts = [{ name: 'h', mountPath: '/h' }];
    await put(bad);
    const q = mkPod('badqty', 'app:1', ['x']);
    q.spec!.containers[0]!.resources = { limits: { memory: 'lots' } };
    await put(q);
    const nv = mkPod('novol', 'app:1', ['x']);
    nv.spec!.containers[0]!.volumeMounts = [{ name: 'ghost', mountPath: '/g' }];
    await put(nv);
    await waitFor('badvol waiting', () => cs('badvol')?.state?.waiting?.reason === 'ContainerCreating' && /not exist/.test(cs('badvol')!.state!.waiting!.message ?? ''));
    await waitFor('badqty config error', () => cs('badqty')?.state?.waiting?.reason === 'CreateContainerConfigError');
    await waitFor('novol config error', () => cs('novol')?.state?.waiting?.reason === 'CreateContainerConfigError' && /ghost/.test(cs('novol')!.state!.waiting!.message ?? ''));
    assert.equal(statuses.get('a')?.phase, 'Running');
  });

  it('rejects a pod asking for a host port another pod holds (Failed, NodePorts); the first keeps running', async () => {
    const first = mkPod('hp1', 'app:1', ['serve']);
    first.metadata!.creationTimestamp = '2026-01-01T00:00:00Z' as never;
    first.spec!.containers[0]!.ports = [{ containerPort: 80, hostPort: 8088 }];
    await put(first);
    await waitFor('hp1 running', () => statuses.get('hp1')?.phase === 'Running');
    const second = mkPod('hp2', 'app:1', ['serve']);
    second.metadata!.creationTimestamp = '2026-01-01T00:00:01Z' as never;
    second.spec!.containers[0]!.ports = [{ containerPort: 80, hostPort: 8088, protocol: 'TCP' }];
    await put(second);
    const s = await waitFor('hp2 rejected', () => statuses.get('hp2')?.phase === 'Failed' && statuses.get('hp2'));
    assert.equal(s.reason, 'NodePorts');
    assert.ok(![...rt.sandboxes.values()].some((sb) => sb.metadata.name === 'hp2'), 'never started');
    assert.equal(statuses.get('hp1')?.phase, 'Running');
  });

  it('tears down pods removed from the store', async () => {
    await store.delete('/registry/pods/default/a');
    await waitFor('sandbox gone', () => rt.sandboxes.size > 0 && ![...rt.sandboxes.values()].some((s) => s.metadata.name === 'a'));
  });
});

describe('PodManager: a volume source that arrives after its pod', () => {
  it('starts the pod when the configmap arrives, without waiting for the periodic sync', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-pm-src-'));
    const store = await openSqliteStore(path.join(dir, 'db'));
    const rt = new FakeRuntime();
    rt.addImage('app:1');
    const statuses = new Map<string, V1PodStatus>();
    // The periodic sync is a minute away (as on a hollow node): only the configmap's arrival can start the pod in time.
    const pm = await PodManager.start({
      nodeName: 'n1', dataDir: dir, store, runtime: rt,
      podStatus: { setPodStatus: (_ns, name, _uid, s) => void statuses.set(name, s) },
      events: { recordEvent: () => undefined },
      log: createLogger('pm-unit', 'silent'),
      syncIntervalMs: 60_000, nodeIP: '192.0.2.10', reservationDir: path.join(dir, 'resv'),
    });
    try {
      const pod: V1Pod = {
        metadata: { name: 'cm-later', namespace: 'default', uid: 'uid-cm-later' },
        spec: {
          nodeName: 'n1',
          containers: [{ name: 'main', image: 'app:1', command: ['serve'], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
          volumes: [{ name: 'cfg', configMap: { name: 'settings' } }],
        },
      };
      await store.create('/registry/pods/default/cm-later', JSON.stringify(pod));
      const until = async (what: string, ok: () => boolean, ms: number) => {
        const end = Date.now() + ms;
        while (!ok()) {
          if (Date.now() > end) throw new Error(`timed out: ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until('waiting on its volume', () => /settings/.test(statuses.get('cm-later')?.containerStatuses?.[0]?.state?.waiting?.message ?? ''), 5_000);
      await store.create('/registry/configmaps/default/settings', JSON.stringify({ metadata: { name: 'settings', namespace: 'default' }, data: { a: '1' } }));
      await until('running once the configmap is there', () => statuses.get('cm-later')?.phase === 'Running', 5_000);
    } finally {
      await pm.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
