import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatePodSecurity, existingPodWarnings, podSecurityViolations } from './pod-security.js';

const restrictedPod = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [{ name: 'c', image: 'x', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
};

test('a plain pod violates restricted exactly as upstream words it; privileged admits all', () => {
  const spec = { containers: [{ name: 'nginx', image: 'nginx' }] };
  assert.deepEqual(podSecurityViolations(spec, 'restricted'), [
    'allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false)',
    'unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"])',
    'runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true)',
    'seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
  ]);
  assert.deepEqual(podSecurityViolations(spec, 'baseline'), []);
  assert.deepEqual(podSecurityViolations({ hostNetwork: true, containers: [{ name: 'a', securityContext: { privileged: true } }] }, 'privileged'), []);
  assert.deepEqual(podSecurityViolations(restrictedPod, 'restricted'), []);
});

test('baseline: host namespaces, hostPath, hostPort, privileged, capabilities, with plural container names', () => {
  const spec = {
    hostNetwork: true, hostPID: true,
    volumes: [{ name: 'root', hostPath: { path: '/' } }, { name: 'cfg', configMap: { name: 'x' } }],
    containers: [
      { name: 'a', securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN', 'CHOWN'] } }, ports: [{ containerPort: 80, hostPort: 80 }] },
      { name: 'b', securityContext: { privileged: true } },
    ],
  };
  assert.deepEqual(podSecurityViolations(spec, 'baseline'), [
    'non-default capabilities (container "a" must not include "NET_ADMIN" in securityContext.capabilities.add)',
    'host namespaces (hostNetwork=true, hostPID=true)',
    'hostPath volumes (volume "root")',
    'hostPort (container "a" uses hostPort 80)',
    'privileged (containers "a", "b" must not set securityContext.privileged=true)',
  ]);
  // At restricted, the volume-type check replaces the hostPath one.
  assert.ok(podSecurityViolations(spec, 'restricted').includes('restricted volume types (volume "root" uses restricted volume type "hostPath")'));
});

test('labels: enforce refuses with level:version, warn warns, an unknown level is restricted', () => {
  const spec = { containers: [{ name: 'c', securityContext: { privileged: true } }] };
  assert.match(evaluatePodSecurity(spec, { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.31' }).refuse!,
    /^violates PodSecurity "baseline:v1\.31": privileged \(container "c" must not set securityContext\.privileged=true\)$/);
  assert.deepEqual(evaluatePodSecurity(spec, { 'pod-security.kubernetes.io/warn': 'baseline' }),
    { warnings: ['would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)'] });
  assert.match(evaluatePodSecurity(restrictedPod, { 'pod-security.kubernetes.io/enforce': 'nonsense' }).refuse ?? 'admitted', /^admitted$/);
  assert.match(evaluatePodSecurity({ containers: [{ name: 'c' }] }, { 'pod-security.kubernetes.io/enforce': 'nonsense' }).refuse!, /^violates PodSecurity "restricted:latest"/);
  assert.deepEqual(evaluatePodSecurity(spec, undefined), { warnings: [] });
});

test('a namespace whose enforce level rises warns about its existing pods, grouped by reasons; unchanged levels do not', () => {
  const plain = (name: string) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'x' }] } });
  const enforce = (level: string) => ({ 'pod-security.kubernetes.io/enforce': level });
  const pods = [plain('b'), plain('a'), plain('c'), { metadata: { name: 'ok' }, spec: restrictedPod }];
  assert.deepEqual(existingPodWarnings('ns', undefined, enforce('restricted'), pods), [
    'existing pods in namespace "ns" violate the new PodSecurity enforce level "restricted:latest"',
    'a (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile',
  ]);
  assert.deepEqual(existingPodWarnings('ns', enforce('restricted'), enforce('restricted'), pods), []);
  assert.deepEqual(existingPodWarnings('ns', undefined, enforce('baseline'), pods), []);
  assert.deepEqual(existingPodWarnings('ns', enforce('baseline'), enforce('privileged'), pods), []);
});
