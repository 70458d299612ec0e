/** A process's memory from /proc, for the memory benches (bench:edge, bench:cloud). */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { distribution } from './stats.js';

/** A `/proc/PID/status` field in KiB: VmRSS (resident now), VmHWM (peak resident), or 0. */
export function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Median of 10 RSS samples 500 ms apart: one GC or allocation burst does not set the number. */
export async function steadyRssBytes(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 10; i++) {
    xs.push(statusKiB(pid, 'VmRSS') * 1024);
    await sleep(500);
  }
  return distribution(xs).p50;
}

/**
 * Resets a process's VmHWM to its current RSS (Linux ≥ 4.0: `5` to /proc/PID/clear_refs), so the next VmHWM read
 * is the peak of what happened since: one phase's peak (a rollout), not the whole run's (start, join).
 */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
