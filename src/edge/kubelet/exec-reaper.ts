/**
 * Ends an exec's process when its session ends. containerd (like the kubelet) leaves a process started by a
 * streaming exec running after the client goes away when the process ignores its stdin closing (`sleep`, a shell on
 * a TTY): over many cut sessions they pile up in the pod. The node sees its containers' processes in /proc: exec
 * processes join the container's cgroup (its path names the container id), so the process a session started is the
 * one that appears there after the session began, runs the session's command, and no other live session claimed.
 * When the session ends while it still runs, it gets SIGKILL (its process group too when it leads one, as a TTY
 * exec's shell does).
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Proc {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): a recycled pid has another. */
  start: string;
}

const claimed = new Set<number>();

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
    if (f) out.push({ pid, start: f[19]! });
  }
  return out;
}

export class ExecReaper {
  private readonly before: Set<string>;
  private proc: Proc | undefined;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;

  /** Call just before the session is proxied to the runtime. */
  constructor(
    private readonly containerId: string,
    private readonly command: string[],
  ) {
    this.before = new Set(containerProcs(containerId).map((p) => `${p.pid}:${p.start}`));
    this.watch(Date.now() + 30_000);
  }

  /** Finds the session's process once it is there (the runtime starts it when the streams are set up). */
  private watch(deadline: number): void {
    if (this.ended || this.proc || Date.now() > deadline) return;
    const want = this.command.join('\0');
    for (const p of containerProcs(this.containerId)) {
      if (this.before.has(`${p.pid}:${p.start}`) || claimed.has(p.pid)) continue;
      if (read(p.pid, 'cmdline')?.replace(/\0$/, '') !== want) continue;
      this.proc = p;
      claimed.add(p.pid);
      return;
    }
    this.timer = setTimeout(() => this.watch(deadline), 100);
    this.timer.unref();
  }

  /** The session ended: a process it started that still runs is killed. */
  end(): void {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
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
