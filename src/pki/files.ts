import { lstat, mkdir, open, readFile, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * Small file helpers for key material: durable atomic writes (fsync the file, rename, fsync the directory),
 * 0600 for secrets, "missing" as undefined, and sets of files replaced together (`replaceFileSet`).
 */

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** fsync a directory, so a rename or a new entry in it survives power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Create `file` with exactly `mode` (whatever the umask) and its data on disk before returning. */
async function writeDurable(file: string, data: string, mode: number): Promise<void> {
  const fh = await open(file, 'wx', mode);
  try {
    await fh.chmod(mode); // umask may have narrowed the mode; make it exact
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const tmpName = (file: string) => `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

export async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = tmpName(file);
  try {
    await writeDurable(tmp, data, mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

export const writeSecretFile = (file: string, data: string): Promise<void> => writeAtomic(file, data, 0o600);
export const writePublicFile = (file: string, data: string): Promise<void> => writeAtomic(file, data, 0o644);

export interface FileSetEntry {
  name: string;
  data: string;
  mode: number;
}

/** Called after each step of `replaceFileSet` (tests throw from it to simulate a crash right there). */
export type FileSetStepHook = (step: string) => void;

const CURRENT = 'current';
const GENERATION = /^gen-[0-9a-z-]+$/;

/** Replace a symlink (or a file) by a new symlink to `target`, atomically (rename over it). */
async function swapSymlink(linkPath: string, target: string): Promise<void> {
  const tmp = tmpName(linkPath);
  await symlink(target, tmp);
  try {
    await rename(tmp, linkPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Replace a set of files that are only valid together (a private key and its certificate) so that a
 * crash at any point leaves either the whole old set or the whole new one, as the kubelet's
 * `kubelet-client-current.pem` symlink does:
 *   DIR/gen-<time>-<rand>/NAME   written and fsynced, then the directory fsynced
 *   DIR/current -> gen-...       one rename of a new symlink over the old one (the commit point), DIR fsynced
 *   DIR/NAME -> current/NAME     stable paths for people and tools (created once; a pre-existing plain file is
 *                                replaced by the link, which is how a data dir from before this layout moves over)
 * Older generations are removed last. Readers go through `current` (readFileSet), resolved once.
 */
export async function replaceFileSet(dir: string, entries: FileSetEntry[], step: FileSetStepHook = () => {}): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const generation = `gen-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const genDir = path.join(dir, generation);
  await mkdir(genDir, { mode: 0o700 });
  step('mkdir');
  for (const e of entries) {
    await writeDurable(path.join(genDir, e.name), e.data, e.mode);
    step(`write ${e.name}`);
  }
  await fsyncDir(genDir);
  step('fsync generation');
  await swapSymlink(path.join(dir, CURRENT), generation);
  step('swap current');
  await fsyncDir(dir);
  step('fsync dir');
  for (const e of entries) {
    const link = path.join(dir, e.name);
    const want = path.join(CURRENT, e.name);
    const have = await readlink(link).catch(() => undefined);
    if (have !== want) await swapSymlink(link, want);
    step(`link ${e.name}`);
  }
  await fsyncDir(dir);
  for (const name of await readdir(dir)) {
    if (name !== generation && (GENERATION.test(name) || name.endsWith('.tmp'))) await rm(path.join(dir, name), { recursive: true, force: true });
  }
  step('cleanup');
}

/**
 * Read the files of the set `replaceFileSet` last committed in `dir` (all from one generation), or, for a
 * directory from before that layout (no `current`), the plain files `DIR/NAME`.
 */
export async function readFileSet(dir: string, names: string[]): Promise<Record<string, string>> {
  let from = dir;
  const current = await lstat(path.join(dir, CURRENT)).catch(() => undefined);
  if (current) from = path.resolve(dir, await readlink(path.join(dir, CURRENT)));
  const contents = await Promise.all(names.map((n) => readFile(path.join(from, n), 'utf8')));
  return Object.fromEntries(names.map((n, i) => [n, contents[i]!]));
}
