/**
 * Forwarding of names outside the cluster zone to the node's own resolvers (the host's /etc/resolv.conf, re-read
 * when it changes), the way CoreDNS's `forward . /etc/resolv.conf` does: the query bytes go out unchanged over the
 * transport the client used (UDP stays UDP, so a truncated answer reaches the client with TC set and it retries
 * over TCP; TCP stays TCP). Each UDP query uses its own socket (random source port) and accepts only a reply
 * with the query's ID from the server it asked (query.ts `exchange`), so an off-path spoofer must guess both.
 */
import net from 'node:net';
import { statSync } from 'node:fs';
import { HOST_RESOLV_CONF, readResolvConf } from './resolv-conf.js';
import { exchange } from './query.js';

export interface ForwarderOptions {
  /** resolv.conf to take nameservers from (default /etc/resolv.conf). */
  resolvConf?: string;
  /** Fixed upstreams instead (tests, benches): `IP` or `IP:PORT` / `[IPv6]:PORT`. */
  upstreams?: string[];
  /** Addresses never forwarded to (the server's own: a host resolv.conf naming it would loop). */
  exclude?: string[];
  /** Per-upstream timeout (default 2 s, as resolv.conf's default `timeout:5` is too long for a chain of three). */
  timeoutMs?: number;
  /** Most forwarded queries in flight; beyond it the server answers SERVFAIL at once (default 1000). */
  maxInFlight?: number;
}

interface Upstream {
  host: string;
  port: number;
}

export class UpstreamUnavailable extends Error {}

export class Forwarder {
  private upstreams: Upstream[] = [];
  private resolvMtime = -1;
  private checkedAt = 0;
  private inFlight = 0;

  constructor(private readonly o: ForwarderOptions = {}) {
    if (o.upstreams) this.upstreams = o.upstreams.map(parseUpstream);
  }

  /** The upstreams in use (re-read from resolv.conf at most every 5 s, when its mtime changed). */
  current(): Upstream[] {
    if (this.o.upstreams) return this.upstreams;
    const now = Date.now();
    if (now - this.checkedAt > 5000) {
      this.checkedAt = now;
      const file = this.o.resolvConf ?? HOST_RESOLV_CONF;
      let mtime = 0;
      try {
        mtime = statSync(file).mtimeMs;
      } catch {
        mtime = 0;
      }
      if (mtime !== this.resolvMtime) {
        this.resolvMtime = mtime;
        const exclude = new Set(this.o.exclude ?? []);
        this.upstreams = readResolvConf(file).nameservers.filter((ip) => !exclude.has(ip)).slice(0, 3).map((ip) => ({ host: ip, port: 53 }));
      }
    }
    return this.upstreams;
  }

  /** Forward one query; resolves with the first upstream's reply, trying each in turn. */
  async forward(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer> {
    const ups = this.current();
    if (ups.length === 0) throw new UpstreamUnavailable('no upstream nameserver');
    if (this.inFlight >= (this.o.maxInFlight ?? 1000)) throw new UpstreamUnavailable('too many forwarded queries in flight');
    this.inFlight++;
    try {
      let last: unknown;
      for (const up of ups) {
        try {
          return await exchange(up.host, up.port, query, transport, this.o.timeoutMs ?? 2000);
        } catch (err) {
          last = err;
        }
      }
      throw new UpstreamUnavailable(`no upstream answered: ${String(last)}`);
    } finally {
      this.inFlight--;
    }
  }
}

function parseUpstream(s: string): Upstream {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (m) return { host: m[1]!, port: Number(m[2]) };
  if (net.isIP(s)) return { host: s, port: 53 };
  throw new Error(`invalid upstream ${JSON.stringify(s)}: IP or IP:PORT`);
}
