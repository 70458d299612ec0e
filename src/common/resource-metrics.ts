/**
 * The kubelet's resource metrics endpoint (`/metrics/resource`, Prometheus text format) as both ends
 * speak it: the edge agent renders it from runtime stats, the control plane's metrics scraper parses it
 * (as metrics-server does) and turns two cumulative CPU samples into a rate. Metric names, help texts and
 * labels are the kubelet's stable ones, so metrics-server or Prometheus can scrape an edge node unchanged.
 */

export interface CpuMemoryPoint {
  /** Cumulative CPU time, core-seconds. */
  cpuSeconds?: number;
  /** When the CPU figure was taken, ms since the epoch. */
  cpuTimestampMs?: number;
  memoryWorkingSetBytes?: number;
  memoryTimestampMs?: number;
}

export interface ContainerPoint extends CpuMemoryPoint {
  namespace: string;
  pod: string;
  container: string;
  /** Container start, seconds since the epoch (tells a restarted container from a continuing one). */
  startTimeSeconds?: number;
}

export interface PodPoint extends CpuMemoryPoint {
  namespace: string;
  pod: string;
}

export interface ResourceSample {
  node?: CpuMemoryPoint;
  pods: PodPoint[];
  containers: ContainerPoint[];
  /** The node could not read some container stats (`resource_scrape_error 1`). */
  scrapeError: boolean;
}

/** A node's usage as its hub received it over the link (protocol v6 `usage`; src/cloudhub/usage-board.ts). */
export interface UsageEntry {
  node: string;
  /** When the hub received it (ms since the epoch). */
  receivedMs: number;
  sample: ResourceSample;
}

/** Where the hub serves its UsagePage on its kubelet proxy socket (src/cloudhub/kubelet-proxy.ts). */
export const USAGE_PATH = '/usage';

/** The hub's answer to `GET /usage?since=N` on its kubelet proxy socket. */
export interface UsagePage {
  /** Pass as `since` next time: only reports received after this one are returned. */
  seq: number;
  entries: UsageEntry[];
  /** Every node whose last report is recent (within 2.5 intervals): these need no scrape through the tunnel. */
  reporting: string[];
}

interface MetricDef {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
}

const M = {
  containerCpu: { name: 'container_cpu_usage_seconds_total', type: 'counter', help: '[STABLE] Cumulative cpu time consumed by the container in core-seconds' },
  containerMemory: { name: 'container_memory_working_set_bytes', type: 'gauge', help: '[STABLE] Current working set of the container in bytes' },
  containerStart: { name: 'container_start_time_seconds', type: 'gauge', help: '[STABLE] Start time of the container since unix epoch in seconds' },
  nodeCpu: { name: 'node_cpu_usage_seconds_total', type: 'counter', help: '[STABLE] Cumulative cpu time consumed by the node in core-seconds' },
  nodeMemory: { name: 'node_memory_working_set_bytes', type: 'gauge', help: '[STABLE] Current working set of the node in bytes' },
  podCpu: { name: 'pod_cpu_usage_seconds_total', type: 'counter', help: '[STABLE] Cumulative cpu time consumed by the pod in core-seconds' },
  podMemory: { name: 'pod_memory_working_set_bytes', type: 'gauge', help: '[STABLE] Current working set of the pod in bytes' },
  scrapeError: { name: 'resource_scrape_error', type: 'gauge', help: '[STABLE] 1 if there was an error while getting container metrics, 0 otherwise' },
} satisfies Record<string, MetricDef>;

export const RESOURCE_METRIC_NAMES = Object.values(M).map((m) => m.name);

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

/** Prometheus text format 0.0.4, families in the kubelet's order, samples with their own timestamps (ms). */
export function renderResourceMetrics(s: ResourceSample): string {
  const out: string[] = [];
  const family = (def: MetricDef, rows: { labels?: Record<string, string>; value: number | undefined; ts?: number }[]) => {
    const present = rows.filter((r) => r.value !== undefined);
    if (!present.length && def !== M.scrapeError) return;
    out.push(`# HELP ${def.name} ${def.help}`, `# TYPE ${def.name} ${def.type}`);
    for (const r of present) {
      const labels = r.labels ? `{${Object.entries(r.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${def.name}${labels} ${formatNumber(r.value!)}${r.ts !== undefined ? ` ${Math.round(r.ts)}` : ''}`);
    }
  };
  const cl = (c: ContainerPoint) => ({ container: c.container, namespace: c.namespace, pod: c.pod });
  const pl = (p: PodPoint) => ({ namespace: p.namespace, pod: p.pod });
  family(M.containerCpu, s.containers.map((c) => ({ labels: cl(c), value: c.cpuSeconds, ts: c.cpuTimestampMs })));
  family(M.containerMemory, s.containers.map((c) => ({ labels: cl(c), value: c.memoryWorkingSetBytes, ts: c.memoryTimestampMs })));
  family(M.containerStart, s.containers.map((c) => ({ labels: cl(c), value: c.startTimeSeconds })));
  family(M.nodeCpu, [{ value: s.node?.cpuSeconds, ts: s.node?.cpuTimestampMs }]);
  family(M.nodeMemory, [{ value: s.node?.memoryWorkingSetBytes, ts: s.node?.memoryTimestampMs }]);
  family(M.podCpu, s.pods.map((p) => ({ labels: pl(p), value: p.cpuSeconds, ts: p.cpuTimestampMs })));
  family(M.podMemory, s.pods.map((p) => ({ labels: pl(p), value: p.memoryWorkingSetBytes, ts: p.memoryTimestampMs })));
  family(M.scrapeError, [{ value: s.scrapeError ? 1 : 0 }]);
  return out.join('\n') + '\n';
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/;
const LABEL_PAIR = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** `name{a="x",b="y"} value [timestamp]` → parts; null for a line that is not a well-formed sample. */
function parseSampleLine(line: string): { name: string; labels: Record<string, string>; value: number; ts?: number } | null {
  const m = SAMPLE_LINE.exec(line);
  if (!m) return null;
  const labels: Record<string, string> = {};
  const labelText = m[2];
  if (labelText) {
    LABEL_PAIR.lastIndex = 0;
    while (LABEL_PAIR.lastIndex < labelText.length) {
      const at = LABEL_PAIR.lastIndex;
      const l = LABEL_PAIR.exec(labelText);
      if (!l) return null;
      labels[l[1]!] = l[2]!.includes('\\') ? l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)) : l[2]!;
      if (!l[3] && LABEL_PAIR.lastIndex < labelText.length) return null;
      if (LABEL_PAIR.lastIndex === at) return null;
    }
  }
  const raw = m[3]!;
  const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
  if (Number.isNaN(value) && raw !== 'NaN') return null;
  return { name: m[1]!, labels, value, ts: m[4] !== undefined ? Number(m[4]) : undefined };
}

/**
 * Parse a `/metrics/resource` body. Families other than the resource metrics are skipped; a malformed
 * sample line of a known family fails the whole scrape (as metrics-server's decoder does) rather than
 * reporting half a node.
 */
export function parseResourceMetrics(text: string): ResourceSample {
  const sample: ResourceSample = { pods: [], containers: [], scrapeError: false };
  const containers = new Map<string, ContainerPoint>();
  const pods = new Map<string, PodPoint>();
  const known = new Set(RESOURCE_METRIC_NAMES);
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const name = /^[a-zA-Z0-9_:]+/.exec(line)?.[0];
    if (!name || !known.has(name)) continue;
    const s = parseSampleLine(line);
    if (!s) throw new Error(`malformed sample line: ${line.slice(0, 200)}`);
    const { labels } = s;
    if (name.startsWith('container_')) {
      if (!labels.namespace || !labels.pod || !labels.container) throw new Error(`${name} without namespace/pod/container labels`);
      const key = `${labels.namespace}/${labels.pod}/${labels.container}`;
      let c = containers.get(key);
      if (!c) containers.set(key, (c = { namespace: labels.namespace, pod: labels.pod, container: labels.container }));
      if (name === M.containerCpu.name) { c.cpuSeconds = s.value; c.cpuTimestampMs = s.ts; }
      else if (name === M.containerMemory.name) { c.memoryWorkingSetBytes = s.value; c.memoryTimestampMs = s.ts; }
      else c.startTimeSeconds = s.value;
    } else if (name.startsWith('pod_')) {
      if (!labels.namespace || !labels.pod) throw new Error(`${name} without namespace/pod labels`);
      const key = `${labels.namespace}/${labels.pod}`;
      let p = pods.get(key);
      if (!p) pods.set(key, (p = { namespace: labels.namespace, pod: labels.pod }));
      if (name === M.podCpu.name) { p.cpuSeconds = s.value; p.cpuTimestampMs = s.ts; }
      else { p.memoryWorkingSetBytes = s.value; p.memoryTimestampMs = s.ts; }
    } else if (name.startsWith('node_')) {
      sample.node ??= {};
      if (name === M.nodeCpu.name) { sample.node.cpuSeconds = s.value; sample.node.cpuTimestampMs = s.ts; }
      else { sample.node.memoryWorkingSetBytes = s.value; sample.node.memoryTimestampMs = s.ts; }
    } else sample.scrapeError = s.value !== 0;
  }
  sample.containers = [...containers.values()];
  sample.pods = [...pods.values()];
  return sample;
}

/**
 * CPU rate between two cumulative samples, in nanocores (metrics-server's computation): null when the
 * samples cannot give one (same or reversed time, counter went backwards: a restart or a reset).
 */
export function cpuNanoCores(earlier: { cpuSeconds: number; timestampMs: number }, later: { cpuSeconds: number; timestampMs: number }): number | null {
  const dtMs = later.timestampMs - earlier.timestampMs;
  const dCpu = later.cpuSeconds - earlier.cpuSeconds;
  if (!(dtMs > 0) || dCpu < 0) return null;
  return Math.round((dCpu * 1e9) / (dtMs / 1000));
}
