/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per source file,
 * so a benchmark can name its bottleneck. Usage: node --import tsx bench/lib/cpuprofile.ts FILE [TOP] [LAST_SECONDS]
 * LAST_SECONDS keeps only the samples of the profile's last seconds (e.g. a steady-state window at a run's end).
 * Prints self time by file and by function, then inclusive time by function (self + callees).
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

/** Microseconds sampled in each profile node (self time), over the profile's last `lastSeconds` if given. */
function selfTimeByNode(profile: CpuProfile, lastSeconds?: number): Map<number, number> {
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const from = lastSeconds === undefined ? -Infinity : profile.endTime - lastSeconds * 1e6;
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at >= from) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  }
  return selfUs;
}

/**
 * Inclusive (total) time by function: the samples in a function or anything it called, each sample counted once
 * per function even under recursion. Shows which caller a hot leaf (a socket write, JSON) is spent for.
 */
export function inclusiveTimes(profile: CpuProfile, lastSeconds?: number): ProfileEntry[] {
  const selfUs = selfTimeByNode(profile, lastSeconds);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const keyOf = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist|src)\//, '$1/') || '(native)'}:${n.callFrame.lineNumber + 1}`;
  const totals = new Map<string, number>();
  let total = 0;
  const walk = (id: number, onPath: Set<string>): number => {
    const n = byId.get(id);
    if (!n) return 0;
    const key = keyOf(n);
    const fresh = !onPath.has(key);
    if (fresh) onPath.add(key);
    let us = selfUs.get(id) ?? 0;
    for (const c of n.children ?? []) us += walk(c, onPath);
    if (fresh) {
      onPath.delete(key);
      totals.set(key, (totals.get(key) ?? 0) + us);
    }
    return us;
  };
  const root = profile.nodes[0];
  if (root) total = walk(root.id, new Set());
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percent: total ? Math.round((us / total) * 1000) / 10 : 0 }));
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

/** Self time by function (name + file:line) and by file, largest first. */
export function summarizeProfile(profile: CpuProfile, lastSeconds?: number): { totalMs: number; byFunction: ProfileEntry[]; byFile: ProfileEntry[] } {
  const selfUs = selfTimeByNode(profile, lastSeconds);
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
  process.stdout.write('-- by function, inclusive (self + callees)\n');
  const inclusive = inclusiveTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, last);
  for (const e of inclusive.slice(0, top * 2)) process.stdout.write(`${String(e.percent).padStart(5)}%  ${e.selfMs} ms  ${e.name}\n`);
}
