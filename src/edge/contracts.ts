/**
 * Contracts between the edge agent core (hub client, store, status reporter) and the pod manager
 * (src/edge/podmanager, owned by the runtime engineer). Keep these shapes stable: both sides code
 * against them, and the hollow-node simulator plugs a fake runtime in behind the same interfaces.
 */
import type { CoreV1Event, V1PodStatus } from '@kubernetes/client-node';
import type { Store } from '../storage/types.js';
import type { Logger } from '../common/logger.js';
import type { StatsRuntime } from './kubelet/stats.js';

/**
 * Where the pod manager reports pod status. Implemented by the status reporter: calls are cheap and
 * synchronous; the latest status per pod wins (coalesced), is persisted while the cloud is
 * unreachable and flushed on reconnect. `uid` guards against reporting a recreated pod's status.
 */
export interface PodStatusSink {
  setPodStatus(namespace: string, name: string, uid: string, status: V1PodStatus): void;
}

/**
 * Where the pod manager records Kubernetes Events (like the kubelet's recorder). Repeated events
 * with the same involved object + reason + message are aggregated (count/lastTimestamp bumped).
 * metadata.name/namespace may be omitted: the reporter fills them in.
 */
export interface EventSink {
  recordEvent(event: CoreV1Event): void;
}

/** What the agent hands to a pod manager when it starts one. */
export interface PodManagerContext {
  nodeName: string;
  /** The agent's data dir; the pod manager owns `<dataDir>/pods/` (volumes, logs). */
  dataDir: string;
  /** The local store: desired objects from the cloud under /registry/<resource>/... keys (see README). */
  store: Store;
  podStatus: PodStatusSink;
  events: EventSink;
  log: Logger;
  /**
   * Called once a pod being deleted (deletionTimestamp set) has no containers left: the agent then
   * finishes the graceful deletion in the cloud (as the kubelet deletes with grace 0), even if that
   * has to wait for the link to come back.
   */
  onPodTerminated?(namespace: string, name: string, uid: string): void;
  /** The node's cluster DNS (the kubelet's --cluster-dns/--cluster-domain): pods' resolv.conf follows it (src/edge/dns). */
  podDns?: import('./dns/pod-dns.js').PodDnsSettings;
}

/** A running pod manager; the agent stops it on shutdown. */
export interface PodManagerHandle {
  stop(): Promise<void>;
  /** Runtime facts for the Node's status (the CRI pod manager: nodeInfo.containerRuntimeVersion from CRI Version). */
  nodeInfo?(): Promise<{ containerRuntimeVersion: string }>;
  /** The runtime's stats calls, for the kubelet server's /stats/summary and /metrics/resource (src/edge/kubelet/stats.ts). */
  statsRuntime?: StatsRuntime;
  /**
   * `kubectl logs` through the kubelet server (src/edge/kubelet/logs.ts): writes the container's log with the
   * kubelet's options; a returned promise from `write` is awaited (back-pressure). Throws LogsUnavailable
   * (podmanager/logs.ts) when the instance asked for has no logs.
   */
  readLogs?(namespace: string, name: string, container: string, opts: import('./podmanager/logs.js').LogOptions, write: (chunk: string) => unknown): Promise<void>;
  /**
   * exec/attach/port-forward through the kubelet server (src/edge/kubelet/streaming.ts): the runtime's one-time
   * streaming URL for a pod this node runs; throws StreamingTargetNotFound (podmanager/streaming.ts) when nothing runs.
   */
  streamingUrl?(namespace: string, name: string, req: import('./podmanager/streaming.js').StreamingRequest): Promise<import('./podmanager/streaming.js').StreamingTarget>;
}

/** Factory the agent calls (injectable so the simulator / tests can run without containerd). */
export type PodManagerFactory = (ctx: PodManagerContext) => Promise<PodManagerHandle>;

/** Local store key for an object the cloud sent (see src/edge/README.md for the layout). */
export function registryKey(resource: string, namespace: string | undefined, name: string): string {
  return namespace ? `/registry/${resource}/${namespace}/${name}` : `/registry/${resource}/${name}`;
}
