/**
 * Container logs in the CRI log format ("<RFC3339Nano> <stream> <P|F> <text>\n"), written by the
 * runtime to <podDir>/logs/<container>/<restartCount>.log, rotated by the pod manager (rename +
 * CRI ReopenContainerLog) and read back here with kubectl's options: follow, tailLines, sinceTime /
 * sinceSeconds, previous, timestamps, limitBytes.
 *
 * Follow works as the kubelet's: the live file is read through an open descriptor; at its end the reader checks
 * whether the path now names another file (rotated: rename, then the runtime reopens a new one): it drains what
 * the runtime still wrote to the old file, then continues with the new one from its start, so nothing written
 * across a rotation is lost or repeated. It ends when the container is no longer running (`stillRunning`), as
 * `kubectl logs -f` ends when its container exits, or when `signal` aborts.
 */
import { createReadStream, statSync } from 'node:fs';
import { readdir, rename, rm, stat, open, type FileHandle } from 'node:fs/promises';
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
  /** Stop after this many bytes of output (the last line is cut), as the kubelet. */
  limitBytes?: number;
  /** Ends a follow. */
  signal?: AbortSignal;
  /** Follow: whether the instance being read still runs (checked at the end of the file); default: forever. */
  stillRunning?: () => boolean;
}

/** Why logs could not be read: the kubelet answers these 400 with the message. */
export class LogsUnavailable extends Error {
  constructor(readonly why: 'previous-not-found' | 'no-logs', message: string) {
    super(message);
  }
}

/** Receives output; a returned promise is awaited (back-pressure from a slow reader). */
export type LogWriter = (chunk: string) => unknown;

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

/** Rotated files of one container instance, oldest first (not the live one). */
async function rotatedFiles(dir: string, attempt: number): Promise<string[]> {
  const base = `${attempt}.log`;
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(`${base}.`));
  names.sort((x, y) => x.localeCompare(y));
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

/** Output with the kubelet's filters: since, limitBytes; `done` once the byte limit is reached. */
class LogSink {
  private written = 0;
  done = false;
  private readonly since: number | undefined;

  constructor(private readonly opts: LogOptions, private readonly write: LogWriter) {
    this.since = opts.sinceTime?.getTime() ?? (opts.sinceSeconds ? Date.now() - opts.sinceSeconds * 1000 : undefined);
  }

  keep(l: CriLogLine): boolean {
    return this.since === undefined || Date.parse(l.time) >= this.since;
  }

  async emit(l: CriLogLine): Promise<void> {
    if (this.done) return;
    let out = format(l, !!this.opts.timestamps);
    const limit = this.opts.limitBytes;
    if (limit !== undefined && limit > 0) {
      const room = limit - this.written;
      const bytes = Buffer.byteLength(out);
      if (bytes >= room) {
        out = Buffer.from(out).subarray(0, room).toString('utf8');
        this.done = true;
      }
      this.written += Math.min(bytes, room);
    }
    if (out) await this.write(out);
  }
}

/** Complete lines from a growing file, read through one descriptor from `position`. */
class FileTail {
  private carry = '';
  constructor(readonly fh: FileHandle, public position: number, readonly ino: number) {}

  /** Lines appended since the last call (a trailing partial line waits for its newline). */
  async readLines(): Promise<string[]> {
    const out: string[] = [];
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.position);
      if (bytesRead === 0) break;
      this.position += bytesRead;
      const parts = (this.carry + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
      this.carry = parts.pop() ?? '';
      out.push(...parts);
      if (out.length > 1000) break;
    }
    return out;
  }
}

/**
 * Writes a container's logs to `write`. `currentAttempt` is the running (or latest) instance's
 * restart count; with `previous` the instance before it is read. Throws LogsUnavailable when no such instance exists.
 */
export async function readContainerLogs(podDir: string, container: string, currentAttempt: number | undefined, opts: LogOptions, write: LogWriter): Promise<void> {
  const dir = containerLogDir(podDir, container);
  const all = await attempts(dir);
  let attempt = currentAttempt ?? all.at(-1);
  if (opts.previous) {
    const prev = all.filter((a) => attempt === undefined || a < attempt).at(-1);
    if (prev === undefined) throw new LogsUnavailable('previous-not-found', `previous terminated container "${container}" not found`);
    attempt = prev;
  }
  if (attempt === undefined) throw new LogsUnavailable('no-logs', `container "${container}" has no logs`);
  const sink = new LogSink(opts, write);
  const livePath = path.join(dir, `${attempt}.log`);
  // The live file through a descriptor opened first: a rotation while reading cannot make us skip or repeat it.
  const liveFh = await open(livePath, 'r').catch(() => undefined);
  try {
    const tail = opts.tailLines !== undefined && opts.tailLines >= 0 ? opts.tailLines : undefined;
    const ring: CriLogLine[] = [];
    const take = async (l: CriLogLine) => {
      if (!sink.keep(l)) return;
      if (tail === undefined) return sink.emit(l);
      if (tail === 0) return;
      ring.push(l);
      if (ring.length > tail) ring.shift();
    };
    const liveIno = liveFh ? (await liveFh.stat()).ino : -1;
    for (const f of await rotatedFiles(dir, attempt)) {
      // Rotated after we opened the live file: it is read below, through the descriptor.
      if ((await stat(f).catch(() => null))?.ino === liveIno) continue;
      const rl = readline.createInterface({ input: createReadStream(f), crlfDelay: Infinity });
      for await (const raw of rl) {
        const l = parseCriLine(raw);
        if (l) await take(l);
        if (sink.done) return rl.close();
      }
    }
    let live: FileTail | undefined;
    if (liveFh) {
      live = new FileTail(liveFh, 0, liveIno);
      for (;;) {
        const lines = await live.readLines();
        if (lines.length === 0) break;
        for (const raw of lines) {
          const l = parseCriLine(raw);
          if (l) await take(l);
          if (sink.done) return;
        }
      }
    }
    for (const l of ring) {
      await sink.emit(l);
      if (sink.done) return;
    }
    if (!opts.follow || opts.previous) return;
    await follow(livePath, live, sink, opts);
  } finally {
    await liveFh?.close();
  }
}

const FOLLOW_POLL_MS = 200;

async function follow(livePath: string, first: FileTail | undefined, sink: LogSink, opts: LogOptions): Promise<void> {
  let cur = first;
  const opened: FileHandle[] = [];
  try {
    while (!opts.signal?.aborted && !sink.done) {
      if (cur) {
        const lines = await cur.readLines();
        for (const raw of lines) {
          const l = parseCriLine(raw);
          if (l && sink.keep(l)) await sink.emit(l);
          if (sink.done) return;
        }
        if (lines.length > 0) continue;
      }
      // At the end of what we hold: has the path moved on to a new file (rotation)?
      const st = await stat(livePath).catch(() => null);
      if (st && (!cur || st.ino !== cur.ino)) {
        // Drain what the runtime wrote to the old file before it reopened, then switch.
        if (cur) {
          for (const raw of await cur.readLines()) {
            const l = parseCriLine(raw);
            if (l && sink.keep(l)) await sink.emit(l);
          }
        }
        const fh = await open(livePath, 'r').catch(() => undefined);
        if (fh) {
          opened.push(fh);
          cur = new FileTail(fh, 0, (await fh.stat()).ino);
          continue;
        }
      }
      if (opts.stillRunning && !opts.stillRunning()) {
        // One last read: lines written just before the exit.
        if (cur) for (const raw of await cur.readLines()) {
          const l = parseCriLine(raw);
          if (l && sink.keep(l)) await sink.emit(l);
        }
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, FOLLOW_POLL_MS);
        function done() {
          clearTimeout(t);
          opts.signal?.removeEventListener('abort', done);
          resolve();
        }
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    for (const fh of opened) await fh.close().catch(() => undefined);
  }
}

export interface RotationPolicy {
  maxBytes: number;
  /** Rotated files kept per container instance (besides the live one). */
  maxFiles: number;
  /** How often sizes are checked (the kubelet's containerLogMonitorInterval, default 10 s). */
  checkIntervalMs?: number;
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
