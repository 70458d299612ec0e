/**
 * Garbage collection of images under disk pressure, with the kubelet's thresholds: when the image
 * filesystem is more than `highPercent` full, remove images no container uses (largest first)
 * until usage is under `lowPercent`. Kedge's own sandbox image is never removed. Dead containers
 * are collected by the pod manager itself (it keeps only the previous instance per container).
 */
import { statfs } from 'node:fs/promises';
import type { ContainerRuntime } from '../../runtime/types.js';

export interface ImageGcPolicy {
  highPercent: number;
  lowPercent: number;
  /** Image references never removed (e.g. the sandbox image). */
  pinned: string[];
}

export const DEFAULT_IMAGE_GC: ImageGcPolicy = { highPercent: 85, lowPercent: 80, pinned: ['kedge.local/pause:1'] };

export interface ImageGcResult {
  usedPercent: number;
  removed: string[];
  freedBytes: number;
}

/** `fsUsage` may be injected (tests); by default it is read with statfs on the image filesystem. */
export async function collectImages(rt: ContainerRuntime, policy: ImageGcPolicy = DEFAULT_IMAGE_GC, fsUsage?: () => Promise<{ capacity: number; available: number }>): Promise<ImageGcResult> {
  const read =
    fsUsage ??
    (async () => {
      const mount = (await rt.imageFsInfo())[0]?.fsId?.mountpoint ?? '/';
      const st = await statfs(mount);
      return { capacity: st.blocks * st.bsize, available: st.bavail * st.bsize };
    });
  const { capacity, available } = await read();
  const used = capacity - available;
  const usedPercent = capacity ? (used / capacity) * 100 : 0;
  const result: ImageGcResult = { usedPercent, removed: [], freedBytes: 0 };
  if (usedPercent < policy.highPercent) return result;
  const target = used - (capacity * policy.lowPercent) / 100;
  const inUse = new Set((await rt.listContainers()).map((c) => c.imageRef));
  const candidates = (await rt.listImages())
    .filter((i) => !inUse.has(i.id) && !i.repoTags.some((t) => policy.pinned.includes(t)))
    .sort((a, b) => b.size - a.size);
  for (const img of candidates) {
    if (result.freedBytes >= target) break;
    try {
      await rt.removeImage(img.id);
      result.removed.push(img.repoTags[0] ?? img.id);
      result.freedBytes += img.size;
    } catch {
      /* in use by a container created meanwhile: skip */
    }
  }
  return result;
}
