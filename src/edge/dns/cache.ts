/**
 * A TTL cache of forwarded answers, as CoreDNS's `cache 30` in front of `forward`: a name outside the cluster zone is
 * asked upstream once per TTL instead of once per query (pods resolve the same few external names over and over, and
 * an edge node's upstream is often across the WAN).
 *
 * - Kept: NOERROR with answers for min(answer TTLs, 30 s) ("success"); NXDOMAIN and NODATA with an SOA for
 *   min(SOA TTL, SOA minimum, 30 s) ("denial", RFC 2308). Not kept: truncated replies, SERVFAIL/REFUSED/other rcodes,
 *   anything with a TTL of 0.
 * - Served with the asker's ID and question (its letter case), each TTL lowered by the time spent in the cache and
 *   never past the entry's own expiry (so a client does not keep it longer than the node would); a reply
 *   that no longer fits the asker's UDP size is not served from here (the query goes upstream, which sets TC).
 * - Keyed by name (case-insensitive), type, class and the EDNS bits that change an answer (OPT present, DO, CD), so a
 *   client that sent no OPT never gets one back.
 * - At most `capacity` entries (default 9984, CoreDNS's); the oldest goes first when full.
 */
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';

export const CACHE_MAX_TTL_SECONDS = 30;

interface Entry {
  packet: DecodedPacket;
  storedAt: number;
  expiresAt: number;
  kind: 'success' | 'denial';
}

export interface CacheOptions {
  capacity?: number;
  maxTtlSeconds?: number;
  now?: () => number;
}

type Opt = { type: 'OPT'; udpPayloadSize?: number; flag_do?: boolean };
const optOf = (p: DecodedPacket) => (p.additionals ?? []).find((a) => a.type === 'OPT') as Opt | undefined;
const ttlOf = (a: Answer) => (a as { ttl?: number }).ttl ?? 0;

/** The UDP reply size the asker accepts (512 without EDNS; its EDNS buffer, capped at 4096). */
export function udpLimit(query: DecodedPacket): number {
  return Math.min(Math.max(optOf(query)?.udpPayloadSize ?? 512, 512), 4096);
}

function keyOf(q: DecodedPacket): string | undefined {
  const question = q.questions?.[0];
  if (!question || q.questions!.length !== 1) return undefined;
  const opt = optOf(q);
  return [question.name.toLowerCase().replace(/\.$/, ''), question.type, question.class ?? 'IN', opt ? 'edns' : '', opt?.flag_do ? 'do' : '', (q.flags ?? 0) & dnsPacket.CHECKING_DISABLED ? 'cd' : ''].join('|');
}

/** How long a reply may be kept, and as what; undefined: not at all. */
function lifetime(reply: DecodedPacket, maxTtl: number): { seconds: number; kind: Entry['kind'] } | undefined {
  if (reply.flag_tc) return undefined;
  const rcode = (reply.flags ?? 0) & 0xf; // 0 NOERROR, 3 NXDOMAIN
  const answers = reply.answers ?? [];
  if (rcode === 0 && answers.length > 0) {
    return { seconds: Math.min(maxTtl, ...answers.map(ttlOf)), kind: 'success' };
  }
  if (rcode === 3 || (rcode === 0 && answers.length === 0)) {
    const soa = (reply.authorities ?? []).find((a) => a.type === 'SOA') as (Answer & { data?: { minimum?: number } }) | undefined;
    if (!soa) return undefined;
    return { seconds: Math.min(maxTtl, ttlOf(soa), soa.data?.minimum ?? maxTtl), kind: 'denial' };
  }
  return undefined;
}

export class ForwardCache {
  private readonly entries = new Map<string, Entry>();
  private readonly capacity: number;
  private readonly maxTtl: number;
  private readonly now: () => number;

  constructor(o: CacheOptions = {}) {
    this.capacity = o.capacity ?? 9984;
    this.maxTtl = o.maxTtlSeconds ?? CACHE_MAX_TTL_SECONDS;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A reply for `query` from the cache (wire format), or undefined (miss, expired, or too big for the asker's UDP). */
  get(query: DecodedPacket, transport: 'udp' | 'tcp'): { reply: Buffer; kind: Entry['kind'] } | undefined {
    const key = keyOf(query);
    const e = key === undefined ? undefined : this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expiresAt) {
      this.entries.delete(key!);
      return undefined;
    }
    // As CoreDNS: no record outlives the entry (remaining lifetime), and each is aged by the time spent here.
    const aged = Math.floor((now - e.storedAt) / 1000);
    const remaining = Math.ceil((e.expiresAt - now) / 1000);
    const age = (records: Answer[] | undefined) => (records ?? []).map((r) => (r.type === 'OPT' ? r : ({ ...r, ttl: Math.max(0, Math.min(remaining, ttlOf(r) - aged)) } as Answer)));
    const reply = dnsPacket.encode({
      ...e.packet,
      id: query.id,
      questions: query.questions,
      answers: age(e.packet.answers),
      authorities: age(e.packet.authorities),
      additionals: age(e.packet.additionals),
    });
    if (transport === 'udp' && reply.length > udpLimit(query)) return undefined;
    return { reply, kind: e.kind };
  }

  /** Keep an upstream `reply` to `query` if its rcode and TTLs allow. */
  put(query: DecodedPacket, reply: Buffer): void {
    const key = keyOf(query);
    if (key === undefined) return;
    let packet: DecodedPacket;
    try {
      packet = dnsPacket.decode(reply);
    } catch {
      return;
    }
    const life = lifetime(packet, this.maxTtl);
    if (!life || life.seconds <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    const now = this.now();
    this.entries.set(key, { packet, storedAt: now, expiresAt: now + life.seconds * 1000, kind: life.kind });
  }
}
