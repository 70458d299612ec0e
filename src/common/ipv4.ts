/**
 * IPv4 addresses and CIDR ranges as numbers: shared by the API server's ClusterIP allocator, the hub's pod CIDR
 * check at join and the edge's service proxy / pod routes.
 */

export function parseIpv4(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Ipv4Range {
  /** The network address (host bits cleared). */
  base: number;
  size: number;
  bits: number;
}

/** `a.b.c.d/n` → its range (host bits cleared), or null when it is not one. */
export function parseIpv4Cidr(cidr: string): Ipv4Range | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const ip = m ? parseIpv4(m[1]!) : null;
  const bits = m ? Number(m[2]) : NaN;
  if (ip === null || !(bits >= 0 && bits <= 32)) return null;
  const size = 2 ** (32 - bits);
  return { base: (ip - (ip % size)) >>> 0, size, bits };
}

export function rangesOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export function rangeContains(r: Ipv4Range, ip: number): boolean {
  return ip >= r.base && ip < r.base + r.size;
}

export function formatIpv4Cidr(r: Ipv4Range): string {
  return `${formatIpv4(r.base)}/${r.bits}`;
}
