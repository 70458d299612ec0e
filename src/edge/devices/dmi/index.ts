/**
 * KubeEdge DMI on the edge node: `dmiService()` is what the agent starts next to the twin module
 * (EdgeAgentOptions.deviceServices); see server.ts.
 */
import path from 'node:path';
import type { Logger } from '../../../common/logger.js';
import { DMI_SOCKET_FILE } from '../../../protocol/dmi/index.js';
import type { DeviceTwins } from '../twin.js';
import { DmiServer } from './server.js';

export { DmiServer, type DmiTwins } from './server.js';

/** Registered mappers, remembered across agent restarts (server.ts `statePath`). */
export const DMI_MAPPERS_FILE = 'dmi-mappers.json';

export interface DmiServiceOptions {
  /** Default DATA_DIR/dmi.sock (KubeEdge's edgecore uses /etc/kubeedge/dmi.sock). */
  socketPath?: string;
  probeIntervalMs?: number;
}

/** A device service factory: serves DMI for the agent's twins until stopped. */
export function dmiService(opts: DmiServiceOptions = {}) {
  return async (ctx: { twins: DeviceTwins; dataDir: string; log: Logger }): Promise<{ stop(): Promise<void>; server: DmiServer }> => {
    const server = new DmiServer({
      socketPath: opts.socketPath ?? path.join(ctx.dataDir, DMI_SOCKET_FILE),
      twins: ctx.twins,
      statePath: path.join(ctx.dataDir, DMI_MAPPERS_FILE),
      log: ctx.log.child({ component: 'dmi' }),
      ...(opts.probeIntervalMs ? { probeIntervalMs: opts.probeIntervalMs } : {}),
    });
    await server.start();
    return { stop: () => server.stop(), server };
  };
}
