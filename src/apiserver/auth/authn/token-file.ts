import { readFileSync } from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { UserInfo } from '../types.js';
import type { TokenAuthenticator } from './bearer.js';

/**
 * Static token file, upstream's --token-auth-file format: CSV lines `token,user,uid[,"group1,group2"]`.
 * Blank lines and lines starting with # are skipped. Bad lines are errors (a typo must not silently
 * grant or drop access).
 */
export interface StaticTokenEntry {
  token: string;
  user: UserInfo;
}

/** Splits one CSV line, honouring double quotes ("" inside quotes is a literal quote). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur); cur = ''; }
    else cur += ch;
  }
  if (quoted) throw new Error('unterminated quote');
  out.push(cur);
  return out.map((f) => f.trim());
}

export function parseTokenFile(text: string, fileName = 'token file'): StaticTokenEntry[] {
  const entries: StaticTokenEntry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    let fields: string[];
    try {
      fields = splitCsv(line);
    } catch (err) {
      throw new Error(`${fileName}:${i + 1}: ${(err as Error).message}`);
    }
    if (fields.length < 3) throw new Error(`${fileName}:${i + 1}: expected token,user,uid[,groups]`);
    const [token, username, uid, groupField] = fields as [string, string, string, string | undefined];
    if (!token || !username) throw new Error(`${fileName}:${i + 1}: token and user must not be empty`);
    if (seen.has(token)) throw new Error(`${fileName}:${i + 1}: duplicate token`);
    seen.add(token);
    const groups = (groupField ?? '').split(',').map((g) => g.trim()).filter(Boolean);
    const user: UserInfo = { username, groups };
    if (uid) user.uid = uid;
    entries.push({ token, user });
  });
  return entries;
}

export class StaticTokenAuthenticator implements TokenAuthenticator {
  private readonly byDigest = new Map<string, StaticTokenEntry>();

  constructor(entries: StaticTokenEntry[]) {
    // Keyed by digest so lookups do not compare the secret itself with early-exit string equality.
    for (const e of entries) this.byDigest.set(digest(e.token), e);
  }

  static fromFile(file: string): StaticTokenAuthenticator {
    return new StaticTokenAuthenticator(parseTokenFile(readFileSync(file, 'utf8'), file));
  }

  async authenticateToken(token: string): Promise<UserInfo | null> {
    const entry = this.byDigest.get(digest(token));
    if (!entry) return null;
    const a = Buffer.from(entry.token);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    return { ...entry.user, groups: [...entry.user.groups] };
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
