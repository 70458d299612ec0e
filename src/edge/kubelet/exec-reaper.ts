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

interface Proc {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): a recycled pid has another. */
  start: string;
  /** Parent pid (stat field 4). */
  ppid: number;
}

const claimed = new Set<number>();
/** Sessions still looking for their process, oldest first, by container id. */
const waiting = new Map<string, ExecReaper[]>();

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

/** Processes in the container's cgroup. */
function containerProcs(containerId: string): Proc[] {
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
}

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
  ) {
    this.want = command.join('\0');
    this.mayReplace = mayReplaceItself(command);
    this.before = new Set(containerProcs(containerId).map((p) => `${p.pid}:${p.start}`));
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
    const found = this.look(false);
    if (found) return this.claim(found);
    this.timer = setTimeout(() => this.watch(deadline), 100);
    this.timer.unref();
  }

  /**
   * One look at the container's processes. `last`: the session has ended before a poll found its process (a cut
   * right after the exec started): a replaced one is taken without waiting to see it twice or for older sessions.
   */
  private look(last: boolean): Proc | undefined {
    const procs = containerProcs(this.containerId);
    const inContainer = new Set(procs.map((p) => p.pid));
    const queue = waiting.get(this.containerId) ?? [];
    const seenNow = new Map<string, string>();
    let replaced: Proc | undefined;
    for (const p of procs) {
      const key = `${p.pid}:${p.start}`;
      // Exec'd processes are children of the shim; a child of a container process is the container's own work.
      if (this.before.has(key) || claimed.has(p.pid) || inContainer.has(p.ppid)) continue;
      const cmdline = read(p.pid, 'cmdline')?.replace(/\0$/, '');
      if (cmdline === undefined) continue;
      if (cmdline === this.want) return p;
      seenNow.set(key, cmdline);
      if (replaced || !this.mayReplace || (!last && this.seen.get(key) !== cmdline) || queue.some((r) => r !== this && r.want === cmdline)) continue;
      if (!read(p.pid, 'comm')?.startsWith('runc')) replaced = p;
    }
    this.seen = seenNow;
    return replaced && (last || queue.find((r) => r.mayReplace) === this) ? replaced : undefined;
  }

  private claim(p: Proc): void {
    this.proc = p;
    claimed.add(p.pid);
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
    if (!this.proc && waiting.get(this.containerId)?.includes(this)) {
      const found = this.look(true);
      if (found) this.claim(found);
    }
    this.stopWaiting();
    const p = this.proc;
    if (!p) return;
    claimed.delete(p.pid);
    const f = statFields(p.pid);
    if (!f || f[19] !== p.start || f[0] === 'Z') return; // gone (or a new process on a recycled pid)
    const leadsGroup = Number(f[2]) === p.pid;
    try {
      process.kill(leadsGroup ? -p.pid : p.pid, 'SIGKILL');
    } catch {
      // it exited meanwhile
    }
  }
}
