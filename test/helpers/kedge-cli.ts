import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How acceptance suites start the real `kedge` binary: the compiled CLI in dist/ (scripts/test.sh
 * builds it first), or the TypeScript sources through tsx when KEDGE_FROM_SOURCE=1 (handy while
 * developing: no rebuild between edits). KEDGE_NODE_ARGS adds Node.js flags (space-separated) to every such
 * process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a bench's server and edges (NODE_OPTIONS refuses
 * --cpu-prof).
 */
export function kedgeCommand(args: string[]): { command: string; args: string[] } {
  const nodeArgs = (process.env.KEDGE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  if (process.env.KEDGE_FROM_SOURCE === '1') {
    return { command: process.execPath, args: [...nodeArgs, '--import', 'tsx', path.join(repoRoot, 'src/cli/entry.ts'), ...args] };
  }
  return { command: process.execPath, args: [...nodeArgs, path.join(repoRoot, 'bin/kedge.js'), ...args] };
}
