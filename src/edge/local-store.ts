/**
 * The agent's view of its local Store: desired objects under /registry/... (exactly as the cloud
 * sent them), plus the agent's own bookkeeping under /kedge/ (sync cursor, buffered status items).
 * Applying a cloud message is idempotent: the same upsert or delete twice changes nothing.
 */
import type { Store } from '../storage/types.js';
import { ConflictError, KeyExistsError, KeyNotFoundError } from '../storage/types.js';
import type { InventoryItem, SyncCursor } from '../protocol/messages.js';

export const CURSOR_KEY = '/kedge/sync/cursor';
export const STATUS_PREFIX = '/kedge/status/';
const REGISTRY_PREFIX = '/registry/';

interface Meta {
  metadata?: { uid?: string; resourceVersion?: string };
}

export class LocalStore {
  constructor(readonly store: Store) {}

  /** Create or replace a key, whatever its current state. */
  async put(key: string, value: string): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const cur = await this.store.get(key);
      try {
        if (!cur) await this.store.create(key, value);
        else if (cur.value !== value) await this.store.update(key, value, cur.modRevision);
        return;
      } catch (err) {
        // Lost a race with another writer of the same key: re-read and retry.
        if (!(err instanceof KeyExistsError) && !(err instanceof KeyNotFoundError) && !(err instanceof ConflictError)) throw err;
      }
    }
    throw new Error(`could not write ${key}: kept conflicting`);
  }

  async remove(key: string): Promise<boolean> {
    try {
      await this.store.delete(key);
      return true;
    } catch (err) {
      if (err instanceof KeyNotFoundError) return false;
      throw err;
    }
  }

  /** Apply an upsert from the cloud; skipped when the same uid+resourceVersion is already stored. */
  async applyUpsert(key: string, object: Record<string, unknown>): Promise<boolean> {
    const cur = await this.store.get(key);
    const m = (object as Meta).metadata ?? {};
    if (cur) {
      const have = (JSON.parse(cur.value) as Meta).metadata ?? {};
      if (have.uid === m.uid && have.resourceVersion === m.resourceVersion) return false;
    }
    await this.put(key, JSON.stringify(object));
    return true;
  }

  /**
   * Record the status this node reported in its own copy of the pod: the hub does not echo status-only changes
   * back, so this copy is what the local API serves and what a restarted pod manager seeds from. The
   * resourceVersion stays the cloud's (the inventory diff compares it). No-op if the pod is gone or replaced.
   */
  async recordOwnPodStatus(key: string, uid: string, status: unknown): Promise<void> {
    const statusJson = JSON.stringify(status);
    for (let i = 0; i < 5; i++) {
      const cur = await this.store.get(key);
      if (!cur) return;
      const pod = JSON.parse(cur.value) as Meta & { status?: unknown };
      if (pod.metadata?.uid !== uid || JSON.stringify(pod.status) === statusJson) return;
      try {
        await this.store.update(key, JSON.stringify({ ...pod, status }), cur.modRevision);
        return;
      } catch (err) {
        if (err instanceof KeyNotFoundError) return;
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }

  async applyDelete(key: string): Promise<boolean> {
    return this.remove(key);
  }

  async inventory(): Promise<InventoryItem[]> {
    const out: InventoryItem[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list(REGISTRY_PREFIX, { limit: 5000, startAfter });
      for (const kv of page.items) {
        const m = (JSON.parse(kv.value) as Meta).metadata ?? {};
        out.push({ key: kv.key, uid: m.uid ?? '', rv: m.resourceVersion ?? '' });
        startAfter = kv.key;
      }
      if (!page.more) break;
    }
    return out;
  }

  async readCursor(): Promise<SyncCursor | undefined> {
    const kv = await this.store.get(CURSOR_KEY);
    return kv ? (JSON.parse(kv.value) as SyncCursor) : undefined;
  }

  async writeCursor(c: SyncCursor): Promise<void> {
    await this.put(CURSOR_KEY, JSON.stringify(c));
  }

  async listJson<T>(prefix: string): Promise<Array<{ key: string; value: T }>> {
    const page = await this.store.list(prefix);
    return page.items.map((kv) => ({ key: kv.key, value: JSON.parse(kv.value) as T }));
  }
}
