/**
 * Container logs in the CRI log format ("<RFC3339Nano> <stream> <P|F> <text>\n"), written by the
 * runtime to <podDir>/logs/<container>/<restartCount>.log, rotated by the pod manager (rename +
 * CRI ReopenContainerLog) and read back here with kubectl's options: follow, tailLines, sinceTime /
 * sinceSeconds, previous, timestamps.
 */
import { createReadStream, statSync } from 'node:fs';
import { readdir, rename, rm, stat, open } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import type { ContainerRuntime } from '../../runtime/types.js';

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  sinceTime?: Date;
  sinceSeconds?: number;
  timestamps?: boolean;
  previous?: boolean;
  /** Ends a follow. */
  signal?: AbortSignal;
}

export interface CriLogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  text: string;
}

export function parseCriLine(line: string): CriLogLine | null {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return null;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  return { time: line.slice(0, a), stream, partial: tag.split(':').includes('P'), text: c < 0 ? '' : line.slice(c + 1) };
}

export function containerLogDir(podDir: string, container: string): string {
  return path.join(podDir, 'logs', container);
}

/** Log files of one container instance, oldest first (rotated files, then the live one). */
async function instanceFiles(dir: string, attempt: number): Promise<string[]> {
  const base = `${attempt}.log`;
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n === base || n.startsWith(`${base}.`));
  names.sort((x, y) => (x === base ? 1 : y === base ? -1 : x.localeCompare(y)));
  return names.map((n) => path.join(dir, n));
}

/** Restart counts that have logs, ascending. */
async function attempts(dir: string): Promise<number[]> {
  const set = new Set<number>();
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const m = /^(\d+)\.log/.exec(n);
    if (m) set.add(Number(m[1]));
  }
  return [...set].sort((a, b) => a - b);
}

function format(l: CriLogLine, ts: boolean): string {
  return (ts ? `${l.time} ` : '') + l.text + (l.partial ? '' : '\n');
}

/**
 * Writes a container's logs to `write`. `currentAttempt` is the running (or latest) instance's
 * restart count; with `previous` the instance before it is read. Throws when no such instance exists.
 */
export async function readContainerLogs(podDir: string, container: string, currentAttempt: number | undefined, opts: LogOptions, write: (chunk: string) => void): Promise<void> {
  const dir = containerLogDir(podDir, container);
  const all = await attempts(dir);
  let attempt = currentAttempt ?? all.at(-1);
  if (opts.previous) {
    const prev = all.filter((a) => attempt === undefined || a < attempt).at(-1);
    if (prev === undefined) throw new Error(`previous terminated container "${container}" not found`);
    attempt = prev;
  }
  if (attempt === undefined) throw new Error(`container "${container}" has no logs`);
  const since = opts.sinceTime?.getTime() ?? (opts.sinceSeconds ? Date.now() - opts.sinceSeconds * 1000 : undefined);
  const keep = (l: CriLogLine) => since === undefined || Date.parse(l.time) >= since;

  const files = await instanceFiles(dir, attempt);
  let lines: CriLogLine[] = [];
  let offset = 0;
  for (const f of files) {
    const rl = readline.createInterface({ input: createReadStream(f), crlfDelay: Infinity });
    for await (const raw of rl) {
      const l = parseCriLine(raw);
      if (l && keep(l)) lines.push(l);
    }
    if (f.endsWith('.log')) offset = (await stat(f)).size;
  }
  if (opts.tailLines !== undefined && opts.tailLines >= 0) lines = lines.slice(Math.max(0, lines.length - opts.tailLines));
  for (const l of lines) write(format(l, !!opts.timestamps));
  if (!opts.follow || opts.previous) return;

  // Follow: poll the live file for growth (and for rotation, when it shrinks or is replaced).
  const live = path.join(dir, `${attempt}.log`);
  let carry = '';
  while (!opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 250));
    const st = await stat(live).catch(() => null);
    if (!st) continue;
    if (st.size < offset) offset = 0;
    if (st.size === offset) continue;
    const fh = await open(live, 'r');
    try {
      const buf = Buffer.alloc(st.size - offset);
      await fh.read(buf, 0, buf.length, offset);
      offset = st.size;
      const text = carry + buf.toString('utf8');
      const parts = text.split('\n');
      carry = parts.pop() ?? '';
      for (const raw of parts) {
        const l = parseCriLine(raw);
        if (l && keep(l)) write(format(l, !!opts.timestamps));
      }
    } finally {
      await fh.close();
    }
  }
}

export interface RotationPolicy {
  maxBytes: number;
  /** Rotated files kept per container instance (besides the live one). */
  maxFiles: number;
}

/** Rotates a live log file when it grew past the limit; the runtime reopens a fresh file. */
export async function rotateIfNeeded(runtime: ContainerRuntime, containerId: string, logPath: string, policy: RotationPolicy): Promise<boolean> {
  // A synchronous stat that answers undefined for a missing file: microseconds on a local disk, against a thread
  // pool round trip plus a thrown ENOENT (an Error with a stack) for every container without a log yet, every 30 s.
  let st;
  try {
    st = statSync(logPath, { throwIfNoEntry: false });
  } catch {
    return false; // unreadable: left alone, as before
  }
  if (!st || st.size < policy.maxBytes) return false;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('.', '-');
  await rename(logPath, `${logPath}.${stamp}`);
  await runtime.reopenContainerLog(containerId).catch(() => undefined);
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  const rotated = (await readdir(dir)).filter((n) => n.startsWith(`${base}.`)).sort();
  for (const old of rotated.slice(0, Math.max(0, rotated.length - policy.maxFiles))) await rm(path.join(dir, old), { force: true });
  return true;
}
