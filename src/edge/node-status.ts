/** The Node this agent registers and keeps reporting: labels, capacity, addresses, OS/arch, versions, conditions. */
import os from 'node:os';
import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';

export const EDGE_ROLE_LABEL = 'node-role.kubernetes.io/edge';
export const KUBELET_VERSION = 'v1.32.0-kedge';

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

function internalIp(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export interface NodeStatusOptions {
  nodeName: string;
  labels?: Record<string, string>;
  /** Max pods this node accepts (kubelet default 110). */
  maxPods?: number;
  ready?: boolean;
  /** Fixed resources (the simulator reports the same fake machine for every hollow node). */
  capacity?: { cpu: string; memory: string };
  /** Condition transition times are kept stable between reports. */
  since: Date;
}

export function buildNode(o: NodeStatusOptions, now: Date = new Date()): V1Node {
  const ts = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z') as unknown as Date;
  const cpu = o.capacity?.cpu ?? String(os.cpus().length);
  const memory = o.capacity?.memory ?? `${Math.floor(os.totalmem() / 1024)}Ki`;
  const capacity = { cpu, memory, pods: String(o.maxPods ?? 110), 'ephemeral-storage': '10Gi' };
  const cond = (type: string, status: string, reason: string, message: string): V1NodeCondition => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: ts(now),
    lastTransitionTime: ts(o.since),
  });
  const ip = internalIp();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: o.nodeName,
      labels: {
        'kubernetes.io/hostname': o.nodeName,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': GO_ARCH[process.arch] ?? process.arch,
        [EDGE_ROLE_LABEL]: '',
        ...(o.labels ?? {}),
      },
    },
    status: {
      capacity,
      allocatable: capacity,
      addresses: [...(ip ? [{ type: 'InternalIP', address: ip }] : []), { type: 'Hostname', address: o.nodeName }],
      conditions: [
        cond('Ready', o.ready === false ? 'False' : 'True', o.ready === false ? 'KubeletNotReady' : 'KubeletReady', o.ready === false ? 'edge agent not ready' : 'kedge edge agent is posting ready status'),
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      ],
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: os.release(),
        osImage: `${os.type()} ${os.release()}`,
        containerRuntimeVersion: 'containerd://1.6',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: GO_ARCH[process.arch] ?? process.arch,
      },
    },
  };
}
