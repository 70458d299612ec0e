/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per source file,
 * so a benchmark can name its bottleneck. Usage: node --import tsx bench/lib/cpuprofile.ts FILE [TOP] [LAST_SECONDS]
 * LAST_SECONDS keeps only the samples of the profile's last seconds (e.g. a steady-state window at a run's end).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

/** Self time by function (name + file:line) and by file, largest first. */
export function summarizeProfile(profile: CpuProfile, lastSeconds?: number): { totalMs: number; byFunction: ProfileEntry[]; byFile: ProfileEntry[] } {
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const from = lastSeconds === undefined ? -Infinity : profile.endTime - lastSeconds * 1e6;
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at >= from) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  }
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (!us) continue;
    total += us;
    const file = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist|src)\//, '$1/') || `(${n.callFrame.functionName || 'native'})`;
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const toEntries = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percent: Math.round((us / total) * 1000) / 10 }));
  return { totalMs: Math.round(total / 1000), byFunction: toEntries(byFn), byFile: toEntries(byFile) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: cpuprofile.ts FILE.cpuprofile [TOP]');
  const top = Number(process.argv[3] ?? 25);
  const last = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
  if (last !== undefined && !(last > 0)) throw new Error(`LAST_SECONDS: expected a positive number of seconds, got ${process.argv[4]}`);
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, last);
  process.stdout.write(`sampled ${s.totalMs} ms\n-- by file\n`);
  for (const e of s.byFile.slice(0, top)) process.stdout.write(`${String(e.percent).padStart(5)}%  ${e.selfMs} ms  ${e.name}\n`);
  process.stdout.write('-- by function\n');
  for (const e of s.byFunction.slice(0, top)) process.stdout.write(`${String(e.percent).padStart(5)}%  ${e.selfMs} ms  ${e.name}\n`);
}
