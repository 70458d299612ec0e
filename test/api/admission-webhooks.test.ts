/**
 * Dynamic admission against a real `kedge server` with the stock kubectl: an HTTPS webhook written here (certificate
 * from a CA of its own, pinned through caBundle) receives admission.k8s.io/v1 AdmissionReviews; a validating webhook
 * refuses an object with upstream's message, a mutating one (reached through a Service and its Endpoints) patches
 * objects with JSONPatch, selectors limit what is sent, and failurePolicy / timeoutSeconds / a wrong CA behave as
 * kube-apiserver's. The server runs with `--admission-control-config-file` (AdmissionConfiguration with a
 * PodSecurityConfiguration in a file of its own): defaults for unlabelled namespaces and exemptions, as upstream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from '../../src/pki/certificates.js';
import { KUBECTL, startCluster, type Cluster } from '../edge/cluster.js';

type Review = { apiVersion: string; kind: string; request: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('admission webhooks (ValidatingWebhookConfiguration, MutatingWebhookConfiguration)', { timeout: 300_000 }, () => {
  let c: Cluster;
  let server: https.Server;
  let port = 0;
  let caBundle = '';
  let configDir = '';
  const received: Review[] = [];

  const respond = (review: Review, response: Record<string, unknown>) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, ...response } });

  before(async () => {
    const ca = await createCertificateAuthority('webhook-test-ca');
    const cert = await issueServerCertificate(ca, 'guard.wh.svc', ['127.0.0.1', 'guard.wh.svc']);
    caBundle = Buffer.from(ca.certPem).toString('base64');
    server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
        received.push(review);
        const obj = review.request.object ?? {};
        res.setHeader('Content-Type', 'application/json');
        if (req.url === '/validate') {
          if (obj.data?.forbidden !== undefined) {
            res.end(respond(review, { allowed: false, status: { code: 403, reason: 'Forbidden', message: 'configmaps may not carry a "forbidden" key' } }));
          } else res.end(respond(review, { allowed: true }));
        } else if (req.url === '/mutate') {
          const patch = [{ op: 'add', path: '/metadata/labels/mutated-by', value: 'test-webhook' }];
          res.end(respond(review, { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }));
        } else if (req.url === '/protect') {
          // DELETE: refuse to delete what is labelled protected; CONNECT: refuse an exec of `rm`.
          const old = review.request.oldObject ?? {};
          if (review.request.operation === 'DELETE' && old.metadata?.labels?.protected === 'yes') {
            res.end(respond(review, { allowed: false, status: { code: 403, reason: 'Forbidden', message: `${old.metadata.name} is protected` } }));
          } else if (review.request.operation === 'CONNECT' && (obj.command ?? [])[0] === 'rm') {
            res.end(respond(review, { allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no rm in exec' } }));
          } else res.end(respond(review, { allowed: true }));
        } else if (req.url === '/slow') {
          setTimeout(() => res.end(respond(review, { allowed: true })), 4000);
        } else res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
    // PodSecurity's configuration as kube-apiserver takes it: the plugin entry names a file of its own (relative path).
    configDir = mkdtempSync(path.join(os.tmpdir(), 'kedge-admission-config-'));
    writeFileSync(path.join(configDir, 'admission.yaml'), [
      'apiVersion: apiserver.config.k8s.io/v1', 'kind: AdmissionConfiguration', 'plugins:', '- name: PodSecurity', '  path: pod-security.yaml', ''].join('\n'));
    writeFileSync(path.join(configDir, 'pod-security.yaml'), [
      'apiVersion: pod-security.admission.config.k8s.io/v1', 'kind: PodSecurityConfiguration',
      'defaults: {enforce: baseline, enforce-version: latest, warn: restricted}',
      'exemptions: {usernames: [ops-breakglass], runtimeClasses: [sandboxed], namespaces: [psa-exempt]}', ''].join('\n'));
    c = await startCluster('admission-webhooks', { hub: false, serverArgs: ['--admission-control-config-file', path.join(configDir, 'admission.yaml')] });
    await c.kubectl(['create', 'namespace', 'wh']);
    await c.kubectl(['label', 'namespace', 'wh', 'webhooks=on']);
    await c.kubectl(['create', 'namespace', 'plain']);
  });

  after(async () => {
    await c?.h.cleanup();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  const apply = (obj: unknown) => c.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  const webhook = (name: string, clientConfig: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name, clientConfig, sideEffects: 'None', admissionReviewVersions: ['v1'],
    rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
    namespaceSelector: { matchLabels: { webhooks: 'on' } }, ...extra,
  });
  const failure = async (args: string[]) => {
    try {
      await c.kubectl(args);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail(`kubectl ${args.join(' ')} succeeded`);
  };

  it('a validating webhook refuses an object with upstream\'s message; it sees an admission.k8s.io/v1 AdmissionReview', async () => {
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'deny' },
      webhooks: [webhook('deny.kedge.example.com', { url: `https://127.0.0.1:${port}/validate`, caBundle })] });
    const cfg = JSON.parse(await c.kubectl(['get', 'validatingwebhookconfiguration', 'deny', '-o', 'json']));
    assert.equal(cfg.webhooks[0].failurePolicy, 'Fail');
    assert.equal(cfg.webhooks[0].timeoutSeconds, 10);
    assert.equal(cfg.webhooks[0].matchPolicy, 'Equivalent');
    const msg = await failure(['create', 'configmap', 'bad', '-n', 'wh', '--from-literal=forbidden=1']);
    assert.match(msg, /failed to create configmap: admission webhook "deny\.kedge\.example\.com" denied the request: configmaps may not carry a "forbidden" key/);
    assert.match(await c.kubectl(['get', 'configmaps', '-n', 'wh']), /kube-root-ca\.crt/);
    assert.ok(!(await c.kubectl(['get', 'configmaps', '-n', 'wh', '-o', 'name'])).includes('configmap/bad'), 'nothing stored');
    const review = received.find((r) => r.request.name === 'bad')!;
    assert.equal(review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(review.request.operation, 'CREATE');
    assert.deepEqual(review.request.kind, { group: '', version: 'v1', kind: 'ConfigMap' });
    assert.deepEqual(review.request.resource, { group: '', version: 'v1', resource: 'configmaps' });
    assert.equal(review.request.namespace, 'wh');
    assert.equal(review.request.userInfo.username, 'kubernetes-admin');
    assert.equal(review.request.object.data.forbidden, '1');
    await c.kubectl(['create', 'configmap', 'good', '-n', 'wh', '--from-literal=ok=1']);
    // The namespaceSelector keeps other namespaces out of the webhook's sight.
    const before = received.length;
    await c.kubectl(['create', 'configmap', 'bad', '-n', 'plain', '--from-literal=forbidden=1']);
    assert.equal(received.length, before);
  });

  it('a mutating webhook behind a Service patches objects its objectSelector picks', async () => {
    await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'guard', namespace: 'wh' }, spec: { ports: [{ name: 'https', port: 443, targetPort: port }] } });
    await apply({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'guard', namespace: 'wh' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port }] }] });
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'labeller' },
      webhooks: [webhook('label.kedge.example.com', { service: { name: 'guard', namespace: 'wh', path: '/mutate' }, caBundle }, { objectSelector: { matchLabels: { mutate: 'yes' } } })] });
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm1', namespace: 'wh', labels: { mutate: 'yes' } }, data: { a: '1' } });
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm2', namespace: 'wh' }, data: { a: '1' } });
    const labels = (n: string) => c.kubectl(['get', 'configmap', n, '-n', 'wh', '-o', 'jsonpath={.metadata.labels}']);
    assert.match(await labels('m1'), /"mutated-by":"test-webhook"/);
    assert.doesNotMatch(await labels('m2'), /mutated-by/);
  });

  it('failurePolicy, timeoutSeconds and a wrong caBundle behave as upstream', async () => {
    await c.kubectl(['delete', 'mutatingwebhookconfiguration', 'labeller']);
    const closed = `https://127.0.0.1:1/validate`;
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'down' },
      webhooks: [webhook('down.kedge.example.com', { url: closed, caBundle }, { failurePolicy: 'Ignore' })] });
    await c.kubectl(['create', 'configmap', 'ignored', '-n', 'wh']);
    await c.kubectl(['patch', 'validatingwebhookconfiguration', 'down', '--type=json', '-p', '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]']);
    assert.match(await failure(['create', 'configmap', 'refused', '-n', 'wh']), /Internal error occurred: failed calling webhook "down\.kedge\.example\.com": failed to call webhook: .*ECONNREFUSED/);
    await c.kubectl(['delete', 'validatingwebhookconfiguration', 'down']);
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'slow' },
      webhooks: [webhook('slow.kedge.example.com', { url: `https://127.0.0.1:${port}/slow`, caBundle }, { timeoutSeconds: 1 })] });
    assert.match(await failure(['create', 'configmap', 'late', '-n', 'wh']), /failed calling webhook "slow\.kedge\.example\.com": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/slow": context deadline exceeded/);
    await c.kubectl(['delete', 'validatingwebhookconfiguration', 'slow']);
    const other = await createCertificateAuthority('not-the-webhook-ca');
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'pinned' },
      webhooks: [webhook('pinned.kedge.example.com', { url: `https://127.0.0.1:${port}/validate`, caBundle: Buffer.from(other.certPem).toString('base64') })] });
    assert.match(await failure(['create', 'configmap', 'untrusted', '-n', 'wh']), /failed calling webhook "pinned\.kedge\.example\.com".*certificate/);
    await c.kubectl(['delete', 'validatingwebhookconfiguration', 'pinned']);
    // Bad configurations are refused with upstream's field errors.
    const bad = await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'bad' },
      webhooks: [{ name: 'short.name', clientConfig: { url: 'http://127.0.0.1:1/x' }, admissionReviewVersions: ['v1'], rules: [] }] }).then(() => '', (err: Error) => err.message);
    assert.match(bad, /webhooks\[0\]\.name: Invalid value: "short\.name": should be a domain with at least three segments separated by dots/);
    assert.match(bad, /webhooks\[0\]\.clientConfig\.url: Invalid value: "http:\/\/127\.0\.0\.1:1\/x": 'https' is the only allowed URL scheme/);
    assert.match(bad, /webhooks\[0\]\.sideEffects: Required value/);
  });

  it('DELETE and CONNECT are sent as upstream sends them: oldObject + DeleteOptions, PodExecOptions as the object', async () => {
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'protect' },
      webhooks: [webhook('protect.kedge.example.com', { url: `https://127.0.0.1:${port}/protect`, caBundle }, {
        rules: [
          { operations: ['DELETE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] },
          { operations: ['CONNECT'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/exec'] },
        ],
      })] });
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep', namespace: 'wh', labels: { protected: 'yes' } }, data: { a: '1' } });
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'scratch', namespace: 'wh' }, data: { a: '1' } });
    assert.match(await failure(['delete', 'configmap', 'keep', '-n', 'wh']), /admission webhook "protect\.kedge\.example\.com" denied the request: keep is protected/);
    assert.match(await c.kubectl(['get', 'configmap', 'keep', '-n', 'wh', '-o', 'name']), /configmap\/keep/, 'the refused delete lost nothing');
    const del = received.find((r) => r.request.operation === 'DELETE' && r.request.name === 'keep')!;
    assert.equal(del.request.object, null);
    assert.equal(del.request.oldObject.data.a, '1');
    assert.equal(del.request.namespace, 'wh');
    assert.equal(del.request.options.kind, 'DeleteOptions');
    assert.equal(del.request.options.apiVersion, 'meta.k8s.io/v1');
    assert.equal(del.request.options.propagationPolicy, 'Background', 'kubectl delete sends propagationPolicy Background');
    // A collection delete asks for each object; the protected one stays, the other goes.
    assert.ok(await failure(['delete', 'configmaps', '-n', 'wh', '-l', 'protected=yes']));
    await c.kubectl(['delete', 'configmap', 'scratch', '-n', 'wh']);
    assert.ok(received.some((r) => r.request.operation === 'DELETE' && r.request.name === 'scratch'));
    // CONNECT: the webhook sees PodExecOptions and refuses before the pod's node is dialled.
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell', namespace: 'wh' }, spec: { nodeName: 'no-such-node', containers: [{ name: 'c', image: 'busybox' }] } });
    assert.match(await failure(['exec', '-n', 'wh', 'shell', '--', 'rm', '-rf', '/data']), /admission webhook "protect\.kedge\.example\.com" denied the request: no rm in exec/);
    const connect = received.find((r) => r.request.operation === 'CONNECT')!;
    assert.deepEqual(connect.request.kind, { group: '', version: 'v1', kind: 'PodExecOptions' });
    assert.deepEqual(connect.request.resource, { group: '', version: 'v1', resource: 'pods' });
    assert.equal(connect.request.subResource, 'exec');
    assert.equal(connect.request.name, 'shell');
    assert.equal(connect.request.namespace, 'wh');
    assert.equal(connect.request.object.kind, 'PodExecOptions');
    assert.deepEqual(connect.request.object.command, ['rm', '-rf', '/data']);
    assert.equal(connect.request.object.container, 'c');
    assert.equal(connect.request.oldObject, null);
    assert.equal(connect.request.options, null);
    // Allowed: the request goes on to the node (absent here: upstream's dial error, not the webhook's).
    const allowed = await failure(['exec', '-n', 'wh', 'shell', '--', 'ls']);
    assert.doesNotMatch(allowed, /denied the request/);
    await c.kubectl(['delete', 'validatingwebhookconfiguration', 'protect']);
    await c.kubectl(['delete', 'configmap', 'keep', '-n', 'wh']);
  });

  it('--admission-control-config-file: PodSecurity defaults for unlabelled namespaces, exemptions by namespace, user and runtimeClass', async () => {
    await c.kubectl(['create', 'namespace', 'psa-default']);
    await c.kubectl(['create', 'namespace', 'psa-exempt']);
    const privileged = (name: string, ns: string, extra: Record<string, unknown> = {}) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
      spec: { ...extra, containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] } });
    const create = (doc: string, args: string[] = []) => c.kubectl(['create', '-f', '-', ...args], doc).then(() => '', (err: Error) => err.message);
    // The default enforce level (baseline) refuses with upstream's message in a namespace without labels.
    assert.match(await create(privileged('p1', 'psa-default')),
      /pods "p1" is forbidden: violates PodSecurity "baseline:latest": privileged \(container "c" must not set securityContext\.privileged=true\)/);
    // Exemptions: the namespace, the requesting user (impersonated), the pod's runtimeClass.
    assert.equal(await create(privileged('p2', 'psa-exempt')), '');
    assert.equal(await create(privileged('p3', 'psa-default'), ['--as=ops-breakglass', '--as-group=system:masters']), '');
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'sandboxed' }, handler: 'runc' }));
    assert.equal(await create(privileged('p4', 'psa-default', { runtimeClassName: 'sandboxed' })), '');
    // A namespace's own label wins over the default.
    await c.kubectl(['label', 'namespace', 'psa-default', 'pod-security.kubernetes.io/enforce=privileged']);
    assert.equal(await create(privileged('p5', 'psa-default')), '');
    // The default warn level (restricted) warns where the namespace sets no warn label.
    const warned = await promisify(execFile)(KUBECTL, ['--kubeconfig', c.kubeconfig, 'run', 'plain', '-n', 'psa-default', '--image=busybox', '--dry-run=server']);
    assert.match(warned.stderr, /^Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/m);
  });
});
