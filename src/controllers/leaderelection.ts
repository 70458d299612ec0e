import type { V1Lease } from '@kubernetes/client-node';
import { isConflict, isNotFound, type KubeApi } from './client.js';

/**
 * The three timings of a Lease election, as kube-controller-manager's `--leader-elect-lease-duration`,
 * `--leader-elect-renew-deadline`, `--leader-elect-retry-period`.
 */
export interface LeaderElectionTiming {
  /** How long a candidate waits, from the last renewal it observed, before it takes a Lease that is not renewed. */
  leaseDurationSeconds: number;
  /** Leader gives up if it could not renew for this long (must be < leaseDuration). */
  renewDeadlineMs: number;
  /** How often the leader renews and every candidate looks at the Lease. */
  retryPeriodMs: number;
}

/**
 * Kedge's defaults: 10 s / 7 s / 1 s (upstream's are 15 s / 10 s / 2 s). A candidate takes a dead leader's Lease
 * leaseDuration after it *observed* the last renewal and notices on one of its retry ticks, so the takeover comes
 * at most leaseDuration + 2 × retryPeriod (+ two API round trips) after the kill: ≤ 12 s here, ≤ 19 s with
 * upstream's (client-go also jitters the candidates' period by up to 1.2 ×). docs/design/datastores.md.
 */
export const DEFAULT_LEADER_ELECTION: LeaderElectionTiming = { leaseDurationSeconds: 10, renewDeadlineMs: 7_000, retryPeriodMs: 1_000 };

/** The rules client-go's NewLeaderElector enforces, with its messages; null when the timing is valid. */
export function leaderElectionTimingError(t: LeaderElectionTiming): string | null {
  if (!Number.isInteger(t.leaseDurationSeconds) || t.leaseDurationSeconds < 1) return 'leaseDuration must be a whole number of seconds greater than zero';
  if (!(t.renewDeadlineMs > 0)) return 'renewDeadline must be greater than zero';
  if (!(t.retryPeriodMs > 0)) return 'retryPeriod must be greater than zero';
  if (t.leaseDurationSeconds * 1000 <= t.renewDeadlineMs) return 'leaseDuration must be greater than renewDeadline';
  if (t.renewDeadlineMs <= 1.2 * t.retryPeriodMs) return 'renewDeadline must be greater than retryPeriod*JitterFactor';
  return null;
}

export interface LeaderElectionOptions extends LeaderElectionTiming {
  namespace: string;
  name: string;
  identity: string;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  now?: () => number;
}

/**
 * Leader election through a coordination.k8s.io/v1 Lease, following client-go's leaderelection: a candidate
 * takes the lease when it is free or when the holder has not renewed it for leaseDuration *as observed locally*
 * (clocks of different machines are never compared); the leader renews every retryPeriod and steps down if it
 * could not renew within renewDeadline; on release it empties holderIdentity so a successor need not wait.
 * Writes carry the resourceVersion read, so two candidates can never both win.
 */
export class LeaderElector {
  private observedRecord: string | undefined;
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRenew = 0;
  private readonly now: () => number;

  constructor(private readonly api: KubeApi, private readonly o: LeaderElectionOptions) {
    this.now = o.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  run(): void {
    const tick = async () => {
      if (this.stopped) return;
      const startedAt = this.now();
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch {
        ok = false;
      }
      if (this.stopped) return;
      if (ok) {
        this.lastRenew = this.now();
        if (!this.leading) {
          this.leading = true;
          await this.o.onStartedLeading();
        }
      } else if (this.leading && this.now() - this.lastRenew > this.o.renewDeadlineMs) {
        this.leading = false;
        await this.o.onStoppedLeading();
      }
      // The period runs from the start of this round: a slow API call must not stretch the time between looks at
      // the Lease (each round late by its own latency would add up to a late takeover, or a late renewal).
      this.timer = setTimeout(() => void tick(), Math.max(0, startedAt + this.o.retryPeriodMs - this.now()));
    };
    void tick();
  }

  /** One election round; exposed for tests. Returns true when we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.o.namespace, name: this.o.name };
    const nowIso = new Date(this.now()).toISOString();
    const current = await this.api.get<V1Lease>(ref);
    if (!current) {
      try {
        await this.api.create<V1Lease>({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: this.o.leaseDurationSeconds,
            acquireTime: nowIso as unknown as Date,
            renewTime: nowIso as unknown as Date,
            leaseTransitions: 0,
          },
        });
        this.observe(JSON.stringify({ h: this.o.identity, r: nowIso }));
        return true;
      } catch (err) {
        if (isConflict(err) || (err as { code?: number }).code === 409) return false;
        throw err;
      }
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = JSON.stringify({ h: holder, r: spec.renewTime, t: spec.leaseTransitions });
    if (record !== this.observedRecord) this.observe(record);
    const duration = (spec.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
    const expired = this.observedAt + duration < this.now();
    if (holder && holder !== this.o.identity && !expired) return false;
    const takingOver = holder !== this.o.identity;
    try {
      await this.api.patch(ref, {
        metadata: { resourceVersion: current.metadata?.resourceVersion },
        spec: {
          holderIdentity: this.o.identity,
          leaseDurationSeconds: this.o.leaseDurationSeconds,
          renewTime: nowIso,
          ...(takingOver ? { acquireTime: nowIso, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      });
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false;
      throw err;
    }
    this.observe(JSON.stringify({ h: this.o.identity, r: nowIso }));
    return true;
  }

  private observe(record: string): void {
    this.observedRecord = record;
    this.observedAt = this.now();
  }

  /** Stops campaigning; if leading, releases the lease so another candidate can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.o.namespace, name: this.o.name };
    try {
      const current = await this.api.get<V1Lease>(ref);
      if (current?.spec?.holderIdentity === this.o.identity) {
        await this.api.patch(ref, {
          metadata: { resourceVersion: current.metadata?.resourceVersion },
          spec: { holderIdentity: null, leaseDurationSeconds: 1, renewTime: new Date(this.now()).toISOString() },
        });
      }
    } catch {
      // best effort: the lease expires on its own
    }
    await this.o.onStoppedLeading();
  }
}
