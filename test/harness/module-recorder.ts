/**
 * Records every module a `kedge` process loads (its ESM resolutions), for tests that assert what a command does
 * NOT load (e.g. `kedge cloud` never loads @kubernetes/client-node). A resolve hook registered through
 * NODE_OPTIONS appends each resolved URL to a file, from Node's loader thread.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ModuleRecorder {
  /** Environment for the recorded process (merge into its env). */
  env: NodeJS.ProcessEnv;
  /** file: URLs resolved so far, deduplicated. */
  loaded(): string[];
}

export function moduleRecorder(dir: string): ModuleRecorder {
  mkdirSync(dir, { recursive: true });
  const record = path.join(dir, 'loaded.txt');
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(hooks, [
    "import { appendFileSync } from 'node:fs';",
    'export async function resolve(specifier, context, next) {',
    '  const r = await next(specifier, context);',
    `  appendFileSync(${JSON.stringify(record)}, r.url + '\\n');`,
    '  return r;',
    '}',
  ].join('\n'));
  const register = path.join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return {
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(register).href}`.trim() },
    loaded: () => (existsSync(record) ? [...new Set(readFileSync(record, 'utf8').split('\n').filter((u) => u.startsWith('file:')))] : []),
  };
}
