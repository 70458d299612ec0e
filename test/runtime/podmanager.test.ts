/**
 * The edge pod manager against a real containerd (CRI v1, runc, CNI bridge), driven from a real
 * SQLite local store: pods run, get config from configmaps/secrets, probes restart and un-ready
 * containers, bad images back off, deletion is graceful, a restarted pod manager adopts what runs,
 * and a recreated sandbox keeps its pod IP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { CoreV1Event, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { openSqliteStore, type SqliteStore } from '../../src/storage/sqlite.js';
import { PodManager } from '../../src/edge/podmanager/pod-manager.js';
import { readContainerLogs } from '../../src/edge/podmanager/logs.js';
import { createLogger } from '../../src/common/logger.js';
import { skipReason, startRuntime, type RuntimeFixture } from './env.js';

const NODE = 'edge-rt-1';
const skip = skipReason();
if (skip) console.log(`# skipping runtime suite: ${skip}`);

describe('pod manager on containerd', { skip, timeout: 600_000 }, () => {
  let fx: RuntimeFixture;
  let store: SqliteStore;
  let dataDir: string;
  let pm: PodManager | undefined;
  const statuses = new Map<string, V1PodStatus>();
  const events: CoreV1Event[] = [];
  const terminated: string[] = [];
  const log = createLogger('podmanager-test', process.env.KEDGE_LOG_LEVEL ?? 'warn');

  const startPm = () =>
    PodManager.start({
      nodeName: NODE,
      dataDir,
      store,
      runtime: fx.runtime,
      podStatus: { setPodStatus: (ns, name, _uid, st) => void statuses.set(`${ns}/${name}`, st) },
      events: { recordEvent: (e) => void events.push(e) },
      log,
      syncIntervalMs: 500,
      backoffBaseMs: 2000,
      backoffMaxMs: 8000,
      reservationDir: fx.reservationDir,
      onPodTerminated: (ns, name) => void terminated.push(`${ns}/${name}`),
    });

  async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
  }

  let uidSeq = 0;
  function pod(name: string, spec: Partial<V1Pod['spec']> & { containers: NonNullable<V1Pod['spec']>['containers'] }, ns = 'default'): V1Pod {
    return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, uid: `uid-${name}-${++uidSeq}-${Date.now()}`, labels: { app: name } }, spec: { nodeName: NODE, terminationGracePeriodSeconds: 5, ...spec } };
  }
  const put = async (kind: string, obj: { metadata?: { namespace?: string; name?: string } }) => {
    const key = `/registry/${kind}/${obj.metadata!.namespace}/${obj.metadata!.name}`;
    const cur = await store.get(key);
    if (cur) await store.update(key, JSON.stringify(obj));
    else await store.create(key, JSON.stringify(obj));
  };
  const status = (name: string) => statuses.get(`default/${name}`);
  const cstatus = (name: string, c = 'main') => status(name)?.containerStatuses?.find((s) => s.name === c);

  before(async () => {
    fx = await startRuntime();
    dataDir = mkdtempSync('/tmp/krt-data-');
    store = await openSqliteStore(path.join(dataDir, 'local.db'));
    pm = await startPm();
  });

  after(async () => {
    await pm?.stop();
    await store?.close();
    await fx?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs a pod with env and a volume from a configmap and a secret; pod IP from the node CIDR; logs readable', async () => {
    await put('configmaps', { metadata: { namespace: 'default', name: 'cfg' }, data: { greeting: 'hello-from-cm', 'file.txt': 'cm-file-v1' } } as never);
    await put('secrets', { metadata: { namespace: 'default', name: 'sec' }, data: { password: Buffer.from('s3cret').toString('base64') } } as never);
    const p = pod('web', {
      containers: [
        {
          name: 'main',
          image: fx.busybox,
          command: ['sh', '-c', 'echo "GREETING=$GREETING PASSWORD=$PASSWORD POD=$POD_NAME"; exec sleep 3600'],
          env: [
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'MEM_LIMIT_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
          envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CM_' }],
          resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
          volumeMounts: [
            { name: 'cfgvol', mountPath: '/etc/cfg' },
            { name: 'secvol', mountPath: '/etc/sec', readOnly: true },
            { name: 'info', mountPath: '/etc/podinfo' },
          ],
        },
      ],
      volumes: [
        { name: 'cfgvol', configMap: { name: 'cfg' } },
        { name: 'secvol', secret: { secretName: 'sec' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      ],
    });
    await put('pods', p);
    const st = await waitFor('web Running and Ready', () => status('web')?.phase === 'Running' && cstatus('web')?.ready && status('web'));
    assert.match(st.podIP ?? '', new RegExp(`^${fx.podCidrPrefix.replace(/\./g, '\\.')}\\.`));
    assert.equal(st.qosClass, 'Burstable');
    assert.equal(st.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    const cid = cstatus('web')!.containerID!.replace('containerd://', '');
    const exec = async (cmd: string) => (await fx.runtime.execSync(cid, ['sh', '-c', cmd], 10)).stdout.toString().trim();
    assert.equal(await exec('echo $GREETING/$PASSWORD/$POD_NAME/$CM_greeting/$MEM_LIMIT_MI'), 'hello-from-cm/s3cret/web/hello-from-cm/64');
    assert.equal(await exec('cat /etc/cfg/file.txt'), 'cm-file-v1');
    assert.equal(await exec('cat /etc/sec/password'), 's3cret');
    assert.equal(await exec('cat /etc/podinfo/labels'), 'app="web"');
    // The memory limit reached the cgroup.
    assert.equal(await exec('cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'), String(64 * 1024 * 1024));

    // A configmap update reaches the mounted volume without a restart.
    await put('configmaps', { metadata: { namespace: 'default', name: 'cfg' }, data: { greeting: 'hello-from-cm', 'file.txt': 'cm-file-v2' } } as never);
    await waitFor('configmap update in the volume', async () => (await exec('cat /etc/cfg/file.txt')) === 'cm-file-v2');
    assert.equal(cstatus('web')!.restartCount, 0);

    const loc = pm!.containerLogLocation('default', 'web', 'main')!;
    let out = '';
    await readContainerLogs(loc.podDir, 'main', loc.attempt, { tailLines: 1 }, (s) => (out += s));
    assert.equal(out, 'GREETING=hello-from-cm PASSWORD=s3cret POD=web\n');
    let withTs = '';
    await readContainerLogs(loc.podDir, 'main', loc.attempt, { timestamps: true }, (s) => (withTs += s));
    assert.match(withTs, /^\d{4}-\d\d-\d\dT\S+ GREETING=/);
  });

  it('restarts a container whose liveness probe fails (restartCount grows, lastState recorded)', async () => {
    await put(
      'pods',
      pod('live', {
        containers: [
          {
            name: 'main',
            image: fx.busybox,
            command: ['sh', '-c', 'touch /tmp/healthy; sleep 2; rm -f /tmp/healthy; exec sleep 3600'],
            livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 1, initialDelaySeconds: 0 },
          },
        ],
      }),
    );
    const cs = await waitFor('liveness restart', () => (cstatus('live')?.restartCount ?? 0) >= 1 && cstatus('live'), 90_000);
    assert.ok(cs.lastState?.terminated, 'lastState.terminated is set after a restart');
    assert.ok(events.some((e) => e.involvedObject.name === 'live' && e.reason === 'Unhealthy'));
    assert.ok(events.some((e) => e.involvedObject.name === 'live' && e.reason === 'Killing'));
  });

  it('readiness follows the readiness probe', async () => {
    await put(
      'pods',
      pod('ready', {
        containers: [{ name: 'main', image: fx.busybox, command: ['sleep', '3600'], readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 } }],
      }),
    );
    await waitFor('ready pod Running', () => status('ready')?.phase === 'Running');
    assert.equal(cstatus('ready')!.ready, false);
    assert.equal(status('ready')!.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
    const cid = cstatus('ready')!.containerID!.replace('containerd://', '');
    await fx.runtime.execSync(cid, ['touch', '/tmp/ready'], 5);
    await waitFor('Ready=True', () => cstatus('ready')?.ready === true && status('ready')!.conditions!.find((c) => c.type === 'Ready')!.status === 'True');
    await fx.runtime.execSync(cid, ['rm', '/tmp/ready'], 5);
    await waitFor('Ready=False again', () => cstatus('ready')?.ready === false);
    assert.equal(cstatus('ready')!.restartCount, 0);
  });

  it('a crashing container goes into CrashLoopBackOff', async () => {
    await put('pods', pod('crash', { containers: [{ name: 'main', image: fx.busybox, command: ['sh', '-c', 'echo dying; exit 3'] }] }));
    const cs = await waitFor('CrashLoopBackOff', () => cstatus('crash')?.state?.waiting?.reason === 'CrashLoopBackOff' && cstatus('crash'), 60_000);
    assert.equal(cs.lastState?.terminated?.exitCode, 3);
    assert.ok(cs.restartCount >= 1);
    const loc = pm!.containerLogLocation('default', 'crash', 'main')!;
    let prev = '';
    await readContainerLogs(loc.podDir, 'main', loc.attempt, { previous: true }, (s) => (prev += s));
    assert.equal(prev, 'dying\n');
  });

  it('an unpullable image reports ErrImagePull, then ImagePullBackOff', async () => {
    await put('pods', pod('badimg', { containers: [{ name: 'main', image: 'registry.kedge.invalid/nope:1', imagePullPolicy: 'IfNotPresent' }] }));
    await waitFor('ErrImagePull', () => cstatus('badimg')?.state?.waiting?.reason === 'ErrImagePull', 120_000);
    await waitFor('ImagePullBackOff', () => cstatus('badimg')?.state?.waiting?.reason === 'ImagePullBackOff', 60_000);
    assert.equal(status('badimg')!.phase, 'Pending');
    // The other pods keep running.
    assert.equal(status('web')!.phase, 'Running');
  });

  it('a missing configmap key gives CreateContainerConfigError', async () => {
    await put(
      'pods',
      pod('badcfg', { containers: [{ name: 'main', image: fx.busybox, command: ['sleep', '3600'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'missing' } } }] }] }),
    );
    const cs = await waitFor('CreateContainerConfigError', () => cstatus('badcfg')?.state?.waiting?.reason === 'CreateContainerConfigError' && cstatus('badcfg'));
    assert.match(cs.state!.waiting!.message ?? '', /missing/);
  });

  it('serves on a hostPort; httpGet readiness and tcpSocket liveness probe the pod IP', async () => {
    const hostPort = 20000 + Math.floor(Math.random() * 10000);
    await put(
      'pods',
      pod('http', {
        containers: [
          {
            name: 'main',
            image: fx.busybox,
            command: ['sh', '-c', 'mkdir -p /www && echo hi-http > /www/index.html && exec httpd -f -p 8080 -h /www'],
            ports: [{ name: 'web', containerPort: 8080, hostPort }],
            readinessProbe: { httpGet: { path: '/index.html', port: 'web' as never }, periodSeconds: 1 },
            livenessProbe: { tcpSocket: { port: 8080 as never }, periodSeconds: 2 },
          },
        ],
      }),
    );
    const st = await waitFor('http Ready', () => cstatus('http')?.ready && status('http'), 60_000);
    const body = await waitFor('hostPort answers', async () => {
      const res = await fetch(`http://${st.hostIP}:${hostPort}/index.html`, { signal: AbortSignal.timeout(3000) });
      return res.ok && (await res.text());
    });
    assert.equal(body, 'hi-http\n');
    const direct = await fetch(`http://${st.podIP}:8080/index.html`, { signal: AbortSignal.timeout(3000) });
    assert.equal(await direct.text(), 'hi-http\n');
    assert.equal(cstatus('http')!.restartCount, 0);
  });

  it('a hostNetwork pod gets the node IP', async () => {
    await put('pods', pod('hostnet', { hostNetwork: true, containers: [{ name: 'main', image: fx.busybox, command: ['sleep', '3600'] }] }));
    const st = await waitFor('hostnet Running', () => status('hostnet')?.phase === 'Running' && status('hostnet'));
    assert.equal(st.podIP, st.hostIP);
  });

  it('a command that does not exist shows RunContainerError, then CrashLoopBackOff', async () => {
    await put('pods', pod('badcmd', { containers: [{ name: 'main', image: fx.busybox, command: ['/no/such/binary'] }] }));
    await waitFor('RunContainerError', () => cstatus('badcmd')?.state?.waiting?.reason === 'RunContainerError', 60_000);
    const cs = await waitFor('CrashLoopBackOff', () => cstatus('badcmd')?.state?.waiting?.reason === 'CrashLoopBackOff' && cstatus('badcmd'), 60_000);
    assert.ok(cs.lastState?.terminated, 'the failed start is recorded as a terminated instance');
    assert.ok(events.some((e) => e.involvedObject.name === 'badcmd' && e.reason === 'Failed' && /no\/such\/binary/.test(e.message ?? '')));
    assert.equal(status('web')!.phase, 'Running');
  });

  it('init containers run to completion first, sharing an emptyDir; a finished Never pod is Succeeded', async () => {
    await put(
      'pods',
      pod('init', {
        initContainers: [
          { name: 'first', image: fx.busybox, command: ['sh', '-c', 'echo one > /work/steps'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
          { name: 'second', image: fx.busybox, command: ['sh', '-c', 'echo two >> /work/steps'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
        ],
        containers: [{ name: 'main', image: fx.busybox, command: ['sh', '-c', 'cat /work/steps; echo main >> /work/steps; sleep 2'], volumeMounts: [{ name: 'work', mountPath: '/work' }] }],
        volumes: [{ name: 'work', emptyDir: {} }],
        restartPolicy: 'Never',
      }),
    );
    const st = await waitFor('init pod Succeeded', () => status('init')?.phase === 'Succeeded' && status('init'), 90_000);
    assert.deepEqual(st.initContainerStatuses!.map((s) => [s.name, s.state?.terminated?.reason]), [['first', 'Completed'], ['second', 'Completed']]);
    assert.equal(st.containerStatuses![0]!.state!.terminated!.exitCode, 0);
    assert.equal(st.conditions!.find((c) => c.type === 'Initialized')!.status, 'True');
    const loc = pm!.containerLogLocation('default', 'init', 'main')!;
    let out = '';
    await readContainerLogs(loc.podDir, 'main', loc.attempt, {}, (s) => (out += s));
    assert.equal(out, 'one\ntwo\n');
  });

  it('a failing init container with restartPolicy Never fails the pod; main never starts', async () => {
    await put(
      'pods',
      pod('initfail', {
        initContainers: [{ name: 'setup', image: fx.busybox, command: ['sh', '-c', 'exit 7'] }],
        containers: [{ name: 'main', image: fx.busybox, command: ['sleep', '3600'] }],
        restartPolicy: 'Never',
      }),
    );
    const st = await waitFor('initfail Failed', () => status('initfail')?.phase === 'Failed' && status('initfail'), 60_000);
    assert.equal(st.initContainerStatuses![0]!.state!.terminated!.exitCode, 7);
    assert.ok(!st.containerStatuses![0]!.containerID, 'main was never created');
  });

  it('a recreated sandbox keeps its pod IP', async () => {
    const before = status('web')!;
    const sandboxes = await fx.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'web' } });
    assert.equal(sandboxes.length, 1);
    await fx.runtime.stopPodSandbox(sandboxes[0]!.id); // as if the host rebooted under the pod
    const after = await waitFor('web Running in a new sandbox', async () => {
      const sbs = await fx.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'web' }, state: { state: 'SANDBOX_READY' } });
      return sbs.length === 1 && sbs[0]!.id !== sandboxes[0]!.id && cstatus('web')?.ready && cstatus('web')!.containerID !== before.containerStatuses![0]!.containerID && status('web');
    }, 90_000);
    assert.equal(after.podIP, before.podIP);
  });

  it('a restarted pod manager adopts running containers (same IDs, no restarts) and restarts one that died meanwhile', async () => {
    const before = { id: cstatus('ready')!.containerID, restarts: cstatus('ready')!.restartCount, web: cstatus('web')!.containerID, webRestarts: cstatus('web')!.restartCount };
    await pm!.stop();
    // While the agent is down, one container dies; the others keep running under their shims.
    await fx.runtime.stopContainer(before.web!.replace('containerd://', ''), 0);
    statuses.clear();
    pm = await startPm();
    await waitFor('statuses after restart', () => cstatus('ready')?.state?.running && cstatus('web')?.state?.running && cstatus('web')!.containerID !== before.web);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(cstatus('ready')!.containerID, before.id);
    assert.equal(cstatus('ready')!.restartCount, before.restarts);
    assert.equal(cstatus('web')!.restartCount, before.webRestarts + 1, 'the killed container was restarted from the local store');
    assert.ok(cstatus('web')!.lastState?.terminated);
  });

  it('deletes a pod gracefully: preStop runs, containers and sandbox go, the IP reservation is released', async () => {
    const marker = path.join(dataDir, 'marker');
    const p = pod('bye', {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'main',
          image: fx.busybox,
          command: ['sh', '-c', "trap 'echo term >> /host/marker; exit 0' TERM; while true; do sleep 1; done"],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /host/marker'] } } },
          volumeMounts: [{ name: 'host', mountPath: '/host' }],
        },
      ],
      volumes: [{ name: 'host', hostPath: { path: dataDir, type: 'Directory' } }],
    });
    await put('pods', p);
    await waitFor('bye Running', () => cstatus('bye')?.state?.running);
    assert.ok(readdirSync(fx.reservationDir).some((f) => f.startsWith('default_bye_')), 'the IPAM wrapper recorded the pod IP');
    await put('pods', { ...p, metadata: { ...p.metadata, deletionTimestamp: new Date(), deletionGracePeriodSeconds: 10 } } as V1Pod);
    await waitFor('bye terminated', () => terminated.includes('default/bye'), 60_000);
    assert.deepEqual(readFileSync(marker, 'utf8').trim().split('\n'), ['prestop', 'term']);
    assert.equal(cstatus('bye')?.state?.terminated?.exitCode, 0);
    const left = await fx.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'bye' } });
    assert.equal(left.length, 0);
    assert.ok(!readdirSync(fx.reservationDir).some((f) => f.startsWith('default_bye_')), 'reservation released');
    await store.delete('/registry/pods/default/bye');
  });

  it('removes orphans: a pod deleted from the store loses its containers', async () => {
    await store.delete('/registry/pods/default/crash');
    await waitFor('crash sandbox removed', async () => (await fx.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'crash' } })).length === 0);
  });
});
