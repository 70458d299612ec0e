import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { integerValueOf, milliValueOf } from '../../common/quantity.js';

export interface Resources {
  cpuMillis: number;
  memory: number;
  pods: number;
}

/** Effective requests of a pod, as upstream computes them: max(sum(containers), any init container) + overhead. */
export function podRequests(pod: V1Pod): Resources {
  let cpu = 0;
  let mem = 0;
  for (const c of pod.spec?.containers ?? []) {
    const r = c.resources?.requests ?? c.resources?.limits ?? {};
    cpu += milliValueOf(r.cpu);
    mem += integerValueOf(r.memory);
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const r = c.resources?.requests ?? c.resources?.limits ?? {};
    cpu = Math.max(cpu, milliValueOf(r.cpu));
    mem = Math.max(mem, integerValueOf(r.memory));
  }
  const o = pod.spec?.overhead ?? {};
  cpu += milliValueOf(o.cpu);
  mem += integerValueOf(o.memory);
  return { cpuMillis: cpu, memory: mem, pods: 1 };
}

export function nodeAllocatable(node: V1Node): Resources {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return {
    cpuMillis: a.cpu !== undefined ? milliValueOf(a.cpu) : Number.POSITIVE_INFINITY,
    memory: a.memory !== undefined ? integerValueOf(a.memory) : Number.POSITIVE_INFINITY,
    pods: a.pods !== undefined ? integerValueOf(a.pods) : 110,
  };
}

export function podHostPorts(pod: V1Pod): string[] {
  const out: string[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.hostPort) out.push(`${p.protocol ?? 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
    }
  }
  return out;
}

/** Two host-port claims conflict when protocol and port match and either IP is the wildcard or both are equal. */
export function hostPortsConflict(a: string, b: string): boolean {
  const [pa, ia, na] = a.split('/');
  const [pb, ib, nb] = b.split('/');
  if (pa !== pb || na !== nb) return false;
  return ia === ib || ia === '0.0.0.0' || ib === '0.0.0.0';
}

export function isTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** What the scheduler knows about one node: the node object plus the pods counted against it. */
export interface NodeInfo {
  node: V1Node;
  /** parsed once per node update: scoring reads it for every pod */
  allocatable: Resources;
  /** controller uid → number of its pods here (for spreading replicas) */
  owners: Map<string, number>;
  requested: Resources;
  hostPorts: string[];
  pods: Map<string, V1Pod>;
}

/**
 * In-memory view the scheduler decides from: nodes and the pods assigned (or assumed) to them. Kept up to
 * date incrementally from informer events so one decision costs O(nodes), not a list call. Pods we bound but
 * whose update has not arrived yet are "assumed" so two pods are never placed on the last free slot.
 */
export class ClusterState {
  readonly nodes = new Map<string, NodeInfo>();
  /** podKey → node the pod counts against */
  private readonly podNode = new Map<string, string>();
  private readonly podObj = new Map<string, V1Pod>();
  private readonly pendingPodsForNode = new Map<string, Map<string, V1Pod>>();

  static podKey(pod: V1Pod): string {
    return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  }

  setNode(node: V1Node): void {
    const name = node.metadata!.name!;
    const info = this.nodes.get(name);
    if (info) {
      info.node = node;
      info.allocatable = nodeAllocatable(node);
      return;
    }
    const fresh: NodeInfo = { node, allocatable: nodeAllocatable(node), owners: new Map(), requested: { cpuMillis: 0, memory: 0, pods: 0 }, hostPorts: [], pods: new Map() };
    this.nodes.set(name, fresh);
    // pods that arrived before their node
    const waiting = this.pendingPodsForNode.get(name);
    if (waiting) {
      this.pendingPodsForNode.delete(name);
      for (const p of waiting.values()) this.addToNode(fresh, p);
    }
  }

  deleteNode(name: string): void {
    const info = this.nodes.get(name);
    if (!info) return;
    this.nodes.delete(name);
    if (info.pods.size) this.pendingPodsForNode.set(name, info.pods);
  }

  /** Records a pod (or its removal when it is terminal/deleted/unassigned). */
  setPod(pod: V1Pod): void {
    const key = ClusterState.podKey(pod);
    const nodeName = pod.spec?.nodeName;
    const prevNode = this.podNode.get(key);
    if (prevNode !== undefined) this.removePod(key);
    if (!nodeName || isTerminal(pod)) return;
    this.podNode.set(key, nodeName);
    this.podObj.set(key, pod);
    const info = this.nodes.get(nodeName);
    if (info) this.addToNode(info, pod);
    else {
      let m = this.pendingPodsForNode.get(nodeName);
      if (!m) this.pendingPodsForNode.set(nodeName, (m = new Map()));
      m.set(key, pod);
    }
  }

  /** Counts a pod against a node before the API confirms the binding. */
  assume(pod: V1Pod, nodeName: string): void {
    this.setPod({ ...pod, spec: { ...pod.spec!, nodeName } });
  }

  removePod(key: string): void {
    const nodeName = this.podNode.get(key);
    if (nodeName === undefined) return;
    this.podNode.delete(key);
    const pod = this.podObj.get(key);
    this.podObj.delete(key);
    const info = this.nodes.get(nodeName);
    if (info && pod && info.pods.has(key)) {
      info.pods.delete(key);
      const r = podRequests(pod);
      info.requested.cpuMillis -= r.cpuMillis;
      info.requested.memory -= r.memory;
      info.requested.pods -= 1;
      const owner = pod.metadata?.ownerReferences?.find((o) => o.controller)?.uid;
      if (owner) {
        const n = (info.owners.get(owner) ?? 1) - 1;
        if (n > 0) info.owners.set(owner, n);
        else info.owners.delete(owner);
      }
      for (const hp of podHostPorts(pod)) {
        const i = info.hostPorts.indexOf(hp);
        if (i >= 0) info.hostPorts.splice(i, 1);
      }
    }
    this.pendingPodsForNode.get(nodeName)?.delete(key);
  }

  private addToNode(info: NodeInfo, pod: V1Pod): void {
    const key = ClusterState.podKey(pod);
    info.pods.set(key, pod);
    const r = podRequests(pod);
    info.requested.cpuMillis += r.cpuMillis;
    info.requested.memory += r.memory;
    info.requested.pods += 1;
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller)?.uid;
    if (owner) info.owners.set(owner, (info.owners.get(owner) ?? 0) + 1);
    info.hostPorts.push(...podHostPorts(pod));
  }
}
