/**
 * Non-TypeScript files shipped beside a module (.proto definitions): found next to the module when running from
 * src/, or in the matching src/ folder when running from dist/ (tsc does not copy them; bin/kedge.js runs dist/).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export function assetBeside(moduleUrl: string, file: string): string {
  const beside = path.join(path.dirname(fileURLToPath(moduleUrl)), file);
  if (existsSync(beside)) return beside;
  const inSrc = beside.replace(`${path.sep}dist${path.sep}`, `${path.sep}src${path.sep}`);
  if (existsSync(inSrc)) return inSrc;
  throw new Error(`${file} not found (looked at ${beside} and ${inSrc})`);
}
