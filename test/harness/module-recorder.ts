/**
 * Records every module a `kedge` process loads (its ESM resolutions), for tests that assert what a command does
 * NOT load (e.g. `kedge cloud` never loads @kubernetes/client-node). A resolve hook registered through
 * NODE_OPTIONS appends each resolved URL to a file, from Node's loader thread.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ModuleRecorder {
  /** Environment for the recorded process (merge into its env). */
  env: NodeJS.ProcessEnv;
  /** file: URLs resolved so far, deduplicated (by the process and any child that inherited its environment). */
  loaded(): string[];
  /** Those resolved by one process (e.g. not by a helper child it forked). */
  loadedBy(pid: number): string[];
}

const read = (file: string): string[] => (existsSync(file) ? [...new Set(readFileSync(file, 'utf8').split('\n').filter((u) => u.startsWith('file:')))] : []);

export function moduleRecorder(dir: string): ModuleRecorder {
  mkdirSync(dir, { recursive: true });
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(hooks, [
    "import { appendFileSync } from 'node:fs';",
    `const record = ${JSON.stringify(path.join(dir, 'loaded-'))} + process.pid + '.txt';`,
    'export async function resolve(specifier, context, next) {',
    '  const r = await next(specifier, context);',
    "  appendFileSync(record, r.url + '\\n');",
    '  return r;',
    '}',
  ].join('\n'));
  const register = path.join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return {
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(register).href}`.trim() },
    loaded: () => [...new Set(readdirSync(dir).filter((f) => /^loaded-\d+\.txt$/.test(f)).flatMap((f) => read(path.join(dir, f))))],
    loadedBy: (pid) => read(path.join(dir, `loaded-${pid}.txt`)),
  };
}
