import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { containerQuantity, InvalidQuantityError, linuxResources, qosClass } from './resources.js';
import { integerValue, milliValue } from '../../common/quantity.js';
import { expandVars } from './env.js';
import { parseCriLine, readContainerLogs } from './logs.js';
import { writeAtomicDir } from './volumes.js';
import { Backoff } from './backoff.js';
import { effectivePullPolicy } from './images.js';

const pod = (containers: NonNullable<V1Pod['spec']>['containers']): V1Pod => ({ metadata: { name: 'p', uid: 'u' }, spec: { containers } });

describe('resources', () => {
  it('parses quantities', () => {
    assert.equal(milliValue(containerQuantity('100m')!), 100n);
    assert.equal(integerValue(containerQuantity('64Mi')!), 64n * 1024n * 1024n);
    assert.equal(integerValue(containerQuantity('1G')!), 1_000_000_000n);
    assert.equal(integerValue(containerQuantity(2)!), 2n);
    assert.throws(() => containerQuantity('12 parsecs'), InvalidQuantityError);
  });
  it('classifies QoS like the kubelet', () => {
    assert.equal(qosClass(pod([{ name: 'a' }])), 'BestEffort');
    // Pods arrive defaulted by the API server (requests copied from limits); 1 and 1000m are the same amount.
    assert.equal(qosClass(pod([{ name: 'a', resources: { requests: { cpu: '1000m', memory: '1Gi' }, limits: { cpu: '1', memory: '1024Mi' } } }])), 'Guaranteed');
    assert.equal(qosClass(pod([{ name: 'a', resources: { requests: { cpu: '1' } } }])), 'Burstable');
  });
  it('maps requests/limits to cgroup settings', () => {
    const p = pod([{ name: 'a', resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } } }]);
    const r = linuxResources(p, p.spec!.containers[0]!, 1024 * 1024 * 1024);
    assert.equal(r.cpuShares, 256);
    assert.equal(r.cpuQuota, 50_000);
    assert.equal(r.cpuPeriod, 100_000);
    assert.equal(r.memoryLimitInBytes, 128 * 1024 * 1024);
    assert.equal(r.oomScoreAdj, 938);
  });
});

describe('env expansion', () => {
  it('expands $(VAR), keeps unknown references, unescapes $$', () => {
    const vars = new Map([['A', 'x']]);
    assert.equal(expandVars('$(A)-$(B)-$$(A)', vars), 'x-$(B)-$(A)');
  });
});

describe('image pull policy default', () => {
  it('is Always for :latest or untagged, IfNotPresent otherwise', () => {
    assert.equal(effectivePullPolicy({ name: 'a', image: 'busybox' }), 'Always');
    assert.equal(effectivePullPolicy({ name: 'a', image: 'busybox:latest' }), 'Always');
    assert.equal(effectivePullPolicy({ name: 'a', image: 'reg:5000/busybox:1' }), 'IfNotPresent');
    assert.equal(effectivePullPolicy({ name: 'a', image: 'busybox', imagePullPolicy: 'Never' }), 'Never');
  });
});

describe('back-off', () => {
  it('doubles up to the cap and resets', () => {
    const b = new Backoff(10, 40);
    assert.equal(b.next('k', 0), 10);
    assert.equal(b.next('k', 0), 20);
    assert.equal(b.next('k', 0), 40);
    assert.equal(b.next('k', 0), 40);
    assert.ok(b.inBackoff('k', 39));
    assert.ok(!b.inBackoff('k', 40));
    b.reset('k');
    assert.equal(b.next('k', 0), 10);
  });
});

describe('CRI logs', () => {
  it('parses CRI log lines', () => {
    assert.deepEqual(parseCriLine('2026-01-01T00:00:00.1Z stdout F hello world'), { time: '2026-01-01T00:00:00.1Z', stream: 'stdout', partial: false, text: 'hello world' });
    assert.equal(parseCriLine('2026-01-01T00:00:00Z stderr P part')!.partial, true);
    assert.equal(parseCriLine('garbage'), null);
  });
  it('reads tail, since, timestamps, previous and rotated files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-logs-'));
    try {
      const c = path.join(dir, 'logs', 'main');
      mkdirSync(c, { recursive: true });
      writeFileSync(path.join(c, '0.log'), '2026-01-01T00:00:00Z stdout F first-life\n');
      writeFileSync(path.join(c, '1.log.20260101-000001'), '2026-01-01T00:01:00Z stdout F a\n2026-01-01T00:02:00Z stderr F b\n');
      writeFileSync(path.join(c, '1.log'), '2026-01-01T00:03:00Z stdout P c1\n2026-01-01T00:03:00Z stdout F c2\n2026-01-01T00:04:00Z stdout F d\n');
      const read = async (attempt: number | undefined, o: Parameters<typeof readContainerLogs>[3]) => {
        let s = '';
        await readContainerLogs(dir, 'main', attempt, o, (x) => (s += x));
        return s;
      };
      assert.equal(await read(1, {}), 'a\nb\nc1c2\nd\n');
      assert.equal(await read(1, { tailLines: 1 }), 'd\n');
      assert.equal(await read(1, { sinceTime: new Date('2026-01-01T00:02:30Z') }), 'c1c2\nd\n');
      assert.equal(await read(1, { previous: true, timestamps: true }), '2026-01-01T00:00:00Z first-life\n');
      await assert.rejects(read(0, { previous: true }), /previous terminated container "main" not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('atomic volume writer', () => {
  it('swaps ..data in one step and drops removed keys', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-vol-'));
    try {
      await writeAtomicDir(dir, new Map([['a', { data: Buffer.from('1'), mode: 0o644 }], ['b', { data: Buffer.from('2'), mode: 0o600 }]]));
      assert.equal(readFileSync(path.join(dir, 'a'), 'utf8'), '1');
      const first = readlinkSync(path.join(dir, '..data'));
      await writeAtomicDir(dir, new Map([['a', { data: Buffer.from('3'), mode: 0o644 }]]));
      assert.equal(readFileSync(path.join(dir, 'a'), 'utf8'), '3');
      assert.notEqual(readlinkSync(path.join(dir, '..data')), first);
      assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('..')), ['a']);
      await assert.rejects(writeAtomicDir(dir, new Map([['../escape', { data: Buffer.from('x'), mode: 0o644 }]])), /invalid path/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('image GC', () => {
  it('removes unused, unpinned images (largest first) only above the high threshold', async () => {
    const { FakeRuntime } = await import('../../runtime/fake.js');
    const { collectImages } = await import('./gc.js');
    const rt = new FakeRuntime();
    rt.addImage('kedge.local/pause:1', 100);
    rt.addImage('big:1', 500);
    rt.addImage('small:1', 50);
    rt.addImage('used:1', 900);
    const sc = { metadata: { name: 'p', uid: 'u', namespace: 'd' } };
    const sb = await rt.runPodSandbox(sc);
    await rt.createContainer(sb, { metadata: { name: 'c' }, image: { image: 'used:1' } }, sc);
    const policy = { highPercent: 85, lowPercent: 80, pinned: ['docker.io/kedge.local/pause:1', 'kedge.local/pause:1'] };
    const calm = await collectImages(rt, policy, async () => ({ capacity: 10_000, available: 5_000 }));
    assert.deepEqual(calm.removed, []);
    const r = await collectImages(rt, policy, async () => ({ capacity: 10_000, available: 1_000 })); // 90 % used: free ≥ 1000
    assert.deepEqual(r.removed, ['docker.io/library/big:1', 'docker.io/library/small:1']);
    assert.ok(await rt.imageStatus('used:1'));
    assert.ok(await rt.imageStatus('kedge.local/pause:1'));
  });
});

describe('log rotation and follow', () => {
  it('rotates past the size limit, keeps maxFiles, and follow picks up new lines', async () => {
    const { FakeRuntime } = await import('../../runtime/fake.js');
    const { rotateIfNeeded } = await import('./logs.js');
    const { appendFileSync } = await import('node:fs');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-rot-'));
    try {
      const rt = new FakeRuntime();
      rt.addImage('app:1');
      const sc = { metadata: { name: 'p', uid: 'u', namespace: 'd' } };
      const id = await rt.createContainer(await rt.runPodSandbox(sc), { metadata: { name: 'main' }, image: { image: 'app:1' } }, sc);
      const c = path.join(dir, 'logs', 'main');
      mkdirSync(c, { recursive: true });
      const live = path.join(c, '0.log');
      const policy = { maxBytes: 100, maxFiles: 2 };
      writeFileSync(live, '2026-01-01T00:00:00Z stdout F small\n');
      assert.equal(await rotateIfNeeded(rt, id, live, policy), false);
      assert.equal(await rotateIfNeeded(rt, id, path.join(c, 'never-written.log'), policy), false, 'no log yet: nothing to rotate');
      assert.equal(await rotateIfNeeded(rt, id, path.join(live, 'not-a-dir.log'), policy), false, 'ENOTDIR: left alone');
      for (let i = 0; i < 3; i++) {
        writeFileSync(live, `2026-01-01T00:00:0${i}Z stdout F ${'x'.repeat(120)}\n`);
        assert.equal(await rotateIfNeeded(rt, id, live, policy), true);
        await new Promise((r) => setTimeout(r, 5)); // distinct rotation stamps
      }
      assert.equal(readdirSync(c).filter((n) => n.startsWith('0.log.')).length, 2);

      writeFileSync(live, '2026-01-01T00:01:00Z stdout F one\n');
      const ac = new AbortController();
      let got = '';
      const done = readContainerLogs(dir, 'main', 0, { follow: true, tailLines: 0, signal: ac.signal }, (s) => (got += s));
      await new Promise((r) => setTimeout(r, 300));
      appendFileSync(live, '2026-01-01T00:01:01Z stdout F two\n');
      const end = Date.now() + 5000;
      while (!got.includes('two') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await done;
      assert.equal(got, 'two\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('image pulls', () => {
  it('uses the pod\'s dockerconfigjson pull secret for the image\'s registry', async () => {
    const { FakeRuntime } = await import('../../runtime/fake.js');
    const { ImagePuller } = await import('./images.js');
    const { openSqliteStore } = await import('../../storage/sqlite.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-pull-'));
    const store = await openSqliteStore(path.join(dir, 'db'));
    try {
      const seen: { image: string; user?: string; server?: string }[] = [];
      const rt = new FakeRuntime({ onPull: (image, auth) => void seen.push({ image, user: auth?.username, server: auth?.serverAddress }) });
      const cfg = { auths: { 'registry.example.com:5000': { username: 'robot', password: 'pw' } } };
      await store.create('/registry/secrets/default/regcred', JSON.stringify({ metadata: { name: 'regcred', namespace: 'default' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(JSON.stringify(cfg)).toString('base64') } }));
      const pod: V1Pod = { metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { imagePullSecrets: [{ name: 'regcred' }], containers: [] } };
      const puller = new ImagePuller(rt, store, 1000, 2000);
      const r1 = await puller.ensure(pod, { name: 'a', image: 'registry.example.com:5000/team/app:2' }, () => undefined);
      const r2 = await puller.ensure(pod, { name: 'b', image: 'other.example.org/app:1' }, () => undefined);
      assert.ok(r1.ok && r2.ok);
      assert.deepEqual(seen, [
        { image: 'registry.example.com:5000/team/app:2', user: 'robot', server: 'registry.example.com:5000' },
        { image: 'other.example.org/app:1', user: undefined, server: undefined },
      ]);
      // IfNotPresent: a present image is not pulled again.
      await puller.ensure(pod, { name: 'a', image: 'registry.example.com:5000/team/app:2' }, () => undefined);
      assert.equal(seen.length, 2);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('probe state', () => {
  it('gates liveness/readiness on the startup probe and honours thresholds and periods', async () => {
    const { ProbeState } = await import('./probes.js');
    const ps = new ProbeState({
      name: 'c',
      startupProbe: { exec: { command: ['x'] }, periodSeconds: 1, failureThreshold: 2 },
      readinessProbe: { exec: { command: ['x'] }, periodSeconds: 2, successThreshold: 2, failureThreshold: 1 },
      livenessProbe: { exec: { command: ['x'] }, periodSeconds: 1, initialDelaySeconds: 5, failureThreshold: 2 },
    });
    assert.deepEqual(ps.due(0, 0), ['startup']);
    ps.begin('startup', 0);
    assert.deepEqual(ps.due(500, 0), [], 'in flight');
    assert.equal(ps.record('startup', true), true);
    assert.equal(ps.started, true);
    assert.deepEqual(ps.due(1000, 0), ['readiness'], 'liveness waits for initialDelaySeconds');
    ps.begin('readiness', 1000);
    ps.record('readiness', true);
    assert.equal(ps.ready, false, 'successThreshold 2');
    assert.deepEqual(ps.due(2000, 0), [], 'readiness period 2 s');
    ps.begin('readiness', 3000);
    assert.equal(ps.record('readiness', true), true);
    assert.equal(ps.ready, true);
    ps.begin('readiness', 5000);
    assert.equal(ps.record('readiness', false), true);
    assert.equal(ps.ready, false);
    ps.begin('liveness', 6000);
    assert.equal(ps.record('liveness', false), false);
    ps.begin('liveness', 7000);
    assert.equal(ps.record('liveness', false), true);
    assert.equal(ps.unhealthy, 'liveness');
  });
});
