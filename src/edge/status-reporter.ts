/**
 * The up path at the edge: pod statuses, node status, events (and lease renewals) are coalesced by
 * item (latest state wins), persisted in the local store so they survive an agent restart while the
 * cloud is unreachable, and flushed when the hub is reachable. An item leaves the buffer only when
 * the hub acknowledged writing exactly that version of it (or refused it for good).
 */
import type { CoreV1Event, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import type { StatusAckMessage, StatusKind } from '../protocol/messages.js';
import type { EventSink, PodStatusSink } from './contracts.js';
import { STATUS_PREFIX, type LocalStore } from './local-store.js';
import { objectKey } from '../protocol/keys.js';
import { EventCorrelator } from '../common/event-correlator.js';
import type { DeviceStatusFields } from '../protocol/devices.js';
import type { DeviceStatusSink } from './devices/twin.js';

interface Item {
  kind: StatusKind;
  body: Record<string, unknown>;
  /** Bumped on every change; an ack for an older generation does not clear a newer state. */
  gen: number;
  /** Lease renewals are only meaningful live: never persisted, never replayed. */
  volatile: boolean;
}

export interface StatusTransport {
  connected(): boolean;
  send(id: number, kind: StatusKind, body: Record<string, unknown>): boolean;
}

const MAX_PENDING_EVENTS = 1000;
const LEASE_KEY = 'lease';
/** Status items sent and not yet acked; a thousand buffered items flush as a steady stream, not a burst. */
const MAX_IN_FLIGHT = 64;
/** Retry after a transient refusal: 1–3 s, jittered so a busy hub's nodes do not all come back together. */
const retryDelay = (): number => 1000 + Math.floor(Math.random() * 2000);

export class StatusReporter implements PodStatusSink, EventSink, DeviceStatusSink {
  private readonly items = new Map<string, Item>();
  /** id → item key + generation in flight. */
  private readonly inflight = new Map<number, { key: string; gen: number }>();
  /** Key → generation last sent and not yet acked (a lease renewal may have older ones in flight too). */
  private readonly inflightKeys = new Map<string, number>();
  private nextId = 1;
  private gen = 0;
  private persistChain: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly events = new EventCorrelator();
  /** Items written by the hub so far (tests and metrics). */
  acked = 0;

  constructor(private readonly store: LocalStore, private readonly transport: StatusTransport, private readonly log: Logger, private readonly nodeName: string) {}

  /** Reload items buffered before a restart. */
  async restore(): Promise<void> {
    for (const { key, value } of await this.store.listJson<Item>(STATUS_PREFIX)) {
      const itemKey = key.slice(STATUS_PREFIX.length);
      this.items.set(itemKey, { ...value, gen: ++this.gen, volatile: false });
    }
    if (this.items.size) this.log.info({ items: this.items.size }, 'restored buffered status items');
  }

  pending(): number {
    return this.items.size;
  }

  setPodStatus(namespace: string, name: string, uid: string, status: V1PodStatus): void {
    const wire = JSON.parse(JSON.stringify(status)) as Record<string, unknown>;
    this.set(`pod/${namespace}/${name}`, 'pod', { namespace, name, uid, status: wire });
    this.persistChain = this.persistChain
      .then(() => this.store.recordOwnPodStatus(objectKey('pods', namespace, name), uid, wire))
      .catch((err) => this.log.error({ err: String(err), pod: `${namespace}/${name}` }, 'could not record pod status locally'));
  }

  podTerminated(namespace: string, name: string, uid: string): void {
    this.set(`podterm/${namespace}/${name}`, 'pod-terminated', { namespace, name, uid });
  }

  /**
   * Events are correlated as client-go's recorder does (src/common/event-correlator.ts): a repeat keeps the
   * Event's name with count + 1, so it coalesces here with an unsent earlier occurrence, and the hub updates the
   * Event it wrote before. The Event lives in its object's namespace (a Node's in "default", as the kubelet's).
   */
  recordEvent(event: CoreV1Event): void {
    const io = event.involvedObject ?? {};
    const ns = io.kind === 'Node' ? 'default' : io.namespace || event.metadata?.namespace || 'default';
    const correlated = this.events.correlate({
      ...event,
      metadata: { namespace: ns },
      involvedObject: { ...io, namespace: io.kind === 'Node' ? undefined : ns },
      source: { component: 'kedge-edge', host: this.nodeName },
    });
    if (!correlated) return; // spam-filtered, as upstream
    const body = correlated.event;
    this.set(`event/${ns}/${body.metadata!.name}`, 'event', JSON.parse(JSON.stringify(body)) as Record<string, unknown>);
    this.boundEvents();
  }

  /** A device's reported twins and state (src/edge/devices/twin.ts): latest per device wins, kept while offline. */
  setDeviceStatus(namespace: string, name: string, uid: string, status: DeviceStatusFields): void {
    this.set(`device/${namespace}/${name}`, 'device', { namespace, name, uid, status: JSON.parse(JSON.stringify(status)) as Record<string, unknown> });
  }

  setNode(node: Record<string, unknown>): void {
    this.set('node', 'node', node);
  }

  renewLease(durationSeconds: number): void {
    if (!this.transport.connected()) return;
    this.set(LEASE_KEY, 'lease', { renewTime: new Date().toISOString(), durationSeconds }, true);
  }

  private set(key: string, kind: StatusKind, body: Record<string, unknown>, volatile = false): void {
    const prev = this.items.get(key);
    if (prev && JSON.stringify(prev.body) === JSON.stringify(body)) return; // nothing new: coalesced away
    const item: Item = { kind, body, gen: ++this.gen, volatile };
    this.items.set(key, item);
    if (!volatile) this.persist(key, item);
    this.scheduleFlush();
  }

  private boundEvents(): void {
    let events = 0;
    for (const k of this.items.keys()) if (k.startsWith('event/')) events++;
    if (events <= MAX_PENDING_EVENTS) return;
    // Oldest first (Map order = insertion order): drop the oldest events rather than grow without bound.
    for (const k of [...this.items.keys()]) {
      if (events <= MAX_PENDING_EVENTS) break;
      if (!k.startsWith('event/') || this.inflightKeys.has(k)) continue;
      this.items.delete(k);
      this.unpersist(k);
      events--;
    }
  }

  private persist(key: string, item: Item): void {
    this.persistChain = this.persistChain
      .then(() => this.store.put(STATUS_PREFIX + key, JSON.stringify({ kind: item.kind, body: item.body })))
      .catch((err) => this.log.error({ err: String(err), key }, 'could not persist status item'));
  }

  private unpersist(key: string): void {
    this.persistChain = this.persistChain
      .then(async () => {
        // Only if no newer version took its place meanwhile.
        if (!this.items.has(key)) await this.store.remove(STATUS_PREFIX + key);
      })
      .catch((err) => this.log.error({ err: String(err), key }, 'could not drop status item'));
  }

  /** Wait until every buffered change is on disk (tests, shutdown). */
  async settle(): Promise<void> {
    await this.persistChain;
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Send every item not already in flight. Called on (re)connect and after changes. */
  flush(): void {
    if (!this.transport.connected()) return;
    // The lease renewal first and past the in-flight cap: it is the node's liveness, and behind a backlog of pod
    // statuses (a bulk start) it would arrive after the node lifecycle's grace (as upstream's priority for leases).
    // A newer renewal does not wait for the ack of the one before: with one in flight, a write taking L seconds
    // spaced renewals L apart and the Lease aged up to 2L (the hub never moves a Lease backwards).
    const lease = this.items.get(LEASE_KEY);
    if (lease && this.inflightKeys.get(LEASE_KEY) !== lease.gen && !this.sendItem(LEASE_KEY, lease)) return;
    for (const [key, item] of this.items) {
      if (this.inflight.size >= MAX_IN_FLIGHT) return;
      if (this.inflightKeys.has(key)) continue;
      if (!this.sendItem(key, item)) return;
    }
  }

  private sendItem(key: string, item: Item): boolean {
    const id = this.nextId++;
    if (!this.transport.send(id, item.kind, item.body)) return false;
    this.inflight.set(id, { key, gen: item.gen });
    this.inflightKeys.set(key, item.gen);
    return true;
  }

  /** The link dropped: nothing in flight will be acked; resend on reconnect. */
  onDisconnected(): void {
    this.inflight.clear();
    this.inflightKeys.clear();
    for (const [k, it] of this.items) if (it.volatile) this.items.delete(k);
  }

  onAck(ack: StatusAckMessage): void {
    const f = this.inflight.get(ack.id);
    if (!f) {
      this.log.warn({ id: ack.id }, 'status ack for an unknown id ignored');
      return;
    }
    this.inflight.delete(ack.id);
    if (this.inflightKeys.get(f.key) === f.gen) this.inflightKeys.delete(f.key);
    const item = this.items.get(f.key);
    if (!ack.ok) {
      if (ack.retry) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.flush(), retryDelay());
        return;
      }
      this.log.warn({ item: f.key, reason: ack.reason }, 'hub refused status item; dropping it');
    } else {
      this.acked++;
    }
    if (item && item.gen === f.gen) {
      this.items.delete(f.key);
      if (!item.volatile) this.unpersist(f.key);
    }
    // A newer state of this item, or items held back by the in-flight cap, go out now.
    if (this.items.size > this.inflight.size) this.scheduleFlush();
  }

  stop(): void {
    clearTimeout(this.retryTimer);
  }
}
