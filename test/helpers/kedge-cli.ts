import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How acceptance suites start the real `kedge` binary: the compiled CLI in dist/ (scripts/test.sh
 * builds it first), or the TypeScript sources through tsx when KEDGE_FROM_SOURCE=1 (handy while
 * developing: no rebuild between edits).
 */
export function kedgeCommand(args: string[]): { command: string; args: string[] } {
  if (process.env.KEDGE_FROM_SOURCE === '1') {
    return { command: process.execPath, args: ['--import', 'tsx', path.join(repoRoot, 'src/cli/entry.ts'), ...args] };
  }
  return { command: process.execPath, args: [path.join(repoRoot, 'bin/kedge.js'), ...args] };
}
