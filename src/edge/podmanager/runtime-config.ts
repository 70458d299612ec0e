/** Pod spec → CRI sandbox and container configs (what the kubelet's kuberuntime manager builds). */
import path from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerConfig, Mount, PodSandboxConfig, PortMapping } from '../../runtime/types.js';
import { containerLabels, sandboxLabels, RESTART_COUNT, TERMINATION_GRACE, type PodIdentity } from './labels.js';
import { linuxResources } from './resources.js';
import { ConfigError, expandVars } from './env.js';
import { podDnsConfig, type PodDnsSettings } from '../dns/pod-dns.js';

export function podIdentity(pod: V1Pod): PodIdentity {
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata!.name!, uid: pod.metadata!.uid! };
}

export function podDirName(pod: PodIdentity): string {
  return `${pod.namespace}_${pod.name}_${pod.uid}`;
}

/**
 * `dns`: the node's cluster DNS settings (the kubelet's --cluster-dns / --cluster-domain / --resolv-conf): the
 * sandbox's resolv.conf is then built as the kubelet builds it (src/edge/dns/pod-dns.ts). Without them only a
 * pod's own dnsConfig is passed, and the runtime copies the host's resolv.conf otherwise.
 */
export function sandboxConfig(nodeName: string, pod: V1Pod, podDir: string, attempt: number, dns?: PodDnsSettings): PodSandboxConfig {
  const id = podIdentity(pod);
  const hostNetwork = !!pod.spec?.hostNetwork;
  const ports: PortMapping[] = [];
  for (const c of pod.spec?.containers ?? [])
    for (const p of c.ports ?? [])
      if (p.hostPort) ports.push({ protocol: (p.protocol ?? 'TCP') as PortMapping['protocol'], containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP ?? '' });
  const sc = pod.spec?.securityContext;
  return {
    metadata: { ...id, attempt },
    hostname: hostNetwork ? '' : (pod.spec?.hostname ?? id.name).slice(0, 63),
    logDirectory: path.join(podDir, 'logs'),
    portMappings: ports,
    labels: sandboxLabels(nodeName, id, pod.metadata?.labels ?? {}),
    annotations: { ...(pod.metadata?.annotations ?? {}), [TERMINATION_GRACE]: String(pod.spec?.terminationGracePeriodSeconds ?? 30) },
    dnsConfig: dns ? podDnsConfig(pod, dns) : pod.spec?.dnsConfig ? { servers: pod.spec.dnsConfig.nameservers ?? [], searches: pod.spec.dnsConfig.searches ?? [], options: (pod.spec.dnsConfig.options ?? []).map((o) => (o.value ? `${o.name}:${o.value}` : o.name!)) } : undefined,
    linux: {
      securityContext: {
        namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD', pid: pod.spec?.hostPID ? 'NODE' : 'CONTAINER', ipc: pod.spec?.hostIPC ? 'NODE' : 'POD' },
        runAsUser: sc?.runAsUser !== undefined ? { value: sc.runAsUser } : undefined,
        runAsGroup: sc?.runAsGroup !== undefined ? { value: sc.runAsGroup } : undefined,
        supplementalGroups: sc?.supplementalGroups,
        privileged: [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some((c) => c.securityContext?.privileged),
      },
      sysctls: Object.fromEntries((sc?.sysctls ?? []).map((s) => [s.name, s.value])),
    },
  };
}

export interface ContainerBuildInput {
  nodeName: string;
  pod: V1Pod;
  container: V1Container;
  kind: 'init' | 'regular';
  attempt: number;
  envs: { key: string; value: string }[];
  volumes: Map<string, string>;
  image: string;
  nodeMemoryBytes: number;
}

export function containerConfig(i: ContainerBuildInput): ContainerConfig {
  const { pod, container: c } = i;
  const vars = new Map(i.envs.map((e) => [e.key, e.value]));
  const mounts: Mount[] = [];
  for (const vm of c.volumeMounts ?? []) {
    const host = i.volumes.get(vm.name);
    if (!host) throw new ConfigError(`cannot find volume "${vm.name}" to mount into container "${c.name}"`);
    const sub = vm.subPathExpr ? expandVars(vm.subPathExpr, vars) : vm.subPath;
    if (sub && (path.isAbsolute(sub) || sub.split('/').includes('..'))) throw new ConfigError(`invalid subPath ${JSON.stringify(sub)}`);
    mounts.push({
      containerPath: vm.mountPath,
      hostPath: sub ? path.join(host, sub) : host,
      // A claim's readOnly makes every mount of it read-only, as the kubelet's mounter attributes do.
      readonly: !!vm.readOnly || !!pod.spec?.volumes?.find((v) => v.name === vm.name)?.persistentVolumeClaim?.readOnly,
      propagation: vm.mountPropagation === 'Bidirectional' ? 'PROPAGATION_BIDIRECTIONAL' : vm.mountPropagation === 'HostToContainer' ? 'PROPAGATION_HOST_TO_CONTAINER' : 'PROPAGATION_PRIVATE',
    });
  }
  const sc = c.securityContext;
  const psc = pod.spec?.securityContext;
  const runAsUser = sc?.runAsUser ?? psc?.runAsUser;
  const runAsGroup = sc?.runAsGroup ?? psc?.runAsGroup;
  return {
    metadata: { name: c.name, attempt: i.attempt },
    image: { image: i.image },
    command: (c.command ?? []).map((s) => expandVars(s, vars)),
    args: (c.args ?? []).map((s) => expandVars(s, vars)),
    workingDir: c.workingDir ?? '',
    envs: i.envs,
    mounts,
    labels: containerLabels(i.nodeName, podIdentity(pod), c.name, i.kind),
    annotations: { [RESTART_COUNT]: String(i.attempt), [TERMINATION_GRACE]: String(pod.spec?.terminationGracePeriodSeconds ?? 30) },
    logPath: path.join(c.name, `${i.attempt}.log`),
    stdin: !!c.stdin,
    stdinOnce: !!c.stdinOnce,
    tty: !!c.tty,
    linux: {
      resources: linuxResources(pod, c, i.nodeMemoryBytes),
      securityContext: {
        privileged: !!sc?.privileged,
        capabilities: sc?.capabilities ? { addCapabilities: sc.capabilities.add ?? [], dropCapabilities: sc.capabilities.drop ?? [] } : undefined,
        namespaceOptions: { network: pod.spec?.hostNetwork ? 'NODE' : 'POD', pid: pod.spec?.hostPID ? 'NODE' : pod.spec?.shareProcessNamespace ? 'POD' : 'CONTAINER', ipc: pod.spec?.hostIPC ? 'NODE' : 'POD' },
        runAsUser: runAsUser !== undefined ? { value: runAsUser } : undefined,
        runAsGroup: runAsGroup !== undefined ? { value: runAsGroup } : undefined,
        readonlyRootfs: !!sc?.readOnlyRootFilesystem,
        noNewPrivs: sc?.allowPrivilegeEscalation === false,
      },
    },
  };
}
