/**
 * Kubernetes resource.Quantity → number. CPU is returned in millicores by parseCpuMillis, everything else in base
 * units (bytes, counts). Enough precision for scheduling decisions; invalid strings parse as 0 (the API server
 * validates quantities, so this only matters for hand-crafted fakes).
 */
const suffixes: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
};

// Quantities repeat endlessly (every pod says "100m", every node "8"): memoise the parse.
const cache = new Map<string, number>();

export function parseQuantity(q: string | number | undefined | null): number {
  if (q === undefined || q === null) return 0;
  if (typeof q === 'number') return q;
  let v = cache.get(q);
  if (v === undefined) {
    v = parse(q);
    if (cache.size > 10_000) cache.clear();
    cache.set(q, v);
  }
  return v;
}

function parse(q: string): number {
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const base = Number.parseFloat(m[1]!);
  const mult = suffixes[m[2]!];
  if (mult === undefined || Number.isNaN(base)) return 0;
  return base * mult;
}

export function parseCpuMillis(q: string | number | undefined | null): number {
  return Math.round(parseQuantity(q) * 1000);
}
