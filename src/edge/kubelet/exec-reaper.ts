/**
 * Ends an exec's process when its session ends. containerd (like the kubelet) leaves a process started by a
 * streaming exec running after the client goes away when the process ignores its stdin closing (`sleep`, a shell on
 * a TTY): over many cut sessions they pile up in the pod. The node sees its containers' processes in /proc: exec
 * processes join the container's cgroup (its path names the container id), so the process a session started is the
 * one that appears there after the session began as a child of the runtime's shim (not of a container process),
 * and no other live session claimed: the one running the session's command, or, for a shell script, one that
 * replaced its program (`sh -c '…; exec server'`, an entrypoint script), which a watcher polling every 100 ms may
 * see only afterwards (see watch()).
 * When the session ends while it still runs, it gets SIGKILL (its process group too when it leads one, as a TTY
 * exec's shell does).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface Proc {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): a recycled pid has another. */
  start: string;
  /** Parent pid (stat field 4). */
  ppid: number;
}

/** What the reaper reads of the node's processes and how it ends one: /proc here, a table in unit tests. */
export interface ProcessTable {
  /** Processes in the container's cgroup. */
  inContainer(containerId: string): Proc[];
  /** The command line, arguments joined by NUL (no trailing NUL); undefined when gone. */
  cmdline(pid: number): string | undefined;
  comm(pid: number): string | undefined;
  /** State letter, process group and start time; undefined when gone. */
  status(pid: number): { state: string; pgrp: number; start: string } | undefined;
  /** SIGKILL to the process, or to its whole group. */
  kill(pid: number, group: boolean): void;
}

function read(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function statFields(pid: number): string[] | undefined {
  const stat = read(pid, 'stat');
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces: split after its closing one.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export const procfs: ProcessTable = {
  inContainer(containerId) {
    const out: Proc[] = [];
    let pids: string[];
    try {
      pids = readdirSync('/proc');
    } catch {
      return out;
    }
    for (const name of pids) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (!read(pid, 'cgroup')?.includes(containerId)) continue;
      const f = statFields(pid);
      if (f) out.push({ pid, start: f[19]!, ppid: Number(f[1]) });
    }
    return out;
  },
  cmdline: (pid) => read(pid, 'cmdline')?.replace(/\0$/, ''),
  comm: (pid) => read(pid, 'comm'),
  status(pid) {
    const f = statFields(pid);
    return f && { state: f[0]!, pgrp: Number(f[2]), start: f[19]! };
  },
  kill(pid, group) {
    try {
      process.kill(group ? -pid : pid, 'SIGKILL');
    } catch {
      // it exited meanwhile
    }
  },
};

const claimed = new Set<number>();
/** Sessions still looking for their process, oldest first, by container id. */
const waiting = new Map<string, ExecReaper[]>();
/** Sessions that found their process and have not ended, by container id. */
const holding = new Map<string, Set<ExecReaper>>();

const procKey = (p: Proc) => `${p.pid}:${p.start}`;
const earliest = (procs: Proc[]) => procs.reduce((a, b) => (Number(b.start) < Number(a.start) || (b.start === a.start && b.pid < a.pid) ? b : a));

/** Shells whose `-c` script may end by replacing itself (`exec server`), as entrypoint scripts (`*.sh`) do. */
const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'ksh', 'zsh']);

function mayReplaceItself(command: string[]): boolean {
  const prog = (command[0] ?? '').split('/').pop() ?? '';
  return (SHELLS.has(prog) && /^-[a-z]*c[a-z]*$/.test(command[1] ?? '')) || prog.endsWith('.sh');
}

export class ExecReaper {
  private readonly before: Set<string>;
  private proc: Proc | undefined;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly want: string;
  private readonly mayReplace: boolean;
  /** Command lines of the new processes at the previous look (pid:start → cmdline). */
  private seen = new Map<string, string>();

  /** Call just before the session is proxied to the runtime. */
  constructor(
    private readonly containerId: string,
    command: string[],
    private readonly table: ProcessTable = procfs,
  ) {
    this.want = command.join('\0');
    this.mayReplace = mayReplaceItself(command);
    this.before = new Set(table.inContainer(containerId).map(procKey));
    const queue = waiting.get(containerId) ?? [];
    queue.push(this);
    waiting.set(containerId, queue);
    this.watch(Date.now() + 30_000);
  }

  /**
   * Finds the session's process once it is there (the runtime starts it when the streams are set up): the new one
   * running its command; failing that, for a shell script, one that replaced its program — a new process that runs
   * no waiting session's command, was seen with that same command line at the previous look (not a process still
   * starting: runc's init becomes another session's command a moment later) and is not runc's — taken by the oldest
   * such script session still waiting on the container.
   */
  private watch(deadline: number): void {
    if (this.ended || this.proc) return;
    if (Date.now() > deadline) return this.stopWaiting();
    this.lookNow(false);
    if (this.proc) return;
    this.timer = setTimeout(() => this.watch(deadline), 100);
    this.timer.unref();
  }

  private lookNow(last: boolean): void {
    const found = this.look(last);
    if (found) this.claim(found);
  }

  /**
   * One look at the container's processes. `last`: the session has ended before a poll found its process (a cut
   * right after the exec started): a replaced one is taken without waiting to see it twice or for older sessions.
   * Of several new processes running the command (sessions with one command started together), the earliest started:
   * a process there before a younger session began is one that only older sessions may take.
   */
  private look(last: boolean): Proc | undefined {
    const procs = this.table.inContainer(this.containerId);
    const inContainer = new Set(procs.map((p) => p.pid));
    const queue = waiting.get(this.containerId) ?? [];
    const seenNow = new Map<string, string>();
    const running: Proc[] = [];
    const runningBefore: Proc[] = [];
    let replaced: Proc | undefined;
    for (const p of procs) {
      const key = procKey(p);
      // Exec'd processes are children of the shim; a child of a container process is the container's own work.
      if (claimed.has(p.pid) || inContainer.has(p.ppid)) continue;
      const cmdline = this.table.cmdline(p.pid);
      if (cmdline === undefined) continue;
      if (this.before.has(key)) {
        if (cmdline === this.want) runningBefore.push(p);
        continue;
      }
      if (cmdline === this.want) {
        running.push(p);
        continue;
      }
      seenNow.set(key, cmdline);
      if (replaced || !this.mayReplace || (!last && this.seen.get(key) !== cmdline) || queue.some((r) => r !== this && r.want === cmdline)) continue;
      if (!this.table.comm(p.pid)?.startsWith('runc')) replaced = p;
    }
    this.seen = seenNow;
    if (running.length > 0) return earliest(running);
    const exchanged = this.exchange(runningBefore);
    if (exchanged) return exchanged;
    return replaced && (last || queue.find((r) => r.mayReplace) === this) ? replaced : undefined;
  }

  /**
   * Two sessions with one command started together: the older may have taken the younger's process while its own was
   * still runc's init (there before the younger began, so the younger may not take it). Once that one runs the
   * command, unclaimed, the older takes it and this session the process the older held.
   */
  private exchange(unclaimedOlder: Proc[]): Proc | undefined {
    if (unclaimedOlder.length === 0) return undefined;
    for (const other of holding.get(this.containerId) ?? []) {
      const held = other.proc;
      if (other.want !== this.want || !held || this.before.has(procKey(held))) continue;
      const theirs = unclaimedOlder.find((p) => !other.before.has(procKey(p)));
      if (!theirs) continue;
      other.proc = theirs;
      claimed.add(theirs.pid);
      claimed.delete(held.pid);
      return held;
    }
    return undefined;
  }

  private claim(p: Proc): void {
    this.proc = p;
    claimed.add(p.pid);
    const held = holding.get(this.containerId) ?? new Set();
    held.add(this);
    holding.set(this.containerId, held);
    this.stopWaiting();
  }

  private stopWaiting(): void {
    const queue = waiting.get(this.containerId);
    if (!queue) return;
    const i = queue.indexOf(this);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) waiting.delete(this.containerId);
  }

  /** The session ended: a process it started that still runs is killed. */
  end(): void {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.proc) {
      // A session with this command still looking may be the one whose process this one holds (see exchange()):
      // it looks now, before that process is killed.
      for (const other of [...(waiting.get(this.containerId) ?? [])]) if (other.want === this.want) other.lookNow(false);
    } else if (waiting.get(this.containerId)?.includes(this)) {
      this.lookNow(true);
    }
    this.stopWaiting();
    const p = this.proc;
    if (!p) return;
    const held = holding.get(this.containerId);
    held?.delete(this);
    if (held?.size === 0) holding.delete(this.containerId);
    claimed.delete(p.pid);
    const now = this.table.status(p.pid);
    if (!now || now.start !== p.start || now.state === 'Z') return; // gone (or a new process on a recycled pid)
    this.table.kill(p.pid, now.pgrp === p.pid);
  }
}
