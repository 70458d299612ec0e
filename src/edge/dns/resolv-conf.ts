/** resolv(5) as the kubelet reads the host's file (--resolv-conf): nameservers, search domains, options. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export const HOST_RESOLV_CONF = '/etc/resolv.conf';

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [keyword, ...fields] = line.split(/\s+/);
    if (keyword === 'nameserver' && fields[0] && net.isIP(fields[0].replace(/%.*$/, ''))) out.nameservers.push(fields[0]);
    // The last search (or domain) line wins, as in glibc.
    else if (keyword === 'search' || keyword === 'domain') out.searches = fields.filter((f) => f !== '.');
    else if (keyword === 'options') out.options.push(...fields);
  }
  return out;
}

/** The host's resolver configuration; an unreadable file reads as empty (the kubelet then passes no servers). */
export function readResolvConf(file = HOST_RESOLV_CONF): ResolvConf {
  try {
    return parseResolvConf(readFileSync(file, 'utf8'));
  } catch {
    return { nameservers: [], searches: [], options: [] };
  }
}
