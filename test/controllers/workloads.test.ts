import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from './cluster.js';

// One real `kedge server` (scheduler + controllers in-process), five fake nodes, stock kubectl.
const c = new TestCluster('controllers-workloads');

before(async () => {
  await c.start();
  await c.addNodes('node', 5, (i) => ({ labels: { 'topology.kubernetes.io/zone': i < 3 ? 'zone-a' : 'zone-b' }, subnet: i + 10 }));
  // A new Node carries the not-ready taint until the node lifecycle controller has seen it Ready: the spread below
  // needs all five schedulable (CI once placed 3 replicas on 2 nodes while the others were still tainted).
  await waitFor('5 schedulable nodes', async () => {
    const nodes = (await c.json<{ items: any[] }>(['get', 'nodes'])).items;
    const schedulable = nodes.filter((n) => !(n.spec.taints ?? []).some((t: { key: string }) => t.key === 'node.kubernetes.io/not-ready'));
    return schedulable.length === 5 || undefined;
  });
});
after(() => c.stop());

const podsOf = async (selector: string) =>
  (await c.json<{ items: any[] }>(['get', 'pods', '-l', selector])).items.filter((p) => !p.metadata.deletionTimestamp);

test('kubectl create deployment, scale, set image + rollout status, rollout undo', async () => {
  await c.kubectl(['create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=3']);
  const status = await c.kubectl(['rollout', 'status', 'deployment/web', '--timeout=60s']);
  assert.match(status, /deployment "web" successfully rolled out/);
  assert.match(await c.kubectl(['get', 'deployment', 'web']), /web\s+3\/3\s+3\s+3\s/);
  const first = await podsOf('app=web');
  assert.equal(first.length, 3);
  assert.ok(first.every((p) => p.spec.nodeName?.startsWith('node-') && p.status.phase === 'Running'));
  assert.equal(new Set(first.map((p) => p.spec.nodeName)).size, 3, 'replicas spread over nodes');

  await c.kubectl(['scale', 'deployment', 'web', '--replicas=5']);
  await waitFor('5 available', async () => /web\s+5\/5\s+5\s+5\s/.test(await c.kubectl(['get', 'deployment', 'web'])));

  await c.kubectl(['set', 'image', 'deployment/web', 'nginx=nginx:1.26']);
  assert.match(await c.kubectl(['rollout', 'status', 'deployment/web', '--timeout=90s']), /successfully rolled out/);
  const second = await podsOf('app=web');
  assert.equal(second.length, 5);
  assert.ok(second.every((p) => p.spec.containers[0].image === 'nginx:1.26'));
  const rs = (await c.json<{ items: any[] }>(['get', 'rs', '-l', 'app=web'])).items;
  assert.equal(rs.length, 2);
  assert.deepEqual(rs.map((r) => r.metadata.annotations['deployment.kubernetes.io/revision']).sort(), ['1', '2']);
  const history = await c.kubectl(['rollout', 'history', 'deployment/web']);
  assert.match(history, /^1\s/m);
  assert.match(history, /^2\s/m);

  assert.match(await c.kubectl(['rollout', 'undo', 'deployment/web']), /rolled back/);
  assert.match(await c.kubectl(['rollout', 'status', 'deployment/web', '--timeout=90s']), /successfully rolled out/);
  const third = await podsOf('app=web');
  assert.equal(third.length, 5);
  assert.ok(third.every((p) => p.spec.containers[0].image === 'nginx:1.25'));
  const rsAfter = (await c.json<{ items: any[] }>(['get', 'rs', '-l', 'app=web'])).items;
  assert.equal(rsAfter.length, 2, 'undo reuses the revision-1 ReplicaSet');
  const active = rsAfter.find((r) => r.spec.replicas === 5);
  assert.equal(active.metadata.annotations['deployment.kubernetes.io/revision'], '3');
  const dep = await c.json(['get', 'deployment', 'web']);
  const conds = Object.fromEntries(dep.status.conditions.map((x: any) => [x.type, x]));
  assert.equal(conds.Available.status, 'True');
  assert.equal(conds.Progressing.reason, 'NewReplicaSetAvailable');
});

test('a DaemonSet runs one pod on each of the 5 nodes', async () => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'default' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'a', image: 'busybox:1.36' }] } } },
  }));
  assert.match(await c.kubectl(['rollout', 'status', 'daemonset/agent', '--timeout=60s']), /successfully rolled out/);
  assert.match(await c.kubectl(['get', 'ds', 'agent']), /agent\s+5\s+5\s+5\s+5\s+5\s/);
  const pods = await podsOf('app=agent');
  assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), ['node-0', 'node-1', 'node-2', 'node-3', 'node-4']);
  // Rolling update replaces every daemon.
  await c.kubectl(['set', 'image', 'daemonset/agent', 'a=busybox:1.37']);
  assert.match(await c.kubectl(['rollout', 'status', 'daemonset/agent', '--timeout=90s']), /successfully rolled out/);
  const updated = await podsOf('app=agent');
  assert.equal(updated.length, 5);
  assert.ok(updated.every((p) => p.spec.containers[0].image === 'busybox:1.37'));
});

test('a StatefulSet creates stable, ordered pods and scales down from the highest ordinal', async () => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'default' },
    spec: { replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres:16' }] } } },
  }));
  assert.match(await c.kubectl(['rollout', 'status', 'statefulset/db', '--timeout=60s']), /partitioned roll out complete|rolling update complete|roll out complete/);
  const pods = await podsOf('app=db');
  assert.deepEqual(pods.map((p) => p.metadata.name).sort(), ['db-0', 'db-1', 'db-2']);
  const created = Object.fromEntries(pods.map((p) => [p.metadata.name, Date.parse(p.metadata.creationTimestamp)]));
  assert.ok(created['db-0']! <= created['db-1']! && created['db-1']! <= created['db-2']!, 'created in ordinal order');
  assert.equal(pods.find((p) => p.metadata.name === 'db-1').spec.hostname, 'db-1');
  assert.match(await c.kubectl(['get', 'statefulset', 'db']), /db\s+3\/3\s/);
  await c.kubectl(['scale', 'statefulset', 'db', '--replicas=1']);
  await waitFor('scaled to db-0', async () => JSON.stringify((await podsOf('app=db')).map((p) => p.metadata.name)) === '["db-0"]');
});

test('a Job runs to completion when its pods succeed', async () => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi', namespace: 'default' },
    spec: { completions: 3, parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'busybox:1.36' }] } } },
  }));
  const succeeded = new Set<string>();
  await waitFor('3 pods succeeded', async () => {
    const pods = (await c.json<{ items: any[] }>(['get', 'pods', '-l', 'job-name=pi'])).items;
    const running = pods.filter((p) => p.status.phase === 'Running' && !succeeded.has(p.metadata.name));
    assert.ok(running.length <= 2, 'parallelism respected');
    for (const p of running) {
      await c.node(p.spec.nodeName).succeed('default', p.metadata.name);
      succeeded.add(p.metadata.name);
    }
    return succeeded.size >= 3;
  });
  await c.kubectl(['wait', '--for=condition=complete', 'job/pi', '--timeout=60s']);
  assert.match(await c.kubectl(['get', 'job', 'pi']), /pi\s+Complete\s+3\/3\s/);
  const job = await c.json(['get', 'job', 'pi']);
  assert.equal(job.status.succeeded, 3);
  assert.ok(job.status.completionTime);
});

test('EndpointSlices and Endpoints follow pod readiness', async () => {
  await c.kubectl(['create', 'deployment', 'api', '--image=nginx:1.25', '--replicas=3', '--port=8080']);
  await c.kubectl(['rollout', 'status', 'deployment/api', '--timeout=60s']);
  await c.kubectl(['expose', 'deployment', 'api', '--port=80', '--target-port=8080']);
  const pods = await podsOf('app=api');
  const ips = pods.map((p) => p.status.podIP).sort();
  const readyIps = async () => {
    const slices = (await c.json<{ items: any[] }>(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=api'])).items;
    return slices.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions.ready).map((e: any) => e.addresses[0])).sort();
  };
  await waitFor('3 ready endpoints', async () => JSON.stringify(await readyIps()) === JSON.stringify(ips));
  const slice = (await c.json<{ items: any[] }>(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=api'])).items[0];
  assert.equal(slice.addressType, 'IPv4');
  assert.deepEqual(slice.ports.map((p: any) => p.port), [8080]);
  assert.equal(slice.metadata.ownerReferences[0].kind, 'Service');

  const victim = pods[0];
  await c.node(victim.spec.nodeName).setReady('default', victim.metadata.name, false);
  await waitFor('endpoint not ready', async () => !(await readyIps()).includes(victim.status.podIP));
  const eps = await c.kubectl(['get', 'endpoints', 'api', '-o', 'jsonpath={.subsets[0].addresses[*].ip}']);
  assert.ok(!eps.split(' ').includes(victim.status.podIP), 'Endpoints addresses drop the unready pod');
  const notReady = await c.kubectl(['get', 'endpoints', 'api', '-o', 'jsonpath={.subsets[0].notReadyAddresses[*].ip}']);
  assert.ok(notReady.split(' ').includes(victim.status.podIP));
  await c.node(victim.spec.nodeName).setReady('default', victim.metadata.name, true);
  await waitFor('endpoint ready again', async () => (await readyIps()).includes(victim.status.podIP));
});

test('zone hints: trafficDistribution PreferClose hints each endpoint to its zone; topology-mode Auto shares them by zone CPU, or removes them with an event', async () => {
  // 5 nodes, 8 CPU each: zone-a 3 (60%), zone-b 2 (40%). All 5 pods in zone-a, so Auto must give 2 of them to zone-b.
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'zoned', namespace: 'default' },
    spec: {
      replicas: 5, selector: { matchLabels: { app: 'zoned' } },
      template: { metadata: { labels: { app: 'zoned' } }, spec: { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-a' }, containers: [{ name: 'c', image: 'nginx:1.25', ports: [{ containerPort: 8080 }] }] } },
    },
  }));
  await c.kubectl(['rollout', 'status', 'deployment/zoned', '--timeout=60s']);
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'zoned', namespace: 'default' },
    spec: { selector: { app: 'zoned' }, ports: [{ port: 80, targetPort: 8080 }], trafficDistribution: 'PreferClose' },
  }));
  const endpoints = async () => (await c.json<{ items: any[] }>(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=zoned'])).items.flatMap((s) => s.endpoints ?? []);
  const zoneOfNode = new Map<string, string>((await c.json<{ items: any[] }>(['get', 'nodes'])).items.map((n) => [n.metadata.name, n.metadata.labels['topology.kubernetes.io/zone']]));
  await waitFor('5 endpoints hinted to their own zone', async () => {
    const eps = await endpoints();
    return eps.length === 5 && eps.every((e) => e.zone === 'zone-a' && e.zone === zoneOfNode.get(e.nodeName) && e.hints?.forZones?.length === 1 && e.hints.forZones[0].name === e.zone);
  });

  await c.kubectl(['annotate', 'service', 'zoned', 'service.kubernetes.io/topology-mode=Auto']);
  const hintCounts = async () => (await endpoints()).reduce<Record<string, number>>((m, e) => {
    const z = e.hints?.forZones?.map((x: { name: string }) => x.name).join(',') ?? '-';
    m[z] = (m[z] ?? 0) + 1;
    return m;
  }, {});
  await waitFor('Auto: 3 endpoints for zone-a, 2 given to zone-b', async () => {
    const h = await hintCounts();
    return h['zone-a'] === 3 && h['zone-b'] === 2 && Object.keys(h).length === 2;
  });

  await c.kubectl(['scale', 'deployment', 'zoned', '--replicas=1']);
  await waitFor('1 endpoint for 2 zones: no hints', async () => {
    const eps = (await endpoints()).filter((e) => e.conditions?.ready);
    return eps.length === 1 && eps.every((e) => e.hints === undefined);
  });
  await waitFor('TopologyAwareHintsDisabled event', async () => {
    const ev = (await c.json<{ items: any[] }>(['get', 'events', '--field-selector', 'involvedObject.name=zoned,involvedObject.kind=Service'])).items;
    return ev.some((e) => e.reason === 'TopologyAwareHintsDisabled' && /Insufficient number of endpoints \(1 endpoints, 2 zones\)/.test(e.message));
  });
});

test('an unschedulable pod gets PodScheduled=False and an upstream-style FailedScheduling event', async () => {
  await c.kubectl(['run', 'nowhere', '--image=nginx:1.25', '--overrides', JSON.stringify({ spec: { nodeSelector: { disk: 'ssd' } } })]);
  const msg = "0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector.";
  await waitFor('FailedScheduling event', async () => {
    const ev = await c.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=nowhere,reason=FailedScheduling', '-o', 'jsonpath={.items[*].message}']);
    return ev.includes(msg);
  });
  const pod = await c.json(['get', 'pod', 'nowhere']);
  const cond = pod.status.conditions.find((x: any) => x.type === 'PodScheduled');
  assert.equal(cond.status, 'False');
  assert.equal(cond.reason, 'Unschedulable');
  assert.equal(cond.message, msg);
  // A matching label makes it schedulable: the scheduler retries on the node change.
  await c.kubectl(['label', 'node', 'node-4', 'disk=ssd']);
  await waitFor('pod bound to node-4', async () => (await c.json(['get', 'pod', 'nowhere'])).spec.nodeName === 'node-4');
});

const replicaSets = async (app: string) =>
  (await c.json<{ items: any[] }>(['get', 'rs', '-l', `app=${app}`])).items.sort(
    (a, b) => Number(a.metadata.annotations['deployment.kubernetes.io/revision']) - Number(b.metadata.annotations['deployment.kubernetes.io/revision']),
  );

test('kubectl scale --replicas=1 on a 3-replica Deployment: READY 1/1 and its ReplicaSet at 1', async () => {
  await c.kubectl(['create', 'deployment', 'shrink', '--image=nginx:1.25', '--replicas=3']);
  await c.kubectl(['rollout', 'status', 'deployment/shrink', '--timeout=60s']);
  assert.match(await c.kubectl(['scale', 'deployment', 'shrink', '--replicas=1']), /deployment.apps\/shrink scaled/);
  await waitFor('READY 1/1', async () => /shrink\s+1\/1\s+1\s+1\s/.test(await c.kubectl(['get', 'deployment', 'shrink'])));
  await waitFor('one pod', async () => (await podsOf('app=shrink')).length === 1);
  const rs = await replicaSets('shrink');
  assert.equal(rs.length, 1, 'a resize makes no new ReplicaSet');
  assert.equal(rs[0].spec.replicas, 1);
  assert.equal(rs[0].metadata.annotations['deployment.kubernetes.io/desired-replicas'], '1');
  assert.match(await c.kubectl(['get', 'rs', rs[0].metadata.name]), new RegExp(`${rs[0].metadata.name}\\s+1\\s+1\\s+1\\s`));
  const events = await c.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=shrink,reason=ScalingReplicaSet', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, new RegExp(`Scaled down replica set ${rs[0].metadata.name} from 3 to 1`));
});

test('scaling during a rollout is proportional across the old and new ReplicaSets, and the rollout then completes', async () => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'prop', namespace: 'default' },
    spec: {
      replicas: 10, selector: { matchLabels: { app: 'prop' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } },
      template: { metadata: { labels: { app: 'prop' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.25' }] } },
    },
  }));
  await c.kubectl(['rollout', 'status', 'deployment/prop', '--timeout=90s']);
  // The new template's pods can be placed on no node yet: they stay Pending, so the rollout stops at
  // 8 old (10 - maxUnavailable) + 5 new (10 + maxSurge - 8), as in the upstream documentation's example.
  await c.kubectl(['patch', 'deployment', 'prop', '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { nodeSelector: { 'rollout-gate': 'open' } } } } })]);
  const sizes = async () => (await replicaSets('prop')).map((r) => r.spec.replicas).join('+');
  await waitFor('stuck at 8+5', async () => (await sizes()) === '8+5');

  // 10 -> 15: 18 allowed, 5 more: 3 to the old ReplicaSet, 2 to the new.
  await c.kubectl(['scale', 'deployment', 'prop', '--replicas=15']);
  await waitFor('11+7', async () => (await sizes()) === '11+7');
  // 15 -> 5: 8 allowed, 10 fewer: 6 from the old, 4 from the new; then the rollout goes on within
  // maxUnavailable (3 old stay available) and maxSurge (5 new).
  await c.kubectl(['scale', 'deployment', 'prop', '--replicas=5']);
  await waitFor('3+5', async () => (await sizes()) === '3+5');
  const [oldRS, newRS] = await replicaSets('prop');
  const events = await c.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=prop,reason=ScalingReplicaSet', '-o', 'jsonpath={.items[*].message}']);
  for (const step of [
    `Scaled up replica set ${oldRS.metadata.name} from 8 to 11`,
    `Scaled up replica set ${newRS.metadata.name} from 5 to 7`,
    `Scaled down replica set ${oldRS.metadata.name} from 11 to 5`,
    `Scaled down replica set ${newRS.metadata.name} from 7 to 3`,
  ]) assert.ok(events.includes(step), `event "${step}" in: ${events}`);

  await c.kubectl(['label', 'node', 'node-2', 'rollout-gate=open']);
  assert.match(await c.kubectl(['rollout', 'status', 'deployment/prop', '--timeout=90s']), /successfully rolled out/);
  assert.equal(await sizes(), '0+5');
  assert.match(await c.kubectl(['get', 'deployment', 'prop']), /prop\s+5\/5\s+5\s+5\s/);
  const pods = await podsOf('app=prop');
  assert.equal(pods.length, 5);
  assert.ok(pods.every((p) => p.spec.nodeName === 'node-2'));
});
