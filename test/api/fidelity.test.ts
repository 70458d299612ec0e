/**
 * Issue 17's upstream-fidelity list: behaviours where Kedge answered differently from kube-apiserver,
 * kube-controller-manager and kube-scheduler, each checked against upstream's documented behaviour (messages, codes,
 * labels, event sources) with the stock kubectl v1.32 against one real `kedge server` and one hollow edge node
 * (src/sim: the real edge agent joined over the hub, on an in-process fake runtime, so pods become Running and Ready).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import type { HollowNode } from '../../src/sim/hollow-node.js';
import { eventually, startCluster, type Cluster } from '../edge/cluster.js';
import { joinHollowNode } from '../helpers/hollow.js';

/** kubectl that resolves with {code, out} instead of throwing, for commands expected to fail. */
async function kubectlResult(c: Cluster, args: string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/kubectl', ['--kubeconfig', c.kubeconfig, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

interface RawResponse { status: number; body: Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any

/** One HTTPS request with the admin credentials, for the status codes and Status bodies kubectl only paraphrases. */
function raw(c: Cluster, method: string, path: string, body?: string, contentType = 'application/json'): Promise<RawResponse> {
  const kc = new KubeConfig();
  kc.loadFromFile(c.kubeconfig);
  return new Promise((resolve, reject) => {
    const opts: https.RequestOptions = { method, headers: body === undefined ? {} : { 'content-type': contentType } };
    void kc.applyToHTTPSOptions(opts).then(() => {
      const req = https.request(`${kc.getCurrentCluster()!.server}${path}`, opts, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
      });
      req.on('error', reject);
      req.end(body);
    }, reject);
  });
}

const json = async <T = any>(c: Cluster, args: string[]): Promise<T> => JSON.parse(await c.kubectl([...args, '-o', 'json'])) as T; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('upstream fidelity (issue 17)', { timeout: 600_000 }, () => {
  let c: Cluster;
  const hollows: HollowNode[] = [];

  before(async () => {
    c = await startCluster('fidelity');
    hollows.push(await joinHollowNode(c, 'fid-edge-a'));
    await eventually('a Ready node', async () => / Ready /.test(await c.kubectl(['get', 'nodes', '--no-headers'])), 90_000, 500);
  });

  after(async () => {
    for (const n of hollows) await n.stop();
    await c?.proxy.close();
    await c?.h.cleanup();
  });

  it('admission: a pod naming a missing ServiceAccount is refused with upstream\'s 403 and message', async () => {
    const r = await kubectlResult(c, ['run', 'sa-missing', '--image=busybox', '--overrides={"spec":{"serviceAccountName":"nope"}}']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /Error from server \(Forbidden\): pods "sa-missing" is forbidden: error looking up service account default\/nope: serviceaccount "nope" not found/);
    const gen = await raw(c, 'POST', '/api/v1/namespaces/default/pods', JSON.stringify({ metadata: { generateName: 'sa-gen-' }, spec: { serviceAccountName: 'nope', containers: [{ name: 'c', image: 'busybox' }] } }));
    assert.equal(gen.status, 403);
    assert.equal(gen.body.reason, 'Forbidden');
    // Admission runs before a name is generated upstream: the pod is named by its generateName.
    assert.equal(gen.body.message, 'pods "sa-gen-" is forbidden: error looking up service account default/nope: serviceaccount "nope" not found');
    // The default ServiceAccount exists in every namespace, so ordinary pods are unaffected.
    await c.kubectl(['run', 'sa-default', '--image=busybox']);
  });

  it('PodSecurity admission: enforce refuses with upstream\'s message, warn warns (pods and pod templates), privileged allows', async () => {
    await c.kubectl(['create', 'namespace', 'psa-restricted']);
    await c.kubectl(['label', 'namespace', 'psa-restricted', 'pod-security.kubernetes.io/enforce=restricted']);
    const priv = await kubectlResult(c, ['run', 'priv', '-n', 'psa-restricted', '--image=busybox', '--privileged']);
    assert.notEqual(priv.code, 0);
    // Upstream's text for this pod, word for word (Pod Security Standards "latest"; baseline checks, then restricted).
    assert.equal(priv.out.trim(), 'Error from server (Forbidden): pods "priv" is forbidden: violates PodSecurity "restricted:latest": '
      + 'privileged (container "priv" must not set securityContext.privileged=true), '
      + 'allowPrivilegeEscalation != false (container "priv" must set securityContext.allowPrivilegeEscalation=false), '
      + 'unrestricted capabilities (container "priv" must set securityContext.capabilities.drop=["ALL"]), '
      + 'runAsNonRoot != true (pod or container "priv" must set securityContext.runAsNonRoot=true), '
      + 'seccompProfile (pod or container "priv" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")');
    // A pod meeting the restricted profile is admitted.
    await c.kubectl(['apply', '-n', 'psa-restricted', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: compliant}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers: [{name: c, image: busybox, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]
`);
    // A Deployment is not refused by enforce (only its pods would be).
    assert.equal((await kubectlResult(c, ['create', 'deployment', 'tmpl', '-n', 'psa-restricted', '--image=busybox'])).code, 0);

    await c.kubectl(['create', 'namespace', 'psa-warn']);
    await c.kubectl(['label', 'namespace', 'psa-warn', 'pod-security.kubernetes.io/warn=baseline', 'pod-security.kubernetes.io/audit=baseline']);
    const warned = await kubectlResult(c, ['run', 'hostnet', '-n', 'psa-warn', '--image=busybox', '--overrides={"spec":{"hostNetwork":true}}']);
    assert.equal(warned.code, 0);
    assert.match(warned.out, /^Warning: would violate PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\)$/m);
    const tmpl = await kubectlResult(c, ['apply', '-n', 'psa-warn', '-f', '-'], `apiVersion: apps/v1
kind: Deployment
metadata: {name: hostpath}
spec:
  selector: {matchLabels: {app: hostpath}}
  template:
    metadata: {labels: {app: hostpath}}
    spec:
      containers: [{name: c, image: busybox}]
      volumes: [{name: root, hostPath: {path: /}}]
`);
    assert.equal(tmpl.code, 0);
    assert.match(tmpl.out, /^Warning: would violate PodSecurity "baseline:latest": hostPath volumes \(volume "root"\)$/m);
    // privileged (and unlabelled namespaces) admit anything.
    await c.kubectl(['create', 'namespace', 'psa-privileged']);
    await c.kubectl(['label', 'namespace', 'psa-privileged', 'pod-security.kubernetes.io/enforce=privileged']);
    assert.equal((await kubectlResult(c, ['run', 'priv', '-n', 'psa-privileged', '--image=busybox', '--privileged'])).code, 0);
    // Raising a namespace's enforce level warns about its existing pods as upstream (same reasons on one line).
    await c.kubectl(['run', 'plain-a', '-n', 'psa-privileged', '--image=busybox']);
    await c.kubectl(['run', 'plain-b', '-n', 'psa-privileged', '--image=busybox']);
    const raised = await kubectlResult(c, ['label', '--overwrite', 'namespace', 'psa-privileged', 'pod-security.kubernetes.io/enforce=restricted']);
    assert.equal(raised.code, 0, raised.out);
    const restrictedReasons = 'allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile';
    assert.deepEqual(raised.out.split('\n').filter((l) => l.startsWith('Warning: ')), [
      'Warning: existing pods in namespace "psa-privileged" violate the new PodSecurity enforce level "restricted:latest"',
      `Warning: plain-a (and 1 other pod): ${restrictedReasons}`,
      `Warning: priv: privileged, ${restrictedReasons}`,
    ]);
    assert.match(raised.out, /namespace\/psa-privileged labeled/);
    // The same level again, or another label: nothing to warn about.
    const again = await kubectlResult(c, ['label', '--overwrite', 'namespace', 'psa-privileged', 'pod-security.kubernetes.io/enforce=restricted', 'team=a']);
    assert.doesNotMatch(again.out, /Warning/);
  });

  it('Secrets of built-in types need their keys; immutable ConfigMaps and Secrets cannot be reverted or changed', async () => {
    const tls = await kubectlResult(c, ['apply', '-f', '-'], 'apiVersion: v1\nkind: Secret\nmetadata: {name: bad-tls}\ntype: kubernetes.io/tls\ndata: {foo: YQ==}\n');
    assert.notEqual(tls.code, 0);
    assert.match(tls.out, /The Secret "bad-tls" is invalid: \n\* data\[tls\.crt\]: Required value\n\* data\[tls\.key\]: Required value/);
    const ssh = await raw(c, 'POST', '/api/v1/namespaces/default/secrets', JSON.stringify({ metadata: { name: 'bad-ssh' }, type: 'kubernetes.io/ssh-auth', stringData: { x: 'y' } }));
    assert.equal(ssh.status, 422);
    assert.deepEqual(ssh.body.details.causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'data[ssh-privatekey]' }]);
    await c.kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: Secret\nmetadata: {name: ok-tls}\ntype: kubernetes.io/tls\nstringData: {tls.crt: c, tls.key: k}\n');

    await c.kubectl(['create', 'configmap', 'frozen', '--from-literal=a=b']);
    await c.kubectl(['patch', 'configmap', 'frozen', '-p', '{"immutable":true}']);
    const revert = await kubectlResult(c, ['patch', 'configmap', 'frozen', '-p', '{"immutable":false}']);
    assert.notEqual(revert.code, 0);
    assert.match(revert.out, /The ConfigMap "frozen" is invalid: immutable: Forbidden: field is immutable when `immutable` is set/);
    const change = await kubectlResult(c, ['patch', 'configmap', 'frozen', '-p', '{"data":{"a":"c"}}']);
    assert.match(change.out, /The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set/);
    await c.kubectl(['create', 'secret', 'generic', 'frozen-s', '--from-literal=a=b']);
    await c.kubectl(['patch', 'secret', 'frozen-s', '-p', '{"immutable":true}']);
    const unset = await kubectlResult(c, ['patch', 'secret', 'frozen-s', '--type=json', '-p', '[{"op":"remove","path":"/immutable"}]']);
    assert.match(unset.out, /The Secret "frozen-s" is invalid: immutable: Forbidden: field is immutable when `immutable` is set/);
    const retype = await kubectlResult(c, ['patch', 'secret', 'ok-tls', '-p', '{"type":"Opaque"}']);
    assert.match(retype.out, /The Secret "ok-tls" is invalid: type: Invalid value: "Opaque": field is immutable/);
  });

  it('status codes: a body that does not decode is 400, a JSON patch that cannot apply is 422', async () => {
    const notJson = await raw(c, 'POST', '/api/v1/namespaces/default/configmaps', '{not json');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.reason, 'BadRequest');
    const badType = await raw(c, 'POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 1 } }));
    assert.equal(badType.status, 400);
    assert.equal(badType.body.message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string');
    await c.kubectl(['create', 'configmap', 'patched', '--from-literal=a=b']);
    const missing = await raw(c, 'PATCH', '/api/v1/namespaces/default/configmaps/patched', '[{"op":"remove","path":"/data/nope"}]', 'application/json-patch+json');
    assert.equal(missing.status, 422);
    assert.equal(missing.body.reason, 'Invalid');
    assert.equal(missing.body.message, 'the server rejected our request due to an error in our request');
    assert.deepEqual(missing.body.details.causes, [{ reason: 'UnexpectedServerResponse', message: 'remove operation does not apply: doc is missing path: "/data/nope": missing value' }]);
    // A patch body that is not JSON at all stays a 400.
    const garbage = await raw(c, 'PATCH', '/api/v1/namespaces/default/configmaps/patched', '[{', 'application/json-patch+json');
    assert.equal(garbage.status, 400);
  });

  it('discovery lists groups as the aggregator orders them: priority, then name (CRD groups alphabetically)', async () => {
    const crd = (group: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.${group}}
spec:
  group: ${group}
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
`;
    await c.kubectl(['apply', '-f', '-'], `${crd('zeta.example.com')}---\n${crd('alpha.example.com')}`);
    await eventually('both CRD groups served', async () => {
      const groups = (JSON.parse(await c.kubectl(['get', '--raw', '/apis'])) as { groups: { name: string }[] }).groups;
      return groups.some((g) => g.name === 'zeta.example.com') && groups.some((g) => g.name === 'alpha.example.com');
    }, 60_000, 500);
    const names = (JSON.parse(await c.kubectl(['get', '--raw', '/apis'])) as { groups: { name: string }[] }).groups.map((g) => g.name);
    // kube-apiserver's order for the built-in groups (their APIServices' groupPriorityMinimum, highest first).
    const builtin = ['apiregistration.k8s.io', 'apps', 'events.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', 'autoscaling', 'batch',
      'certificates.k8s.io', 'networking.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'storage.k8s.io', 'admissionregistration.k8s.io',
      'apiextensions.k8s.io', 'scheduling.k8s.io', 'coordination.k8s.io', 'node.k8s.io', 'discovery.k8s.io'];
    assert.deepEqual(names.filter((n) => builtin.includes(n)), builtin);
    assert.ok(names.indexOf('discovery.k8s.io') < names.indexOf('alpha.example.com'), 'built-in groups before CRD groups');
    // CRD groups (priority 1000) alphabetically, metrics.k8s.io (metrics-server's APIService: 100) after them.
    const crdGroups = names.slice(names.indexOf('discovery.k8s.io') + 1, names.indexOf('metrics.k8s.io'));
    assert.deepEqual(crdGroups, [...crdGroups].sort());
    assert.ok(crdGroups.includes('alpha.example.com') && crdGroups.includes('zeta.example.com'));
    assert.equal(names.at(-1), 'metrics.k8s.io');
  });

  it('Jobs carry upstream\'s labels; controllers report events under upstream\'s component names with SuccessfulCreate/SuccessfulDelete', async () => {
    await c.kubectl(['create', 'job', 'labelled', '--image=busybox', '--', 'sleep', '3600']);
    const job = await json(c, ['get', 'job', 'labelled']);
    const uid = job.metadata.uid as string;
    const want = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'labelled', 'controller-uid': uid, 'job-name': 'labelled' };
    assert.deepEqual(job.metadata.labels, want);
    assert.deepEqual(job.spec.template.metadata.labels, want);
    assert.deepEqual(job.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    await eventually('the job pod', async () => (await c.kubectl(['get', 'pods', '-l', 'job-name=labelled', '-o', 'name'])).trim() !== '');
    await c.kubectl(['create', 'deployment', 'evented', '--image=nginx', '--replicas=2']);
    await eventually('2 ready', async () => (await json(c, ['get', 'deployment', 'evented'])).status?.readyReplicas === 2, 90_000, 500);
    await c.kubectl(['scale', 'deployment', 'evented', '--replicas=1']);
    await c.kubectl(['patch', 'job', 'labelled', '-p', '{"spec":{"parallelism":0}}']);
    const events = async () => (await json<{ items: { source?: { component?: string }; reportingComponent?: string; reason: string; message: string; involvedObject: { kind: string; name: string } }[] }>(c, ['get', 'events'])).items;
    const has = (list: Awaited<ReturnType<typeof events>>, component: string, kind: string, reason: string, message: RegExp) =>
      list.some((e) => e.source?.component === component && e.reportingComponent === component && e.involvedObject.kind === kind && e.reason === reason && message.test(e.message));
    await eventually('upstream event sources', async () => {
      const list = await events();
      return has(list, 'deployment-controller', 'Deployment', 'ScalingReplicaSet', /^Scaled up replica set evented-\w+ from 0 to 2$/)
        && has(list, 'deployment-controller', 'Deployment', 'ScalingReplicaSet', /^Scaled down replica set evented-\w+ from 2 to 1$/)
        && has(list, 'replicaset-controller', 'ReplicaSet', 'SuccessfulCreate', /^Created pod: evented-\w+-\w+$/)
        && has(list, 'replicaset-controller', 'ReplicaSet', 'SuccessfulDelete', /^Deleted pod: evented-\w+-\w+$/)
        && has(list, 'job-controller', 'Job', 'SuccessfulCreate', /^Created pod: labelled-\w+$/)
        && has(list, 'job-controller', 'Job', 'SuccessfulDelete', /^Deleted pod: labelled-\w+$/)
        && has(list, 'default-scheduler', 'Pod', 'Scheduled', /^Successfully assigned default\/evented-\w+-\w+ to fid-edge-a$/);
    }, 60_000, 500);
    await c.kubectl(['apply', '-f', '-'], `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: evented-ds}
spec:
  selector: {matchLabels: {app: evented-ds}}
  template:
    metadata: {labels: {app: evented-ds}}
    spec: {containers: [{name: c, image: busybox}]}
`);
    await eventually('DaemonSet SuccessfulCreate', async () => has(await events(), 'daemonset-controller', 'DaemonSet', 'SuccessfulCreate', /^Created pod: evented-ds-\w+$/), 60_000, 500);
    await c.kubectl(['patch', 'daemonset', 'evented-ds', '-p', '{"spec":{"template":{"spec":{"nodeSelector":{"nowhere":"x"}}}}}']);
    await eventually('DaemonSet SuccessfulDelete', async () => has(await events(), 'daemonset-controller', 'DaemonSet', 'SuccessfulDelete', /^Deleted pod: evented-ds-\w+$/), 60_000, 500);
  });

  it('kubectl get hpa.v1.autoscaling -o yaml prints v2, as kubectl v1.32 does against kube-apiserver: its short-name expansion drops the version', async () => {
    await c.kubectl(['create', 'deployment', 'scaled', '--image=nginx']);
    await c.kubectl(['autoscale', 'deployment', 'scaled', '--max=3', '--cpu-percent=60']);
    // kubectl 1.32's shortcutExpander rebuilds the resource from the short name's long form without the version,
    // so `hpa.v1.autoscaling` resolves to the group's preferred version: autoscaling/v2 (also upstream's preferred).
    const group = JSON.parse(await c.kubectl(['get', '--raw', '/apis/autoscaling']));
    assert.equal(group.preferredVersion.groupVersion, 'autoscaling/v2');
    const short = await kubectlResult(c, ['get', 'hpa.v1.autoscaling', 'scaled', '-o', 'yaml', '-v=6']);
    assert.match(short.out, /GET https:\/\/[^ ]+\/apis\/autoscaling\/v2\/namespaces\/default\/horizontalpodautoscalers\/scaled/);
    // The full resource name keeps the version, and the v1 endpoint serves the v1 shape.
    const v1 = await json(c, ['get', 'horizontalpodautoscalers.v1.autoscaling', 'scaled']);
    assert.equal(v1.apiVersion, 'autoscaling/v1');
    assert.equal(v1.spec.targetCPUUtilizationPercentage, 60);
    assert.equal(v1.spec.metrics, undefined);
    const rawV1 = JSON.parse(await c.kubectl(['get', '--raw', '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/scaled']));
    assert.equal(rawV1.apiVersion, 'autoscaling/v1');
    assert.equal(rawV1.spec.targetCPUUtilizationPercentage, 60);
  });
  it('empty optional lists and maps are dropped as Go\'s omitempty drops them: no diff drift, no env: [] and no extra ReplicaSet', async () => {
    const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: omit, labels: {app: omit}}
spec:
  replicas: 1
  selector: {matchLabels: {app: omit}}
  template:
    metadata: {labels: {app: omit}, annotations: {}}
    spec:
      containers: [{name: c, image: nginx, ports: [], env: []}]
`;
    await c.kubectl(['apply', '--server-side', '-f', '-'], manifest);
    const stored = await json(c, ['get', 'deployment', 'omit']);
    assert.equal('annotations' in stored.spec.template.metadata, false);
    assert.equal('env' in stored.spec.template.spec.containers[0], false);
    assert.equal('ports' in stored.spec.template.spec.containers[0], false);
    const diff = await kubectlResult(c, ['diff', '--server-side', '-f', '-'], manifest);
    assert.equal(diff.code, 0, `kubectl diff reports drift on an unchanged object:\n${diff.out}`);
    assert.equal(diff.out.trim(), '');

    const replicaSets = async () => (await json<{ items: { metadata: { name: string; labels: Record<string, string> } }[] }>(c, ['get', 'rs', '-l', 'app=omit'])).items.map((r) => r.metadata.name).sort();
    await eventually('the first ReplicaSet', async () => (await replicaSets()).length === 1);
    const [first] = await replicaSets();
    // pod-template-hash as upstream forms it: the decimal FNV-32a sum through rand.SafeEncodeString.
    const hash = (await json(c, ['get', 'rs', first!])).metadata.labels['pod-template-hash'] as string;
    assert.match(hash, /^[4-9bcdf]{1,10}$/);
    assert.equal(first, `omit-${hash}`);
    await c.kubectl(['patch', 'deployment', 'omit', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]}]}}}}']);
    await eventually('the second ReplicaSet', async () => (await replicaSets()).length === 2);
    await c.kubectl(['patch', 'deployment', 'omit', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}]}]}}}}']);
    const back = await json(c, ['get', 'deployment', 'omit']);
    assert.equal('env' in back.spec.template.spec.containers[0], false, 'no env: [] (nor [{}]) left behind');
    // The template is the first one again: the controller goes back to the first ReplicaSet, no third one.
    await eventually('rolled back to the first ReplicaSet', async () => {
      const d = await json(c, ['get', 'deployment', 'omit']);
      const rs = await json(c, ['get', 'rs', first!]);
      return d.status?.observedGeneration === d.metadata.generation && rs.spec.replicas === 1;
    }, 60_000, 500);
    assert.equal((await replicaSets()).length, 2);
  });

  it('kubectl rollout pause mid-rollout leaves both ReplicaSets as they are; scaling while paused is proportional as upstream', async () => {
    // minReadySeconds keeps the new pods from becoming available, so the rollout stops after its first surge step.
    await c.kubectl(['apply', '-f', '-'], `apiVersion: apps/v1
kind: Deployment
metadata: {name: paused}
spec:
  replicas: 4
  minReadySeconds: 3600
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: paused}}
  template:
    metadata: {labels: {app: paused}}
    spec: {containers: [{name: c, image: nginx}]}
`);
    // The first pods must be available before a rollout: skip the wait by reading availability from the status.
    await c.kubectl(['patch', 'deployment', 'paused', '-p', '{"spec":{"minReadySeconds":0}}']);
    await eventually('4 available', async () => (await json(c, ['get', 'deployment', 'paused'])).status?.availableReplicas === 4, 90_000, 500);
    await c.kubectl(['patch', 'deployment', 'paused', '-p', '{"spec":{"minReadySeconds":3600,"template":{"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}']);
    const sizes = async () => {
      const items = (await json<{ items: { metadata: { name: string }; spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } }[] }>(c, ['get', 'rs', '-l', 'app=paused'])).items;
      const of = (image: string) => items.find((r) => r.spec.template.spec.containers[0]!.image === image)?.spec.replicas;
      return { old: of('nginx'), new: of('nginx:1.27') };
    };
    await eventually('the surge step', async () => { const s = await sizes(); return s.old === 4 && s.new === 1; }, 60_000, 500);
    await c.kubectl(['rollout', 'pause', 'deployment/paused']);
    await eventually('the controller saw the pause', async () => {
      const d = await json(c, ['get', 'deployment', 'paused']);
      return d.status?.observedGeneration === d.metadata.generation && d.status?.conditions?.some((x: { type: string; reason: string }) => x.type === 'Progressing' && x.reason === 'DeploymentPaused');
    }, 60_000, 500);
    assert.deepEqual(await sizes(), { old: 4, new: 1 });
    // Scaling 4 → 8 (maxSurge 1: 9 allowed) spreads the 4 extra replicas by size, as upstream's getReplicaSetFraction:
    // old 4·9/5 = 7.2 → 7, new 1·9/5 = 1.8 → 2.
    await c.kubectl(['scale', 'deployment/paused', '--replicas=8']);
    await eventually('proportional scaling', async () => { const s = await sizes(); return s.old === 7 && s.new === 2; }, 60_000, 500);
    assert.deepEqual(await sizes(), { old: 7, new: 2 });
    await c.kubectl(['delete', 'deployment', 'paused', '--wait=false']);
  });

  it('a terminating namespace reports NamespaceContentRemaining and NamespaceFinalizersRemaining as upstream', async () => {
    await c.kubectl(['create', 'namespace', 'held']);
    await c.kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: holder, namespace: held, finalizers: [example.com/hold]}\n');
    await c.kubectl(['delete', 'namespace', 'held', '--wait=false']);
    const condition = (ns: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } }, type: string) => ns.status?.conditions?.find((x) => x.type === type);
    await eventually('conditions naming the held ConfigMap', async () => {
      const ns = await json(c, ['get', 'namespace', 'held']);
      const content = condition(ns, 'NamespaceContentRemaining');
      const finalizers = condition(ns, 'NamespaceFinalizersRemaining');
      return ns.status?.phase === 'Terminating'
        && content?.status === 'True' && content.reason === 'SomeResourcesRemain' && content.message === 'Some resources are remaining: configmaps has 1 resource instances'
        && finalizers?.status === 'True' && finalizers.reason === 'SomeFinalizersRemain' && finalizers.message === 'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances';
    }, 60_000, 500);
    const ns = await json(c, ['get', 'namespace', 'held']);
    assert.equal(condition(ns, 'NamespaceDeletionDiscoveryFailure')?.reason, 'ResourcesDiscovered');
    assert.equal(condition(ns, 'NamespaceDeletionContentFailure')?.reason, 'ContentDeleted');
    await c.kubectl(['patch', 'configmap', 'holder', '-n', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await eventually('the namespace gone', async () => (await kubectlResult(c, ['get', 'namespace', 'held'])).code !== 0, 60_000, 500);
  });

  it('a new Node is tainted node.kubernetes.io/not-ready:NoSchedule until it is Ready', async () => {
    const edge = await json(c, ['get', 'node', 'fid-edge-a']);
    assert.ok(!(edge.spec.taints ?? []).some((t: { key: string }) => t.key === 'node.kubernetes.io/not-ready'), 'lifted from the Ready node');
    await c.kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: Node\nmetadata: {name: fid-bare, labels: {fid: bare}}\n');
    try {
      const bare = await json(c, ['get', 'node', 'fid-bare']);
      assert.deepEqual(bare.spec.taints, [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }]);
      await c.kubectl(['run', 'to-bare', '--image=busybox', '--overrides={"spec":{"nodeSelector":{"fid":"bare"}}}']);
      await eventually('unschedulable, naming the taint', async () => {
        const cond = (await json(c, ['get', 'pod', 'to-bare'])).status?.conditions?.find((x: { type: string }) => x.type === 'PodScheduled');
        return cond?.reason === 'Unschedulable' && /^0\/2 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector, 1 node\(s\) had untolerated taint \{node\.kubernetes\.io\/not-ready: \}\./.test(cond.message);
      }, 60_000, 500);
      const ready = { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: new Date().toISOString() }] } };
      await c.kubectl(['patch', 'node', 'fid-bare', '--subresource=status', '--type=merge', '-p', JSON.stringify(ready)]);
      await eventually('taint lifted once Ready', async () => !((await json(c, ['get', 'node', 'fid-bare'])).spec.taints ?? []).some((t: { key: string }) => t.key === 'node.kubernetes.io/not-ready'), 60_000, 250);
    } finally {
      await c.kubectl(['delete', 'pod', 'to-bare', '--wait=false', '--ignore-not-found']);
      await c.kubectl(['delete', 'node', 'fid-bare']);
    }
  });
});
