/**
 * The hubs an edge node may use: `--server https://hub-a:10000,https://hub-b:10000`, or one name with several
 * addresses (`https://hubs.example:10000` resolving to every server), or both (several `kedge server`s on one
 * datastore, docs/design/datastores.md). Every hub serves the same cluster and presents a certificate from the same
 * CA, so a node may use any of them.
 *
 * A name is resolved to all its A/AAAA records and each address becomes one hub of the rotation; the node dials the
 * address and checks the certificate against the name (the servers' certificates carry it: `--tls-san`). Names are
 * resolved again after every failed or lost connection, so servers added to or removed from the name are followed.
 * A node starts on a hub picked from its name (a fleet spreads over the hubs), moves to the next whenever its
 * connection fails or is lost, and to the hub a rebalancing hub names when it is asked to move (CloseCode.Rebalance).
 * A single URL of an IP address behaves exactly as before.
 */
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Parse a comma-separated list of `https://HOST:PORT` hub URLs into origins; throws naming the flag on a bad one. */
export function parseHubList(value: string, flag = '--server'): string[] {
  const hubs: string[] = [];
  for (const part of value.split(',').map((s) => s.trim())) {
    if (!/^https:\/\/[^/]+\/?$/.test(part)) throw new Error(`invalid ${flag} ${JSON.stringify(part)}: expected https://HOST:PORT (several hubs: comma-separated)`);
    const origin = new URL(part).origin;
    if (!hubs.includes(origin)) hubs.push(origin);
  }
  if (hubs.length === 0) throw new Error(`invalid ${flag}: no hub URL`);
  return hubs;
}

/** All addresses of a host name (A and AAAA). The default is the system's resolver; tests inject their own. */
export type HubResolver = (hostname: string) => Promise<string[]>;
export const systemResolver: HubResolver = async (hostname) => (await lookup(hostname, { all: true })).map((a) => a.address);

/** One hub of the rotation: a configured URL, and the address to dial when the URL's host is a name. */
export interface HubTarget {
  /** The configured origin (its host is what the certificate is checked against). */
  url: string;
  /** One resolved address of the URL's host name; absent for a URL of an IP address (or a name not resolved yet). */
  address?: string;
}

const hostOf = (url: string): string => new URL(url).hostname.replace(/^\[|\]$/g, '');
const bracket = (address: string): string => (isIP(address) === 6 ? `[${address}]` : address);

/** The URL a target is dialled at: its address in place of the name (`https://10.0.0.2:10000`). */
export function dialUrl(t: HubTarget): string {
  if (!t.address) return t.url;
  const u = new URL(t.url);
  return `${u.protocol}//${bracket(t.address)}:${u.port || '443'}`;
}

export class HubRotation {
  /** The configured origins. */
  readonly hubs: readonly string[];
  private targets: HubTarget[];
  private index = 0;
  private resolvedOnce = false;
  private stale = true;
  private readonly start: number;

  constructor(value: string, nodeName: string, private readonly resolver: HubResolver = systemResolver) {
    this.hubs = parseHubList(value);
    this.targets = this.hubs.map((url) => ({ url }));
    // A stable start per node: a fleet joined with the same list spreads over the hubs instead of all dialling the first.
    this.start = createHash('sha256').update(nodeName).digest().readUInt32BE(0);
    this.index = this.start % this.targets.length;
  }

  /** Whether the list has more than one hub (after resolution: a name with two addresses counts as two). */
  get several(): boolean {
    return this.targets.length > 1;
  }

  /** The URL dialled now (the resolved address in place of a name). */
  current(): string {
    return dialUrl(this.currentTarget());
  }

  currentTarget(): HubTarget {
    return this.targets[this.index]!;
  }

  /** Move to the next hub (after a failed or lost connection); names are resolved again before the next dial. */
  next(): string {
    this.stale = true;
    this.index = (this.index + 1) % this.targets.length;
    return this.current();
  }

  /**
   * Move to the hub a rebalancing hub named (`https://host:port` as that server advertises itself), if it is one of
   * ours other than the current one; otherwise to the next one. Returns the hub dialled next.
   */
  moveTo(peerUrl: string): string {
    const wanted = (() => {
      try {
        const u = new URL(peerUrl);
        return `${u.hostname.replace(/^\[|\]$/g, '')}:${u.port}`;
      } catch {
        return '';
      }
    })();
    const at = this.targets.findIndex((t, i) => i !== this.index && `${t.address ?? hostOf(t.url)}:${new URL(t.url).port}` === wanted);
    if (at < 0) return this.next();
    this.index = at;
    return this.current();
  }

  /**
   * Resolves every name of the list (first use, and after a move): each address becomes a hub. Keeps the current
   * hub when it is still in the list. A name that does not resolve keeps its last addresses (or is dialled by name).
   */
  async resolveIfStale(): Promise<void> {
    if (!this.stale) return;
    this.stale = false;
    const before = this.targets[this.index];
    const next: HubTarget[] = [];
    for (const url of this.hubs) {
      const host = hostOf(url);
      if (isIP(host)) {
        next.push({ url });
        continue;
      }
      let addresses: string[] = [];
      try {
        addresses = [...new Set(await this.resolver(host))];
      } catch {
        addresses = [];
      }
      if (addresses.length === 0) {
        const kept = this.targets.filter((t) => t.url === url);
        next.push(...(kept.length ? kept : [{ url }]));
        continue;
      }
      // IPv4 first, each family in address order: the same list on every node, so the start pick spreads them.
      addresses.sort((a, b) => isIP(a) - isIP(b) || a.localeCompare(b));
      next.push(...addresses.map((address) => ({ url, address })));
    }
    this.targets = next;
    const same = before ? next.findIndex((t) => t.url === before.url && t.address === before.address) : -1;
    if (!this.resolvedOnce) {
      // The first pick is among the IPv4 hubs when there are any (a name like localhost also has ::1, where a hub
      // bound to 0.0.0.0 does not listen); the others stay in the rotation.
      const firstPicks = next.map((t, i) => (!t.address || isIP(t.address) === 4 ? i : -1)).filter((i) => i >= 0);
      this.index = firstPicks.length ? firstPicks[this.start % firstPicks.length]! : this.start % next.length;
      this.resolvedOnce = true;
    } else {
      this.index = same >= 0 ? same : this.index % next.length;
    }
  }
}
