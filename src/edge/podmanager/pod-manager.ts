/**
 * The edge agent's pod manager: a kubelet-like reconcile loop from the local store to a CRI runtime.
 *
 * - Desired state: pods under /registry/pods/ bound to this node (spec.nodeName), read from the
 *   local store and kept current by a store watch (never from the cloud directly).
 * - Actual state: relisted from the runtime every `syncIntervalMs` (like the kubelet's PLEG),
 *   filtered by Kedge's labels; container details are cached by (id, state).
 * - Each pod is reconciled by at most one worker at a time; slow work (pulls, graceful stops) on
 *   one pod never blocks the others.
 * - A restarted agent adopts what is running: identity comes from sandbox/container labels, restart
 *   counts from container metadata, so nothing is restarted. Sandboxes/containers of pods that are no
 *   longer wanted (orphans) are torn down.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import type { CoreV1Event, V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerRuntime, ContainerStatus, PodSandbox } from '../../runtime/types.js';
import { DEFAULT_RESERVATION_DIR, releasePodIp } from '../../runtime/network.js';
import type { Watcher } from '../../storage/types.js';
import type { PodManagerContext, PodManagerHandle } from '../contracts.js';
import * as L from './labels.js';
import { ConfigError, resolveEnv, type PodRuntimeFacts } from './env.js';
import { InvalidQuantityError } from './resources.js';
import { prepareVolumes, VolumeError } from './volumes.js';
import { PODTOKENS_RESOURCE } from './store-objects.js';
import { containerConfig, podDirName, podIdentity, sandboxConfig } from './runtime-config.js';
import { ImagePuller } from './images.js';
import { Backoff } from './backoff.js';
import { ProbeState, runProbe } from './probes.js';
import { buildPodStatus, type Instance, type PodObservation } from './status.js';
import { KUBELET_POD_CONDITIONS, reportedStatusSignature } from '../../common/pod-status.js';
import { readContainerLogs, rotateIfNeeded, type LogOptions, type LogWriter, type RotationPolicy } from './logs.js';
import { collectImages, DEFAULT_IMAGE_GC, type ImageGcPolicy } from './gc.js';
import { streamingUrl, StreamingTargetNotFound, type StreamingRequest, type StreamingTarget } from './streaming.js';

export interface PodManagerOptions extends PodManagerContext {
  runtime: ContainerRuntime;
  /** Runtime relist period (default 1000 ms). */
  syncIntervalMs?: number;
  /** CrashLoopBackOff / ImagePullBackOff: first delay and cap (kubelet: 10 s and 300 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The node's address reported as hostIP (default: first non-internal IPv4). */
  nodeIP?: string;
  /** Where the CNI IPAM wrapper keeps pod-IP reservations (scripts/containerd.sh KEDGE_CNI_STATE_DIR/reservations). */
  reservationDir?: string;
  logRotation?: RotationPolicy;
  /** Pods whose sandbox is being created at the same time (default 4): on a small node, starting
   *  every pod at once makes them all slow; a few at a time gets most pods running sooner. */
  maxParallelSandboxStarts?: number;
  /** Image GC under disk pressure (checked every 5 minutes); false turns it off. */
  imageGc?: ImageGcPolicy | false;
  /** Called once a pod with deletionTimestamp has no running containers left (the agent can then finalize the delete). */
  onPodTerminated?: (namespace: string, name: string, uid: string) => void;
}

interface PodState {
  waiting: Map<string, { reason: string; message: string }>;
  probes: Map<string, ProbeState>;
  transitions: Map<string, { status: string; time: string }>;
  startTime: string;
  /**
   * Digest (SHA-1) of the status last handed to the reporter, not the JSON itself: a report is skipped when the
   * status is unchanged, and the ~1 KiB text per pod was a tenth of the agent's memory per pod.
   */
  lastReported?: string;
  /** reportedStatusSignature of that status: a cloud copy saying otherwise makes the next pass report again. */
  reportedSignature?: string;
  /** The cloud's resourceVersion of the pod last seen in the store (this node's own status writes keep it). */
  cloudRv?: string;
  /** Restart count per container that has an instance, as last reported (`kubectl logs` reads that attempt). */
  logAttempts?: Map<string, number>;
  podIP?: string;
  /** Restart counts carried over when a sandbox had to be recreated. */
  restartCarry: Map<string, number>;
  terminated?: boolean;
  volumes?: Map<string, string>;
  volumesAt?: number;
  /** Volume dir → content version on disk (written or checked by this agent): unchanged refreshes skip the disk. */
  volumesWritten?: Map<string, string>;
  /** Admission refused (e.g. a hostPort another pod holds): the pod is Failed and never started. */
  rejected?: { reason: string; message: string };
}

interface RuntimePod {
  sandboxes: PodSandbox[];
  containers: Instance[];
}

const PODS_PREFIX = '/registry/pods/';
/**
 * Where a pod's volumes come from (configmaps, secrets, projected tokens, claims): a pod that could not mount one is
 * looked at again as soon as it arrives. The hub may deliver a pod before the objects it references, and the next
 * periodic sync can be a minute away (hollow nodes; a busy node) — at 10,000 nodes no pod went Running in 120 s.
 */
const VOLUME_SOURCE_PREFIXES = ['configmaps', 'secrets', PODTOKENS_RESOURCE, 'persistentvolumeclaims', 'persistentvolumes'].map((r) => `/registry/${r}/`);
const VOLUME_REFRESH_MS = 3000;
/** The kubelet's defaults: containerLogMaxSize 10Mi, containerLogMaxFiles 5 (the live file included), checked every 10 s. */
export const DEFAULT_ROTATION: RotationPolicy = { maxBytes: 10 * 1024 * 1024, maxFiles: 4, checkIntervalMs: 10_000 };

/** First IPv4 of a real interface (not loopback, not the pod bridges/veths Kedge or CNI create). */
function detectNodeIP(): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (/^(kedge|kt\d|cni|veth|docker|br-)/.test(name)) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export class PodManager implements PodManagerHandle {
  private readonly rt: ContainerRuntime;
  private readonly desired = new Map<string, V1Pod>(); // uid → pod
  private readonly keyToUid = new Map<string, string>();
  private readonly state = new Map<string, PodState>();
  private readonly busy = new Set<string>();
  private readonly statusCache = new Map<string, ContainerStatus>();
  private readonly crashBackoff: Backoff;
  private readonly puller: ImagePuller;
  private readonly facts: PodRuntimeFacts;
  private readonly podsDir: string;
  private watcher?: Watcher;
  private sourceWatchers: Watcher[] = [];
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private tickAgain = false;
  private stopped = false;
  private lastRotation = 0;
  private lastImageGc = Date.now();
  private startSlots: Semaphore;

  private constructor(private readonly o: PodManagerOptions) {
    this.rt = o.runtime;
    this.crashBackoff = new Backoff(o.backoffBaseMs ?? 10_000, o.backoffMaxMs ?? 300_000);
    this.puller = new ImagePuller(o.runtime, o.store, o.backoffBaseMs ?? 10_000, o.backoffMaxMs ?? 300_000);
    this.facts = { hostIP: o.nodeIP ?? detectNodeIP(), nodeCpuCores: os.cpus().length, nodeMemoryBytes: os.totalmem() };
    this.podsDir = path.join(o.dataDir, 'pods');
    this.startSlots = new Semaphore(o.maxParallelSandboxStarts ?? 4);
  }

  static async start(o: PodManagerOptions): Promise<PodManager> {
    const pm = new PodManager(o);
    await pm.loadAndWatch();
    await pm.tick();
    pm.timer = setInterval(() => void pm.tick(), o.syncIntervalMs ?? 1000);
    return pm;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.watcher?.cancel();
    for (const w of this.sourceWatchers) w.cancel();
    const deadline = Date.now() + 10_000;
    while (this.busy.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  /** The runtime's streaming URL for an exec, attach or port-forward into a pod this node runs (streaming.ts). */
  async streamingUrl(namespace: string, name: string, req: StreamingRequest): Promise<StreamingTarget> {
    const pod = [...this.desired.values()].find((p) => p.metadata?.namespace === namespace && p.metadata?.name === name);
    if (!pod) throw new StreamingTargetNotFound(`pod not found (${JSON.stringify(`${name}_${namespace}`)})`);
    return streamingUrl(this.rt, this.o.nodeName, { namespace, name, uid: pod.metadata!.uid! }, req);
  }

  // ---- desired state ------------------------------------------------------------------------

  private accept(key: string, value: string | null): void {
    const oldUid = this.keyToUid.get(key);
    if (oldUid) {
      this.desired.delete(oldUid);
      this.keyToUid.delete(key);
    }
    if (value === null) return;
    let pod: V1Pod;
    try {
      pod = JSON.parse(value) as V1Pod;
    } catch {
      this.o.log.warn({ key }, 'pod manager: unparsable pod in the local store, ignored');
      return;
    }
    if (pod.spec?.nodeName !== this.o.nodeName || !pod.metadata?.uid || !pod.spec?.containers?.length) return;
    // The stored status only seeds a pod's state (startTime, condition transition times; see podState), and is
    // this node's own report coming back through the store: once the state exists, holding it again per pod is
    // waste (~1.5 KiB a pod). Except conditions others set (readiness gates'): Ready counts them.
    const st = this.state.get(pod.metadata.uid);
    if (st) {
      // A new version from the cloud whose status contradicts this node's last report (upstream's node lifecycle
      // set Ready=False while the link was down): report again, so the cloud shows the edge's truth.
      const rv = pod.metadata.resourceVersion;
      if (rv !== st.cloudRv) {
        st.cloudRv = rv;
        if (st.reportedSignature !== undefined && reportedStatusSignature(pod.status) !== st.reportedSignature) st.lastReported = undefined;
      }
      const others = (pod.status?.conditions ?? []).filter((c) => !KUBELET_POD_CONDITIONS.includes(c.type));
      if (others.length) pod.status = { conditions: others };
      else delete pod.status;
    }
    this.desired.set(pod.metadata.uid, pod);
    this.keyToUid.set(key, pod.metadata.uid);
  }

  private async loadAndWatch(): Promise<void> {
    this.desired.clear();
    this.keyToUid.clear();
    const list = await this.o.store.list(PODS_PREFIX);
    for (const kv of list.items) this.accept(kv.key, kv.value);
    this.watchVolumeSources(list.revision);
    this.watcher = this.o.store.watch(PODS_PREFIX, { fromRevision: list.revision }, {
      onEvent: (ev) => {
        this.accept(ev.kv.key, ev.type === 'delete' ? null : ev.kv.value);
        this.kick();
      },
      onError: (err) => {
        if (this.stopped) return;
        for (const w of this.sourceWatchers.splice(0)) w.cancel();
        this.o.log.warn({ err: err.message }, 'pod manager: store watch ended, relisting');
        setTimeout(() => void this.loadAndWatch().then(() => this.kick()).catch((e) => this.o.log.error({ err: String(e) }, 'relist failed')), 500);
      },
    });
  }

  /** A volume source arrived or changed: a pod waiting on its volumes tries again now (VOLUME_SOURCE_PREFIXES). */
  private watchVolumeSources(fromRevision: number): void {
    for (const w of this.sourceWatchers.splice(0)) w.cancel();
    this.sourceWatchers = VOLUME_SOURCE_PREFIXES.map((prefix) =>
      this.o.store.watch(prefix, { fromRevision }, {
        onEvent: (ev) => {
          if (ev.type !== 'delete' && [...this.state.values()].some((st) => st.waiting.has('*volumes'))) this.kick();
        },
        // The pods watch relists and restarts these; until then the periodic sync retries waiting pods.
        onError: (err) => this.o.log.debug({ err: err.message }, 'pod manager: volume source watch ended'),
      }),
    );
  }

  private kick(): void {
    setImmediate(() => void this.tick());
  }

  // ---- the loop -----------------------------------------------------------------------------

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    try {
      do {
        this.tickAgain = false;
        await this.relistAndDispatch();
      } while (this.tickAgain && !this.stopped);
    } catch (e) {
      this.o.log.warn({ err: String(e) }, 'pod manager: runtime relist failed');
    } finally {
      this.ticking = false;
    }
  }

  private async relistAndDispatch(): Promise<void> {
    const sel = L.managedSelector(this.o.nodeName);
    const [sandboxes, containers] = await Promise.all([this.rt.listPodSandbox({ labelSelector: sel }), this.rt.listContainers({ labelSelector: sel })]);
    const byUid = new Map<string, RuntimePod>();
    const get = (uid: string) => byUid.get(uid) ?? (byUid.set(uid, { sandboxes: [], containers: [] }), byUid.get(uid)!);
    for (const sb of sandboxes) get(sb.labels[L.POD_UID] ?? sb.metadata.uid).sandboxes.push(sb);
    const live = new Set<string>();
    await Promise.all(
      containers.map(async (c) => {
        live.add(c.id);
        let st = this.statusCache.get(c.id);
        if (!st || st.state !== c.state) {
          st = await this.rt.containerStatus(c.id).catch(() => undefined);
          if (!st) return;
          this.statusCache.set(c.id, st);
        }
        const uid = c.labels[L.POD_UID];
        if (!uid) return;
        get(uid).containers.push({ ...st, podSandboxId: c.podSandboxId, kind: c.labels[L.CONTAINER_KIND] === 'init' ? 'init' : 'regular' } as Instance);
      }),
    );
    for (const id of this.statusCache.keys()) if (!live.has(id)) this.statusCache.delete(id);

    this.admitHostPorts(byUid);
    for (const [uid, pod] of this.desired) {
      if (this.busy.has(uid)) continue;
      this.run(uid, () => this.syncPod(pod, byUid.get(uid) ?? { sandboxes: [], containers: [] }));
    }
    for (const [uid, rp] of byUid) {
      if (this.desired.has(uid) || this.busy.has(uid)) continue;
      this.run(uid, () => this.teardown(uid, rp, undefined));
    }
    for (const uid of this.state.keys()) if (!this.desired.has(uid) && !byUid.has(uid)) this.state.delete(uid);
    if (Date.now() - this.lastRotation > (this.o.logRotation?.checkIntervalMs ?? DEFAULT_ROTATION.checkIntervalMs!)) {
      this.lastRotation = Date.now();
      void this.rotateLogs(containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => c.id));
    }
    if (this.o.imageGc !== false && Date.now() - this.lastImageGc > 300_000) {
      this.lastImageGc = Date.now();
      void collectImages(this.rt, this.o.imageGc ?? DEFAULT_IMAGE_GC)
        .then((r) => r.removed.length && this.o.log.info({ removed: r.removed, freedBytes: r.freedBytes, usedPercent: r.usedPercent }, 'image GC under disk pressure'))
        .catch((e) => this.o.log.warn({ err: String(e) }, 'image GC failed'));
    }
  }

  /**
   * Host ports are a node resource the scheduler normally guards; pods bound straight to an edge
   * node skip it, so the agent admits like the kubelet: oldest pod first, a later pod asking for a
   * (protocol, hostIP, hostPort) already held is rejected (phase Failed, reason NodePorts) and never started.
   */
  private admitHostPorts(byUid: Map<string, RuntimePod>): void {
    const held = new Set<string>();
    const key = (proto: string, ip: string, port: number) => `${proto}/${ip || '0.0.0.0'}/${port}`;
    const clashes = (proto: string, ip: string, port: number) =>
      held.has(key(proto, ip, port)) || (!ip || ip === '0.0.0.0' ? [...held].some((k) => k.startsWith(`${proto}/`) && k.endsWith(`/${port}`)) : held.has(key(proto, '', port)));
    const pods = [...this.desired.values()].sort((a, b) => String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')) || a.metadata!.name!.localeCompare(b.metadata!.name!));
    for (const pod of pods) {
      const uid = pod.metadata!.uid!;
      const st = this.state.get(uid);
      if (st?.rejected || pod.metadata?.deletionTimestamp) continue;
      const ports = pod.spec!.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({ proto: p.protocol ?? 'TCP', ip: p.hostIP ?? '', port: p.hostPort! })));
      if (!ports.length) continue;
      const running = (byUid.get(uid)?.sandboxes.length ?? 0) > 0;
      if (!running && ports.some((p) => clashes(p.proto, p.ip, p.port))) {
        const s = this.podState(pod);
        s.rejected = { reason: 'NodePorts', message: "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports" };
        this.event(pod, 'Warning', 'NodePorts', s.rejected.message);
        continue;
      }
      for (const p of ports) held.add(key(p.proto, p.ip, p.port));
    }
  }

  private run(uid: string, work: () => Promise<void>): void {
    this.busy.add(uid);
    work()
      .catch((e) => this.o.log.warn({ uid, err: String(e) }, 'pod manager: sync failed'))
      .finally(() => this.busy.delete(uid));
  }

  private podState(pod: V1Pod): PodState {
    const uid = pod.metadata!.uid!;
    let s = this.state.get(uid);
    if (!s) {
      // Seed from the status the cloud already has (a restarted agent must not move startTime or
      // condition transition times).
      const transitions = new Map<string, { status: string; time: string }>();
      for (const c of pod.status?.conditions ?? []) if (c.lastTransitionTime) transitions.set(c.type, { status: c.status, time: String(c.lastTransitionTime) });
      const startTime = pod.status?.startTime ? String(pod.status.startTime) : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      s = { waiting: new Map(), probes: new Map(), transitions, startTime, restartCarry: new Map() };
      this.state.set(uid, s);
    }
    return s;
  }

  private podDir(pod: V1Pod): string {
    return path.join(this.podsDir, podDirName(podIdentity(pod)));
  }

  private event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    const ev: CoreV1Event = {
      metadata: { namespace: pod.metadata?.namespace },
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid, fieldPath },
      reason,
      message,
      type,
      source: { component: 'kubelet', host: this.o.nodeName },
      reportingComponent: 'kubelet',
      reportingInstance: this.o.nodeName,
    };
    try {
      this.o.events.recordEvent(ev);
    } catch (e) {
      this.o.log.debug({ err: String(e) }, 'event sink failed');
    }
  }

  // ---- one pod ------------------------------------------------------------------------------

  private async syncPod(pod: V1Pod, rp: RuntimePod): Promise<void> {
    const needsSandbox = !pod.metadata?.deletionTimestamp && !rp.sandboxes.some((s) => s.state === 'SANDBOX_READY');
    if (!needsSandbox) return this.syncPodNow(pod, rp);
    await this.startSlots.acquire();
    try {
      return await this.syncPodNow(pod, rp);
    } finally {
      this.startSlots.release();
    }
  }

  private async syncPodNow(pod: V1Pod, rp: RuntimePod): Promise<void> {
    if (pod.metadata?.deletionTimestamp) {
      const st = this.podState(pod);
      if (!st.terminated) {
        await this.teardown(pod.metadata.uid!, rp, pod);
        st.terminated = true;
        this.o.onPodTerminated?.(pod.metadata.namespace ?? 'default', pod.metadata.name!, pod.metadata.uid!);
      }
      return;
    }
    const st = this.podState(pod);
    if (st.rejected) return this.report(pod, st, rp, groupInstances(rp.containers));
    const policy = pod.spec!.restartPolicy ?? 'Always';
    const podDir = this.podDir(pod);
    const instances = groupInstances(rp.containers);

    // A finished pod (restartPolicy Never/OnFailure, every container done) is left alone.
    // Decided from what the runtime shows (not from memory), so a restarted agent never reruns a
    // finished pod. Like the kubelet, its sandbox is stopped to free the IP; containers and logs stay.
    if (podFinished(pod, instances)) {
      const last = [...rp.sandboxes].sort((a, b) => b.createdAt - a.createdAt)[0];
      if (!st.podIP && last && !pod.spec?.hostNetwork) st.podIP = (await this.rt.podSandboxStatus(last.id).catch(() => null))?.network?.ip || undefined;
      for (const sb of rp.sandboxes) if (sb.state === 'SANDBOX_READY') await this.rt.stopPodSandbox(sb.id).catch(() => undefined);
      return this.report(pod, st, { ...rp, sandboxes: rp.sandboxes.map((sb) => ({ ...sb, state: 'SANDBOX_NOTREADY' as const })) }, instances);
    }

    // Sandbox: reuse the newest ready one; otherwise clear out dead ones and create a new one.
    const ready = rp.sandboxes.filter((s) => s.state === 'SANDBOX_READY').sort((a, b) => b.createdAt - a.createdAt);
    let sandbox = ready[0];
    for (const extra of ready.slice(1)) await this.removeSandbox(extra.id, rp);
    let volumes: Map<string, string>;
    try {
      // Volumes are refreshed (configmap/secret updates) every few seconds, not on every relist.
      if (st.volumes && sandbox && Date.now() - (st.volumesAt ?? 0) < VOLUME_REFRESH_MS) volumes = st.volumes;
      else {
        volumes = await prepareVolumes(this.o.store, pod, podDir, { ...this.facts, podIP: st.podIP }, (st.volumesWritten ??= new Map()));
        st.volumes = volumes;
        st.volumesAt = Date.now();
      }
      st.waiting.delete('*volumes');
    } catch (e) {
      if (!(e instanceof VolumeError) && !(e instanceof ConfigError)) throw e;
      const msg = `MountVolume.SetUp failed: ${(e as Error).message}`;
      if (st.waiting.get('*volumes')?.message !== msg) this.event(pod, 'Warning', 'FailedMount', msg);
      st.waiting.set('*volumes', { reason: 'ContainerCreating', message: msg });
      if (!sandbox) return this.report(pod, st, rp, instances);
      volumes = new Map();
    }
    // Built only when a sandbox or container is created: a steady pod's sync needs none of it.
    const existing = sandbox;
    let sbConfigMemo: ReturnType<typeof sandboxConfig> | undefined;
    const sbConfig = () => (sbConfigMemo ??= sandboxConfig(this.o.nodeName, pod, podDir, existing ? existing.metadata.attempt ?? 0 : 0, this.o.podDns));
    if (!sandbox) {
      const attempt = rp.sandboxes.reduce((m, s) => Math.max(m, (s.metadata.attempt ?? 0) + 1), 0);
      for (const [name, list] of instances) if (list[0]) st.restartCarry.set(name, list[0].metadata.attempt + 1);
      for (const dead of rp.sandboxes) await this.removeSandbox(dead.id, rp);
      rp.containers = [];
      instances.clear();
      st.podIP = undefined; // normally the same address again (IPAM reservation), but read it back
      const config = sbConfig();
      config.metadata.attempt = attempt;
      try {
        const id = await this.rt.runPodSandbox(config);
        sandbox = { id, metadata: config.metadata as PodSandbox['metadata'], state: 'SANDBOX_READY', createdAt: Date.now() * 1e6, labels: config.labels!, annotations: config.annotations! };
        rp.sandboxes = [sandbox];
      } catch (e) {
        this.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(e as Error).message}`);
        return this.report(pod, st, rp, instances);
      }
    }
    if (!st.podIP) {
      const sbs = await this.rt.podSandboxStatus(sandbox.id).catch(() => null);
      st.podIP = pod.spec?.hostNetwork ? this.facts.hostIP : sbs?.network?.ip || undefined;
    }
    const facts = { ...this.facts, podIP: st.podIP };

    // Init containers, in order; each must succeed before the next (and before the app containers).
    let mutated = false;
    let initDone = true;
    for (const c of pod.spec!.initContainers ?? []) {
      const cur = instances.get(c.name)?.[0];
      if (cur?.state === 'CONTAINER_EXITED' && cur.exitCode === 0) continue;
      initDone = false;
      if (cur?.state === 'CONTAINER_RUNNING' || cur?.state === 'CONTAINER_CREATED') break;
      if (cur?.state === 'CONTAINER_EXITED') {
        if (policy === 'Never') break;
        if (!this.mayRestart(pod, st, c, cur)) break;
      }
      await this.startContainer(pod, st, c, 'init', this.nextAttempt(st, c.name, cur), sandbox.id, sbConfig, volumes, facts);
      mutated = true;
      break;
    }

    if (initDone) {
      for (const c of pod.spec!.containers) {
        const cur = instances.get(c.name)?.[0];
        if (cur?.state === 'CONTAINER_RUNNING') {
          const probe = st.probes.get(cur.id);
          if (probe?.unhealthy) {
            const what = probe.unhealthy === 'startup' ? 'startup' : 'liveness';
            this.event(pod, 'Normal', 'Killing', `Container ${c.name} failed ${what} probe, will be restarted`, `spec.containers{${c.name}}`);
            await this.stopContainer(pod, c, cur.id, pod.spec!.terminationGracePeriodSeconds ?? 30);
            mutated = true;
            probe.unhealthy = null;
          }
          continue;
        }
        if (cur?.state === 'CONTAINER_CREATED') {
          await this.rt.startContainer(cur.id).catch(() => undefined);
          mutated = true;
          continue;
        }
        if (cur?.state === 'CONTAINER_EXITED') {
          const restart = policy === 'Always' || (policy === 'OnFailure' && cur.exitCode !== 0);
          if (!restart) continue;
          if (!this.mayRestart(pod, st, c, cur)) continue;
        }
        await this.startContainer(pod, st, c, 'regular', this.nextAttempt(st, c.name, cur), sandbox.id, sbConfig, volumes, facts);
        mutated = true;
      }
    }
    // Pick up what we just started in the status right away rather than on the next relist.
    // Only when this sync changed something: a steady pod costs no extra runtime calls.
    const fresh = mutated ? await this.rt.listContainers({ podSandboxId: sandbox.id, labelSelector: L.managedSelector(this.o.nodeName) }).catch(() => null) : null;
    if (fresh) {
      const list: Instance[] = [];
      for (const c of fresh) {
        let s = this.statusCache.get(c.id);
        if (!s || s.state !== c.state) {
          s = await this.rt.containerStatus(c.id).catch(() => undefined);
          if (!s) continue;
          this.statusCache.set(c.id, s);
        }
        list.push({ ...s, podSandboxId: c.podSandboxId, kind: c.labels[L.CONTAINER_KIND] === 'init' ? 'init' : 'regular' } as Instance);
      }
      rp.containers = list;
    }
    this.runProbes(pod, st, groupInstances(rp.containers));
    return this.report(pod, st, rp, groupInstances(rp.containers));
  }

  private nextAttempt(st: PodState, name: string, cur: Instance | undefined): number {
    return cur ? cur.metadata.attempt + 1 : (st.restartCarry.get(name) ?? 0);
  }

  /** CrashLoopBackOff: the first restart is immediate, then 1×, 2×, 4× … base, reset after a long run. */
  private mayRestart(pod: V1Pod, st: PodState, c: V1Container, cur: Instance): boolean {
    const key = `${pod.metadata!.uid}/${c.name}`;
    // A container that never started (StartError) has startedAt 0: it ran for no time at all.
    const ranMs = cur.startedAt ? (cur.finishedAt - cur.startedAt) / 1e6 : 0;
    if (ranMs > 2 * this.crashBackoff.maxMs) this.crashBackoff.reset(key);
    if (this.crashBackoff.inBackoff(key)) {
      const msg = `back-off ${Math.round(this.crashBackoff.remaining(key) / 1000)}s restarting failed container=${c.name} pod=${pod.metadata!.name}_${pod.metadata!.namespace}(${pod.metadata!.uid})`;
      if (st.waiting.get(c.name)?.reason !== 'CrashLoopBackOff') this.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container', `spec.containers{${c.name}}`);
      st.waiting.set(c.name, { reason: 'CrashLoopBackOff', message: msg });
      return false;
    }
    this.crashBackoff.next(key);
    return true;
  }

  private async startContainer(
    pod: V1Pod,
    st: PodState,
    c: V1Container,
    kind: 'init' | 'regular',
    attempt: number,
    sandboxId: string,
    sbConfig: () => ReturnType<typeof sandboxConfig>,
    volumes: Map<string, string>,
    facts: PodRuntimeFacts,
  ): Promise<void> {
    const field = `spec.${kind === 'init' ? 'initContainers' : 'containers'}{${c.name}}`;
    const pull = await this.puller.ensure(pod, c, () => this.event(pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, field));
    if (!pull.ok) {
      const prev = st.waiting.get(c.name);
      if (prev?.reason !== pull.reason || prev.message !== pull.message) {
        if (pull.reason === 'ImagePullBackOff') this.event(pod, 'Normal', 'BackOff', pull.message, field);
        else {
          this.event(pod, 'Warning', 'Failed', pull.message, field);
          this.event(pod, 'Warning', 'Failed', `Error: ${pull.reason}`, field);
        }
      }
      st.waiting.set(c.name, { reason: pull.reason, message: pull.message });
      return;
    }
    if (pull.pulled) this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${c.image}"`, field);
    let config;
    try {
      const envs = await resolveEnv(this.o.store, pod, c, facts);
      config = containerConfig({ nodeName: this.o.nodeName, pod, container: c, kind, attempt, envs, volumes, image: c.image!, nodeMemoryBytes: this.facts.nodeMemoryBytes });
    } catch (e) {
      if (!(e instanceof ConfigError) && !(e instanceof InvalidQuantityError)) throw e;
      const msg = (e as Error).message;
      if (st.waiting.get(c.name)?.message !== msg) this.event(pod, 'Warning', 'Failed', `Error: ${msg}`, field);
      st.waiting.set(c.name, { reason: 'CreateContainerConfigError', message: msg });
      return;
    }
    let id: string;
    try {
      id = await this.rt.createContainer(sandboxId, config, sbConfig());
    } catch (e) {
      const msg = (e as Error).message;
      if (st.waiting.get(c.name)?.message !== msg) this.event(pod, 'Warning', 'Failed', `Error: ${msg}`, field);
      st.waiting.set(c.name, { reason: 'CreateContainerError', message: msg });
      return;
    }
    this.event(pod, 'Normal', 'Created', `Created container ${c.name}`, field);
    st.waiting.delete(c.name);
    try {
      await this.rt.startContainer(id);
      this.event(pod, 'Normal', 'Started', `Started container ${c.name}`, field);
    } catch (e) {
      // e.g. the command does not exist. The instance stays (exited, exit code 128) and is
      // restarted with back-off like a crash; until then the kubelet's reason is RunContainerError.
      const msg = (e as Error).message;
      this.event(pod, 'Warning', 'Failed', `Error: ${msg}`, field);
      st.waiting.set(c.name, { reason: 'RunContainerError', message: msg });
    }
    // Keep the previous instance for `logs --previous` and lastState; older ones go.
    const old = (await this.rt.listContainers({ podSandboxId: sandboxId, labelSelector: { ...L.managedSelector(this.o.nodeName), [L.CONTAINER_NAME]: c.name } }).catch(() => []))
      .filter((x) => x.state === 'CONTAINER_EXITED' && x.metadata.attempt < attempt - 1);
    for (const x of old) await this.rt.removeContainer(x.id).catch(() => undefined);
  }

  private runProbes(pod: V1Pod, st: PodState, instances: Map<string, Instance[]>): void {
    const now = Date.now();
    const live = new Set<string>();
    for (const c of pod.spec!.containers) {
      const cur = instances.get(c.name)?.[0];
      if (!cur || cur.state !== 'CONTAINER_RUNNING') continue;
      live.add(cur.id);
      let ps = st.probes.get(cur.id);
      if (!ps) st.probes.set(cur.id, (ps = new ProbeState(c)));
      for (const kind of ps.due(now, cur.startedAt / 1e6)) {
        ps.begin(kind, now);
        const probe = ps.probe(kind)!;
        void runProbe(this.rt, cur.id, c, probe, st.podIP ?? '127.0.0.1').then((r) => {
          if (!r.ok) this.event(pod, 'Warning', 'Unhealthy', `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed: ${r.message}`, `spec.containers{${c.name}}`);
          if (ps!.record(kind, r.ok)) this.kick();
        });
      }
    }
    for (const id of st.probes.keys()) if (!live.has(id)) st.probes.delete(id);
  }

  private report(pod: V1Pod, st: PodState, rp: RuntimePod, instances: Map<string, Instance[]>): void {
    const probes = new Map<string, { ready: boolean; started: boolean }>();
    for (const [id, p] of st.probes) probes.set(id, { ready: p.ready, started: p.started });
    const waiting = new Map(st.waiting);
    const vol = waiting.get('*volumes');
    if (vol) for (const c of pod.spec!.containers) if (!instances.get(c.name)?.length) waiting.set(c.name, vol);
    const obs: PodObservation = {
      sandboxReady: rp.sandboxes.some((s) => s.state === 'SANDBOX_READY'),
      podIP: st.podIP,
      hostIP: this.facts.hostIP,
      instances,
      waiting,
      probes,
      transitions: st.transitions,
      startTime: st.startTime,
    };
    const status = buildPodStatus(pod, obs);
    if (st.rejected) Object.assign(status, { phase: 'Failed', reason: st.rejected.reason, message: st.rejected.message, podIP: undefined, podIPs: undefined });
    const digest = createHash('sha1').update(JSON.stringify(status)).digest('base64');
    if (digest === st.lastReported) return;
    st.lastReported = digest;
    st.reportedSignature = reportedStatusSignature(status);
    st.logAttempts = new Map();
    for (const cs of [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])]) if (cs.containerID) st.logAttempts.set(cs.name, cs.restartCount);
    this.o.podStatus.setPodStatus(pod.metadata!.namespace ?? 'default', pod.metadata!.name!, pod.metadata!.uid!, status);
  }

  // ---- stopping -----------------------------------------------------------------------------

  private async stopContainer(pod: V1Pod | undefined, c: V1Container | undefined, id: string, graceSeconds: number): Promise<void> {
    const started = Date.now();
    const pre = c?.lifecycle?.preStop;
    if (pre?.exec?.command?.length) {
      await this.rt.execSync(id, pre.exec.command, Math.max(1, graceSeconds)).catch((e) => pod && this.event(pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${(e as Error).message}`));
    } else if (pre?.httpGet && pod) {
      await runProbe(this.rt, id, c!, { httpGet: pre.httpGet, timeoutSeconds: Math.max(1, graceSeconds) }, this.state.get(pod.metadata!.uid!)?.podIP ?? '127.0.0.1');
    } else if (pre?.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(graceSeconds, pre.sleep!.seconds) * 1000));
    }
    const left = Math.max(0, graceSeconds - Math.floor((Date.now() - started) / 1000));
    await this.rt.stopContainer(id, left).catch(() => undefined);
  }

  /** Stops a pod's containers gracefully (preStop, then SIGTERM with the grace period), removes it all. */
  private async teardown(uid: string, rp: RuntimePod, pod: V1Pod | undefined): Promise<void> {
    const running = rp.containers.filter((c) => c.state === 'CONTAINER_RUNNING');
    let grace = pod?.spec?.terminationGracePeriodSeconds ?? 30;
    if (pod?.metadata?.deletionGracePeriodSeconds !== undefined) grace = pod.metadata.deletionGracePeriodSeconds;
    await Promise.all(
      running.map((inst) => {
        const name = inst.labels[L.CONTAINER_NAME] ?? inst.metadata.name;
        const spec = pod?.spec?.containers.find((c) => c.name === name);
        if (pod && spec) this.event(pod, 'Normal', 'Killing', `Stopping container ${name}`, `spec.containers{${name}}`);
        const g = pod ? grace : Number(inst.annotations[L.TERMINATION_GRACE] ?? '30');
        return this.stopContainer(pod, spec, inst.id, g);
      }),
    );
    if (pod) {
      // Final status: every container terminated.
      const fresh = await Promise.all(rp.containers.map((c) => this.rt.containerStatus(c.id).then((s) => ({ ...c, ...s }) as Instance).catch(() => c)));
      const st = this.podState(pod);
      st.waiting.clear();
      st.probes.clear();
      this.report(pod, st, { sandboxes: [], containers: fresh }, groupInstances(fresh));
    }
    for (const sb of rp.sandboxes) await this.removeSandbox(sb.id, rp);
    const ident = pod ? podIdentity(pod) : identityFromLabels(rp);
    if (ident) {
      if (pod) this.state.get(uid)?.volumesWritten?.clear();
      await rm(path.join(this.podsDir, podDirName(ident)), { recursive: true, force: true }).catch(() => undefined);
      await releasePodIp(this.reservationDir(), ident.namespace, ident.name, ident.uid).catch(() => undefined);
    }
    this.puller.forgetPod(uid);
    this.crashBackoff.forgetPrefix(`${uid}/`);
    if (!pod) this.state.delete(uid);
  }

  /** Must match scripts/containerd.sh (KEDGE_CNI_STATE_DIR/reservations). */
  private reservationDir(): string {
    if (this.o.reservationDir) return this.o.reservationDir;
    return process.env.KEDGE_CNI_STATE_DIR ? path.join(process.env.KEDGE_CNI_STATE_DIR, 'reservations') : DEFAULT_RESERVATION_DIR;
  }

  private async removeSandbox(id: string, rp: RuntimePod): Promise<void> {
    await this.rt.stopPodSandbox(id).catch((e) => this.o.log.warn({ id, err: String(e) }, 'stop sandbox failed'));
    for (const c of rp.containers.filter((x) => (x as unknown as { podSandboxId?: string }).podSandboxId === id)) await this.rt.removeContainer(c.id).catch(() => undefined);
    await this.rt.removePodSandbox(id).catch((e) => this.o.log.warn({ id, err: String(e) }, 'remove sandbox failed'));
  }

  private async rotateLogs(ids: string[]): Promise<void> {
    for (const id of ids) {
      const s = this.statusCache.get(id);
      if (s?.logPath) await rotateIfNeeded(this.rt, id, s.logPath, this.o.logRotation ?? DEFAULT_ROTATION).catch(() => undefined);
    }
  }

  // ---- queries for the agent (logs, debugging) ----------------------------------------------

  /**
   * `kubectl logs` for a pod on this node: throws when the pod is unknown (the kubelet server checks pod and
   * container first). A follow ends once the instance it reads no longer runs, as the kubelet's does.
   */
  async readLogs(namespace: string, name: string, container: string, opts: LogOptions, write: LogWriter): Promise<void> {
    const loc = this.containerLogLocation(namespace, name, container);
    if (!loc) throw new Error(`pod ${namespace}/${name} is not on this node`);
    const stillRunning = opts.stillRunning ?? (() => this.containerRunning(loc.uid, container, loc.attempt));
    await readContainerLogs(loc.podDir, container, loc.attempt, { ...opts, stillRunning }, write);
  }

  /** Whether an instance of the container writing `<attempt>.log` runs now (as of the last relist). */
  private containerRunning(podUid: string, container: string, attempt: number | undefined): boolean {
    for (const st of this.statusCache.values()) {
      if (st.labels[L.POD_UID] !== podUid || st.labels[L.CONTAINER_NAME] !== container) continue;
      if (st.state !== 'CONTAINER_RUNNING' && st.state !== 'CONTAINER_CREATED') continue;
      if (attempt === undefined || st.logPath.endsWith(`${path.sep}${attempt}.log`) || st.logPath === `${attempt}.log`) return true;
    }
    return false;
  }

  /** The pod's data dir (volumes, logs) and the current restart count of a container, for the log reader. */
  containerLogLocation(namespace: string, name: string, container: string): { podDir: string; uid: string; attempt?: number } | null {
    for (const pod of this.desired.values()) {
      if (pod.metadata?.namespace !== namespace || pod.metadata?.name !== name) continue;
      const st = this.state.get(pod.metadata.uid!);
      return { podDir: this.podDir(pod), uid: pod.metadata.uid!, attempt: st?.logAttempts?.get(container) };
    }
    return null;
  }
}

/** restartPolicy Never/OnFailure and nothing will run again: a failed init under Never, or every app container done. */
function podFinished(pod: V1Pod, instances: Map<string, Instance[]>): boolean {
  const policy = pod.spec!.restartPolicy ?? 'Always';
  if (policy === 'Always') return false;
  const done = (name: string) => {
    const cur = instances.get(name)?.[0];
    return cur?.state === 'CONTAINER_EXITED' && (policy === 'Never' || cur.exitCode === 0);
  };
  if (policy === 'Never' && (pod.spec!.initContainers ?? []).some((c) => { const cur = instances.get(c.name)?.[0]; return cur?.state === 'CONTAINER_EXITED' && cur.exitCode !== 0; })) return true;
  return pod.spec!.containers.every((c) => done(c.name));
}

function groupInstances(list: Instance[]): Map<string, Instance[]> {
  const out = new Map<string, Instance[]>();
  for (const i of list) {
    const name = i.labels[L.CONTAINER_NAME] ?? i.metadata.name;
    (out.get(name) ?? (out.set(name, []), out.get(name)!)).push(i);
  }
  for (const l of out.values()) l.sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAt - a.createdAt);
  return out;
}

function identityFromLabels(rp: RuntimePod): L.PodIdentity | null {
  const l = rp.sandboxes[0]?.labels ?? rp.containers[0]?.labels;
  if (!l?.[L.POD_UID]) return null;
  return { namespace: l[L.POD_NAMESPACE] ?? 'default', name: l[L.POD_NAME] ?? '', uid: l[L.POD_UID] };
}

/** Counting semaphore (FIFO). */
class Semaphore {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}
