/**
 * KubeEdge DMI on the edge node: `dmiService()` is what the agent starts next to the twin module
 * (EdgeAgentOptions.deviceServices); see server.ts.
 *
 * The socket is listened on at once (a mapper may register at any time), but gRPC (@grpc/grpc-js, proto-loader and
 * the parsed api.proto: ~8 MiB of RSS) is loaded only when DMI can be needed: a Device bound to the node (now or
 * later: its mapper is expected, and mapper-framework registers with a 1 s deadline, so gRPC should be ready), mappers
 * remembered from an earlier run, or else the first connection (loading takes ~0.2-0.7 s). Until then the agent
 * holds a plain Unix socket listener.
 */
import net from 'node:net';
import path from 'node:path';
import { readFile, unlink } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../common/logger.js';
import { listenOnUnixSocket } from '../../../common/unix-socket.js';
import { DMI_SOCKET_FILE } from '../../../protocol/dmi/types.js';
import type { DmiServer, DmiServerOptions, DmiTwins } from './server.js';

export type { DmiServer, DmiTwins } from './server.js';

/** Registered mappers, remembered across agent restarts (server.ts `statePath`). */
export const DMI_MAPPERS_FILE = 'dmi-mappers.json';

export interface DmiServiceOptions {
  /** Default DATA_DIR/dmi.sock (KubeEdge's edgecore uses /etc/kubeedge/dmi.sock). */
  socketPath?: string;
  probeIntervalMs?: number;
}

export interface DmiService {
  stop(): Promise<void>;
  /** The gRPC server, once loaded (undefined while no mapper has connected). */
  readonly server: DmiServer | undefined;
}

/** A device service factory: serves DMI for the agent's twins until stopped. */
export function dmiService(opts: DmiServiceOptions = {}) {
  return async (ctx: { twins: DmiTwins; dataDir: string; log: Logger }): Promise<DmiService> => {
    const serverOptions: DmiServerOptions = {
      socketPath: opts.socketPath ?? path.join(ctx.dataDir, DMI_SOCKET_FILE),
      twins: ctx.twins,
      statePath: path.join(ctx.dataDir, DMI_MAPPERS_FILE),
      log: ctx.log.child({ component: 'dmi' }),
      ...(opts.probeIntervalMs ? { probeIntervalMs: opts.probeIntervalMs } : {}),
    };
    if (ctx.twins.listDevices().length > 0 || (await hasRememberedMappers(serverOptions.statePath!))) {
      const { DmiServer } = await import('./server.js');
      const server = new DmiServer(serverOptions);
      await server.start();
      return { stop: () => server.stop(), server };
    }
    return listenThenLoad(serverOptions);
  };
}

/** Mappers registered in an earlier run are called at start (server.ts restore), so gRPC is needed at once. */
async function hasRememberedMappers(statePath: string): Promise<boolean> {
  const raw = await readFile(statePath, 'utf8').catch(() => '');
  try {
    const ids: unknown = JSON.parse(raw);
    return Array.isArray(ids) && ids.length > 0;
  } catch {
    return raw.trim() !== ''; // unreadable: let the server say so (restore logs it)
  }
}

async function listenThenLoad(o: DmiServerOptions): Promise<DmiService> {
  if (!path.isAbsolute(o.socketPath)) throw new Error(`DMI socket path must be absolute: ${o.socketPath}`);
  let loading: Promise<{ server: DmiServer; inject: (connection: Duplex) => void }> | undefined;
  let loaded: DmiServer | undefined;
  let stopped = false;
  const load = () =>
    (loading ??= (async () => {
      const { DmiServer } = await import('./server.js');
      const server = new DmiServer(o);
      const inject = await server.startOnConnections();
      loaded = server;
      unsubscribe();
      return { server, inject };
    })());
  // A Device bound to this node: its mapper will come; be ready for its registration.
  const unsubscribe = o.twins.onDesiredChanged(() => {
    if (!stopped) load().catch((err: unknown) => { o.log.error({ err: String(err) }, 'DMI server could not start'); loading = undefined; });
  });
  const listener = net.createServer((socket) => {
    load().then(
      ({ inject }) => (stopped ? socket.destroy() : inject(socket)),
      (err: unknown) => {
        o.log.error({ err: String(err) }, 'DMI server could not start');
        socket.destroy();
        loading = undefined; // the next connection tries again
      },
    );
  });
  await listenOnUnixSocket(listener, o.socketPath);
  o.log.info({ socket: o.socketPath, grpc: 'loaded at the first connection or Device' }, 'DMI DeviceManagerService listening');
  return {
    get server() {
      return loaded;
    },
    async stop() {
      stopped = true;
      unsubscribe();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      const started = await loading?.catch(() => undefined);
      await started?.server.stop();
      await unlink(o.socketPath).catch(() => {});
    },
  };
}
