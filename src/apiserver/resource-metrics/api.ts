/**
 * `metrics.k8s.io/v1beta1` served by the API server itself (K3s bundles metrics-server behind an APIService;
 * Kedge has no aggregation layer, so the group is registered like any other and computed on read from the
 * scraper's store). NodeMetrics (cluster-scoped) and PodMetrics (namespaced): get and list, with label
 * selectors on the Node's / Pod's labels, field selectors on metadata.name/namespace, and tables (NAME, CPU,
 * MEMORY, WINDOW as metrics-server prints them). Objects as metrics-server writes them: usage.cpu in
 * nanocores (`n`, canonical form), usage.memory the working set in bytes (binary SI), `timestamp` the later
 * sample's time, `window` the span of the two samples (Go duration). Who may read: RBAC on
 * `nodes`/`pods` in group `metrics.k8s.io` (ClusterRole `system:aggregated-metrics-reader`, aggregated into view/edit/admin).
 */
import type { KubeObject } from '../../apimachinery/object.js';
import { notFound } from '../../apimachinery/status.js';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { formatQuantity, parseQuantity, scaledValue } from '../../common/quantity.js';
import type { ResourceDef } from '../registry.js';
import type { ResourceMetricsStore, Usage } from './store.js';

export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';
const API_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}`;

/** Go's time.Duration.String() for a non-negative span in ms: `15.003s`, `1m0.5s`, `1h0m0s`. */
export function goDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const totalSeconds = ms / 1000;
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds - h * 3600) / 60);
  const s = Math.round((totalSeconds - h * 3600 - m * 60) * 1000) / 1000;
  const sec = `${s}s`;
  if (h) return `${h}h${m}m${sec}`;
  if (m) return `${m}m${sec}`;
  return totalSeconds < 1 ? `${Math.round(ms)}ms` : sec;
}

function usageQuantities(u: Usage): { cpu: string; memory: string } {
  return {
    cpu: formatQuantity({ mantissa: BigInt(Math.max(0, Math.round(u.cpuNanoCores))), exponent: -9, format: 'DecimalSI' }),
    memory: formatQuantity({ mantissa: BigInt(Math.max(0, Math.round(u.memoryBytes))), exponent: 0, format: 'BinarySI' }),
  };
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics (k8s.io/metrics types, JSON form). */
interface MetricsMeta { name: string; namespace?: string; creationTimestamp: string; labels?: Record<string, string> }
export interface NodeMetrics { kind: 'NodeMetrics'; apiVersion: string; metadata: MetricsMeta; timestamp: string; window: string; usage: { cpu: string; memory: string } }
export interface PodMetrics { kind: 'PodMetrics'; apiVersion: string; metadata: MetricsMeta; timestamp: string; window: string; containers: { name: string; usage: { cpu: string; memory: string } }[] }

interface Labelled {
  metadata?: { labels?: Record<string, string> };
}

/** Sum of quantities in `unit` (10^exponent), as a canonical quantity of `format`. */
function sumQuantities(values: string[], exponent: number, format: 'DecimalSI' | 'BinarySI'): string {
  let total = 0n;
  for (const v of values) total += scaledValue(parseQuantity(v), exponent);
  return formatQuantity({ mantissa: total, exponent, format });
}

function tableUsage(usage: { cpu?: string; memory?: string } | undefined): [string, string] {
  return [usage?.cpu ?? '', usage?.memory ?? ''];
}

export interface MetricsApiDeps {
  store: ResourceMetricsStore;
  feed: WatchCacheFeed;
}

/** NodeMetrics and PodMetrics definitions whose objects are computed from the store on every read. */
export function resourceMetricsDefs({ store, feed }: MetricsApiDeps): ResourceDef[] {
  const labelsOf = async (prefix: string, key: string) => ((await feed.cache(prefix)).get(key)?.obj as Labelled | undefined)?.metadata?.labels;
  const nodeExists = async (name: string) => (await feed.cache('/registry/core/nodes/')).get(`/registry/core/nodes/${name}`) !== undefined;

  const nodeMetrics = async (name: string): Promise<KubeObject | null> => {
    const u = store.node(name);
    if (!u) return null;
    const labels = await labelsOf('/registry/core/nodes/', `/registry/core/nodes/${name}`);
    if (!labels && !(await nodeExists(name))) return null;
    const obj: NodeMetrics = {
      kind: 'NodeMetrics', apiVersion: API_VERSION,
      metadata: { name, creationTimestamp: rfc3339(Date.now()), ...(labels ? { labels } : {}) },
      timestamp: rfc3339(u.timestampMs), window: goDuration(u.windowMs), usage: usageQuantities(u),
    };
    return obj as unknown as KubeObject;
  };

  const podMetrics = async (namespace = ''): Promise<KubeObject[]> => {
    const pods = await feed.cache('/registry/core/pods/');
    const out: KubeObject[] = [];
    for (const p of store.pods()) {
      if (namespace && p.namespace !== namespace) continue;
      // Only pods the API knows (a pod deleted since the scrape is not reported).
      const pod = pods.get(`/registry/core/pods/${p.namespace}/${p.name}`)?.obj as Labelled | undefined;
      if (!pod) continue;
      const labels = pod.metadata?.labels;
      const obj: PodMetrics = {
        kind: 'PodMetrics', apiVersion: API_VERSION,
        metadata: { name: p.name, namespace: p.namespace, creationTimestamp: rfc3339(Date.now()), ...(labels ? { labels } : {}) },
        timestamp: rfc3339(p.timestampMs), window: goDuration(p.windowMs),
        containers: p.containers.map((c) => ({ name: c.name, usage: usageQuantities(c) })),
      };
      out.push(obj as unknown as KubeObject);
    }
    return out.sort((a, b) => `${a.metadata!.namespace}/${a.metadata!.name}`.localeCompare(`${b.metadata!.namespace}/${b.metadata!.name}`));
  };

  const columns = [
    { name: 'Name', type: 'string' as const, format: 'name', description: 'Name of the resource' },
    { name: 'CPU', type: 'string' as const, description: 'CPU usage' },
    { name: 'Memory', type: 'string' as const, description: 'Memory usage' },
    { name: 'Window', type: 'string' as const, description: 'Time window of the usage' },
  ];
  const common = { group: METRICS_GROUP, version: METRICS_VERSION, verbs: ['get', 'list'], strategy: {}, tracksGeneration: false };
  return [
    {
      ...common, resource: 'nodes', kind: 'NodeMetrics', singular: '', namespaced: false,
      computed: {
        get: async (_ns, name, visible) => {
          const m = await nodeMetrics(name);
          // metrics-server's wording: nodemetrics.metrics.k8s.io "name" not found (also for another tenant's node)
          if (!m || (visible && !visible(m))) throw notFound({ group: METRICS_GROUP, resource: 'nodemetrics' }, name);
          return m;
        },
        list: async () => {
          const out: KubeObject[] = [];
          for (const n of store.nodeNames().sort()) {
            const m = await nodeMetrics(n);
            if (m) out.push(m);
          }
          return out;
        },
      },
      table: { columns, cells: (o) => [o.metadata?.name, ...tableUsage((o as { usage?: { cpu?: string; memory?: string } }).usage), (o as { window?: string }).window] },
    },
    {
      ...common, resource: 'pods', kind: 'PodMetrics', singular: '', namespaced: true,
      computed: {
        get: async (ns, name, visible) => {
          const m = (await podMetrics(ns)).find((o) => o.metadata?.name === name);
          // metrics-server's wording: podmetrics.metrics.k8s.io "ns/name" not found
          if (!m || (visible && !visible(m))) throw notFound({ group: METRICS_GROUP, resource: 'podmetrics' }, `${ns}/${name}`);
          return m;
        },
        list: (ns) => podMetrics(ns),
      },
      table: {
        columns,
        cells: (o) => {
          const containers = ((o as { containers?: { usage?: { cpu?: string; memory?: string } }[] }).containers ?? []).map((c) => c.usage ?? {});
          return [o.metadata?.name, sumQuantities(containers.map((u) => u.cpu ?? '0'), -9, 'DecimalSI'), sumQuantities(containers.map((u) => u.memory ?? '0'), 0, 'BinarySI'), (o as { window?: string }).window];
        },
      },
    },
  ];
}
