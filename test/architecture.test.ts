/**
 * Architecture guard: the folder table in docs/architecture.md is the source of truth for which
 * src/ folder may import which. This suite parses that table from the markdown (so the doc and the
 * test cannot drift), scans every import / export-from / dynamic import / require in src/**\/*.ts,
 * and fails naming the file, line and specifier of each import the table forbids.
 *
 * Why a hand-written scanner and not the compiler API: TypeScript 7 (the installed `typescript`)
 * no longer ships the in-process `createSourceFile`; its API talks to the native compiler over IPC
 * and is marked unstable. A small lexer that understands comments, strings, template literals and
 * regex literals is enough to find import specifiers exactly, and is itself tested below.
 *
 * It also checks that `kedge edge` does not load the control plane, by running the edge command's
 * lazily imported modules in a child process with a module-resolution hook (test/harness/module-recorder.ts) that records every file
 * Node actually loads.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { moduleRecorder } from './harness/module-recorder.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const srcRoot = path.join(repoRoot, 'src');
const architectureDoc = path.join(repoRoot, 'docs/architecture.md');

/**
 * Known violations of the table found when this guard was written (reported to the lead). Each entry
 * is exact: importing file, resolved target file. Anything else fails. An entry that no longer occurs
 * also fails, so the list only shrinks.
 */
const KNOWN_IMPORT_VIOLATIONS: ReadonlyArray<{ from: string; to: string; why: string }> = [
  // The table allows apimachinery only storage's types; these unit tests exercise the list/watch
  // code against the real SQLite backend instead of a fake store.
  { from: 'src/apimachinery/listwatch.test.ts', to: 'src/storage/sqlite.ts', why: 'unit test uses the SQLite backend' },
  { from: 'src/apimachinery/watchcache.test.ts', to: 'src/storage/sqlite.ts', why: 'unit test uses the SQLite backend' },
];

/** Folders that had no README.md when this guard was written (reported to the lead). */
const KNOWN_MISSING_READMES: ReadonlySet<string> = new Set([]);

/** The control plane: what `kedge edge` (and src/edge, src/runtime) must never load. */
const CONTROL_PLANE = ['src/apiserver', 'src/controllers', 'src/cloudhub'];

// ---------------------------------------------------------------------------------------------
// Import scanner
// ---------------------------------------------------------------------------------------------

export type ImportKind = 'static' | 'dynamic' | 'require';
/** `typeOnly`: erased by the compiler (`import type`, `export type`, braces of `type` names only, `typeof import(...)`). */
export interface ImportSite { specifier: string; line: number; kind: ImportKind; typeOnly: boolean }

type Token =
  | { t: 'word'; v: string; pos: number }
  | { t: 'str'; v: string; pos: number }
  | { t: 'tmpl'; pos: number }
  | { t: 'punct'; v: string; pos: number }
  | { t: 'regex'; pos: number }
  | { t: 'num'; pos: number };

/** Keywords after which a `/` starts a regex literal rather than a division. */
const EXPRESSION_KEYWORDS = new Set([
  'return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'instanceof', 'yield', 'await',
]);

const isIdentStart = (c: string): boolean => /[A-Za-z_$\u0080-\uffff]/.test(c);
const isIdentPart = (c: string): boolean => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** Splits TypeScript source into the tokens needed to find import specifiers; skips comments. */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  // Each open `{` is either a plain brace or the `${` of a template literal we must return into.
  const braces: Array<'brace' | 'template'> = [];
  let i = 0;

  const regexAllowed = (): boolean => {
    const prev = out[out.length - 1];
    if (!prev) return true;
    if (prev.t === 'word') return EXPRESSION_KEYWORDS.has(prev.v);
    if (prev.t === 'punct') return ![')', ']', '}'].includes(prev.v);
    return false; // after a string, number, regex or template an operator follows
  };

  /** Scans template text after a backtick or a substitution's `}`; false when it stops at a `${`. */
  const scanTemplateText = (): boolean => {
    while (i < src.length) {
      const c = src[i];
      if (c === '\\') { i += 2; continue; }
      if (c === '`') { i++; return true; }
      if (c === '$' && src[i + 1] === '{') { i += 2; braces.push('template'); return false; }
      i++;
    }
    return true;
  };

  while (i < src.length) {
    const c = src[i];
    const start = i;
    if (c === '/' && src[i + 1] === '/') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (c === '/' && src[i + 1] === '*') { const end = src.indexOf('*/', i + 2); i = end < 0 ? src.length : end + 2; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"' || c === "'") {
      let v = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') { v += src[i + 1]; i += 2; continue; }
        v += src[i++];
      }
      i++;
      out.push({ t: 'str', v, pos: start });
      continue;
    }
    if (c === '`') {
      i++;
      const bodyStart = i;
      const closed = scanTemplateText();
      // A template without substitutions is a plain string for import purposes: import(`./x.js`).
      if (closed && !src.slice(bodyStart, i - 1).includes('\\')) out.push({ t: 'str', v: src.slice(bodyStart, i - 1), pos: start });
      else out.push({ t: 'tmpl', pos: start });
      continue;
    }
    if (c === '{') { braces.push('brace'); out.push({ t: 'punct', v: c, pos: start }); i++; continue; }
    if (c === '}') {
      i++;
      if (braces.pop() === 'template') { scanTemplateText(); out.push({ t: 'tmpl', pos: start }); continue; }
      out.push({ t: 'punct', v: c, pos: start });
      continue;
    }
    if (c === '/' && regexAllowed()) {
      i++;
      let inClass = false;
      while (i < src.length && src[i] !== '\n') {
        const r = src[i];
        if (r === '\\') { i += 2; continue; }
        if (r === '[') inClass = true;
        else if (r === ']') inClass = false;
        else if (r === '/' && !inClass) { i++; break; }
        i++;
      }
      while (i < src.length && isIdentPart(src[i])) i++; // flags
      out.push({ t: 'regex', pos: start });
      continue;
    }
    if (isIdentStart(c)) {
      while (i < src.length && isIdentPart(src[i])) i++;
      out.push({ t: 'word', v: src.slice(start, i), pos: start });
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < src.length && /[0-9A-Za-z_.]/.test(src[i])) i++;
      out.push({ t: 'num', pos: start });
      continue;
    }
    out.push({ t: 'punct', v: c, pos: start });
    i++;
  }
  return out;
}

/** Every module specifier a TypeScript source imports: static, re-export, dynamic, type-position and require. */
export function findImports(src: string): ImportSite[] {
  const tokens = tokenize(src);
  const lineStarts = [0];
  for (let n = src.indexOf('\n'); n >= 0; n = src.indexOf('\n', n + 1)) lineStarts.push(n + 1);
  const lineOf = (pos: number): number => {
    let lo = 0, hi = lineStarts.length - 1; // binary search: last line start <= pos
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (lineStarts[mid] <= pos) lo = mid; else hi = mid - 1; }
    return lo + 1;
  };
  const sites: ImportSite[] = [];
  const word = (k: number, v: string): boolean => { const tk = tokens[k]; return tk?.t === 'word' && tk.v === v; };
  const punct = (k: number, v: string): boolean => { const tk = tokens[k]; return tk?.t === 'punct' && tk.v === v; };
  /** Whether the import/export statement whose `from` is token `k` names types only. */
  const statementIsTypeOnly = (k: number): boolean => {
    let start = k - 1;
    while (start >= 0 && !word(start, 'import') && !word(start, 'export')) start--;
    if (start < 0) return false;
    if (word(start + 1, 'type') && !word(start + 2, 'from') && !punct(start + 2, ',')) return true;
    if (!punct(start + 1, '{')) return false;
    // `{ type A, type B as C }`: every specifier starts with `type` followed by a name.
    let allTypes = true;
    let segmentStart = start + 2;
    for (let j = start + 2; j < k; j++) {
      if (punct(j, ',') || punct(j, '}')) {
        if (j > segmentStart && !(word(segmentStart, 'type') && tokens[segmentStart + 1]?.t === 'word' && !punct(segmentStart + 1, ','))) allTypes = false;
        if (j > segmentStart && word(segmentStart, 'type') && (j - segmentStart === 1 || word(segmentStart + 1, 'as'))) allTypes = false;
        segmentStart = j + 1;
        if (punct(j, '}')) break;
      }
    }
    return allTypes;
  };
  for (let k = 0; k < tokens.length; k++) {
    const next = tokens[k + 1];
    const afterParen = tokens[k + 2];
    const memberAccess = punct(k - 1, '.'); // x.import(...) / x.require(...) are not module loads
    if (word(k, 'from') && next?.t === 'str') sites.push({ specifier: next.v, line: lineOf(next.pos), kind: 'static', typeOnly: statementIsTypeOnly(k) });
    else if (word(k, 'import') && !memberAccess && next?.t === 'str') sites.push({ specifier: next.v, line: lineOf(next.pos), kind: 'static', typeOnly: false });
    else if (word(k, 'import') && !memberAccess && punct(k + 1, '(') && afterParen?.t === 'str') {
      sites.push({ specifier: afterParen.v, line: lineOf(afterParen.pos), kind: 'dynamic', typeOnly: word(k - 1, 'typeof') });
    } else if (word(k, 'require') && !memberAccess && punct(k + 1, '(') && afterParen?.t === 'str') {
      sites.push({ specifier: afterParen.v, line: lineOf(afterParen.pos), kind: 'require', typeOnly: false });
    }
  }
  return sites;
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/** What one folder may import: whole folders, or (for `X (types)`) only listed files of a folder. */
export interface FolderRule { folder: string; everything: boolean; folders: Set<string>; onlyFiles: Map<string, Set<string>> }

/** Parses the "Folders and what each may import" table; throws on any cell it cannot read. */
export function parseArchitectureTable(markdown: string, fileExists: (repoPath: string) => boolean): Map<string, FolderRule> {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => /^\|\s*folder\s*\|.*\|\s*may import\s*\|\s*$/i.test(l));
  if (header < 0) throw new Error('docs/architecture.md: no "| folder | ... | may import |" table');
  const cells = (l: string): string[] => l.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
  const columns = cells(lines[header]).map((c) => c.toLowerCase());
  const folderCol = columns.indexOf('folder');
  const importCol = columns.indexOf('may import');
  const rows: Array<{ folder: string; mayImport: string }> = [];
  for (let n = header + 2; n < lines.length && lines[n].trim().startsWith('|'); n++) {
    const row = cells(lines[n]);
    const folder = /^`?(src\/[a-z0-9-]+)`?$/.exec(row[folderCol] ?? '')?.[1];
    if (!folder) throw new Error(`docs/architecture.md line ${n + 1}: folder cell "${row[folderCol]}" is not \`src/<name>\``);
    rows.push({ folder, mayImport: row[importCol] ?? '' });
  }
  const names = new Set(rows.map((r) => r.folder.slice('src/'.length)));
  const rules = new Map<string, FolderRule>();
  for (const { folder, mayImport } of rows) {
    const rule: FolderRule = { folder, everything: false, folders: new Set(), onlyFiles: new Map() };
    const text = mayImport.toLowerCase();
    if (/^everything\b/.test(text)) rule.everything = true;
    else if (!/^nothing\b/.test(text)) {
      // Split on commas outside parentheses: "common, protocol, pki (talks to the API through client-node)".
      const items = mayImport.split(/,(?![^(]*\))/).map((s) => s.trim()).filter(Boolean);
      for (const item of items) {
        const m = /^`?([a-z0-9-]+)`?\s*(?:\(([^)]*)\))?$/.exec(item);
        if (!m || !names.has(m[1])) throw new Error(`docs/architecture.md: ${folder} may import "${item}", which names no folder of the table`);
        const target = `src/${m[1]}`;
        const qualifier = m[2]?.trim();
        // "storage (types)": only that folder's types module. Any other parenthesis is a remark.
        if (qualifier && /^[a-z0-9-]+$/.test(qualifier) && fileExists(`${target}/${qualifier}.ts`)) {
          const files = rule.onlyFiles.get(target) ?? new Set<string>();
          files.add(`${target}/${qualifier}.ts`);
          rule.onlyFiles.set(target, files);
        } else rule.folders.add(target);
      }
    }
    rules.set(folder, rule);
  }
  return rules;
}

/** The top-level src folder a repo-relative path belongs to, or undefined outside src/. */
function topFolder(repoPath: string): string | undefined {
  const parts = repoPath.split('/');
  return parts[0] === 'src' && parts.length > 2 ? `src/${parts[1]}` : undefined;
}

/** Why `from` may not import `to` under the rules, or undefined when it may. */
export function forbiddenReason(rules: Map<string, FolderRule>, from: string, to: string): string | undefined {
  const own = topFolder(from);
  const target = topFolder(to);
  if (!own) return undefined;
  if (!target) return to.startsWith('node_modules/') ? undefined : `src/ code imports ${to}, outside src/`;
  if (own === target) return undefined;
  const rule = rules.get(own);
  if (!rule) return `${own} is not in the table of docs/architecture.md`;
  if (rule.everything || rule.folders.has(target)) return undefined;
  const only = rule.onlyFiles.get(target);
  if (only?.has(to)) return undefined;
  if (only) return `${own} may import only ${[...only].join(', ')} of ${target}`;
  return `${own} may not import ${target}`;
}

// ---------------------------------------------------------------------------------------------
// Walking src/
// ---------------------------------------------------------------------------------------------

const rel = (abs: string): string => path.relative(repoRoot, abs).split(path.sep).join('/');

function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFilesUnder(abs));
    else if (entry.name.endsWith('.ts')) out.push(abs);
  }
  return out;
}

/** Resolves a relative specifier the way NodeNext does for our sources (`./x.js` names `./x.ts`). */
function resolveRelative(fromAbs: string, specifier: string): string {
  const abs = path.resolve(path.dirname(fromAbs), specifier);
  if (abs.endsWith('.js') && existsSync(abs.slice(0, -3) + '.ts')) return abs.slice(0, -3) + '.ts';
  return abs;
}

interface Edge { from: string; to: string; specifier: string; line: number; kind: ImportKind }

/** Every import in src/**\/*.ts that resolves to a file of this repository (bare packages are skipped). */
function repoImportEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of tsFilesUnder(srcRoot)) {
    for (const site of findImports(readFileSync(file, 'utf8'))) {
      if (!site.specifier.startsWith('.') && !site.specifier.startsWith('/')) continue; // package or node: builtin
      edges.push({ from: rel(file), to: rel(resolveRelative(file, site.specifier)), specifier: site.specifier, line: site.line, kind: site.kind });
    }
  }
  return edges;
}

const loadRules = (): Map<string, FolderRule> =>
  parseArchitectureTable(readFileSync(architectureDoc, 'utf8'), (p) => existsSync(path.join(repoRoot, p)));

const srcFolders = (): string[] =>
  readdirSync(srcRoot).filter((n) => statSync(path.join(srcRoot, n)).isDirectory()).map((n) => `src/${n}`).sort();

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('import scanner', () => {
  test('finds static, re-export, side-effect, dynamic, type-position and require imports', () => {
    const src = [
      "import a from './a.js';",
      "import type { B } from \"./b.js\";",
      "import './side.js';",
      "export * from './re.js';",
      "export { c } from './c.js';",
      "const m = await import('./dyn.js');",
      "type T = typeof import('./typeof.js');",
      "const r = require('./req.js');",
      'const t = await import(`./tmpl.js`);',
      "import {\n  d,\n  e,\n} from './multi.js';",
    ].join('\n');
    assert.deepEqual(findImports(src).map((s) => [s.specifier, s.kind]), [
      ['./a.js', 'static'], ['./b.js', 'static'], ['./side.js', 'static'], ['./re.js', 'static'], ['./c.js', 'static'],
      ['./dyn.js', 'dynamic'], ['./typeof.js', 'dynamic'], ['./req.js', 'require'], ['./tmpl.js', 'dynamic'], ['./multi.js', 'static'],
    ]);
    assert.equal(findImports(src).find((s) => s.specifier === './multi.js')?.line, 13);
  });

  test('tells type-only imports (erased by the compiler) from runtime ones', () => {
    const src = [
      "import type { A } from './t1.js';",
      "import { type B, type C as D } from './t2.js';",
      "import { type E, F } from './r1.js';",
      "import type from './r2.js';",
      "import G, { type H } from './r3.js';",
      "export type { I } from './t3.js';",
      "export { J } from './r4.js';",
      "type K = typeof import('./t4.js');",
      "const l = await import('./r5.js');",
      "import { type } from './r6.js';",
    ].join('\n');
    assert.deepEqual(findImports(src).map((s) => `${s.specifier} ${s.typeOnly ? 'type' : 'runtime'}`), [
      './t1.js type', './t2.js type', './r1.js runtime', './r2.js runtime', './r3.js runtime', './t3.js type', './r4.js runtime',
      './t4.js type', './r5.js runtime', './r6.js runtime',
    ]);
  });

  test('ignores imports inside comments, strings, templates and regex literals', () => {
    const src = [
      "// import x from '../apiserver/a.js';",
      "/* import('../apiserver/b.js') */",
      "const s = \"import y from '../apiserver/c.js'\";",
      "const t = `from '../apiserver/d.js' ${ n > 1 ? `import('../apiserver/e.js')` : '' } tail`;",
      "const re = /from '..\\/apiserver'/g; const q = a / b / c;",
      "const o = { from: 'x', import: 'y' }; obj.import('../apiserver/f.js');",
      "import real from './real.js';",
    ].join('\n');
    assert.deepEqual(findImports(src).map((s) => s.specifier), ['./real.js']);
  });
});

describe('docs/architecture.md folder table', () => {
  test('parses, and lists exactly the folders that exist in src/', () => {
    const rules = loadRules();
    assert.deepEqual([...rules.keys()].sort(), srcFolders(), 'the table and src/ disagree about which folders exist');
  });

  test('keeps the edge and the API machinery free of the control plane', () => {
    const rules = loadRules();
    for (const folder of ['src/edge', 'src/runtime']) {
      for (const cp of CONTROL_PLANE) {
        assert.ok(forbiddenReason(rules, `${folder}/x.ts`, `${cp}/x.ts`), `the table must forbid ${folder} -> ${cp}`);
      }
    }
    assert.ok(forbiddenReason(rules, 'src/apimachinery/x.ts', 'src/apiserver/x.ts'), 'the table must forbid apimachinery -> apiserver');
  });

  test('a forbidden import is reported (the guard can fail)', () => {
    const rules = loadRules();
    assert.match(forbiddenReason(rules, 'src/edge/agent.ts', 'src/apiserver/server.ts') ?? '', /src\/edge may not import src\/apiserver/);
    assert.match(forbiddenReason(rules, 'src/apimachinery/x.ts', 'src/storage/sqlite.ts') ?? '', /only src\/storage\/types\.ts/);
    assert.equal(forbiddenReason(rules, 'src/apimachinery/x.ts', 'src/storage/types.ts'), undefined);
    assert.equal(forbiddenReason(rules, 'src/cli/commands/server.ts', 'src/apiserver/run.ts'), undefined);
  });

  test('rejects a table cell that names no folder', () => {
    const md = '| folder | owns | may import |\n|---|---|---|\n| `src/a` | x | nothing of Kedge |\n| `src/b` | y | a, bogus |\n';
    assert.throws(() => parseArchitectureTable(md, () => false), /names no folder/);
  });
});

describe('imports in src/ obey the table', () => {
  test('no folder imports what the table forbids', () => {
    const rules = loadRules();
    const edges = repoImportEdges();
    assert.ok(edges.length > 100, `expected to find the project's cross-module imports, found ${edges.length}`);
    const violations = edges
      .map((e) => ({ ...e, reason: forbiddenReason(rules, e.from, e.to) }))
      .filter((e) => e.reason !== undefined);
    const isKnown = (v: Edge): boolean => KNOWN_IMPORT_VIOLATIONS.some((k) => k.from === v.from && k.to === v.to);
    const unknown = violations.filter((v) => !isKnown(v));
    assert.deepEqual(
      unknown.map((v) => `${v.from}:${v.line} imports '${v.specifier}' (${v.kind}): ${v.reason}`),
      [],
      'imports forbidden by the table in docs/architecture.md',
    );
    const stale = KNOWN_IMPORT_VIOLATIONS.filter((k) => !violations.some((v) => v.from === k.from && v.to === k.to));
    assert.deepEqual(stale.map((k) => `${k.from} -> ${k.to}`), [], 'allow-listed violations that no longer occur: remove them from the list');
  });

  test('every src/<folder> has a README.md', () => {
    const missing = srcFolders().filter((f) => !existsSync(path.join(repoRoot, f, 'README.md')));
    assert.deepEqual(missing.filter((f) => !KNOWN_MISSING_READMES.has(f)), [], 'folders without README.md');
    const stale = [...KNOWN_MISSING_READMES].filter((f) => !missing.includes(f));
    assert.deepEqual(stale, [], 'these folders now have a README.md: remove them from KNOWN_MISSING_READMES');
  });
});

describe('`kedge edge` does not load the control plane', () => {
  /** The modules src/cli/commands/edge.ts imports lazily inside its actions, read from its source. */
  const edgeCommand = path.join(srcRoot, 'cli/commands/edge.ts');
  const edgeActionModules = (): string[] =>
    findImports(readFileSync(edgeCommand, 'utf8'))
      .filter((s) => s.kind === 'dynamic' && s.specifier.startsWith('.'))
      .map((s) => resolveRelative(edgeCommand, s.specifier))
      .filter((abs, n, all) => all.indexOf(abs) === n);

  test('statically: the import closure of the edge command reaches no control-plane file', () => {
    const byFile = new Map<string, string[]>();
    for (const e of repoImportEdges()) byFile.set(e.from, [...(byFile.get(e.from) ?? []), e.to]);
    const roots = [rel(edgeCommand), ...edgeActionModules().map(rel)];
    const parent = new Map<string, string>();
    const seen = new Set(roots);
    const queue = [...roots];
    while (queue.length) {
      const f = queue.shift()!;
      for (const to of byFile.get(f) ?? []) {
        if (seen.has(to)) continue;
        seen.add(to);
        parent.set(to, f);
        queue.push(to);
      }
    }
    const chain = (f: string): string => { const c = [f]; while (parent.has(c[0])) c.unshift(parent.get(c[0])!); return c.join(' -> '); };
    const bad = [...seen].filter((f) => CONTROL_PLANE.some((cp) => f.startsWith(`${cp}/`)));
    assert.deepEqual(bad.map(chain), []);
    assert.ok(seen.size > 10, `expected the edge command to reach its modules, reached ${seen.size}`);
  });

  /**
   * Runs node (with tsx) and returns every repo file it loaded, recorded by a resolve hook that runs on
   * Node's loader thread and appends each resolved URL to a file.
   */
  function filesLoadedBy(nodeArgs: string[]): string[] {
    const dir = mkdtempSync(path.join(tmpdir(), 'kedge-arch-'));
    try {
      const recorder = moduleRecorder(dir);
      const run = spawnSync(process.execPath, ['--import', 'tsx', ...nodeArgs], {
        cwd: repoRoot, env: { ...process.env, ...recorder.env }, encoding: 'utf8', timeout: 120_000,
      });
      assert.equal(run.status, 0, `node ${nodeArgs.join(' ')} failed: ${run.stderr}`);
      return recorder.loaded().map((u) => rel(fileURLToPath(u)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const controlPlaneFiles = (files: string[]): string[] => files.filter((f) => CONTROL_PLANE.some((cp) => f.startsWith(`${cp}/`)));

  test('at run time: loading the edge command and its action modules loads no control-plane file', () => {
    const modules = [edgeCommand, ...edgeActionModules()];
    assert.ok(modules.length >= 3, `expected edge.ts to import its action modules lazily, found ${modules.length - 1}`);
    const script = `for (const m of ${JSON.stringify(modules.map((m) => pathToFileURL(m).href))}) await import(m);`;
    const loaded = filesLoadedBy(['--input-type=module', '-e', script]);
    for (const m of modules) assert.ok(loaded.includes(rel(m)), `the recorder did not see ${rel(m)} load`);
    assert.deepEqual(controlPlaneFiles(loaded), [], 'control-plane modules loaded by `kedge edge`');
  });

  test('at run time: the real CLI (`kedge edge join --help`) loads no control-plane file', () => {
    const loaded = filesLoadedBy([path.join(srcRoot, 'cli/entry.ts'), 'edge', 'join', '--help']);
    // main.ts loads every command's registrar; the heavy modules must stay behind their actions.
    for (const f of ['src/cli/main.ts', 'src/cli/commands/server.ts', 'src/cli/commands/edge.ts']) {
      assert.ok(loaded.includes(f), `the recorder did not see ${f} load`);
    }
    assert.deepEqual(controlPlaneFiles(loaded), [], 'control-plane modules loaded by `kedge edge join --help`');
  });
});

describe('`kedge cloud` does not load @kubernetes/client-node (issue 19: its import alone is ~105 MiB RSS)', () => {
  /**
   * Every repo file and package reachable from `entries` through imports the compiler keeps (type-only ones are
   * erased), with the chain that reaches each package. Lazy `import()`s count: whatever the run can load.
   */
  function runtimeClosure(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
    const files = new Set<string>();
    const packages = new Map<string, string>();
    const parent = new Map<string, string>();
    const queue = entries.map((e) => path.join(repoRoot, e));
    for (const e of queue) files.add(rel(e));
    const chain = (f: string): string => { const c = [f]; while (parent.has(c[0])) c.unshift(parent.get(c[0])!); return c.join(' -> '); };
    while (queue.length) {
      const abs = queue.shift()!;
      for (const site of findImports(readFileSync(abs, 'utf8'))) {
        if (site.typeOnly) continue;
        if (!site.specifier.startsWith('.')) {
          const pkg = site.specifier.startsWith('@') ? site.specifier.split('/').slice(0, 2).join('/') : site.specifier.split('/')[0];
          if (!pkg.startsWith('node:') && !packages.has(pkg)) packages.set(pkg, `${chain(rel(abs))} -> ${site.specifier}`);
          continue;
        }
        const to = resolveRelative(abs, site.specifier);
        if (files.has(rel(to))) continue;
        files.add(rel(to));
        parent.set(rel(to), rel(abs));
        queue.push(to);
      }
    }
    return { files, packages };
  }

  test('statically: nothing the cloud command can load imports client-node other than as types', () => {
    const { files, packages } = runtimeClosure(['src/cli/commands/cloud.ts']);
    for (const f of ['src/cloudhub/hub.ts', 'src/controllers/manager.ts', 'src/controllers/nodes/podbinding.ts', 'src/common/kube-client.ts']) {
      assert.ok(files.has(f), `expected the cloud command to reach ${f}`);
    }
    assert.equal(packages.get('@kubernetes/client-node'), undefined, 'a runtime import of client-node on `kedge cloud`\'s path');
  });

  test('the check can fail: `kedge server` (whose API server controllers use client-node) does load it', () => {
    const { packages } = runtimeClosure(['src/cli/commands/server.ts']);
    assert.ok(packages.has('@kubernetes/client-node'), 'the closure walk missed a known runtime import');
  });
});
