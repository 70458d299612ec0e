/**
 * The cluster zone's records, answered from the node's copy of Services and EndpointSlices as CoreDNS's
 * kubernetes plugin answers them (the Kubernetes DNS specification, with CoreDNS where the two differ):
 *   <svc>.<ns>.svc.<zone>            A/AAAA: the ClusterIPs; headless: every ready endpoint address
 *                                    (NXDOMAIN while none is ready); ExternalName: a CNAME to spec.externalName
 *   <host>.<svc>.<ns>.svc.<zone>     headless only: the endpoint whose hostname (or dashed address) is <host>
 *   _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV per named port (headless: one per endpoint, target its name)
 *   <a-b-c-d>.<ns>.pod.<zone>        A a.b.c.d ("pods insecure", kubeadm's Corefile default)
 *   PTR in in-addr.arpa / ip6.arpa   for ClusterIPs and headless endpoint addresses; other reverse names fall through
 * A name that exists with no record of the asked type is NODATA (NOERROR, no answer); an unknown name under
 * the zone is NXDOMAIN. Names outside the zone (and unknown reverse names) are not ours: `resolve` returns
 * undefined and the server forwards them.
 */
import net from 'node:net';
import type { Answer, RecordType, SrvAnswer, StringAnswer } from 'dns-packet';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

/** CoreDNS kubernetes plugin's default TTL. */
export const RECORD_TTL = 5;

export type Rcode = 'NOERROR' | 'NXDOMAIN';

export interface LocalAnswer {
  rcode: Rcode;
  answers: Answer[];
  additionals: Answer[];
  /** An ExternalName's CNAME target, to be resolved upstream and appended for A/AAAA/ANY questions (as CoreDNS). */
  chase?: string;
}

interface ReadyEndpoint {
  address: string;
  hostname?: string;
}

interface IndexedService {
  svc: V1Service;
  endpoints: ReadyEndpoint[];
  /** Endpoint ports by name (headless SRV answers use the endpoints' port, which may differ from the Service's). */
  endpointPorts: Map<string, { port: number; protocol: string }>;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The services and endpoints of the cluster as this node holds them, indexed for lookups. */
export class ClusterRecords {
  private services = new Map<string, IndexedService>();
  private namespaces = new Set<string>();
  private reverse = new Map<string, string>();

  constructor(readonly zone = 'cluster.local') {
    this.zone = normalize(zone);
  }

  /** Rebuilds the index (cheap: one pass over what the node holds; done after a change, not per query). */
  load(services: Iterable<V1Service>, slices: Iterable<V1EndpointSlice>): void {
    const index = new Map<string, IndexedService>();
    const namespaces = new Set<string>();
    for (const svc of services) {
      const ns = svc.metadata?.namespace;
      const name = svc.metadata?.name;
      if (!ns || !name) continue;
      namespaces.add(ns.toLowerCase());
      index.set(`${ns}/${name}`.toLowerCase(), { svc, endpoints: [], endpointPorts: new Map() });
    }
    for (const slice of slices) {
      const ns = slice.metadata?.namespace;
      const owner = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
      const entry = ns && owner ? index.get(`${ns}/${owner}`.toLowerCase()) : undefined;
      if (!entry || (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6')) continue;
      const includeNotReady = !!entry.svc.spec?.publishNotReadyAddresses;
      const seen = new Set(entry.endpoints.map((e) => e.address));
      for (const ep of slice.endpoints ?? []) {
        // ready unset means ready (discovery/v1); publishNotReadyAddresses publishes every address.
        if (!includeNotReady && ep.conditions?.ready === false) continue;
        for (const address of ep.addresses ?? []) {
          if (!net.isIP(address) || seen.has(address)) continue;
          seen.add(address);
          entry.endpoints.push({ address, hostname: ep.hostname?.toLowerCase() || undefined });
        }
      }
      for (const p of slice.ports ?? []) if (p.name && p.port !== undefined) entry.endpointPorts.set(p.name.toLowerCase(), { port: p.port, protocol: (p.protocol ?? 'TCP').toLowerCase() });
    }
    const reverse = new Map<string, string>();
    for (const [, e] of index) {
      const base = `${e.svc.metadata!.name}.${e.svc.metadata!.namespace}.svc.${this.zone}`.toLowerCase();
      if (isHeadless(e.svc)) for (const ep of e.endpoints) reverse.set(reverseName(ep.address), `${endpointLabel(ep)}.${base}`);
      else for (const ip of clusterIPs(e.svc)) reverse.set(reverseName(ip), base);
    }
    this.services = index;
    this.namespaces = namespaces;
    this.reverse = reverse;
  }

  /** Does this server answer for the name (the zone, or a reverse name it knows)? Others are forwarded. */
  owns(name: string): boolean {
    const n = normalize(name);
    return n === this.zone || n.endsWith('.' + this.zone) || this.reverse.has(n);
  }

  /** The answer for one question, or undefined when the name is not ours (forward it). */
  resolve(name: string, type: RecordType | 'ANY'): LocalAnswer | undefined {
    const qname = normalize(name);
    const ptr = this.reverse.get(qname);
    if (ptr !== undefined) return type === 'PTR' || type === 'ANY' ? found([rr(qname, 'PTR', ptr)]) : nodata();
    if (qname !== this.zone && !qname.endsWith('.' + this.zone)) return undefined;
    const labels = qname === this.zone ? [] : qname.slice(0, -(this.zone.length + 1)).split('.');
    if (labels.length === 0) return this.apex(qname, type);
    const kind = labels[labels.length - 1];
    if (kind === 'svc') return this.resolveService(qname, labels.slice(0, -1), type);
    if (kind === 'pod') return this.resolvePod(qname, labels.slice(0, -1), type);
    return nxdomain();
  }

  /** The zone's SOA, put in the authority section of negative answers. */
  soa(): Answer {
    return {
      name: this.zone, type: 'SOA', class: 'IN', ttl: RECORD_TTL,
      data: { mname: `ns.dns.${this.zone}`, rname: `hostmaster.${this.zone}`, serial: Math.floor(Date.now() / 1000), refresh: 7200, retry: 1800, expire: 86400, minimum: RECORD_TTL },
    };
  }

  private apex(qname: string, type: RecordType | 'ANY'): LocalAnswer {
    if (type === 'SOA') return found([this.soa()]);
    if (type === 'NS') return found([rr(qname, 'NS', `ns.dns.${this.zone}`)]);
    return nodata();
  }

  private resolveService(qname: string, labels: string[], type: RecordType | 'ANY'): LocalAnswer {
    // svc.<zone> and <ns>.svc.<zone> are empty non-terminals (the latter only for a namespace with Services).
    if (labels.length === 0) return nodata();
    const ns = labels[labels.length - 1]!;
    if (labels.length === 1) return this.namespaces.has(ns) ? nodata() : nxdomain();
    const entry = this.services.get(`${ns}/${labels[labels.length - 2]}`);
    if (!entry) return nxdomain();
    if (labels.length === 2) return this.serviceName(qname, entry, type);
    if (labels.length === 3) return this.endpointName(qname, entry, labels[0]!, type);
    if (labels.length === 4 && labels[0]!.startsWith('_') && labels[1]!.startsWith('_')) return this.srv(qname, entry, labels[0]!.slice(1), labels[1]!.slice(1), type);
    return nxdomain();
  }

  private serviceName(qname: string, e: IndexedService, type: RecordType | 'ANY'): LocalAnswer {
    const spec = e.svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      const target = normalize(spec.externalName ?? '');
      if (!target) return nxdomain();
      if (type === 'A' || type === 'AAAA' || type === 'CNAME' || type === 'ANY') {
        return { ...found([rr(qname, 'CNAME', target)]), ...(type === 'CNAME' ? {} : { chase: target }) };
      }
      return nodata();
    }
    if (type === 'SRV') return this.srv(qname, e, undefined, undefined, type);
    const headless = isHeadless(e.svc);
    if (headless && e.endpoints.length === 0) return nxdomain(); // as kube-dns/CoreDNS (kubernetes/dns#245)
    const ips = headless ? e.endpoints.map((ep) => ep.address) : clusterIPs(e.svc);
    return addressAnswer(qname, ips, type);
  }

  private endpointName(qname: string, e: IndexedService, host: string, type: RecordType | 'ANY'): LocalAnswer {
    if (!isHeadless(e.svc)) return nxdomain();
    const matches = e.endpoints.filter((ep) => endpointLabel(ep) === host);
    if (matches.length === 0) return nxdomain();
    return addressAnswer(qname, matches.map((ep) => ep.address), type);
  }

  /** SRV: one named port (`_port._proto`) or, for a question on the service name itself, every named port. */
  private srv(qname: string, e: IndexedService, portName: string | undefined, proto: string | undefined, type: RecordType | 'ANY'): LocalAnswer {
    const svc = e.svc;
    const base = `${svc.metadata!.name}.${svc.metadata!.namespace}.svc.${this.zone}`.toLowerCase();
    const wanted = (svc.spec?.ports ?? []).filter((p) => p.name && (portName === undefined || p.name.toLowerCase() === portName) && (proto === undefined || (p.protocol ?? 'TCP').toLowerCase() === proto));
    if (wanted.length === 0) return portName === undefined ? nodata() : nxdomain();
    if (type !== 'SRV' && type !== 'ANY') return nodata();
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    if (isHeadless(svc)) {
      if (e.endpoints.length === 0) return nxdomain();
      const weight = Math.max(1, Math.floor(100 / e.endpoints.length));
      for (const p of wanted) {
        const port = e.endpointPorts.get(p.name!.toLowerCase())?.port ?? (typeof p.targetPort === 'number' ? p.targetPort : p.port);
        for (const ep of e.endpoints) {
          const target = `${endpointLabel(ep)}.${base}`;
          answers.push(srvRecord(qname, port, target, weight));
          additionals.push(rr(target, net.isIPv6(ep.address) ? 'AAAA' : 'A', ep.address));
        }
      }
    } else {
      for (const p of wanted) answers.push(srvRecord(qname, p.port, base, 100));
      for (const ip of clusterIPs(svc)) additionals.push(rr(base, net.isIPv6(ip) ? 'AAAA' : 'A', ip));
    }
    return { rcode: 'NOERROR', answers, additionals: dedupe(additionals) };
  }

  private resolvePod(qname: string, labels: string[], type: RecordType | 'ANY'): LocalAnswer {
    if (labels.length === 0) return nodata();
    if (labels.length === 1) return this.namespaces.has(labels[0]!) ? nodata() : nxdomain();
    if (labels.length !== 2) return nxdomain();
    const ip = undashIp(labels[0]!);
    if (!ip) return nxdomain();
    return addressAnswer(qname, [ip], type);
  }
}

function isHeadless(svc: V1Service): boolean {
  return svc.spec?.clusterIP === 'None';
}

function clusterIPs(svc: V1Service): string[] {
  const ips = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : [];
  return ips.filter((ip) => net.isIP(ip) !== 0);
}

/** An endpoint's first label: its hostname, else its address with '.' / ':' as '-' (CoreDNS without endpoint_pod_names). */
function endpointLabel(ep: ReadyEndpoint): string {
  return ep.hostname ?? dashIp(ep.address);
}

export function dashIp(ip: string): string {
  return (net.isIPv6(ip) ? canonicalIPv6(ip) : ip).replace(/[.:]/g, '-');
}

/** RFC 5952 text (as Go's net.IP.String, which CoreDNS dashes): no leading zeros, the longest zero run as `::`. */
export function canonicalIPv6(ip: string): string {
  const groups = expandIPv6(ip).map((g) => g.replace(/^0+(?=.)/, ''));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** `10-1-2-3` → 10.1.2.3; `fd00--1` → fd00::1; anything else (or an invalid address) → undefined. */
export function undashIp(label: string): string | undefined {
  const v4 = label.replace(/-/g, '.');
  if (net.isIPv4(v4)) return v4;
  const v6 = label.replace(/-/g, ':');
  return net.isIPv6(v6) ? canonicalIPv6(v6) : undefined;
}

/** The in-addr.arpa / ip6.arpa name of an address. */
export function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const groups = expandIPv6(ip);
  return `${groups.join('').split('').reverse().join('.')}.ip6.arpa`;
}

function expandIPv6(address: string): string[] {
  let ip = address.replace(/%.*$/, '');
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    ip = ip.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0').toLowerCase());
}

export function normalize(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

function addressAnswer(qname: string, ips: string[], type: RecordType | 'ANY'): LocalAnswer {
  const v4 = ips.filter((ip) => net.isIPv4(ip));
  const v6 = ips.filter((ip) => net.isIPv6(ip));
  const answers: Answer[] = [];
  if (type === 'A' || type === 'ANY') for (const ip of v4) answers.push(rr(qname, 'A', ip));
  if (type === 'AAAA' || type === 'ANY') for (const ip of v6) answers.push(rr(qname, 'AAAA', ip));
  return answers.length ? found(answers) : nodata();
}

function rr(name: string, type: 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS', data: string): StringAnswer {
  return { name, type, class: 'IN', ttl: RECORD_TTL, data };
}

function srvRecord(name: string, port: number, target: string, weight: number): SrvAnswer {
  return { name, type: 'SRV', class: 'IN', ttl: RECORD_TTL, data: { priority: 0, weight, port, target } };
}

function dedupe(records: Answer[]): Answer[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const k = `${r.name}|${r.type}|${JSON.stringify((r as { data?: unknown }).data)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function found(answers: Answer[]): LocalAnswer {
  return { rcode: 'NOERROR', answers, additionals: [] };
}

function nodata(): LocalAnswer {
  return { rcode: 'NOERROR', answers: [], additionals: [] };
}

function nxdomain(): LocalAnswer {
  return { rcode: 'NXDOMAIN', answers: [], additionals: [] };
}
