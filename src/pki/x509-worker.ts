/**
 * X.509 work (creating a CA, issuing a serving certificate, parsing and signing node CSRs) done in a small child
 * process that ends after a few idle seconds. @peculiar/x509 with tsyringe, the Reflect polyfill and the key work
 * behind it, once loaded, stays resident for the life of a process (+22 MiB RSS on a bare Node.js, issue 19); a hub
 * needs it only at its first start and when a node joins or renews, so it lives in a process that comes and goes.
 * Not a worker thread: its isolate goes when it ends, but ~15 MiB of what it allocated stayed in the parent's
 * malloc arenas (measured: bare node 41 MiB → 56 MiB after a worker thread, 43 MiB after this child process).
 * Results are plain strings and objects (structured clone over IPC); an error keeps its message.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { X509_OPERATIONS, X509Operation, X509Request, X509Response } from './x509-operations.js';

type Operations = typeof X509_OPERATIONS;

/** How long the worker waits for more work before it ends (a burst of joins shares one worker). */
export const X509_WORKER_IDLE_MS = 5_000;

let worker: ChildProcess | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let nextId = 0;
const pending = new Map<number, { worker: ChildProcess; resolve: (v: unknown) => void; reject: (e: Error) => void }>();

/** Fails what was sent to `w` (a worker that ended while idle may report its exit after a new one started). */
function failAll(w: ChildProcess, err: Error): void {
  for (const [id, p] of pending) {
    if (p.worker !== w) continue;
    pending.delete(id);
    p.reject(err);
  }
}

/** The worker's entry beside this module: .js when built, .ts when run from source (tests run under tsx, inherited). */
function startWorker(): ChildProcess {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const w = fork(fileURLToPath(new URL(`./x509-worker-main${ext}`, import.meta.url)), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    // Not the parent's --inspect, heap or young-generation flags: a plain, small process.
    execArgv: loaderArgs(process.execArgv),
  });
  w.on('message', (res: X509Response) => {
    const p = pending.get(res.id);
    if (!p) return;
    pending.delete(res.id);
    if (res.ok) p.resolve(res.result);
    else p.reject(new Error(res.message));
    if (pending.size === 0) {
      // Idle: never what keeps a process alive (while it works, it is: the caller awaits it).
      w.unref();
      w.channel?.unref();
      scheduleIdleExit(w);
    }
  });
  w.on('error', (err) => {
    if (worker === w) worker = undefined;
    failAll(w, err);
  });
  w.on('exit', (code, signal) => {
    if (worker === w) worker = undefined;
    failAll(w, new Error(`X.509 worker exited (${signal ?? `code ${code}`}) with work pending`));
  });
  return w;
}

/** Only the module loaders of the parent's flags (`--import X`, `--import=X`): what running from source needs. */
export function loaderArgs(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (a.startsWith('--import=')) out.push(a);
    else if (a === '--import' && i + 1 < execArgv.length) out.push(a, execArgv[++i]!);
  }
  return out;
}

function scheduleIdleExit(w: ChildProcess): void {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (worker !== w || pending.size > 0) return;
    worker = undefined;
    w.disconnect();
  }, X509_WORKER_IDLE_MS);
  idleTimer.unref();
}

/** Runs one X.509 operation in the worker process (started when needed). */
export function inX509Worker<K extends X509Operation>(op: K, ...args: Parameters<Operations[K]>): ReturnType<Operations[K]> {
  clearTimeout(idleTimer);
  const w = (worker ??= startWorker());
  w.ref();
  w.channel?.ref();
  const id = nextId++;
  const result = new Promise<unknown>((resolve, reject) => pending.set(id, { worker: w, resolve, reject }));
  w.send({ id, op, args } satisfies X509Request);
  return result as ReturnType<Operations[K]>;
}

/** Whether the worker is running now (tests). */
export function x509WorkerRunning(): boolean {
  return worker !== undefined;
}
