/**
 * An in-process ContainerRuntime: sandboxes and containers are records in memory, "processes" run
 * until stopped. For unit tests and the hollow-node simulator (thousands of fake nodes in one
 * process), where a real containerd is neither wanted nor affordable.
 *
 * Knobs let tests script behaviour: images that fail to pull, containers that exit right away,
 * exec commands' exit codes.
 */
import { createHash } from 'node:crypto';
import {
  RuntimeError,
  type AuthConfig,
  type Container,
  type ContainerConfig,
  type ContainerFilter,
  type ContainerRuntime,
  type ContainerStats,
  type ContainerStatus,
  type ExecSyncResult,
  type FilesystemUsage,
  type Image,
  type LinuxContainerResources,
  type PodSandbox,
  type PodSandboxConfig,
  type PodSandboxFilter,
  type PodSandboxStats,
  type PodSandboxStatus,
  type RuntimeCondition,
  type RuntimeVersion,
} from './types.js';

interface FakeSandbox extends PodSandboxStatus {}
interface FakeContainer extends ContainerStatus {
  podSandboxId: string;
}

export interface FakeRuntimeOptions {
  /** Pulls of these image references fail (as from an unreachable registry). */
  unpullable?: Set<string>;
  /** Decides the exit code of ExecSync (default 0). */
  exec?: (containerId: string, cmd: string[]) => number;
  /** Containers whose command contains this exit immediately with code 1 when started. */
  crashMarker?: string;
  /** Sees every pull (e.g. to check the credentials a pull secret produced). */
  onPull?: (image: string, auth?: AuthConfig) => void;
  /** First address of the fake pod network (default 10.244.0.0/16 with .2 upward). */
  podSubnetPrefix?: string;
  /**
   * The steady usage a running container shows in stats (CPU in nanocores, memory working set in bytes).
   * Default: a figure derived from the container id, 1–20 millicores and 4–64 MiB, so a hollow fleet
   * reports plausible, varied numbers.
   */
  usage?: (container: { id: string; name: string; command: string }) => { nanoCores: number; workingSetBytes: number };
}

const nowNs = () => Date.now() * 1e6;
const newId = () => createHash('sha256').update(`${Math.random()}${process.hrtime.bigint()}`).digest('hex');

function matchLabels(labels: Record<string, string>, selector?: Record<string, string>): boolean {
  return !selector || Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export class FakeRuntime implements ContainerRuntime {
  readonly sandboxes = new Map<string, FakeSandbox>();
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, Image>();
  private nextIp = 2;
  /** Pod IP retention, like Kedge's CNI IPAM wrapper: keyed by namespace/name/uid. */
  private readonly reservations = new Map<string, string>();

  constructor(private readonly opts: FakeRuntimeOptions = {}) {}

  async version(): Promise<RuntimeVersion> {
    return { version: '0.1.0', runtimeName: 'kedge-fake', runtimeVersion: '0.1.0', runtimeApiVersion: 'v1' };
  }
  async status(): Promise<RuntimeCondition[]> {
    return [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: true, reason: '', message: '' },
    ];
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const id = newId();
    const m = config.metadata;
    const hostNet = config.linux?.securityContext?.namespaceOptions?.network === 'NODE';
    const key = `${m.namespace}/${m.name}/${m.uid}`;
    let ip = this.reservations.get(key);
    if (!ip && !hostNet) {
      const n = this.nextIp++;
      ip = `${this.opts.podSubnetPrefix ?? '10.244'}.${Math.floor(n / 256)}.${n % 256}`;
      this.reservations.set(key, ip);
    }
    this.sandboxes.set(id, {
      id,
      metadata: { ...m, attempt: m.attempt ?? 0 },
      state: 'SANDBOX_READY',
      createdAt: nowNs(),
      labels: { ...(config.labels ?? {}) },
      annotations: { ...(config.annotations ?? {}) },
      network: hostNet ? { ip: '' } : { ip },
    });
    return id;
  }
  async stopPodSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    sb.state = 'SANDBOX_NOTREADY';
    for (const c of this.containers.values()) if (c.podSandboxId === id) this.exit(c, 137, 'Error');
  }
  async removePodSandbox(id: string): Promise<void> {
    for (const [cid, c] of this.containers) if (c.podSandboxId === id) this.containers.delete(cid);
    this.sandboxes.delete(id);
  }
  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new RuntimeError(`sandbox ${id} not found`, 'NOT_FOUND');
    return structuredClone(sb);
  }
  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]> {
    return [...this.sandboxes.values()]
      .filter((s) => (!filter?.id || s.id === filter.id) && (!filter?.state || s.state === filter.state.state) && matchLabels(s.labels, filter?.labelSelector))
      .map((s) => structuredClone(s));
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    if (!this.sandboxes.has(podSandboxId)) throw new RuntimeError(`sandbox ${podSandboxId} not found`, 'NOT_FOUND');
    const img = this.findImage(config.image.image);
    if (!img) throw new RuntimeError(`image ${config.image.image} not found`, 'NOT_FOUND');
    const id = newId();
    this.containers.set(id, {
      id,
      podSandboxId,
      metadata: { name: config.metadata.name, attempt: config.metadata.attempt ?? 0 },
      state: 'CONTAINER_CREATED',
      createdAt: nowNs(),
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      image: { image: config.image.image },
      imageRef: img.id,
      reason: '',
      message: '',
      labels: { ...(config.labels ?? {}) },
      annotations: { ...(config.annotations ?? {}), 'fake.command': [...(config.command ?? []), ...(config.args ?? [])].join(' ') },
      logPath: `${sandboxConfig.logDirectory ?? ''}/${config.logPath ?? ''}`,
    });
    return id;
  }
  async startContainer(id: string): Promise<void> {
    const c = this.mustContainer(id);
    if (c.state !== 'CONTAINER_CREATED') throw new RuntimeError(`container ${id} is ${c.state}`, 'FAILED_PRECONDITION');
    c.state = 'CONTAINER_RUNNING';
    c.startedAt = nowNs();
    if (this.opts.crashMarker && c.annotations['fake.command']?.includes(this.opts.crashMarker)) this.exit(c, 1, 'Error');
  }
  async stopContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c && c.state === 'CONTAINER_RUNNING') this.exit(c, 137, 'Error');
  }
  async removeContainer(id: string): Promise<void> {
    this.containers.delete(id);
  }
  async listContainers(filter?: ContainerFilter): Promise<Container[]> {
    return [...this.containers.values()]
      .filter(
        (c) =>
          (!filter?.id || c.id === filter.id) &&
          (!filter?.podSandboxId || c.podSandboxId === filter.podSandboxId) &&
          (!filter?.state || c.state === filter.state.state) &&
          matchLabels(c.labels, filter?.labelSelector),
      )
      .map((c) => ({
        id: c.id,
        podSandboxId: c.podSandboxId,
        metadata: { ...c.metadata },
        image: { ...c.image },
        imageRef: c.imageRef,
        state: c.state,
        createdAt: c.createdAt,
        labels: { ...c.labels },
        annotations: { ...c.annotations },
      }));
  }
  async containerStatus(id: string): Promise<ContainerStatus> {
    const { podSandboxId: _sb, ...status } = this.mustContainer(id);
    return structuredClone(status);
  }
  async updateContainerResources(id: string, _resources: LinuxContainerResources): Promise<void> {
    this.mustContainer(id);
  }
  async execSync(id: string, cmd: string[]): Promise<ExecSyncResult> {
    const c = this.mustContainer(id);
    if (c.state !== 'CONTAINER_RUNNING') throw new RuntimeError(`container ${id} is not running`, 'FAILED_PRECONDITION');
    return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: this.opts.exec?.(id, cmd) ?? 0 };
  }

  // The stand-in runtime has no streaming server: interactive sessions need a real runtime.
  async exec(id: string): Promise<string> {
    this.mustContainer(id);
    throw new RuntimeError('streaming exec is not supported by the in-process runtime', 'UNIMPLEMENTED');
  }
  async attach(id: string): Promise<string> {
    this.mustContainer(id);
    throw new RuntimeError('attach is not supported by the in-process runtime', 'UNIMPLEMENTED');
  }
  async portForward(): Promise<string> {
    throw new RuntimeError('port forwarding is not supported by the in-process runtime', 'UNIMPLEMENTED');
  }

  async reopenContainerLog(id: string): Promise<void> {
    this.mustContainer(id);
  }

  async listContainerStats(filter?: { id?: string; podSandboxId?: string; labelSelector?: Record<string, string> }): Promise<ContainerStats[]> {
    const now = nowNs();
    return [...this.containers.values()]
      .filter((c) => c.state === 'CONTAINER_RUNNING' && (!filter?.id || c.id === filter.id) && (!filter?.podSandboxId || c.podSandboxId === filter.podSandboxId) && matchLabels(c.labels, filter?.labelSelector))
      .map((c) => this.containerStats(c, now));
  }

  async listPodSandboxStats(filter?: { id?: string; labelSelector?: Record<string, string> }): Promise<PodSandboxStats[]> {
    const now = nowNs();
    const out: PodSandboxStats[] = [];
    for (const sb of this.sandboxes.values()) {
      if (sb.state !== 'SANDBOX_READY' || (filter?.id && sb.id !== filter.id) || !matchLabels(sb.labels, filter?.labelSelector)) continue;
      const containers = [...this.containers.values()].filter((c) => c.podSandboxId === sb.id && c.state === 'CONTAINER_RUNNING').map((c) => this.containerStats(c, now));
      const sum = (f: (c: ContainerStats) => number | undefined) => containers.reduce((a, c) => a + (f(c) ?? 0), 0);
      const ageSeconds = (now - sb.createdAt) / 1e9;
      const iface = { name: 'eth0', rxBytes: { value: Math.round(ageSeconds * 200) }, rxErrors: { value: 0 }, txBytes: { value: Math.round(ageSeconds * 100) }, txErrors: { value: 0 } };
      out.push({
        attributes: { id: sb.id, metadata: { ...sb.metadata }, labels: { ...sb.labels }, annotations: { ...sb.annotations } },
        linux: {
          cpu: { timestamp: now, usageCoreNanoSeconds: { value: sum((c) => c.cpu?.usageCoreNanoSeconds?.value) }, usageNanoCores: { value: sum((c) => c.cpu?.usageNanoCores?.value) } },
          memory: { timestamp: now, workingSetBytes: { value: sum((c) => c.memory?.workingSetBytes?.value) }, usageBytes: { value: sum((c) => c.memory?.usageBytes?.value) }, rssBytes: { value: sum((c) => c.memory?.rssBytes?.value) } },
          network: { timestamp: now, defaultInterface: iface, interfaces: [iface] },
          process: { timestamp: now, processCount: { value: containers.length } },
          containers,
        },
      });
    }
    return out;
  }

  async pullImage(image: string, auth?: AuthConfig): Promise<string> {
    this.opts.onPull?.(image, auth);
    if (this.opts.unpullable?.has(image)) throw new RuntimeError(`failed to pull and unpack image "${image}": not found`, 'UNKNOWN');
    return this.addImage(image).id;
  }
  async listImages(): Promise<Image[]> {
    return [...this.images.values()].map((i) => structuredClone(i));
  }
  async imageStatus(image: string): Promise<Image | null> {
    const img = this.findImage(image);
    return img ? structuredClone(img) : null;
  }
  async removeImage(image: string): Promise<void> {
    const img = this.findImage(image);
    if (img) this.images.delete(img.id);
  }
  async imageFsInfo(): Promise<FilesystemUsage[]> {
    let used = 0;
    for (const i of this.images.values()) used += i.size;
    return [{ timestamp: nowNs(), fsId: { mountpoint: '/fake' }, usedBytes: { value: used }, inodesUsed: { value: this.images.size } }];
  }
  close(): void {}

  /** Test/simulator helper: make an image present (as an import would). */
  addImage(ref: string, size = 1 << 20): Image {
    const existing = this.findImage(ref);
    if (existing) return existing;
    const img: Image = { id: `sha256:${createHash('sha256').update(ref).digest('hex')}`, repoTags: [normalize(ref)], repoDigests: [], size };
    this.images.set(img.id, img);
    return img;
  }
  /** Test helper: a container's process dies with this exit code. */
  killContainer(id: string, exitCode = 137): void {
    this.exit(this.mustContainer(id), exitCode, exitCode === 0 ? 'Completed' : 'Error');
  }

  /** Steady usage since start: cumulative CPU grows linearly, memory is flat. */
  private containerStats(c: FakeContainer, now: number): ContainerStats {
    const usage = this.opts.usage?.({ id: c.id, name: c.metadata.name, command: c.annotations['fake.command'] ?? '' }) ?? defaultUsage(c.id);
    const runningNs = Math.max(0, now - c.startedAt);
    return {
      attributes: { id: c.id, metadata: { ...c.metadata }, labels: { ...c.labels }, annotations: { ...c.annotations } },
      cpu: { timestamp: now, usageCoreNanoSeconds: { value: Math.round((runningNs / 1e9) * usage.nanoCores) }, usageNanoCores: { value: usage.nanoCores } },
      memory: { timestamp: now, workingSetBytes: { value: usage.workingSetBytes }, usageBytes: { value: usage.workingSetBytes + (1 << 20) }, rssBytes: { value: Math.round(usage.workingSetBytes * 0.8) }, pageFaults: { value: 0 }, majorPageFaults: { value: 0 } },
      writableLayer: { timestamp: now, fsId: { mountpoint: '/fake' }, usedBytes: { value: 4096 }, inodesUsed: { value: 1 } },
    };
  }

  private findImage(ref: string): Image | undefined {
    const n = normalize(ref);
    for (const i of this.images.values()) if (i.id === ref || i.repoTags.includes(n)) return i;
    return undefined;
  }
  private mustContainer(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError(`container ${id} not found`, 'NOT_FOUND');
    return c;
  }
  private exit(c: FakeContainer, code: number, reason: string): void {
    if (c.state === 'CONTAINER_EXITED') return;
    c.state = 'CONTAINER_EXITED';
    c.exitCode = code;
    c.reason = reason;
    c.finishedAt = nowNs();
  }
}

function defaultUsage(containerId: string): { nanoCores: number; workingSetBytes: number } {
  const h = parseInt(containerId.slice(0, 8), 16) || 0;
  return { nanoCores: (1 + (h % 20)) * 1_000_000, workingSetBytes: (4 + (h % 61)) * 1024 * 1024 };
}

/** `busybox` → `docker.io/library/busybox:latest`, as containerd names images. */
export function normalize(ref: string): string {
  let r = ref;
  const lastSlash = r.lastIndexOf('/');
  if (!r.includes('@') && !r.slice(lastSlash + 1).includes(':')) r += ':latest';
  const first = r.split('/')[0]!;
  if (!r.includes('/')) r = `docker.io/library/${r}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') r = `docker.io/${r}`;
  return r;
}
