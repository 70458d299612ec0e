/**
 * Loads the DMI api.proto with @grpc/proto-loader (at runtime, from beside this module: common/asset-path.ts) and
 * gives typed service definitions and clients for both directions.
 */
import path from 'node:path';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { chmod, unlink } from 'node:fs/promises';
import { MAX_SOCKET_PATH_BYTES, removeStaleSocket } from '../../common/unix-socket.js';
import { assetBeside } from '../../common/asset-path.js';

/** The API version mappers send (the socket's names: types.ts). */
export const DMI_API_VERSION = 'v1beta1';

/** Largest message either side accepts: a device's whole spec or one report is kilobytes, never megabytes. */
export const DMI_MAX_MESSAGE_BYTES = 1 << 20;

let definition: protoLoader.PackageDefinition | undefined;
function packageDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(assetBeside(import.meta.url, 'api.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, objects: true });
  return definition;
}

export function deviceManagerService(): grpc.ServiceDefinition {
  return packageDefinition()['v1beta1.DeviceManagerService'] as grpc.ServiceDefinition;
}

export function deviceMapperService(): grpc.ServiceDefinition {
  return packageDefinition()['v1beta1.DeviceMapperService'] as grpc.ServiceDefinition;
}

const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': DMI_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': DMI_MAX_MESSAGE_BYTES,
  // A peer that restarts is found again quickly: reconnect backoff capped at 2 s instead of grpc's 120 s.
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.initial_reconnect_backoff_ms': 200,
};

export const DMI_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': DMI_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': DMI_MAX_MESSAGE_BYTES,
  'grpc.max_concurrent_streams': 64,
};

/**
 * Serves one DMI service on a Unix socket only this user may connect to (mode 0600; a stale socket left by a
 * killed process is replaced, a live one is an error). Returns a stop function that also removes the socket.
 */
export async function serveOnUnixSocket(service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation, socketPath: string): Promise<() => Promise<void>> {
  if (!path.isAbsolute(socketPath)) throw new Error(`DMI socket path must be absolute: ${socketPath}`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) throw new Error(`DMI socket path is over the ${MAX_SOCKET_PATH_BYTES}-byte limit for Unix sockets: ${socketPath}`);
  await removeStaleSocket(socketPath);
  const server = new grpc.Server(DMI_SERVER_OPTIONS);
  server.addService(service, handlers);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  // Created with the umask's mode; the directory is the owner's too, so nobody else could connect meanwhile.
  await chmod(socketPath, 0o600);
  return async () => {
    await shutdown(server);
    await unlink(socketPath).catch(() => {});
  };
}

/**
 * Serves one DMI service on connections accepted elsewhere (a Unix socket listener that was up before gRPC was
 * loaded: src/edge/devices/dmi/index.ts). Returns how to hand a connection over and how to stop.
 */
export function serveConnections(service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): { inject(connection: Duplex): void; stop(): Promise<void> } {
  const server = new grpc.Server(DMI_SERVER_OPTIONS);
  server.addService(service, handlers);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return { inject: (connection) => injector.injectConnection(connection), stop: () => shutdown(server) };
}

/** Finish calls in flight, then stop; a call still running after 2 s is cut. */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 2_000);
    server.tryShutdown(() => { clearTimeout(force); resolve(); });
  });
}

/** A unary-call client for one DMI service on a Unix socket, with a deadline per call. */
export class DmiClient {
  private readonly client: grpc.Client;
  private readonly methods: grpc.ServiceDefinition;

  constructor(service: grpc.ServiceDefinition, socketPath: string, private readonly timeoutMs = 5_000) {
    const ctor = grpc.makeGenericClientConstructor(service, 'dmi');
    this.client = new ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), channelOptions);
    this.methods = service;
  }

  call<Res>(method: string, request: object, timeoutMs = this.timeoutMs): Promise<Res> {
    const def = this.methods[method];
    if (!def) return Promise.reject(new Error(`DMI has no method ${method}`));
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize as (b: Buffer) => Res,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err ? reject(err) : resolve(res as Res)),
      );
    });
  }

  /**
   * `listener` runs each time an established connection is lost (the peer restarted or went away): the moment
   * a mapper must register again, since a restarted edge has forgotten it.
   */
  onConnectionLost(listener: () => void): void {
    const channel = this.client.getChannel();
    const watch = (last: grpc.connectivityState) => {
      if (this.closed) return;
      channel.watchConnectivityState(last, Infinity, () => {
        if (this.closed) return;
        const now = channel.getConnectivityState(false);
        if (last === grpc.connectivityState.READY && now !== grpc.connectivityState.READY) listener();
        watch(now);
      });
    };
    watch(channel.getConnectivityState(false));
  }

  private closed = false;

  close(): void {
    this.closed = true;
    this.client.close();
  }
}

export function deviceManagerClient(socketPath: string, timeoutMs?: number): DmiClient {
  return new DmiClient(deviceManagerService(), socketPath, timeoutMs);
}

export function deviceMapperClient(socketPath: string, timeoutMs?: number): DmiClient {
  return new DmiClient(deviceMapperService(), socketPath, timeoutMs);
}

/** A gRPC error with a status code, as a handler returns it to the caller. */
export function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  const err = new Error(details) as grpc.ServiceError;
  err.code = code;
  err.details = details;
  err.metadata = new grpc.Metadata();
  return err;
}

export { grpc };
