/**
 * The cloud↔edge wire protocol (version 1): one WebSocket per edge node, JSON text frames,
 * permessage-deflate for frames ≥ 1 KiB (see README for why JSON + deflate).
 *
 * Down (hub → edge): desired objects as upsert/delete, each carrying the hub's sequence number;
 * the edge persists, then acks the highest seq it has durably applied. Up (edge → hub): status
 * items (node, lease, pod status, event), each acked by id once written to the Kubernetes API.
 */
import type { ResourceSample } from '../common/resource-metrics.js';

/**
 * 2 = 1 + the `patch` message (the hub sends it only to edges that negotiated 2); 3 = 2 + binary tunnel frames
 * (tunnel.ts: the hub opens byte streams to the edge's kubelet server only on sessions that negotiated 3); 4 = 3 +
 * a link-level tunnel window (WINDOW frames on stream 0: tunnel bytes in flight on the link are bounded, so a sync
 * frame never queues behind more than one link window of stream data in kernel buffers and on the wire); 5 = 4 +
 * `progress` (the datastore revision the edge holds the cluster through: a cursor every server understands); 6 = 5 +
 * `usage` (the edge reports its resource usage every `welcome.usageIntervalMs`, so the control plane's metrics API
 * needs no scrape through the tunnel per node and interval).
 */
export const PROTOCOL_VERSIONS = [1, 2, 3, 4, 5, 6] as const;
/** First version with `patch` messages. */
export const PATCH_VERSION = 2;
/** First version with `progress` messages (and so revision cursors). */
export const REVISION_VERSION = 5;
/** First version with `usage` messages (and `welcome.usageIntervalMs`). */
export const USAGE_VERSION = 6;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];
/** WebSocket subprotocol name offered by the edge and selected by the hub. */
export const SUBPROTOCOL = 'kedge.v1';

/**
 * Where the edge is in the hub's change stream: `epoch` names a hub incarnation, `seq` a change in it. `rev` (from a
 * v5 hub's `progress`) is the datastore revision the edge holds its view of the cluster through: any server on the
 * same datastore resumes from it, so a node that moves to another server receives only what changed.
 */
export interface SyncCursor {
  epoch: string;
  seq: number;
  rev?: number;
}

/** What the edge holds for one key, for a diff resync (compacted or unknown cursor). */
export interface InventoryItem {
  key: string;
  uid: string;
  rv: string;
}

// ---- edge → hub ----
export interface HelloMessage {
  type: 'hello';
  versions: number[];
  node: string;
  cursor?: SyncCursor;
  agent?: string;
}
export interface InventoryMessage {
  type: 'inventory';
  items: InventoryItem[];
  /** Last chunk. */
  done: boolean;
}
export interface AckMessage {
  type: 'ack';
  seq: number;
}
export type StatusKind = 'node' | 'lease' | 'pod' | 'event' | 'pod-terminated' | 'device';
export interface StatusMessage {
  type: 'status';
  id: number;
  kind: StatusKind;
  /**
   * node: V1Node; lease: {renewTime, durationSeconds}; pod: {namespace,name,uid,status}; event: CoreV1Event;
   * pod-terminated: {namespace,name,uid} — the pod's containers are gone, finish its graceful deletion (as the kubelet does);
   * device: {namespace,name,uid,status} — a device's reported twins and state (status: DeviceStatusFields, each
   * reported value stamped with metadata.timestamp), written as its DeviceStatus (src/protocol/devices.ts).
   */
  body: Record<string, unknown>;
}
/**
 * v6: the node's resource usage, what its kubelet serves on `/metrics/resource` (src/common/resource-metrics.ts), sent
 * every `welcome.usageIntervalMs` when the hub asked for it. Not acked: the next one supersedes it.
 */
export interface UsageMessage {
  type: 'usage';
  sample: ResourceSample;
}
/** Read one object through the hub (node-authorized), e.g. a secret the edge lost. */
export interface GetMessage {
  type: 'get';
  id: number;
  key: string;
}

// ---- hub → edge ----
export interface WelcomeMessage {
  type: 'welcome';
  version: number;
  epoch: string;
  /** true: changes after the edge's cursor follow; false: the hub asks for the edge's inventory first. */
  resume: boolean;
  /** v6: send `usage` every this many ms (absent: the hub does not want it; its node is scraped through the tunnel). */
  usageIntervalMs?: number;
}
export interface UpsertMessage {
  type: 'upsert';
  seq: number;
  key: string;
  object: Record<string, unknown>;
}
/**
 * v2: the object at `key` changed from the version the edge holds (`base` = its resourceVersion) by this
 * RFC 7386 merge patch. For a node's own pods and Node the patch leaves `status` out (the edge authors it and
 * keeps its own). An edge that does not hold `base` reads the object with `get` instead.
 */
export interface PatchMessage {
  type: 'patch';
  seq: number;
  key: string;
  base: string;
  patch: Record<string, unknown>;
}
export interface DeleteMessage {
  type: 'delete';
  seq: number;
  key: string;
}
/** End of a catch-up (resume or diff): the edge may persist `{epoch, seq}` as its cursor. */
export interface SyncedMessage {
  type: 'synced';
  seq: number;
}
/**
 * v5: every message before this one brought the edge its view of the cluster through datastore revision `rev`; the
 * edge persists it in its cursor once everything before is applied.
 */
export interface ProgressMessage {
  type: 'progress';
  rev: number;
}
export interface StatusAckMessage {
  type: 'status-ack';
  id: number;
  ok: boolean;
  /** Why a status item was refused or dropped (the edge does not retry a refused item). */
  reason?: string;
  /** true: transient failure, retry later. */
  retry?: boolean;
}
export interface GetResultMessage {
  type: 'get-result';
  id: number;
  object?: Record<string, unknown>;
  /** Kubernetes Status for a refused or failed read. */
  error?: { code: number; reason: string; message: string };
}

// ---- both ways ----
export interface HeartbeatMessage {
  type: 'heartbeat';
  t: number;
}
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}
export type EdgeToHub = HelloMessage | InventoryMessage | AckMessage | StatusMessage | UsageMessage | GetMessage | HeartbeatMessage | ErrorMessage;
export type HubToEdge =
  | WelcomeMessage
  | UpsertMessage
  | PatchMessage
  | DeleteMessage
  | SyncedMessage
  | ProgressMessage
  | StatusAckMessage
  | GetResultMessage
  | HeartbeatMessage
  | ErrorMessage;

/** Bounds: frames over these are refused by the WebSocket layer before parsing. */
export const MAX_EDGE_TO_HUB_BYTES = 2 * 1024 * 1024;
export const MAX_HUB_TO_EDGE_BYTES = 8 * 1024 * 1024;
/** Inventory items per chunk (keeps each frame well under the bound). */
export const INVENTORY_CHUNK = 2000;

/** Pick the highest version both sides speak, or null. */
export function negotiateVersion(offered: readonly number[]): ProtocolVersion | null {
  let best: ProtocolVersion | null = null;
  for (const v of PROTOCOL_VERSIONS) if (offered.includes(v) && (best === null || v > best)) best = v;
  return best;
}
