/**
 * Resource readings of a live process from /proc (Linux only): resident memory from
 * /proc/PID/status and CPU time from /proc/PID/stat. Used by suites and benchmarks to report
 * RSS and CPU of the real kedge processes they start.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface ProcSample {
  pid: number;
  /** resident set size now (VmRSS) */
  rssBytes: number;
  /** peak resident set size since start (VmHWM) */
  peakRssBytes: number;
  /** user + system CPU time consumed since start */
  cpuSeconds: number;
  threads: number;
  /** performance.now() when the sample was taken */
  at: number;
}

let clockTicks: number | undefined;
/** Kernel clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // the value on every mainstream Linux build
    }
  }
  return clockTicks;
}

function statusKb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU seconds (utime + stime) from the text of /proc/PID/stat. */
export function parseStatCpuSeconds(stat: string): number {
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  return (utime + stime) / ticksPerSecond();
}

/** One reading; throws if the process is gone. */
export function sampleProcess(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const threads = /^Threads:\s+(\d+)/m.exec(status);
  return {
    pid,
    rssBytes: statusKb(status, 'VmRSS'),
    peakRssBytes: statusKb(status, 'VmHWM'),
    cpuSeconds: parseStatCpuSeconds(stat),
    threads: threads ? Number(threads[1]) : 0,
    at: performance.now(),
  };
}

/** CPU use between two samples of the same process, as a fraction of one core (1.0 = one core busy). */
export function cpuCoresBetween(a: ProcSample, b: ProcSample): number {
  const wallSeconds = (b.at - a.at) / 1000;
  return wallSeconds > 0 ? (b.cpuSeconds - a.cpuSeconds) / wallSeconds : 0;
}

/**
 * Samples a process at an interval in the background; `stop()` returns the peak RSS and the
 * average CPU over the sampled window. Lets a benchmark report the server's cost of one phase.
 */
export class ProcSampler {
  private readonly samples: ProcSample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.take();
    this.timer = setInterval(() => this.take(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private take(): void {
    try {
      this.samples.push(sampleProcess(this.pid));
    } catch {
      // process exited: keep what we have
    }
  }

  stop(): { peakRssBytes: number; lastRssBytes: number; avgCpuCores: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.take();
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last) return { peakRssBytes: 0, lastRssBytes: 0, avgCpuCores: 0, samples: 0 };
    return {
      peakRssBytes: Math.max(...this.samples.map((s) => s.rssBytes)),
      lastRssBytes: last.rssBytes,
      avgCpuCores: cpuCoresBetween(first, last),
      samples: this.samples.length,
    };
  }
}
