/**
 * The stock kubectl (v1.32) against a freshly started `kedge server` process: the everyday commands, their
 * output, and the upstream error texts (issue 2's "Done when" list).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KedgeServerEnv, eventually } from './kubectl-env.js';

const env = new KedgeServerEnv();
before(() => env.start());
after(() => env.cleanup());

const deployment = (replicas: number, image: string) => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: ${image}
        ports:
        - containerPort: 80
`;

test('a fresh server has the default namespaces, service account and kubernetes service', async () => {
  const ns = await env.ok(['get', 'namespaces', '-o', 'name']);
  for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(ns, new RegExp(`namespace/${n}\\b`));
  await env.ok(['get', 'serviceaccount', 'default', '-n', 'default']);
  const svc = await env.json(['get', 'service', 'kubernetes']);
  assert.equal(svc.spec.clusterIP, '10.43.0.1');
  const resources = await env.ok(['api-resources', '-o', 'name']);
  for (const r of ['pods', 'deployments.apps', 'leases.coordination.k8s.io', 'customresourcedefinitions.apiextensions.k8s.io', 'certificatesigningrequests.certificates.k8s.io']) {
    assert.ok(resources.split('\n').includes(r), `api-resources lacks ${r}`);
  }
  assert.match(await env.ok(['version', '-o', 'json']), /"serverVersion"/);
});

test('create, get -o wide/yaml/json, label and field selectors on pods', async () => {
  await env.ok(['run', 'p1', '--image=busybox:1.36', '--labels=app=a,tier=x', '--', 'sleep', '3600']);
  await env.ok(['run', 'p2', '--image=busybox', '--labels=app=b']);
  const wide = await env.ok(['get', 'pods', '-o', 'wide']);
  assert.match(wide.split('\n')[0]!, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/);
  assert.match(wide, /^p1\s+0\/1\s+Pending\s+0\s+\S+\s+<none>\s+<none>/m);
  const p1 = await env.json(['get', 'pod', 'p1']);
  assert.equal(p1.spec.restartPolicy, 'Always');
  assert.equal(p1.spec.dnsPolicy, 'ClusterFirst');
  assert.equal(p1.spec.terminationGracePeriodSeconds, 30);
  assert.equal(p1.spec.schedulerName, 'default-scheduler');
  assert.equal(p1.spec.serviceAccountName, 'default');
  assert.equal(p1.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  assert.equal((await env.json(['get', 'pod', 'p2'])).spec.containers[0].imagePullPolicy, 'Always');
  assert.match(p1.metadata.uid, /^[0-9a-f-]{36}$/);
  assert.match(p1.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(await env.ok(['get', 'pod', 'p1', '-o', 'yaml']), /^kind: Pod$/m);
  assert.equal((await env.ok(['get', 'pods', '-l', 'app=a', '-o', 'name'])).trim(), 'pod/p1');
  assert.equal((await env.ok(['get', 'pods', '-l', 'app in (a,b),tier!=x', '-o', 'name'])).trim(), 'pod/p2');
  assert.equal((await env.ok(['get', 'pods', '--field-selector', 'metadata.name=p2', '-o', 'name'])).trim(), 'pod/p2');
  assert.equal((await env.ok(['get', 'pods', '--field-selector', 'status.phase=Pending,spec.nodeName=', '-o', 'name'])).trim().split('\n').length, 2);
  const bad = await env.fails(['get', 'pods', '--field-selector', 'spec.bogus=1']);
  assert.match(bad, /Error from server \(BadRequest\): .*field label not supported: spec\.bogus/);
});

test('kubectl create subcommands (protobuf bodies) and dry-run', async () => {
  await env.ok(['create', 'namespace', 'team-a']);
  await env.ok(['create', 'configmap', 'cfg', '-n', 'team-a', '--from-literal=k=v']);
  await env.ok(['create', 'secret', 'generic', 'sec', '-n', 'team-a', '--from-literal=pw=s3cret']);
  await env.ok(['create', 'deployment', 'dep', '-n', 'team-a', '--image=nginx:1.27', '--replicas=2']);
  await env.ok(['create', 'service', 'clusterip', 'svc', '-n', 'team-a', '--tcp=80:8080']);
  assert.deepEqual((await env.json(['get', 'cm', 'cfg', '-n', 'team-a'])).data, { k: 'v' });
  assert.equal(Buffer.from((await env.json(['get', 'secret', 'sec', '-n', 'team-a'])).data.pw, 'base64').toString(), 's3cret');
  const dep = await env.json(['get', 'deploy', 'dep', '-n', 'team-a']);
  assert.equal(dep.spec.replicas, 2);
  assert.equal(dep.spec.template.spec.containers[0].image, 'nginx:1.27');
  assert.equal(dep.spec.strategy.type, 'RollingUpdate');
  const svc = await env.json(['get', 'svc', 'svc', '-n', 'team-a']);
  assert.match(svc.spec.clusterIP, /^10\.43\.\d+\.\d+$/);
  assert.equal(svc.spec.ports[0].targetPort, 8080);
  await env.ok(['create', 'configmap', 'dry', '-n', 'team-a', '--dry-run=server']);
  const gone = await env.fails(['get', 'configmap', 'dry', '-n', 'team-a']);
  assert.equal(gone, 'Error from server (NotFound): configmaps "dry" not found');
});

test('apply client-side, re-apply with changes, server-side apply, all three patch types, label/annotate, scale', async () => {
  assert.match(await env.ok(['apply', '-f', '-'], deployment(2, 'nginx:1.25')), /deployment.apps\/web created/);
  const first = await env.json(['get', 'deploy', 'web']);
  assert.ok(first.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  assert.equal(first.metadata.generation, 1);
  assert.match(await env.ok(['apply', '-f', '-'], deployment(3, 'nginx:1.26')), /deployment.apps\/web configured/);
  const second = await env.json(['get', 'deploy', 'web']);
  assert.equal(second.spec.replicas, 3);
  assert.equal(second.spec.template.spec.containers[0].image, 'nginx:1.26');
  assert.equal(second.spec.template.spec.containers[0].ports[0].containerPort, 80, 'strategic merge keeps the merged container fields');
  assert.equal(second.metadata.generation, 2);
  assert.match(await env.ok(['apply', '-f', '-'], deployment(3, 'nginx:1.26')), /deployment.apps\/web unchanged/);
  assert.match(await env.ok(['apply', '--server-side', '--force-conflicts', '-f', '-'], deployment(4, 'nginx:1.26')), /serverside-applied/);
  assert.equal((await env.json(['get', 'deploy', 'web'])).spec.replicas, 4);
  const conflict = await env.fails(['apply', '--server-side', '--field-manager=other', '-f', '-'], deployment(5, 'nginx:1.26'));
  assert.match(conflict, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.replicas/);
  const owned = await env.json(['get', 'deploy', 'web', '--show-managed-fields']);
  assert.ok(owned.metadata.managedFields.some((m: { manager: string; operation: string }) => m.manager === 'kubectl' && m.operation === 'Apply'));

  await env.ok(['patch', 'deploy', 'web', '--type=merge', '-p', '{"spec":{"paused":true}}']);
  await env.ok(['patch', 'deploy', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":1}]']);
  await env.ok(['patch', 'deploy', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}']);
  await env.ok(['label', 'deploy', 'web', 'tier=frontend']);
  await env.ok(['annotate', 'deploy', 'web', 'note=hello']);
  const patched = await env.json(['get', 'deploy', 'web']);
  assert.equal(patched.spec.paused, true);
  assert.equal(patched.spec.replicas, 1);
  assert.equal(patched.spec.template.spec.containers[0].image, 'nginx:2');
  assert.equal(patched.spec.template.spec.containers[0].ports[0].containerPort, 80);
  assert.equal(patched.metadata.labels.tier, 'frontend');
  assert.equal(patched.metadata.annotations.note, 'hello');

  assert.match(await env.ok(['scale', 'deploy', 'web', '--replicas=5']), /scaled/);
  const scaled = await env.ok(['get', 'deploy', 'web']);
  assert.match(scaled.split('\n')[0]!, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/);
  assert.match(scaled, /^web\s+\d+\/5\s/m);
});

test('get -w sees ADDED, MODIFIED and DELETED', async () => {
  await env.ok(['create', 'configmap', 'watched', '--from-literal=a=1']);
  const watcher = spawn('/usr/bin/kubectl', [`--kubeconfig=${env.kubeconfig}`, 'get', 'configmaps', '-n', 'default', '-w', '-o', 'json', '--output-watch-events', '--field-selector=metadata.name=watched', '-v=6']);
  let out = '';
  let err = '';
  watcher.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  watcher.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  try {
    // The initial list reports the existing object as ADDED; then the watch must deliver the rest.
    await eventually('the initial ADDED', async () => /"ADDED"/.test(out));
    await env.ok(['label', 'configmap', 'watched', 'changed=yes']);
    await env.ok(['delete', 'configmap', 'watched']);
    await eventually('the three watch events', async () => /"DELETED"/.test(out)).catch((e: Error) => { throw new Error(`${e.message}\nstdout: ${out}\nstderr: ${err}`); });
    const types = [...out.matchAll(/"type":\s*"(\w+)"/g)].map((m) => m[1]);
    assert.deepEqual(types, ['ADDED', 'MODIFIED', 'DELETED']);
  } finally {
    watcher.kill('SIGKILL');
  }
});

test('delete with cascade modes records what the garbage collector needs', async () => {
  for (const [name, cascade, finalizer] of [['orph', 'orphan', 'orphan'], ['fore', 'foreground', 'foregroundDeletion']] as const) {
    await env.ok(['create', 'deployment', name, '--image=nginx']);
    await env.ok(['delete', 'deployment', name, `--cascade=${cascade}`, '--wait=false']);
    const r = await env.kubectl(['get', 'deployment', name, '-o', 'json']);
    if (r.code === 0) {
      // Still there: the garbage collector has not finished; the object must carry the propagation finalizer.
      const obj = JSON.parse(r.stdout);
      assert.ok(obj.metadata.deletionTimestamp);
      assert.ok(obj.metadata.finalizers.includes(finalizer), `expected ${finalizer} in ${obj.metadata.finalizers}`);
    } else {
      assert.match(r.stderr, /NotFound/);
    }
  }
  await env.ok(['create', 'deployment', 'bg', '--image=nginx']);
  await env.ok(['delete', 'deployment', 'bg']);
  assert.match(await env.fails(['get', 'deployment', 'bg']), /deployments.apps "bg" not found/);
  // A finalizer holds the object until it is removed.
  await env.ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: ["example.com/hold"]\n');
  await env.ok(['delete', 'configmap', 'held', '--wait=false']);
  assert.ok((await env.json(['get', 'configmap', 'held'])).metadata.deletionTimestamp);
  await env.ok(['patch', 'configmap', 'held', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
  assert.match(await env.fails(['get', 'configmap', 'held']), /configmaps "held" not found/);
});

test('error cases carry upstream reasons and change nothing', async () => {
  assert.equal(await env.fails(['get', 'pod', 'nope']), 'Error from server (NotFound): pods "nope" not found');
  assert.equal(await env.fails(['delete', 'namespace', 'kube-system']), 'Error from server (Forbidden): namespaces "kube-system" is forbidden: this namespace may not be deleted');
  await env.ok(['create', 'configmap', 'dup']);
  assert.equal(await env.fails(['create', 'configmap', 'dup']), 'error: failed to create configmap: configmaps "dup" already exists');
  assert.match(await env.fails(['create', '-f', '-'], '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}'), /Error from server \(AlreadyExists\).*configmaps "dup" already exists/);
  const invalid = await env.fails(['create', '-f', '-'], '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}');
  assert.match(invalid, /The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
  const noContainers = await env.fails(['create', '-f', '-'], '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"empty"},"spec":{"containers":[]}}');
  assert.match(noContainers, /The Pod "empty" is invalid: spec.containers: Required value/);
  assert.match(await env.fails(['get', 'flunders']), /the server doesn't have a resource type "flunders"/);
  assert.match(await env.fails(['create', '-f', '-', '--validate=false'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: [\n'), /error/i);
  // kubectl itself looks the namespace up after a 404 and reports that, as against upstream.
  assert.equal(await env.fails(['get', 'pods', '-n', 'no-such-ns', 'x']), 'Error from server (NotFound): namespaces "no-such-ns" not found');
  assert.match(await env.fails(['create', 'configmap', 'c', '-n', 'no-such-ns']), /namespaces "no-such-ns" not found/);
  const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'huge' }, data: { blob: 'x'.repeat(4 * 1024 * 1024) } });
  assert.match(await env.fails(['create', '-f', '-'], big), /Request entity too large: limit is 3145728/);
  assert.match(await env.fails(['get', 'configmap', 'huge']), /not found/);
  const stale = await env.json(['get', 'configmap', 'dup']);
  await env.ok(['label', 'configmap', 'dup', 'v=2']);
  const conflict = await env.fails(['replace', '-f', '-'], JSON.stringify({ ...stale, data: { x: 'y' } }));
  assert.match(conflict, /Error from server \(Conflict\).*Operation cannot be fulfilled on configmaps "dup": the object has been modified/);
  assert.equal((await env.json(['get', 'configmap', 'dup'])).data, undefined);
});

test('explain, auth can-i with impersonation, pagination', async () => {
  assert.match(await env.ok(['explain', 'pod.spec.containers']), /FIELD:\s+containers/);
  assert.equal((await env.ok(['auth', 'can-i', 'create', 'pods'])).trim(), 'yes');
  assert.equal((await env.kubectl(['auth', 'can-i', 'create', 'pods', '--as=jane'])).stdout.trim(), 'no');
  await env.ok(['create', 'rolebinding', 'jane-view', '--clusterrole=view', '--user=jane']);
  assert.equal((await env.ok(['auth', 'can-i', 'list', 'pods', '--as=jane'])).trim(), 'yes');
  assert.match(await env.fails(['create', 'configmap', 'nope', '--as=jane']),
    /configmaps is forbidden: User "jane" cannot create resource "configmaps" in API group "" in the namespace "default"/);
  await env.ok(['create', 'namespace', 'pages']);
  for (let i = 0; i < 7; i++) await env.ok(['create', 'configmap', `page-${i}`, '-n', 'pages']);
  const chunked = await env.ok(['get', 'configmaps', '-n', 'pages', '--chunk-size=2', '-o', 'name']);
  assert.deepEqual(chunked.trim().split('\n').filter((l) => l.includes('page-')), [0, 1, 2, 3, 4, 5, 6].map((i) => `configmap/page-${i}`));
  const page = JSON.parse(await env.ok(['get', '--raw', '/api/v1/namespaces/pages/configmaps?limit=3']));
  assert.equal(page.items.length, 3);
  assert.ok(page.metadata.continue);
  // Every namespace also holds the root-CA publisher's kube-root-ca.crt (sorted first), as upstream.
  assert.equal(page.items[0].metadata.name, 'kube-root-ca.crt');
  assert.equal(page.metadata.remainingItemCount, 5);
  const next = JSON.parse(await env.ok(['get', '--raw', `/api/v1/namespaces/pages/configmaps?limit=3&continue=${encodeURIComponent(page.metadata.continue)}`]));
  assert.deepEqual(next.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['page-2', 'page-3', 'page-4']);
  await env.ok(['delete', 'namespace', 'pages', '--timeout=30s']);
  assert.match(await env.fails(['get', 'namespace', 'pages']), /namespaces "pages" not found/);
});

test('restart on the same data dir keeps objects and credentials', async () => {
  await env.ok(['create', 'configmap', 'survivor', '--from-literal=k=v']);
  const before = await env.json(['get', 'configmap', 'survivor']);
  const kubeconfigBefore = readFileSync(env.kubeconfig, 'utf8');
  await env.server.restart();
  await eventually('server back', async () => (await env.kubectl(['get', '--raw', '/readyz'])).code === 0, 60_000);
  const after = await env.json(['get', 'configmap', 'survivor']);
  assert.equal(after.metadata.uid, before.metadata.uid);
  assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
  assert.equal(readFileSync(env.kubeconfig, 'utf8'), kubeconfigBefore, 'same CA and admin credentials after a restart');
});
