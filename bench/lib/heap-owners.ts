/**
 * Where a `kedge server` heap goes, by owner: reads a V8 .heapsnapshot (JSON), computes the dominator tree
 * (Cooper–Harvey–Kennedy over the non-weak edges) and attributes every object's self size to the nearest
 * dominating "owner" object found by constructor name and property (the watch cache's items and history,
 * each client-node informer's object map, the scheduler's node infos, the hub's cache and desired views...).
 * Objects two owners share are dominated by neither and land in "other"; `reachable` (bytes reachable from
 * the owner without entering another owner, shapes and code excluded) shows such sharing.
 *
 * Usage: node --max-old-space-size=6000 --import tsx bench/lib/heap-owners.ts A.heapsnapshot [B.heapsnapshot --per N]
 *   one file: owners of A; two files: owners of both and (B − A) / N per item (e.g. per pod created between them).
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface OwnerSizes {
  retained: Map<string, number>;
  reachable: Map<string, number>;
  total: number;
}

/** Owner roots: `label` names the object reached from a node of constructor `ctor` by property `prop` ('' = the node itself). */
const OWNER_RULES: Array<{ ctor: string; prop: string; label: (name: (prop: string) => string | undefined) => string }> = [
  { ctor: 'ResourceCache', prop: 'items', label: (p) => `watchcache items ${p('prefix') ?? ''}` },
  { ctor: 'ResourceCache', prop: 'history', label: (p) => `watchcache history ${p('prefix') ?? ''}` },
  { ctor: 'ListWatch', prop: 'objects', label: (p) => `informer ${p('path') ?? ''}` },
  { ctor: 'LeanInformer', prop: 'objects', label: (p) => `informer ${p('path') ?? ''}` },
  { ctor: 'ClusterState', prop: '', label: () => 'scheduler ClusterState' },
  { ctor: 'SharedCache', prop: 'objects', label: () => 'hub SharedCache objects' },
  { ctor: 'DesiredSets', prop: 'views', label: () => 'hub DesiredSets views' },
  { ctor: 'DesiredSets', prop: 'shaped', label: () => 'hub DesiredSets shaped' },
  { ctor: 'DesiredSets', prop: 'podsByNode', label: () => 'hub DesiredSets podsByNode' },
  { ctor: 'DesiredSets', prop: 'refNodes', label: () => 'hub DesiredSets refNodes' },
  { ctor: 'SqliteStore', prop: '', label: () => 'storage SqliteStore' },
  // Per connected node (a session and what its connection holds).
  { ctor: 'NodeSession', prop: '', label: () => 'hub NodeSession (per node)' },
  { ctor: 'WebSocket', prop: '', label: () => 'ws WebSocket (per node)' },
  { ctor: 'TLSSocket', prop: '', label: () => 'TLSSocket (per connection)' },
  { ctor: 'NodeView', prop: '', label: () => 'hub NodeView (per node)' },
];

function analyse(file: string): OwnerSizes {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const NF = nf.length;
  const EF = ef.length;
  const nType = nf.indexOf('type'), nName = nf.indexOf('name'), nSelf = nf.indexOf('self_size'), nEdges = nf.indexOf('edge_count');
  const eType = ef.indexOf('type'), eName = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node');
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const WEAK = edgeTypes.indexOf('weak');
  const SHORTCUT = edgeTypes.indexOf('shortcut');
  const ELEMENT = edgeTypes.indexOf('element');
  const HIDDEN = edgeTypes.indexOf('hidden');
  const N = s.nodes.length / NF;
  const firstEdge = new Uint32Array(N + 1);
  for (let i = 0, e = 0; i < N; i++) {
    firstEdge[i] = e;
    e += s.nodes[i * NF + nEdges]! * EF;
  }
  firstEdge[N] = s.edges.length;
  const edgeName = (e: number): string => {
    const t = s.edges[e + eType]!;
    return t === ELEMENT || t === HIDDEN ? String(s.edges[e + eName]) : s.strings[s.edges[e + eName]!]!;
  };
  const follows = (e: number) => {
    const t = s.edges[e + eType]!;
    return t !== WEAK && t !== SHORTCUT;
  };
  // Post-order DFS from the root (node 0).
  const post = new Int32Array(N).fill(-1);
  const order: number[] = [];
  {
    const stack: number[] = [0];
    const it = new Uint32Array(N);
    const seen = new Uint8Array(N);
    seen[0] = 1;
    it[0] = firstEdge[0]!;
    while (stack.length) {
      const n = stack[stack.length - 1]!;
      if (it[n]! < firstEdge[n + 1]!) {
        const e = it[n]!;
        it[n] = e + EF;
        if (!follows(e)) continue;
        const to = s.edges[e + eTo]! / NF;
        if (!seen[to]) {
          seen[to] = 1;
          it[to] = firstEdge[to]!;
          stack.push(to);
        }
      } else {
        stack.pop();
        post[n] = order.length;
        order.push(n);
      }
    }
  }
  // Predecessors (reachable ones only).
  const predCount = new Uint32Array(N + 1);
  for (let n = 0; n < N; n++) {
    if (post[n] < 0) continue;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) if (follows(e)) predCount[s.edges[e + eTo]! / NF]!++;
  }
  const predStart = new Uint32Array(N + 1);
  for (let n = 0; n < N; n++) predStart[n + 1] = predStart[n]! + predCount[n]!;
  const preds = new Uint32Array(predStart[N]!);
  const fill = predStart.slice(0, N);
  for (let n = 0; n < N; n++) {
    if (post[n] < 0) continue;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) if (follows(e)) { const to = s.edges[e + eTo]! / NF; preds[fill[to]!++] = n; }
  }
  // Dominators (Cooper, Harvey, Kennedy: "A Simple, Fast Dominance Algorithm"), on post-order numbers.
  const idom = new Int32Array(N).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (post[a]! < post[b]!) a = idom[a]!;
      while (post[b]! < post[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = order.length - 2; i >= 0; i--) {
      const n = order[i]!;
      let d = -1;
      for (let p = predStart[n]!; p < predStart[n + 1]!; p++) {
        const m = preds[p]!;
        if (idom[m]! < 0) continue;
        d = d < 0 ? m : intersect(m, d);
      }
      if (d >= 0 && idom[n] !== d) { idom[n] = d; changed = true; }
    }
  }
  // Owner roots.
  const ownerOf = new Map<number, string>();
  const nameOf = (n: number) => s.strings[s.nodes[n * NF + nName]!]!;
  const typeOf = (n: number) => nodeTypes[s.nodes[n * NF + nType]!]!;
  const propOf = (n: number, prop: string): number | undefined => {
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) if (edgeName(e) === prop) return s.edges[e + eTo]! / NF;
    return undefined;
  };
  for (let n = 0; n < N; n++) {
    if (typeOf(n) !== 'object') continue;
    const ctor = nameOf(n);
    for (const r of OWNER_RULES) {
      if (r.ctor !== ctor) continue;
      const target = r.prop ? propOf(n, r.prop) : n;
      if (target === undefined) continue;
      const str = (p: string) => { const t = propOf(n, p); return t === undefined ? undefined : nameOf(t); };
      ownerOf.set(target, r.label(str));
    }
  }
  // Retained by owner: each reachable node's self size goes to its nearest owner on the dominator chain.
  const label = new Array<string>(N);
  const retained = new Map<string, number>();
  let total = 0;
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    label[n] = ownerOf.get(n) ?? (n === 0 ? 'other' : label[idom[n]!]!);
    const self = s.nodes[n * NF + nSelf]!;
    total += self;
    retained.set(label[n]!, (retained.get(label[n]!) ?? 0) + self);
  }
  // Reachable from each owner without entering another owner (shapes, code and prototypes skipped).
  const reachable = new Map<string, number>();
  const skipType = new Set(['hidden', 'code', 'closure', 'object shape', 'synthetic', 'native']);
  for (const [root, name] of ownerOf) {
    const seen = new Set<number>([root]);
    const stack = [root];
    let bytes = 0;
    while (stack.length) {
      const n = stack.pop()!;
      bytes += s.nodes[n * NF + nSelf]!;
      for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) {
        if (!follows(e)) continue;
        const en = edgeName(e);
        if (en === 'map' || en === '__proto__' || en === 'constructor') continue;
        const to = s.edges[e + eTo]! / NF;
        if (seen.has(to) || ownerOf.has(to) || skipType.has(typeOf(to))) continue;
        seen.add(to);
        stack.push(to);
      }
    }
    reachable.set(name, (reachable.get(name) ?? 0) + bytes);
  }
  return { retained, reachable, total };
}

const args = process.argv.slice(2);
const perIdx = args.indexOf('--per');
const per = perIdx >= 0 ? Number(args.splice(perIdx, 2)[1]) : 1;
const [a, b] = args;
if (!a) {
  process.stderr.write('usage: heap-owners.ts A.heapsnapshot [B.heapsnapshot --per N]\n');
  process.exit(2);
}
const A = analyse(a);
const B = b ? analyse(b) : undefined;
const KiB = (x: number) => (x / 1024).toFixed(1);
const names = [...new Set([...A.retained.keys(), ...(B?.retained.keys() ?? [])])].sort((x, y) => (B?.retained.get(y) ?? A.retained.get(y) ?? 0) - (B?.retained.get(x) ?? A.retained.get(x) ?? 0));
const rows: string[][] = [['owner', 'A retained KiB', 'A reachable KiB', ...(B ? ['B retained KiB', 'B reachable KiB', `(B−A)/${per} retained KiB`, `(B−A)/${per} reachable KiB`] : [])]];
for (const n of names) {
  const ar = A.retained.get(n) ?? 0, ax = A.reachable.get(n) ?? 0;
  const row = [n, KiB(ar), KiB(ax)];
  if (B) {
    const br = B.retained.get(n) ?? 0, bx = B.reachable.get(n) ?? 0;
    row.push(KiB(br), KiB(bx), ((br - ar) / per / 1024).toFixed(2), ((bx - ax) / per / 1024).toFixed(2));
  }
  rows.push(row);
}
rows.push(['TOTAL live heap', KiB(A.total), '', ...(B ? [KiB(B.total), '', ((B.total - A.total) / per / 1024).toFixed(2), ''] : [])]);
const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
for (const r of rows) process.stdout.write(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ') + '\n');
