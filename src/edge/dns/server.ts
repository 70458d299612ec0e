/**
 * The node-local DNS server: UDP and TCP on one address and port, cluster names answered from the local store
 * (records.ts), everything else forwarded to the node's resolvers (forwarder.ts), clients limited to the node
 * and its pods (clients.ts). Reads only the local store, so it answers the same with the cloud gone and after an
 * offline restart.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type RecordType } from 'dns-packet';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import { StoreMirror } from '../store-mirror.js';
import { ClusterRecords, type LocalAnswer } from './records.js';
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { ForwardCache, udpLimit, type CacheOptions } from './cache.js';
import { ClientPolicy } from './clients.js';
import { DnsMetrics, replyRcode } from './metrics.js';

export interface NodeDnsOptions {
  store: Store;
  log: Logger;
  /** Listen address (the cluster DNS IP pods get). */
  address: string;
  /** Port (default 53; 0 = ephemeral, the same for UDP and TCP). */
  port?: number;
  /** Cluster domain (default cluster.local). */
  zone?: string;
  forwarder?: ForwarderOptions;
  /** The forwarded-answer cache (tests: a clock). */
  cache?: CacheOptions;
  /** This node's name: its Node's spec.podCIDRs (from the store) are its pods' addresses, allowed to query. */
  nodeName?: string;
  /** Register the node DNS' metrics here (the agent's /metrics registry). */
  metrics?: import('prom-client').Registry;
  /** Who may query (default ClientPolicy: the node and its pods). */
  allowClient?: (address: string) => boolean;
}

type AnswerSource = 'cluster' | 'forward' | 'cache' | 'error';
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 256;

export class NodeDns {
  readonly records: ClusterRecords;
  private readonly services: StoreMirror<V1Service>;
  private readonly slices: StoreMirror<V1EndpointSlice>;
  private readonly nodes: StoreMirror<V1Node>;
  private readonly forwarder: Forwarder;
  /** Forwarded answers, for their TTL (at most 30 s), as CoreDNS's `cache 30`. */
  private readonly cache: ForwardCache;
  private readonly allow: (address: string) => boolean;
  private dirty = true;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private tcpConnections = new Set<net.Socket>();
  private readonly metrics: DnsMetrics | undefined;
  /** Where it listens once started. */
  port = 0;

  constructor(private readonly o: NodeDnsOptions) {
    this.records = new ClusterRecords(o.zone ?? 'cluster.local');
    const onChange = () => (this.dirty = true);
    this.services = new StoreMirror<V1Service>({ store: o.store, prefix: '/registry/services/', log: o.log, onChange });
    this.slices = new StoreMirror<V1EndpointSlice>({ store: o.store, prefix: '/registry/endpointslices.discovery.k8s.io/', log: o.log, onChange });
    this.forwarder = new Forwarder({ ...o.forwarder, exclude: [...(o.forwarder?.exclude ?? []), o.address] });
    this.nodes = new StoreMirror<V1Node>({ store: o.store, prefix: '/registry/nodes/', log: o.log });
    const policy = o.allowClient ? undefined : new ClientPolicy({ extraCidrs: () => this.podCidrs() });
    this.allow = o.allowClient ?? ((a) => policy!.allows(a));
    this.cache = new ForwardCache(o.cache);
    this.metrics = o.metrics ? new DnsMetrics(o.metrics, () => this.cache.size) : undefined;
  }

  private podCidrs(): string[] {
    const node = this.o.nodeName ? this.nodes.items.get(`/registry/nodes/${this.o.nodeName}`) : undefined;
    return node?.spec?.podCIDRs ?? (node?.spec?.podCIDR ? [node.spec.podCIDR] : []);
  }

  async start(): Promise<void> {
    await Promise.all([this.services.start(), this.slices.start(), this.nodes.start()]);
    const family = net.isIPv6(this.o.address) ? 'udp6' : 'udp4';
    // TCP first: with port 0 its port is then taken for UDP too (one port for both, as resolvers expect).
    this.tcp = net.createServer((sock) => this.acceptTcp(sock));
    await new Promise<void>((resolve, reject) => this.tcp!.once('error', reject).listen(this.o.port ?? 53, this.o.address, () => resolve()));
    this.port = (this.tcp.address() as net.AddressInfo).port;
    this.udp = dgram.createSocket(family);
    this.udp.on('message', (msg, rinfo) => void this.onUdp(msg, rinfo));
    this.udp.on('error', (err) => this.o.log.warn({ err: err.message }, 'node DNS: UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      this.udp!.once('error', reject);
      this.udp!.bind(this.port, this.o.address, () => {
        this.udp!.off('error', reject);
        resolve();
      });
    });
    this.o.log.info({ address: this.o.address, port: this.port, zone: this.records.zone }, 'node DNS listening (udp+tcp)');
  }

  async stop(): Promise<void> {
    this.services.stop();
    this.slices.stop();
    this.nodes.stop();
    for (const s of this.tcpConnections) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
  }

  /** Answer one wire-format query (the transport decides truncation and how forwarding goes); counted and timed. */
  async answer(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (!this.metrics) return (await this.resolveQuery(query, transport)).reply;
    this.metrics.requests.inc({ proto: transport });
    const end = this.metrics.duration.startTimer();
    const { reply, source } = await this.resolveQuery(query, transport);
    end({ source });
    if (reply) this.metrics.responses.inc({ source, rcode: replyRcode(reply) });
    return reply;
  }

  private async resolveQuery(query: Buffer, transport: 'udp' | 'tcp'): Promise<{ reply: Buffer | undefined; source: AnswerSource }> {
    const reply = (r: Buffer | undefined, source: AnswerSource = 'error') => ({ reply: r, source });
    let q: DecodedPacket;
    try {
      q = dnsPacket.decode(query);
    } catch {
      return reply(query.length >= 12 ? headerOnly(query, RCODE.FORMERR) : undefined);
    }
    if (q.flag_qr) return reply(undefined); // a response sent to us: never answer it (reflection loops)
    const opcode = ((q.flags ?? 0) >> 11) & 0xf;
    if (opcode !== 0) return reply(headerOnly(query, RCODE.NOTIMP));
    const question = q.questions?.length === 1 ? q.questions[0]! : undefined;
    if (!question) return reply(headerOnly(query, RCODE.FORMERR));
    if (this.dirty) {
      this.dirty = false;
      this.records.load(this.services.items.values(), this.slices.items.values());
    }
    const inZone = (question.class ?? 'IN') === 'IN' || question.class === 'ANY';
    const local = inZone ? this.records.resolve(question.name, question.type as RecordType | 'ANY') : undefined;
    if (!local) {
      const cached = this.cache.get(q, transport);
      this.metrics?.cache(cached?.kind);
      if (cached) return reply(cached.reply, 'cache');
      try {
        const answer = await this.forwarder.forward(query, transport);
        this.cache.put(q, answer);
        return reply(answer, 'forward');
      } catch (err) {
        this.o.log.debug({ err: String(err), name: question.name }, 'node DNS: forward failed');
        return reply(headerOnly(query, RCODE.SERVFAIL, true), 'forward');
      }
    }
    const chased = local.chase && question.type !== 'CNAME' ? await this.chase(local.chase, question.type) : [];
    return reply(encodeAnswer(q, local, chased, local.rcode === 'NXDOMAIN' || local.answers.length === 0 ? [this.records.soa()] : [], transport), 'cluster');
  }

  /** An ExternalName's target: answered here when it is a cluster name, else asked upstream (as CoreDNS does). */
  private async chase(target: string, type: string): Promise<Answer[]> {
    const types: RecordType[] = type === 'AAAA' ? ['AAAA'] : type === 'ANY' ? ['A', 'AAAA'] : ['A'];
    const out: Answer[] = [];
    for (const t of types) {
      const local = this.records.resolve(target, t);
      if (local) {
        out.push(...local.answers);
        continue;
      }
      try {
        const reply = dnsPacket.decode(await this.forwarder.forward(dnsPacket.encode({ type: 'query', id: randomId(), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: t, name: target }] }), 'udp'));
        out.push(...(reply.answers ?? []));
      } catch {
        // The CNAME alone is still the right answer; the client may retry.
      }
    }
    return out;
  }

  private async onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    if (!this.allow(rinfo.address)) {
      this.metrics?.refused.inc({ proto: 'udp' });
      return;
    }
    const reply = await this.answer(msg, 'udp').catch((err: unknown) => {
      this.o.log.warn({ err: String(err) }, 'node DNS: query failed');
      return undefined;
    });
    if (reply && this.udp) this.udp.send(reply, rinfo.port, rinfo.address, () => {});
  }

  private acceptTcp(sock: net.Socket): void {
    if (!this.allow(sock.remoteAddress ?? '') || this.tcpConnections.size >= TCP_MAX_CONNECTIONS) {
      this.metrics?.refused.inc({ proto: 'tcp' });
      sock.destroy();
      return;
    }
    this.tcpConnections.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.tcpConnections.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        // Answers go back in query order on the connection (pipelined queries are allowed by RFC 7766).
        chain = chain.then(async () => {
          const reply = await this.answer(Buffer.from(msg), 'tcp').catch(() => undefined);
          if (!reply || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([len, reply]));
        });
      }
    });
  }
}

function randomId(): number {
  return Math.floor(Math.random() * 0x10000);
}

/** A reply carrying only the query's header (ID, RD) and an rcode: for queries that cannot be parsed or served. */
function headerOnly(query: Buffer, rcode: number, keepQuestion = false): Buffer {
  if (keepQuestion) {
    try {
      const q = dnsPacket.decode(query);
      return dnsPacket.encode({ type: 'response', id: q.id, flags: ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode, questions: q.questions });
    } catch {
      // fall through to the bare header
    }
  }
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  const rd = query.readUInt16BE(2) & 0x0100;
  out.writeUInt16BE(0x8000 | rd | 0x0080 | rcode, 2);
  return out;
}

function encodeAnswer(q: DecodedPacket, local: LocalAnswer, chased: Answer[], authorities: Answer[], transport: 'udp' | 'tcp'): Buffer {
  const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | RCODE[local.rcode];
  const additionals: Answer[] = [...local.additionals];
  if (opt) additionals.push({ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as unknown as Answer);
  const packet: Packet = { type: 'response', id: q.id, flags, questions: q.questions, answers: [...local.answers, ...chased], authorities, additionals };
  const out = dnsPacket.encode(packet);
  const limit = transport === 'tcp' ? 65535 : udpLimit(q);
  if (out.length <= limit) return out;
  // Too big for UDP: the header and question with TC set; the client asks again over TCP (RFC 1035 4.2.1, RFC 7766).
  return dnsPacket.encode({ type: 'response', id: q.id, flags: flags | dnsPacket.TRUNCATED_RESPONSE, questions: q.questions, additionals: opt ? additionals.slice(-1) : [] });
}

