/**
 * Entry points for the edge agent: a PodManagerFactory over Kedge's containerd (CRI), and the
 * pieces the agent exposes (log reader, image import).
 */
import type { PodManagerFactory } from '../contracts.js';
import type { ContainerRuntime } from '../../runtime/types.js';
import { PodManager, type PodManagerOptions } from './pod-manager.js';
import { runtimeNodeInfo } from './node-info.js';

export { PodManager, type PodManagerOptions } from './pod-manager.js';
export { readContainerLogs, LogsUnavailable, type LogOptions, type LogWriter } from './logs.js';
export { runtimeNodeInfo, type RuntimeNodeInfo } from './node-info.js';
export { StreamingTargetNotFound, type StreamingRequest } from './streaming.js';

export const DEFAULT_CRI_SOCKET = '/run/kedge/containerd.sock';

export interface CriPodManagerOptions extends Partial<Omit<PodManagerOptions, 'runtime' | keyof import('../contracts.js').PodManagerContext>> {
  /** CRI socket (default /run/kedge/containerd.sock, or KEDGE_CONTAINERD_SOCK). */
  socket?: string;
  /** Use this runtime instead of dialing the socket (simulator: a FakeRuntime). */
  runtime?: ContainerRuntime;
  /** Start Kedge's containerd (scripts/containerd.sh start) when the socket is absent. Default: only for the default socket. */
  startContainerd?: boolean;
}

/** `kedge edge` can start its containerd itself (idempotent script) or expect one on the socket. */
async function ensureContainerd(socket: string, start: boolean): Promise<void> {
  const net = await import('node:net');
  const answers = await new Promise<boolean>((resolve) => {
    const c = net.connect(socket, () => (c.destroy(), resolve(true)));
    c.on('error', () => resolve(false));
  });
  if (answers) return;
  if (!start) throw new Error(`no container runtime on ${socket}: start one with scripts/containerd.sh start (or pass --runtime none)`);
  const { execFileSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  // Same depth from src/ and dist/: <root>/{src,dist}/edge/podmanager/index.*
  const script = fileURLToPath(new URL('../../../scripts/containerd.sh', import.meta.url));
  execFileSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KEDGE_CONTAINERD_SOCK: socket } });
}

/**
 * A factory the agent calls with its context. With the CRI runtime it also makes sure Kedge's
 * sandbox image is present (built from busybox-static and imported), so offline nodes need no registry.
 */
export function podManagerFactory(opts: CriPodManagerOptions = {}): PodManagerFactory {
  return async (ctx) => {
    let runtime = opts.runtime;
    let owned = false;
    if (!runtime) {
      const { CriRuntime } = await import('../../runtime/cri/client.js');
      const socket = opts.socket ?? process.env.KEDGE_CONTAINERD_SOCK ?? DEFAULT_CRI_SOCKET;
      await ensureContainerd(socket, opts.startContainerd ?? socket === DEFAULT_CRI_SOCKET);
      runtime = new CriRuntime({ socket });
      owned = true;
      const { ensureSandboxImage } = await import('../../runtime/image/ensure.js');
      await ensureSandboxImage(runtime, socket);
    }
    const pm = await PodManager.start({ ...opts, ...ctx, runtime });
    const rt = runtime;
    // Beyond PodManagerHandle: logs and exec/attach/port-forward for the tunnel, runtime facts for node status.
    return {
      readLogs: pm.readLogs.bind(pm),
      streamingUrl: pm.streamingUrl.bind(pm),
      nodeInfo: () => runtimeNodeInfo(rt),
      statsRuntime: rt,
      stop: async () => {
        await pm.stop();
        if (owned) runtime!.close();
      },
    };
  };
}
