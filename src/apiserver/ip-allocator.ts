/**
 * ClusterIP and NodePort allocation for Services. The allocator's state is rebuilt from stored Services at start
 * (the store is the source of truth), so nothing extra is persisted; allocations are released on delete.
 */
import { badRequest } from '../apimachinery/status.js';
import { formatIpv4, parseIpv4, parseIpv4Cidr } from '../common/ipv4.js';

export { parseIpv4, formatIpv4 };

export function parseCidr(cidr: string): { base: number; size: number } {
  const r = parseIpv4Cidr(cidr);
  if (r === null || !(r.bits >= 8 && r.bits <= 30)) throw badRequest(`invalid CIDR ${JSON.stringify(cidr)}: want an IPv4 range like 10.43.0.0/16 (prefix /8 to /30)`);
  return { base: r.base, size: r.size };
}

export class ClusterIpAllocator {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();
  private next = 0;

  constructor(readonly cidr: string) {
    ({ base: this.base, size: this.size } = parseCidr(cidr));
  }

  /** The first usable address: upstream gives it to the `kubernetes` service. */
  get firstAddress(): string {
    return formatIpv4(this.base + 1);
  }

  contains(ip: string): boolean {
    const n = parseIpv4(ip);
    return n !== null && n > this.base && n < this.base + this.size - 1;
  }

  /** Reserve a specific address; returns an error text (upstream wording) or null. */
  allocate(ip: string): string | null {
    const n = parseIpv4(ip);
    if (n === null || !this.contains(ip)) return `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr}`;
    if (this.used.has(n)) return `failed to allocate IP ${ip}: provided IP is already allocated`;
    this.used.add(n);
    return null;
  }

  allocateNext(): string | null {
    const usable = this.size - 2;
    for (let i = 0; i < usable; i++) {
      const n = this.base + 1 + ((this.next + i) % usable);
      if (!this.used.has(n)) {
        this.used.add(n);
        this.next = (n - this.base) % usable;
        return formatIpv4(n);
      }
    }
    return null;
  }

  release(ip: string): void {
    const n = parseIpv4(ip);
    if (n !== null) this.used.delete(n);
  }

  markUsed(ip: string): void {
    const n = parseIpv4(ip);
    if (n !== null && this.contains(ip)) this.used.add(n);
  }
}

export class NodePortAllocator {
  private readonly used = new Set<number>();
  constructor(readonly min = 30000, readonly max = 32767) {}

  allocate(port: number): string | null {
    if (port < this.min || port > this.max) return `provided port is not in the valid range. The range of valid ports is ${this.min}-${this.max}`;
    if (this.used.has(port)) return 'provided port is already allocated';
    this.used.add(port);
    return null;
  }

  allocateNext(): number | null {
    const span = this.max - this.min + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const p = this.min + ((start + i) % span);
      if (!this.used.has(p)) { this.used.add(p); return p; }
    }
    return null;
  }

  release(port: number): void {
    this.used.delete(port);
  }

  markUsed(port: number): void {
    this.used.add(port);
  }
}
