/**
 * What the runtime contributes to the Node's status (the agent's node-status.ts merges it):
 * images present (status.images), the runtime version (nodeInfo.containerRuntimeVersion), and
 * whether the runtime and its pod network are ready (feeds the Ready condition), plus image
 * filesystem usage for DiskPressure.
 */
import { statfs } from 'node:fs/promises';
import type { V1ContainerImage } from '@kubernetes/client-node';
import type { ContainerRuntime } from '../../runtime/types.js';

export interface RuntimeNodeInfo {
  containerRuntimeVersion: string;
  images: V1ContainerImage[];
  runtimeReady: boolean;
  networkReady: boolean;
  /** Human reason when not ready (runtime's own words). */
  message?: string;
  imageFs?: { usedBytes: number; capacityBytes: number; availableBytes: number };
}

export async function runtimeNodeInfo(rt: ContainerRuntime, maxImages = 50): Promise<RuntimeNodeInfo> {
  const [v, conds, images, fs] = await Promise.all([rt.version(), rt.status(), rt.listImages(), rt.imageFsInfo().catch(() => [])]);
  const cond = (t: string) => conds.find((c) => c.type === t);
  const notReady = conds.filter((c) => !c.status).map((c) => `${c.type}: ${c.reason} ${c.message}`.trim());
  const out: RuntimeNodeInfo = {
    containerRuntimeVersion: `${v.runtimeName}://${v.runtimeVersion}`,
    images: images
      .sort((a, b) => b.size - a.size)
      .slice(0, maxImages)
      .map((i) => ({ names: [...i.repoDigests, ...i.repoTags], sizeBytes: i.size })),
    runtimeReady: cond('RuntimeReady')?.status ?? false,
    networkReady: cond('NetworkReady')?.status ?? false,
    message: notReady.length ? notReady.join('; ') : undefined,
  };
  const mount = fs[0]?.fsId?.mountpoint;
  if (mount) {
    const st = await statfs(mount).catch(() => null);
    if (st) out.imageFs = { usedBytes: fs[0]!.usedBytes?.value ?? 0, capacityBytes: st.blocks * st.bsize, availableBytes: st.bavail * st.bsize };
  }
  return out;
}
