import { mkdir, readFile, writeFile, rename, chmod } from 'node:fs/promises';
import path from 'node:path';

/** Small file helpers for key material: atomic writes, 0600 for secrets, "missing" as undefined. */

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode); // umask may have narrowed or (for 0644) widened nothing; make it exact
  await rename(tmp, file);
}

export const writeSecretFile = (file: string, data: string): Promise<void> => writeAtomic(file, data, 0o600);
export const writePublicFile = (file: string, data: string): Promise<void> => writeAtomic(file, data, 0o644);
