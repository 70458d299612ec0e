/**
 * Serving HTTP on a Unix domain socket that only the server's own user may use: mode 0600, a stale socket
 * from a killed process replaced, a live one (a second process on the same data dir) refused.
 * Used by the API server's loopback channel, the edge's local API socket and the DMI sockets (edge and mappers).
 */
import net from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';

/** sockaddr_un.sun_path is 108 bytes on Linux (107 + NUL): longer paths cannot have a socket. */
export const MAX_SOCKET_PATH_BYTES = 107;

export async function listenOnUnixSocket(server: net.Server, socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`socket path is ${Buffer.byteLength(socketPath)} bytes, over the ${MAX_SOCKET_PATH_BYTES}-byte limit for Unix sockets: ${socketPath}`);
  }
  await removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: socketPath, readableAll: false, writableAll: false }, () => { server.off('error', reject); resolve(); });
  });
  // The file is created with the umask's mode; only the server's user may connect (the directory is 0700 too).
  await chmod(socketPath, 0o600);
}

/**
 * A socket file left by a process that was killed is removed; one a live server still answers on is an error
 * (two servers on one data dir), and so is any other kind of file at that path.
 */
export async function removeStaleSocket(socketPath: string): Promise<void> {
  const st = await lstat(socketPath).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket: refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect({ path: socketPath });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${socketPath} is in use by another running server (same --data-dir?)`);
  await unlink(socketPath);
}
