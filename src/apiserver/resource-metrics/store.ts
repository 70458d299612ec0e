/**
 * The metrics the scraper collected, as metrics-server's storage keeps them: per node the last two
 * successful scrapes of `/metrics/resource`; usage is served from those two points only. CPU is the rate
 * of the cumulative counter between them (nanocores) with `window` = the time between the two samples and
 * `timestamp` = the later one; memory is the later working set. A container that started after the
 * previous scrape is measured from its start (counter 0 at start time), as metrics-server does, so a new
 * pod has usage after one scrape; a container whose counter went backwards (restarted, same start time
 * rounding) has none until the next. A pod is served only when every container it reported has usage.
 * A node whose scrape fails is dropped at once (metrics-server: offline nodes are absent).
 */
import { cpuNanoCores, type ContainerPoint, type ResourceSample } from '../../common/resource-metrics.js';

export interface Usage {
  /** Nanocores. */
  cpuNanoCores: number;
  memoryBytes: number;
}

export interface NodeUsagePoint extends Usage {
  /** The later sample's time, ms since the epoch. */
  timestampMs: number;
  windowMs: number;
}

export interface PodUsagePoint {
  namespace: string;
  name: string;
  timestampMs: number;
  windowMs: number;
  containers: ({ name: string } & Usage)[];
}

interface Scrape {
  /** When the scraper received it (ms): the fallback time for samples without their own timestamp. */
  receivedMs: number;
  sample: ResourceSample;
  containers: Map<string, ContainerPoint>;
}

interface NodeEntry {
  prev?: Scrape;
  last: Scrape;
  node?: NodeUsagePoint;
  pods: PodUsagePoint[];
}

const containerKey = (c: { namespace: string; pod: string; container: string }) => `${c.namespace}/${c.pod}/${c.container}`;

export class ResourceMetricsStore {
  private readonly nodes = new Map<string, NodeEntry>();

  /** A successful scrape of `node`. */
  record(nodeName: string, sample: ResourceSample, receivedMs: number): void {
    const scrape: Scrape = { receivedMs, sample, containers: new Map(sample.containers.map((c) => [containerKey(c), c])) };
    const prev = this.nodes.get(nodeName)?.last;
    // The same answer again (the node reuses a collection for a second or so): keep the pair we have.
    const stamp = (x: Scrape) => x.sample.node?.cpuTimestampMs ?? x.receivedMs;
    if (prev && stamp(scrape) <= stamp(prev)) return;
    const entry: NodeEntry = { prev, last: scrape, pods: [] };
    entry.node = prev ? nodeUsage(prev, scrape) : undefined;
    entry.pods = podUsage(prev, scrape);
    this.nodes.set(nodeName, entry);
  }

  /** The scrape failed or the node is gone: its node and pods are absent until two scrapes succeed again. */
  forget(nodeName: string): void {
    this.nodes.delete(nodeName);
  }

  /** Nodes scraped at least once (for pruning nodes deleted from the API). */
  nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  node(nodeName: string): NodeUsagePoint | undefined {
    return this.nodes.get(nodeName)?.node;
  }

  /** Every pod with usage, across nodes (a pod runs on one node; the newest wins should two claim it). */
  pods(): PodUsagePoint[] {
    const byKey = new Map<string, PodUsagePoint>();
    for (const e of this.nodes.values())
      for (const p of e.pods) {
        const k = `${p.namespace}/${p.name}`;
        const have = byKey.get(k);
        if (!have || have.timestampMs < p.timestampMs) byKey.set(k, p);
      }
    return [...byKey.values()];
  }
}

function nodeUsage(prev: Scrape, last: Scrape): NodeUsagePoint | undefined {
  const a = prev.sample.node;
  const b = last.sample.node;
  if (a?.cpuSeconds === undefined || b?.cpuSeconds === undefined || b.memoryWorkingSetBytes === undefined) return undefined;
  const t0 = a.cpuTimestampMs ?? prev.receivedMs;
  const t1 = b.cpuTimestampMs ?? last.receivedMs;
  const rate = cpuNanoCores({ cpuSeconds: a.cpuSeconds, timestampMs: t0 }, { cpuSeconds: b.cpuSeconds, timestampMs: t1 });
  if (rate === null) return undefined;
  return { cpuNanoCores: rate, memoryBytes: b.memoryWorkingSetBytes, timestampMs: t1, windowMs: t1 - t0 };
}

/** One container's usage over [earlier, later], or null when there is no valid earlier point. */
function containerUsage(prev: Scrape | undefined, last: Scrape, c: ContainerPoint): { usage: Usage; timestampMs: number; windowMs: number } | null {
  if (c.cpuSeconds === undefined || c.memoryWorkingSetBytes === undefined) return null;
  const t1 = c.cpuTimestampMs ?? last.receivedMs;
  const before = prev?.containers.get(containerKey(c));
  let earlier: { cpuSeconds: number; timestampMs: number } | undefined;
  const sameContainer = before?.cpuSeconds !== undefined && before.startTimeSeconds === c.startTimeSeconds;
  if (sameContainer) earlier = { cpuSeconds: before.cpuSeconds!, timestampMs: before.cpuTimestampMs ?? prev!.receivedMs };
  else if (prev && c.startTimeSeconds !== undefined) {
    // Started since the previous scrape: its counter was 0 at its start.
    const startMs = c.startTimeSeconds * 1000;
    const prevMs = prev.sample.node?.cpuTimestampMs ?? prev.receivedMs;
    if (startMs > prevMs && startMs < t1) earlier = { cpuSeconds: 0, timestampMs: startMs };
  }
  if (!earlier) return null;
  const rate = cpuNanoCores(earlier, { cpuSeconds: c.cpuSeconds, timestampMs: t1 });
  if (rate === null) return null;
  return { usage: { cpuNanoCores: rate, memoryBytes: c.memoryWorkingSetBytes }, timestampMs: t1, windowMs: t1 - earlier.timestampMs };
}

function podUsage(prev: Scrape | undefined, last: Scrape): PodUsagePoint[] {
  const pods = new Map<string, { point: PodUsagePoint; complete: boolean }>();
  for (const c of last.sample.containers) {
    const k = `${c.namespace}/${c.pod}`;
    let p = pods.get(k);
    if (!p) pods.set(k, (p = { point: { namespace: c.namespace, name: c.pod, timestampMs: 0, windowMs: 0, containers: [] }, complete: true }));
    const u = containerUsage(prev, last, c);
    if (!u) {
      p.complete = false;
      continue;
    }
    p.point.containers.push({ name: c.container, ...u.usage });
    p.point.timestampMs = Math.max(p.point.timestampMs, u.timestampMs);
    p.point.windowMs = Math.max(p.point.windowMs, u.windowMs);
  }
  return [...pods.values()].filter((p) => p.complete && p.point.containers.length).map((p) => p.point);
}
