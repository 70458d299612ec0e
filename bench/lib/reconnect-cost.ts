/**
 * The fixed cost of a reconnect, apart from what changed (bench/fleet.ts, issue 18): every node's link is cut for
 * as long as the storm cuts it, nothing changes meanwhile, the link heals, and the bytes until every node is back and
 * caught up (a `synced` per node) are the per-reconnect cost: TLS resumption, the HTTP upgrade, hello/welcome, the
 * cursor's catch-up (`synced`, `progress`), the Node and Lease reports the agent sends on connect and their acks.
 * A storm's bytes minus this, over its changes, is the cost per change.
 */
import type { ShardPool } from './shard-pool.js';
import { since, now } from './stats.js';

export interface ReconnectCost {
  settled: boolean;
  seconds: number;
  downBytes: number;
  upBytes: number;
  reconnections: number;
  /** Hub counters that moved, per node: protocol message bytes by type before compression (`down:welcome`, …). */
  hubPerNode: Record<string, number>;
}

export interface ReconnectCostDeps {
  fleet: ShardPool;
  nodes: number;
  cutSeconds: number;
  /** The hub's counters that moved between two reads, per node. */
  hubSnapshot: () => Promise<() => Promise<Record<string, number>>>;
  waitFor: (label: string, done: () => Promise<boolean>, timeoutMs: number, progress: () => string) => Promise<boolean>;
  timeoutMs: number;
}

export async function measureReconnectOnly(d: ReconnectCostDeps): Promise<ReconnectCost> {
  await d.fleet.cut();
  await new Promise((r) => setTimeout(r, d.cutSeconds * 1000));
  let st = await d.fleet.status();
  await d.waitFor('reconnect-only cut', async () => (st = await d.fleet.status()).connected === 0, d.timeoutMs, () => `${st.connected} still connected`);
  await d.fleet.resetCounters();
  const syncEvents0 = st.syncEvents;
  const hubDelta = await d.hubSnapshot();
  const t0 = now();
  await d.fleet.heal();
  const settled = await d.waitFor(
    'reconnect-only',
    async () => {
      st = await d.fleet.status();
      return st.connected === d.nodes && st.syncEvents - syncEvents0 >= d.nodes;
    },
    d.timeoutMs,
    () => `${st.connected}/${d.nodes} connected, ${st.syncEvents - syncEvents0} caught up`,
  );
  const seconds = since(t0) / 1000;
  const bytes = await d.fleet.counters();
  return { settled, seconds, downBytes: bytes.downBytes, upBytes: bytes.upBytes, reconnections: bytes.accepted, hubPerNode: await hubDelta() };
}

/**
 * Summary rows: the fixed cost per reconnect with what it is made of, and the storm's cost per change. Protocol
 * messages under 256 characters travel uncompressed, so for them the hub's pre-compression byte counts are their
 * payload on the wire; what the wire carries beyond the messages is TLS (resumed handshake, 22 B per record), the
 * HTTP upgrade and WebSocket frame headers.
 */
export function reconnectRows(fixed: ReconnectCost, storm: { downBytes: number; changes: number }, nodes: number, fullResyncBytes: number | null): Array<[string, string, string]> {
  const perNode = fixed.downBytes / nodes;
  const messages = Object.entries(fixed.hubPerNode).filter(([k]) => k.startsWith('down:'));
  const messageBytes = messages.reduce((s, [, v]) => s + v, 0);
  const share = (b: number) => (fullResyncBytes ? `; ${Math.round((b / fullResyncBytes) * 1000) / 10}% of a full Kedge resync` : '');
  const perChange = storm.changes > 0 ? (storm.downBytes - fixed.downBytes) / storm.changes : NaN;
  return [
    [
      'reconnect, nothing changed: fixed cost per node',
      `${Math.round(perNode)} B down, ${Math.round(fixed.upBytes / nodes)} B up`,
      `${fixed.reconnections} reconnections in ${Math.round(fixed.seconds * 10) / 10} s; messages ${Math.round(messageBytes)} B (${messages.map(([k, v]) => `${k.slice(5)} ${Math.round(v)}`).join(', ')}), ` +
        `TLS resumption + HTTP upgrade + frame and record headers ${Math.round(perNode - messageBytes)} B${share(fixed.downBytes)}`,
    ],
    ['storm: cost per change beyond the fixed reconnect', Number.isFinite(perChange) ? `${Math.round(perChange)} B down` : 'n/a', `(storm bytes − reconnect-only bytes) / ${storm.changes} changes`],
  ];
}
