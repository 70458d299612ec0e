/**
 * ContainerRuntime over CRI v1 gRPC (containerd's CRI plugin, or CRI-O) on a unix socket.
 * The proto (./api.proto) is loaded at runtime with @grpc/proto-loader; it is found beside this
 * module when running from src, or in the matching src/ folder when running from dist/ (tsc does not
 * copy .proto files).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { assetBeside } from '../../common/asset-path.js';
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
  type StreamingOptions,
} from '../types.js';

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;
type ServiceClient = grpc.Client & Record<string, Unary>;

let cachedPackage: grpc.GrpcObject | undefined;
function loadPackage(): grpc.GrpcObject {
  if (!cachedPackage) {
    const def = protoLoader.loadSync(assetBeside(import.meta.url, 'api.proto'), {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      arrays: true,
      objects: false,
    });
    cachedPackage = grpc.loadPackageDefinition(def);
  }
  return cachedPackage;
}

export interface CriClientOptions {
  /** Path of the runtime's unix socket, e.g. /run/kedge/containerd.sock. */
  socket: string;
  /** Per-call deadline for ordinary calls (ms). Pulls and stops get longer ones. */
  timeoutMs?: number;
}

export class CriRuntime implements ContainerRuntime {
  private readonly runtime: ServiceClient;
  private readonly images: ServiceClient;
  private readonly timeoutMs: number;

  constructor(opts: CriClientOptions) {
    const pkg = loadPackage() as any;
    const target = `unix://${opts.socket}`;
    const creds = grpc.credentials.createInsecure();
    // ExecSync and list replies can be large (the CRI caps exec output at 16 MiB per stream).
    const channelOpts = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
    this.runtime = new pkg.runtime.v1.RuntimeService(target, creds, channelOpts);
    this.images = new pkg.runtime.v1.ImageService(target, creds, channelOpts);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  private call<T>(client: ServiceClient, method: string, req: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      client[method]!.call(client, req, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) reject(new RuntimeError(`CRI ${method}: ${err.details || err.message}`, grpc.status[err.code] ?? 'UNKNOWN'));
        else resolve(res as T);
      });
    });
  }

  async version(): Promise<RuntimeVersion> {
    return this.call(this.runtime, 'Version', { version: 'v1' });
  }

  async status(): Promise<RuntimeCondition[]> {
    const res = await this.call<{ status?: { conditions: RuntimeCondition[] } }>(this.runtime, 'Status', {});
    return res.status?.conditions ?? [];
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    // Sandbox creation includes CNI setup, which can be slow on a loaded node.
    const res = await this.call<{ podSandboxId: string }>(this.runtime, 'RunPodSandbox', { config, runtimeHandler }, 4 * this.timeoutMs);
    return res.podSandboxId;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'StopPodSandbox', { podSandboxId: id }, 4 * this.timeoutMs);
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'RemovePodSandbox', { podSandboxId: id }, 4 * this.timeoutMs);
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const res = await this.call<{ status: PodSandboxStatus }>(this.runtime, 'PodSandboxStatus', { podSandboxId: id });
    return res.status;
  }

  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]> {
    const res = await this.call<{ items: PodSandbox[] }>(this.runtime, 'ListPodSandbox', { filter });
    return res.items;
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const res = await this.call<{ containerId: string }>(this.runtime, 'CreateContainer', { podSandboxId, config, sandboxConfig });
    return res.containerId;
  }

  async startContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'StartContainer', { containerId: id });
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.call(this.runtime, 'StopContainer', { containerId: id, timeout: timeoutSeconds }, timeoutSeconds * 1000 + this.timeoutMs);
  }

  async removeContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'RemoveContainer', { containerId: id });
  }

  async listContainers(filter?: ContainerFilter): Promise<Container[]> {
    const res = await this.call<{ containers: Container[] }>(this.runtime, 'ListContainers', { filter });
    return res.containers;
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    const res = await this.call<{ status: ContainerStatus }>(this.runtime, 'ContainerStatus', { containerId: id });
    return res.status;
  }

  async updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void> {
    await this.call(this.runtime, 'UpdateContainerResources', { containerId: id, linux: resources });
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    return this.call(this.runtime, 'ExecSync', { containerId: id, cmd, timeout: timeoutSeconds }, (timeoutSeconds || 60) * 1000 + 5000);
  }

  async exec(id: string, cmd: string[], opts: StreamingOptions): Promise<string> {
    const res = await this.call<{ url: string }>(this.runtime, 'Exec', { containerId: id, cmd, ...opts });
    return res.url;
  }

  async attach(id: string, opts: StreamingOptions): Promise<string> {
    const res = await this.call<{ url: string }>(this.runtime, 'Attach', { containerId: id, ...opts });
    return res.url;
  }

  async portForward(podSandboxId: string, ports: number[]): Promise<string> {
    const res = await this.call<{ url: string }>(this.runtime, 'PortForward', { podSandboxId, port: ports });
    return res.url;
  }

  async reopenContainerLog(id: string): Promise<void> {
    await this.call(this.runtime, 'ReopenContainerLog', { containerId: id });
  }

  async listContainerStats(filter?: { id?: string; podSandboxId?: string; labelSelector?: Record<string, string> }): Promise<ContainerStats[]> {
    const res = await this.call<{ stats: ContainerStats[] }>(this.runtime, 'ListContainerStats', { filter });
    return res.stats;
  }

  async listPodSandboxStats(filter?: { id?: string; labelSelector?: Record<string, string> }): Promise<PodSandboxStats[]> {
    const res = await this.call<{ stats: PodSandboxStats[] }>(this.runtime, 'ListPodSandboxStats', { filter });
    return res.stats;
  }

  async pullImage(image: string, auth?: AuthConfig, sandboxConfig?: PodSandboxConfig): Promise<string> {
    const res = await this.call<{ imageRef: string }>(this.images, 'PullImage', { image: { image }, auth, sandboxConfig }, 10 * this.timeoutMs);
    return res.imageRef;
  }

  async listImages(): Promise<Image[]> {
    const res = await this.call<{ images: Image[] }>(this.images, 'ListImages', {});
    return res.images;
  }

  async imageStatus(image: string): Promise<Image | null> {
    const res = await this.call<{ image: Image | null }>(this.images, 'ImageStatus', { image: { image } });
    return res.image ?? null;
  }

  async removeImage(image: string): Promise<void> {
    await this.call(this.images, 'RemoveImage', { image: { image } });
  }

  async imageFsInfo(): Promise<FilesystemUsage[]> {
    const res = await this.call<{ imageFilesystems: FilesystemUsage[] }>(this.images, 'ImageFsInfo', {});
    return res.imageFilesystems;
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}
