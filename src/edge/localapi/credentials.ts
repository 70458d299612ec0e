/**
 * The node's credential for its local API: a random token in DATA_DIR/local-api.token, mode 0600 (readable by
 * root and the agent's user only), made once and kept across restarts so node-local clients configured with
 * it keep working. `kedge edge` also serves the local API on DATA_DIR/local-api.sock (0600) for clients that
 * prefer file permissions to a token.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/logger.js';

export const LOCAL_API_TOKEN_FILE = 'local-api.token';
export const LOCAL_API_SOCKET_FILE = 'local-api.sock';

export async function ensureLocalApiToken(dataDir: string, log: Logger): Promise<string> {
  const file = path.join(dataDir, LOCAL_API_TOKEN_FILE);
  const st = await lstat(file).catch(() => undefined);
  if (st) {
    if (!st.isFile()) throw new Error(`${file} exists and is not a regular file: refusing to use it as the local API token`);
    if ((st.mode & 0o077) !== 0) {
      log.warn({ file, mode: (st.mode & 0o777).toString(8) }, 'local API token file was readable by others: set to 0600');
      await chmod(file, 0o600);
    }
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length >= 32) return token;
    log.warn({ file }, 'local API token file is too short: writing a new token');
  }
  const token = randomBytes(32).toString('base64url');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: 'w' });
  await rename(tmp, file);
  return token;
}
