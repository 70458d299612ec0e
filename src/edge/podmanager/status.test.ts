import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { buildPodStatus, type Instance, type PodObservation } from './status.js';

const NS = 1e6; // ns per ms
function inst(name: string, attempt: number, state: Instance['state'], exitCode = 0, extra: Partial<Instance> = {}): Instance {
  return {
    id: `${name}-${attempt}`,
    metadata: { name, attempt },
    state,
    createdAt: 1_700_000_000_000 * NS,
    startedAt: 1_700_000_001_000 * NS,
    finishedAt: state === 'CONTAINER_EXITED' ? 1_700_000_002_000 * NS : 0,
    exitCode,
    image: { image: 'img' },
    imageRef: 'sha256:abc',
    reason: '',
    message: '',
    labels: {},
    annotations: {},
    logPath: '',
    kind: 'regular',
    ...extra,
  };
}
function obs(instances: Record<string, Instance[]>, extra: Partial<PodObservation> = {}): PodObservation {
  return { sandboxReady: true, podIP: '10.1.0.5', hostIP: '192.0.2.1', instances: new Map(Object.entries(instances)), waiting: new Map(), probes: new Map(), transitions: new Map(), startTime: '2026-01-01T00:00:00Z', ...extra };
}
const pod = (restartPolicy: string, names = ['main'], init: string[] = []): V1Pod => ({
  metadata: { name: 'p', uid: 'u' },
  spec: { restartPolicy, containers: names.map((name) => ({ name, image: 'img' })), initContainers: init.map((name) => ({ name, image: 'img' })) },
});

describe('pod status', () => {
  it('Running and Ready with a running container; containerID, imageID, IPs', () => {
    const s = buildPodStatus(pod('Always'), obs({ main: [inst('main', 0, 'CONTAINER_RUNNING')] }));
    assert.equal(s.phase, 'Running');
    assert.equal(s.podIP, '10.1.0.5');
    assert.equal(s.containerStatuses![0]!.containerID, 'containerd://main-0');
    assert.equal(s.containerStatuses![0]!.imageID, 'sha256:abc');
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    assert.equal(s.qosClass, 'BestEffort');
  });
  it('Pending while waiting for an image, with the reason', () => {
    const o = obs({}, { waiting: new Map([['main', { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' }]]) });
    const s = buildPodStatus(pod('Always'), o);
    assert.equal(s.phase, 'Pending');
    assert.equal(s.containerStatuses![0]!.state!.waiting!.reason, 'ImagePullBackOff');
    assert.equal(s.conditions!.find((c) => c.type === 'ContainersReady')!.reason, 'ContainersNotReady');
  });
  it('CrashLoopBackOff: waiting with lastState terminated and the restart count', () => {
    const o = obs({ main: [inst('main', 3, 'CONTAINER_EXITED', 2), inst('main', 2, 'CONTAINER_EXITED', 2)] }, { waiting: new Map([['main', { reason: 'CrashLoopBackOff', message: 'back-off' }]]) });
    const s = buildPodStatus(pod('Always'), o);
    assert.equal(s.phase, 'Running');
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.restartCount, 3);
    assert.equal(cs.state!.waiting!.reason, 'CrashLoopBackOff');
    assert.equal(cs.lastState!.terminated!.exitCode, 2);
    assert.equal(cs.lastState!.terminated!.reason, 'Error');
  });
  it('Succeeded / Failed for finished pods by restart policy', () => {
    assert.equal(buildPodStatus(pod('Never'), obs({ main: [inst('main', 0, 'CONTAINER_EXITED', 0)] })).phase, 'Succeeded');
    assert.equal(buildPodStatus(pod('Never'), obs({ main: [inst('main', 0, 'CONTAINER_EXITED', 1)] })).phase, 'Failed');
    assert.equal(buildPodStatus(pod('OnFailure'), obs({ main: [inst('main', 0, 'CONTAINER_EXITED', 0)] })).phase, 'Succeeded');
    const done = buildPodStatus(pod('Never'), obs({ main: [inst('main', 0, 'CONTAINER_EXITED', 0)] }));
    assert.equal(done.conditions!.find((c) => c.type === 'Ready')!.reason, 'PodCompleted');
  });
  it('init containers: Pending and not Initialized until they all succeeded; Failed under Never', () => {
    const p = pod('Always', ['main'], ['setup']);
    const running = buildPodStatus(p, obs({ setup: [inst('setup', 0, 'CONTAINER_RUNNING', 0, { kind: 'init' })] }));
    assert.equal(running.phase, 'Pending');
    assert.equal(running.conditions!.find((c) => c.type === 'Initialized')!.status, 'False');
    assert.equal(running.containerStatuses![0]!.state!.waiting!.reason, 'ContainerCreating');
    const failed = buildPodStatus(pod('Never', ['main'], ['setup']), obs({ setup: [inst('setup', 0, 'CONTAINER_EXITED', 3, { kind: 'init' })] }));
    assert.equal(failed.phase, 'Failed');
  });
  it('keeps condition transition times while the status does not change', () => {
    const o = obs({ main: [inst('main', 0, 'CONTAINER_RUNNING')] });
    const a = buildPodStatus(pod('Always'), o, new Date('2026-01-01T00:00:00Z'));
    const b = buildPodStatus(pod('Always'), o, new Date('2026-01-01T01:00:00Z'));
    assert.equal(String(b.conditions![2]!.lastTransitionTime), String(a.conditions![2]!.lastTransitionTime));
    o.probes.set('main-0', { ready: false, started: true });
    const c = buildPodStatus(pod('Always'), o, new Date('2026-01-01T02:00:00Z'));
    assert.equal(c.conditions!.find((x) => x.type === 'Ready')!.status, 'False');
    assert.equal(String(c.conditions!.find((x) => x.type === 'Ready')!.lastTransitionTime), '2026-01-01T02:00:00Z');
  });

  it('readiness gates: Ready waits for every gate\'s condition (upstream reason and message); others\' conditions are carried', () => {
    const gated = (conditions: Array<{ type: string; status: string }>): V1Pod => ({
      ...pod('Always'),
      spec: { ...pod('Always').spec!, readinessGates: [{ conditionType: 'example.com/lb' }] },
      status: { conditions: [{ type: 'Ready', status: 'True' }, ...conditions] },
    });
    const running = { main: [inst('main', 0, 'CONTAINER_RUNNING')] };
    const o = obs(running);
    const missing = buildPodStatus(gated([]), o);
    const ready = () => missing.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready().status, 'False');
    assert.equal(ready().reason, 'ReadinessGatesNotReady');
    assert.equal(ready().message, 'corresponding condition of pod readiness gate "example.com/lb" does not exist.');
    assert.equal(missing.conditions!.find((c) => c.type === 'ContainersReady')!.status, 'True');
    const unmet = buildPodStatus(gated([{ type: 'example.com/lb', status: 'False' }]), o);
    assert.equal(unmet.conditions!.find((c) => c.type === 'Ready')!.message, 'the status of pod readiness gate "example.com/lb" is not "True", but False');
    assert.equal(unmet.conditions!.find((c) => c.type === 'example.com/lb')!.status, 'False', 'the gate condition is carried, not dropped');
    const met = buildPodStatus(gated([{ type: 'example.com/lb', status: 'True' }]), o);
    assert.equal(met.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    assert.equal(met.conditions!.filter((c) => c.type === 'Ready').length, 1, 'the stored Ready is replaced, not duplicated');
  });
});
