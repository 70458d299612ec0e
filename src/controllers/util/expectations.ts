/**
 * Controller expectations (client-go's ControllerExpectations): after a controller creates or deletes pods it
 * must not act on its stale cache until the informer has shown those changes, or it would create twice.
 * Expectations expire after ttlMs so a lost watch event cannot wedge a controller.
 */
export class Expectations {
  private readonly m = new Map<string, { adds: number; dels: number; at: number; delUids?: Set<string> }>();
  constructor(private readonly ttlMs = 30_000) {}

  expect(key: string, adds: number, dels: number): void {
    const e = this.m.get(key) ?? { adds: 0, dels: 0, at: 0 };
    e.adds += adds;
    e.dels += dels;
    e.at = Date.now();
    this.m.set(key, e);
  }
  observedAdd(key: string): void {
    const e = this.m.get(key);
    if (e && e.adds > 0) e.adds--;
  }
  observedDelete(key: string): void {
    const e = this.m.get(key);
    if (e && e.dels > 0) e.dels--;
  }
  /**
   * Deletions tracked by pod UID (client-go's UIDTrackingControllerExpectations): a pod counts as deleted once
   * it has a deletionTimestamp — its graceful termination may take long, e.g. on a node that is cut off — and
   * its later removal is not counted twice.
   */
  expectDeletionsOf(key: string, uids: readonly string[]): void {
    const e = this.m.get(key) ?? { adds: 0, dels: 0, at: 0 };
    e.delUids = new Set([...(e.delUids ?? []), ...uids]);
    e.at = Date.now();
    this.m.set(key, e);
  }
  observedDeletionOf(key: string, uid: string | undefined): void {
    if (uid) this.m.get(key)?.delUids?.delete(uid);
  }

  /** Lowers expectations for writes that failed (they will never be observed). */
  lower(key: string, adds: number, dels: number): void {
    const e = this.m.get(key);
    if (!e) return;
    e.adds = Math.max(0, e.adds - adds);
    e.dels = Math.max(0, e.dels - dels);
  }
  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.dels <= 0 && !e.delUids?.size) || Date.now() - e.at > this.ttlMs) {
      this.m.delete(key);
      return true;
    }
    return false;
  }
  forget(key: string): void {
    this.m.delete(key);
  }
}
