/**
 * The hubs an edge node may use: `--server https://hub-a:10000,https://hub-b:10000` (several `kedge server`s on one
 * datastore, docs/design/datastores.md). Every hub serves the same cluster and presents a certificate from the same
 * CA, so a node may use any of them; it starts at one picked from its name (nodes spread over the hubs) and moves
 * to the next whenever its connection fails or is lost. A single URL behaves exactly as before.
 */
import { createHash } from 'node:crypto';

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

export class HubRotation {
  private index: number;
  readonly hubs: readonly string[];

  constructor(value: string, nodeName: string) {
    this.hubs = parseHubList(value);
    // A stable start per node: a fleet joined with the same list spreads over the hubs instead of all dialling the first.
    this.index = createHash('sha256').update(nodeName).digest().readUInt32BE(0) % this.hubs.length;
  }

  current(): string {
    return this.hubs[this.index]!;
  }

  /** Move to the next hub (after a failed or lost connection); returns it. */
  next(): string {
    this.index = (this.index + 1) % this.hubs.length;
    return this.current();
  }
}
