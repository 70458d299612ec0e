/**
 * Real processes for acceptance suites and benchmarks: start `kedge …` (or any command) with its
 * output captured to a log file, wait until it is ready (a URL answers or a log line appears),
 * `kill -9` it, stop it gracefully, restart it with the same arguments, and read its RSS/CPU.
 *
 * Everything a test starts goes through a `Harness`, whose `cleanup()` (call it from `after`)
 * kills every process and removes every temp dir it made. As a last resort, processes still
 * alive when the test process exits are SIGKILLed too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { sampleProcess, type ProcSample } from './procstat.js';

export type ReadyCheck =
  | {
      /** poll this http(s) URL until it answers; TLS certificates are not verified (test CAs) */
      url: string | (() => string);
      /** which status codes mean ready; default: any status below 500 */
      ok?: (status: number) => boolean;
      timeoutMs?: number;
    }
  | { logLine: RegExp | string; timeoutMs?: number };

export interface ProcessOptions {
  /** name used for the log file and error messages */
  name: string;
  /** program to run; omitted = the kedge CLI (test/helpers/kedge-cli.ts) */
  command?: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** directory for `<name>.log`; default: a temp dir owned by the harness */
  logDir?: string;
  ready?: ReadyCheck;
}

const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** How much of the current run's output is kept in memory for log-line matching. */
const MAX_BUFFERED_OUTPUT = 8 << 20;

/** Every live child, so an exiting test process can still SIGKILL what it left behind. */
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveChildren) killGroup(c, 'SIGKILL');
});
/**
 * Children run in their own process groups, so a signal that ends this process (a test runner's
 * timeout, `timeout`, Ctrl-C) would not reach them: SIGKILL them, then die of the same signal.
 * Installed only while children are alive, so a process without any keeps default signal handling.
 */
const TERMINATING_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
function onTerminatingSignal(signal: NodeJS.Signals): void {
  for (const c of liveChildren) killGroup(c, 'SIGKILL');
  // If the program handles the signal itself (e.g. a bench publishing partial results), it decides when to exit.
  if (process.listenerCount(signal) > 1) return;
  for (const s of TERMINATING_SIGNALS) process.off(s, onTerminatingSignal);
  process.kill(process.pid, signal);
}
function trackChild(child: ChildProcess): void {
  if (liveChildren.size === 0) for (const s of TERMINATING_SIGNALS) process.on(s, onTerminatingSignal);
  liveChildren.add(child);
}
function untrackChild(child: ChildProcess): void {
  liveChildren.delete(child);
  if (liveChildren.size === 0) for (const s of TERMINATING_SIGNALS) process.off(s, onTerminatingSignal);
}

/** Signal the child's whole process group (it runs detached, as a group leader), so helpers it spawned die too. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  private child: ChildProcess | null = null;
  private output = '';
  private outputListeners = new Set<() => void>();
  private exitPromise: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private log: WriteStream | null = null;
  private starts = 0;
  readonly logFile: string;

  constructor(private readonly opts: ProcessOptions & { logDir: string }) {
    this.logFile = path.join(opts.logDir, `${opts.name}.log`);
  }

  get name(): string {
    return this.opts.name;
  }

  get args(): readonly string[] {
    return this.opts.args;
  }

  /** PID of the current run (throws if not started). */
  get pid(): number {
    if (!this.child?.pid) throw new Error(`${this.name}: not running`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the current run exits. */
  get exited(): Promise<ExitInfo> {
    return this.exitPromise;
  }

  /** Output (stdout + stderr) of the current run. */
  get currentOutput(): string {
    return this.output;
  }

  /** Spawn and wait for readiness (if a check is configured). Fails with the log tail if the process dies first. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name}: already running (pid ${this.child?.pid})`);
    const { command, args } =
      this.opts.command !== undefined ? { command: this.opts.command, args: this.opts.args } : kedgeCommand(this.opts.args);
    this.starts++;
    this.output = '';
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    this.log.write(`\n=== start #${this.starts} ${new Date().toISOString()}: ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, {
      cwd: this.opts.cwd,
      env: { ...process.env, ...this.opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: kill9() takes its helpers down with it
    });
    this.child = child;
    trackChild(child);
    const onOutput = (chunk: Buffer) => {
      this.log?.write(chunk);
      this.output += chunk.toString('utf8');
      if (this.output.length > MAX_BUFFERED_OUTPUT) this.output = this.output.slice(-MAX_BUFFERED_OUTPUT / 2);
      for (const l of [...this.outputListeners]) l();
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    this.exitPromise = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        untrackChild(child);
        this.log?.write(`\n=== exit code=${code} signal=${signal}\n`);
        for (const l of [...this.outputListeners]) l();
        resolve({ code, signal });
      });
    });
    const spawned = await Promise.race([
      once(child, 'spawn').then(() => null),
      once(child, 'error').then(([e]) => e as Error),
    ]);
    if (spawned) throw new Error(`${this.name}: failed to spawn ${command}: ${spawned.message}`);
    if (this.opts.ready) await this.waitReady(this.opts.ready);
  }

  /** Wait until `check` passes; throws with the log tail on timeout or early exit. */
  async waitReady(check: ReadyCheck): Promise<void> {
    const timeoutMs = check.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    if ('logLine' in check) {
      await this.waitForLog(check.logLine, timeoutMs);
      return;
    }
    const deadline = performance.now() + timeoutMs;
    const ok = check.ok ?? ((s: number) => s < 500);
    let lastProblem = 'no attempt';
    while (performance.now() < deadline) {
      if (!this.running) throw this.failure(`exited before ready (${lastProblem})`);
      const url = typeof check.url === 'function' ? check.url() : check.url;
      try {
        const status = await httpStatus(url, Math.min(2_000, Math.max(1, deadline - performance.now())));
        if (ok(status)) return;
        lastProblem = `${url} answered ${status}`;
      } catch (e) {
        lastProblem = `${url}: ${(e as Error).message}`;
      }
      await sleep(100);
    }
    throw this.failure(`not ready after ${timeoutMs} ms (${lastProblem})`);
  }

  /** Wait until the current run's output matches `pattern`; returns the match. */
  waitForLog(pattern: RegExp | string, timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<RegExpMatchArray> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.output);
        if (m) return done(() => resolve(m));
        if (!this.running) return done(() => reject(this.failure(`exited without logging ${re}`)));
      };
      const timer = setTimeout(() => done(() => reject(this.failure(`no log line ${re} within ${timeoutMs} ms`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.outputListeners.delete(check);
        f();
      };
      this.outputListeners.add(check);
      check();
    });
  }

  /** SIGKILL the process (and its group) and wait for it to be gone. */
  async kill9(): Promise<ExitInfo> {
    if (this.child) killGroup(this.child, 'SIGKILL');
    return this.exitPromise;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<ExitInfo> {
    const child = this.child;
    if (!child || !this.running) return this.exitPromise;
    child.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
      // helpers the process left behind in its group
      killGroup(child, 'SIGKILL');
    }
  }

  /** Stop (gracefully unless `kill9`) and start again with the same arguments. */
  async restart(opts: { kill9?: boolean } = {}): Promise<void> {
    if (opts.kill9) await this.kill9();
    else await this.stop();
    await this.start();
  }

  /** RSS and CPU of the running process. */
  sample(): ProcSample {
    return sampleProcess(this.pid);
  }

  /** Last `lines` lines of the current run's output, for error messages. */
  tail(lines = 30): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  private failure(what: string): Error {
    return new Error(`${this.name}: ${what}; log ${this.logFile}; last output:\n${this.tail()}`);
  }

  /** Kill and close the log (harness cleanup). */
  async dispose(): Promise<void> {
    await this.kill9();
    const log = this.log;
    this.log = null;
    if (log) await new Promise<void>((r) => log.end(() => r()));
  }
}

/** Status code of one GET (any body), following no redirects. */
function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, { rejectUnauthorized: false, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A free TCP port on 127.0.0.1 (the kernel picks one; tiny race until the caller binds it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * One test's worth of processes and temp dirs. Usage in a suite:
 *   const h = new Harness('hub');  after(() => h.cleanup());
 *   const server = await h.startKedge('server', ['server', '--data-dir', h.tempDir('data'), …], { ready: { url } });
 */
export class Harness {
  private readonly dirs: string[] = [];
  private readonly processes: ManagedProcess[] = [];
  private logDirPath: string | null = null;

  constructor(private readonly label = 'test') {}

  /** A fresh empty directory, removed by cleanup() (unless KEDGE_KEEP_TMP=1, for debugging). */
  tempDir(prefix = 'tmp'): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `kedge-${this.label}-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** Where process logs go: KEDGE_TEST_LOG_DIR if set (kept), else a temp dir. */
  get logDir(): string {
    if (!this.logDirPath) {
      const fromEnv = process.env.KEDGE_TEST_LOG_DIR;
      if (fromEnv) {
        this.logDirPath = path.join(fromEnv, `${this.label}-${process.pid}`);
        mkdirSync(this.logDirPath, { recursive: true });
      } else {
        this.logDirPath = this.tempDir('logs');
      }
    }
    return this.logDirPath;
  }

  freePort(): Promise<number> {
    return freePort();
  }

  /** Create (not start) a process managed by this harness. */
  process(opts: ProcessOptions): ManagedProcess {
    const p = new ManagedProcess({ ...opts, logDir: opts.logDir ?? this.logDir });
    this.processes.push(p);
    return p;
  }

  /** Start any program and wait for readiness. */
  async start(opts: ProcessOptions): Promise<ManagedProcess> {
    const p = this.process(opts);
    await p.start();
    return p;
  }

  /** Start the real `kedge` binary with `args` and wait for readiness. */
  async startKedge(name: string, args: string[], opts: Omit<ProcessOptions, 'name' | 'args' | 'command'> = {}): Promise<ManagedProcess> {
    return this.start({ ...opts, name, args });
  }

  /** Kill every process and remove every temp dir. Safe to call twice. */
  async cleanup(): Promise<void> {
    // Profiling (KEDGE_NODE_ARGS=--cpu-prof …): Node writes the profile only on a clean exit, so SIGTERM first.
    if (process.env.KEDGE_NODE_ARGS?.includes('-prof')) await Promise.all(this.processes.map((p) => p.stop().catch(() => undefined)));
    await Promise.all(this.processes.splice(0).map((p) => p.dispose()));
    if (process.env.KEDGE_KEEP_TMP === '1') return;
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
