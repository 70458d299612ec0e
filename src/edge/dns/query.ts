/** A minimal DNS client over UDP or TCP (tests, benches, and a health check of the node DNS). */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type RecordType } from 'dns-packet';

/** A decoded reply; dns-packet also decodes the rcode's name, which its typings leave out. */
export type DnsReply = DecodedPacket & { rcode: string };

/** A record's data (every record type but OPT has one). */
export function recordData(a: Answer): unknown {
  return 'data' in a ? a.data : undefined;
}

export interface DnsQuery {
  host: string;
  port: number;
  name: string;
  type: RecordType;
  transport?: 'udp' | 'tcp';
  timeoutMs?: number;
  /** Advertise this EDNS UDP payload size (default: no OPT record, i.e. 512 bytes). */
  ednsUdpSize?: number;
}

export function queryDns(q: DnsQuery): Promise<DnsReply> {
  const id = Math.floor(Math.random() * 0x10000);
  const packet = dnsPacket.encode({
    type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: q.type, name: q.name }],
    ...(q.ednsUdpSize ? { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: q.ednsUdpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as never] } : {}),
  });
  return exchange(q.host, q.port, packet, q.transport ?? 'udp', q.timeoutMs ?? 5000).then((raw) => {
    const reply = dnsPacket.decode(raw) as DnsReply;
    if (reply.id !== id) throw new Error(`reply id ${reply.id} ≠ query id ${id}`);
    return reply;
  });
}

/**
 * Send raw bytes, return the raw reply (UDP: one datagram; TCP: one length-prefixed message). Over UDP the socket
 * is this exchange's own (a random source port) and only a datagram from host:port carrying the query's ID is
 * taken: anything else is ignored, as it may be spoofed.
 */
export function exchange(host: string, port: number, packet: Buffer, transport: 'udp' | 'tcp', timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let cleanup = () => {};
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no DNS reply from ${host}:${port}/${transport} in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err: Error | null, reply?: Buffer) => {
      clearTimeout(timer);
      cleanup();
      if (err) reject(err);
      else resolve(reply!);
    };
    if (transport === 'udp') {
      const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      cleanup = () => sock.close();
      sock.on('error', (e) => done(e));
      const id = packet.readUInt16BE(0);
      sock.on('message', (msg, rinfo) => {
        if (rinfo.address !== host || rinfo.port !== port || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
        done(null, msg);
      });
      sock.send(packet, port, host);
      return;
    }
    const sock = net.connect({ host, port });
    cleanup = () => sock.destroy();
    let buf = Buffer.alloc(0);
    sock.on('error', (e) => done(e));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(packet.length);
      sock.write(Buffer.concat([len, packet]));
    });
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(null, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('close', () => done(new Error('connection closed without a reply')));
  });
}
