import {
  CoordinationV1Api,
  CoreV1Api,
  ListWatch,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';

/**
 * A fake node for acceptance tests and benchmarks: a Node object plus a kube-node-lease Lease it renews, and a
 * kubelet stand-in that marks pods bound to it Running and Ready (or leaves them to the test), and completes
 * graceful deletions as a kubelet would. It talks to the API only through @kubernetes/client-node, so it works
 * against any API server. stop()/resume() cut and restore the heartbeat, like a node losing its link.
 */
export interface FakeNodeOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: string }>;
  capacity?: { cpu?: string; memory?: string; pods?: string };
  /** Lease renewal interval (ms); default 1000. */
  heartbeatMs?: number;
  /** Mark pods Running+Ready as soon as they are bound here (default true). */
  autoRun?: boolean;
  /** Run the kubelet stand-in (watch pods bound here); false = Node + Lease only, for large fleets. Default true. */
  kubelet?: boolean;
  /** Second octet group for pod IPs (10.244.<subnet>.x); default derived from the name. */
  subnet?: number;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class FakeNode {
  private readonly core: CoreV1Api;
  private readonly coord: CoordinationV1Api;
  private heartbeat?: NodeJS.Timeout;
  private informer?: ListWatch<V1Pod>;
  private nextIp = 2;
  private readonly subnet: number;
  private heartbeating = false;
  private disposed = false;
  readonly handled = new Set<string>();

  constructor(private readonly kc: KubeConfig, readonly name: string, private readonly o: FakeNodeOptions = {}) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.coord = kc.makeApiClient(CoordinationV1Api);
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) % 250;
    this.subnet = o.subnet ?? h + 1;
  }

  private readyCondition() {
    const now = new Date();
    return { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now };
  }

  /** Registers the Node and its Lease, starts heartbeating and running pods. */
  async start(): Promise<void> {
    const cap = { cpu: this.o.capacity?.cpu ?? '8', memory: this.o.capacity?.memory ?? '16Gi', pods: this.o.capacity?.pods ?? '110' };
    await this.core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: this.name,
          labels: { 'kubernetes.io/hostname': this.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...(this.o.labels ?? {}) },
          annotations: this.o.annotations,
        },
        spec: this.o.taints ? { taints: this.o.taints } : {},
      },
    });
    await this.postStatus(cap);
    await this.coord.createNamespacedLease({
      namespace: 'kube-node-lease',
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime: new Date() },
      },
    });
    this.startHeartbeat();
    if (this.o.kubelet !== false) await this.watchPods();
  }

  private async postStatus(cap?: { cpu: string; memory: string; pods: string }): Promise<void> {
    await this.core.patchNodeStatus(
      {
        name: this.name,
        body: {
          status: {
            ...(cap ? { capacity: cap, allocatable: cap } : {}),
            conditions: [
              { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() },
              { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() },
              { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() },
              { ...this.readyCondition(), lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() },
            ],
            addresses: [{ type: 'InternalIP', address: `10.0.${this.subnet}.1` }, { type: 'Hostname', address: this.name }],
            nodeInfo: {
              kubeletVersion: 'v1.32.0-kedge-fake', kubeProxyVersion: '', containerRuntimeVersion: 'fake://1.0',
              operatingSystem: 'linux', architecture: 'amd64', osImage: 'fake', kernelVersion: 'fake',
              machineID: this.name, systemUUID: this.name, bootID: this.name,
            },
          },
        },
      },
      mergePatch,
    );
  }

  private startHeartbeat(): void {
    this.heartbeating = true;
    const every = this.o.heartbeatMs ?? 1000;
    const renew = async () => {
      if (!this.heartbeating) return;
      try {
        await this.coord.patchNamespacedLease(
          { name: this.name, namespace: 'kube-node-lease', body: { spec: { renewTime: new Date().toISOString() } } },
          mergePatch,
        );
      } catch {
        // transient: the next beat retries
      }
      if (this.heartbeating) this.heartbeat = setTimeout(() => void renew(), every);
    };
    this.heartbeat = setTimeout(() => void renew(), every);
  }

  private async watchPods(): Promise<void> {
    const fieldSelector = `spec.nodeName=${this.name}`;
    const informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(this.kc),
      async () => {
        const l = await this.core.listPodForAllNamespaces({ fieldSelector });
        return JSON.parse(JSON.stringify(l));
      },
      false,
      undefined,
      fieldSelector,
    );
    const onPod = (p: V1Pod) => void this.handlePod(p).catch(() => {});
    informer.on('add', onPod);
    informer.on('update', onPod);
    informer.on('error', () => {
      if (!this.disposed) setTimeout(() => void informer.start().catch(() => {}), 500);
    });
    this.informer = informer;
    await informer.start();
  }

  private async handlePod(p: V1Pod): Promise<void> {
    if (!this.heartbeating || p.spec?.nodeName !== this.name) return;
    const ns = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    if (p.metadata?.deletionTimestamp) {
      // The kubelet's half of graceful deletion: containers stopped, remove the object.
      await this.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 }).catch(() => {});
      return;
    }
    const uid = p.metadata!.uid!;
    if (this.o.autoRun === false || this.handled.has(uid) || p.status?.phase === 'Running' || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return;
    this.handled.add(uid);
    await this.setPodStatus(p, 'Running', true);
  }

  private podIp(): string {
    const n = this.nextIp++;
    return `10.244.${this.subnet}.${n % 254 || 1}`;
  }

  /** Reports a pod Running/Succeeded/Failed with the given readiness, as a kubelet would. */
  async setPodStatus(p: V1Pod | { metadata: { name: string; namespace: string } }, phase: 'Running' | 'Succeeded' | 'Failed' | 'Pending', ready: boolean): Promise<void> {
    const now = new Date().toISOString();
    const pod = p as V1Pod;
    const ip = pod.status?.podIP ?? this.podIp();
    const r = ready ? 'True' : 'False';
    const containers = (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: `fake://${c.image}`,
      containerID: `fake://${pod.metadata?.uid}-${c.name}`,
      ready,
      restartCount: 0,
      started: phase === 'Running',
      state:
        phase === 'Running'
          ? { running: { startedAt: now } }
          : phase === 'Pending'
            ? { waiting: { reason: 'ContainerCreating' } }
            : { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, reason: phase === 'Succeeded' ? 'Completed' : 'Error', startedAt: now, finishedAt: now } },
    }));
    await this.core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        body: {
          status: {
            phase,
            hostIP: `10.0.${this.subnet}.1`,
            podIP: ip,
            podIPs: [{ ip }],
            startTime: pod.status?.startTime ?? now,
            conditions: [
              { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: now },
              { type: 'Initialized', status: 'True', lastTransitionTime: now },
              { type: 'Ready', status: r, lastTransitionTime: now, ...(ready ? {} : { reason: phase === 'Running' ? 'ContainersNotReady' : 'PodCompleted' }) },
              { type: 'ContainersReady', status: r, lastTransitionTime: now, ...(ready ? {} : { reason: phase === 'Running' ? 'ContainersNotReady' : 'PodCompleted' }) },
              { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
            ],
            ...(containers.length ? { containerStatuses: containers } : {}),
          },
        },
      },
      mergePatch,
    );
  }

  /** Pods bound to this node (live list). */
  async pods(): Promise<V1Pod[]> {
    const l = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.name}` });
    return l.items;
  }

  /** Marks a pod (by namespace/name) Succeeded: containers exited 0. */
  async succeed(namespace: string, name: string): Promise<void> {
    const p = await this.core.readNamespacedPod({ name, namespace });
    await this.setPodStatus(JSON.parse(JSON.stringify(p)), 'Succeeded', false);
  }

  async setReady(namespace: string, name: string, ready: boolean): Promise<void> {
    const p = await this.core.readNamespacedPod({ name, namespace });
    await this.setPodStatus(JSON.parse(JSON.stringify(p)), 'Running', ready);
  }

  /** The link goes down: no lease renewals, no pod handling. */
  stop(): void {
    this.heartbeating = false;
    if (this.heartbeat) clearTimeout(this.heartbeat);
  }

  /**
   * The link comes back: renew at once and post Ready, as a kubelet does after reconnecting (it finds the
   * API's copy of its status differs from its own). Only the kubelet sets Ready=True, never the controller.
   */
  async resume(): Promise<void> {
    this.startHeartbeat();
    await this.coord.patchNamespacedLease(
      { name: this.name, namespace: 'kube-node-lease', body: { spec: { renewTime: new Date().toISOString() } } },
      mergePatch,
    );
    await this.postStatus();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.stop();
    await this.informer?.stop().catch(() => {});
  }
}

/** Starts n fake nodes named prefix-0..n-1 (in parallel batches). */
export async function startFakeNodes(kc: KubeConfig, prefix: string, n: number, opts: FakeNodeOptions | ((i: number) => FakeNodeOptions) = {}): Promise<FakeNode[]> {
  const nodes = Array.from({ length: n }, (_, i) => new FakeNode(kc, `${prefix}-${i}`, typeof opts === 'function' ? opts(i) : { ...opts, subnet: opts.subnet ?? (i % 250) + 1 }));
  for (let i = 0; i < nodes.length; i += 25) await Promise.all(nodes.slice(i, i + 25).map((x) => x.start()));
  return nodes;
}
