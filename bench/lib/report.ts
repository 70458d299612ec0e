/**
 * Output of a benchmark run: a human summary, one machine-readable JSON line (always the last
 * line of stdout, starting with `{"bench":`), and the bench's own section of bench/RESULTS.md with
 * the exact command, the machine and the date. Sections of other benchmarks are left untouched.
 */
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, describeMachine, type MachineInfo } from './machine.js';

export const defaultResultsFile = fileURLToPath(new URL('../RESULTS.md', import.meta.url));

export interface BenchReport {
  bench: string;
  date: string;
  command: string;
  machine: MachineInfo;
  params: Record<string, unknown>;
  results: Record<string, unknown>;
  /** what was not measured or went wrong, said plainly */
  notes: string[];
}

/** One row of the summary: metric name, value with unit, and an optional comparison/explanation. */
export type SummaryRow = [metric: string, value: string, note?: string];

/**
 * The command that reproduces this run: `npm run bench:X -- ARGS` when started through npm,
 * else the node command line, relative to the repository.
 */
export function benchCommand(argv: readonly string[] = process.argv): string {
  const args = argv.slice(2);
  const event = process.env.npm_lifecycle_event;
  if (event) return `npm run ${event}${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const script = argv[1] ? path.relative(process.cwd(), argv[1]) : '?';
  return `node --import tsx ${script}${args.length ? ` ${args.join(' ')}` : ''}`;
}

export function newReport(bench: string, params: Record<string, unknown>): BenchReport {
  return { bench, date: new Date().toISOString(), command: benchCommand(), machine: machineInfo(), params, results: {}, notes: [] };
}

/** Human summary lines. */
export function humanSummary(report: BenchReport, rows: readonly SummaryRow[]): string {
  const width = Math.max(...rows.map((r) => r[0].length), 0);
  const lines = [
    `== bench ${report.bench} — ${report.date}`,
    `   ${describeMachine(report.machine)}`,
    ...rows.map(([m, v, n]) => `   ${m.padEnd(width)}  ${v}${n ? `   (${n})` : ''}`),
    ...report.notes.map((n) => `   note: ${n}`),
  ];
  return lines.join('\n');
}

/** The markdown section for RESULTS.md, wrapped in markers so a rerun replaces only it. */
export function renderSection(report: BenchReport, rows: readonly SummaryRow[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    sectionStart(report.bench),
    `## ${report.bench}`,
    '',
    `- command: \`${report.command}\``,
    `- machine: ${describeMachine(report.machine)}`,
    `- date: ${report.date}`,
    `- parameters: ${Object.entries(report.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`,
    '',
    '| metric | value | note |',
    '|---|---|---|',
    ...rows.map(([m, v, n]) => `| ${esc(m)} | ${esc(v)} | ${esc(n ?? '')} |`),
    ...(report.notes.length ? ['', ...report.notes.map((n) => `> note: ${n}`)] : []),
    sectionEnd(report.bench),
  ].join('\n');
}

const sectionStart = (name: string) => `<!-- bench:${name} start -->`;
const sectionEnd = (name: string) => `<!-- bench:${name} end -->`;

/** Replace (or append) the section of `name` in `markdown`; other text is kept byte for byte. */
export function replaceSection(markdown: string, name: string, section: string): string {
  const start = markdown.indexOf(sectionStart(name));
  const endMarker = sectionEnd(name);
  const end = markdown.indexOf(endMarker, start);
  if (start >= 0 && end > start) return markdown.slice(0, start) + section + markdown.slice(end + endMarker.length);
  const sep = markdown.length === 0 || markdown.endsWith('\n\n') ? '' : markdown.endsWith('\n') ? '\n' : '\n\n';
  return `${markdown}${sep}${section}\n`;
}

/** Read-modify-write of RESULTS.md via a temp file + rename, so a reader never sees half a file. */
export function updateResultsFile(file: string, name: string, section: string): void {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '# Kedge benchmark results\n';
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, replaceSection(before, name, section));
  renameSync(tmp, file);
}

/**
 * Print the summary and the JSON line; update RESULTS.md unless `write` is false (e.g. a quick
 * run with reduced sizes that should not replace the recorded numbers).
 */
export function publish(report: BenchReport, rows: readonly SummaryRow[], opts: { write?: boolean; resultsFile?: string } = {}): void {
  process.stdout.write(`${humanSummary(report, rows)}\n`);
  if (opts.write ?? true) {
    const file = opts.resultsFile ?? defaultResultsFile;
    updateResultsFile(file, report.bench, renderSection(report, rows));
    process.stdout.write(`   recorded in ${path.relative(process.cwd(), file)}\n`);
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
