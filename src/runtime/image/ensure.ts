/** Makes sure the images Kedge itself needs are in the runtime (built locally, never pulled). */
import type { ContainerRuntime } from '../types.js';
import { buildSandboxArchive, SANDBOX_IMAGE } from './busybox.js';
import { importImageBuffer } from './import.js';

export async function ensureSandboxImage(runtime: ContainerRuntime, socket: string, ref = process.env.KEDGE_SANDBOX_IMAGE ?? SANDBOX_IMAGE): Promise<void> {
  if (await runtime.imageStatus(ref)) return;
  await importImageBuffer(socket, buildSandboxArchive(ref));
}
