import type { V1CronJob, V1Job, V1ObjectReference } from '@kubernetes/client-node';
import { CronSchedule } from '../../common/cron-schedule.js';
import { isNotFound, errorCode } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { controllerRefOf, isControlledBy, ownerRef } from '../util/pods.js';

/** Upstream refuses to count further back than this many missed starts (and says so in an event). */
const MAX_MISSED_STARTS = 100;
export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

const jobFinished = (j: V1Job): 'Complete' | 'Failed' | undefined => {
  for (const c of j.status?.conditions ?? []) if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') return c.type;
  return undefined;
};

/** Job names as upstream forms them: the scheduled time in minutes since the epoch, so one start = one name. */
export function jobNameFor(cronJobName: string, scheduled: Date): string {
  return `${cronJobName}-${Math.floor(scheduled.getTime() / 60_000)}`;
}

/**
 * The start that is due now: the most recent scheduled time after the last one (or the CronJob's creation),
 * bounded by startingDeadlineSeconds, and how many were missed — upstream's mostRecentScheduleTime.
 */
export function dueStart(cj: V1CronJob, schedule: CronSchedule, now: Date): { time?: Date; missed: number } {
  const last = cj.status?.lastScheduleTime ?? cj.metadata?.creationTimestamp;
  let earliest = last ? new Date(last as unknown as string) : now;
  const deadline = cj.spec?.startingDeadlineSeconds;
  if (deadline !== undefined && deadline !== null) {
    const bound = new Date(now.getTime() - deadline * 1000);
    if (bound > earliest) earliest = bound;
  }
  if (earliest > now) return { missed: 0 };
  const times = schedule.between(earliest, now, MAX_MISSED_STARTS);
  if (!times.length) return { missed: 0 };
  if (times.length > MAX_MISSED_STARTS) {
    // Only the most recent one matters; find it without walking every missed minute.
    let t = times[times.length - 1]!;
    for (;;) {
      const n = schedule.next(t);
      if (n > now) break;
      t = n;
    }
    return { time: t, missed: times.length };
  }
  return { time: times[times.length - 1], missed: times.length };
}

/** RFC 3339 in the CronJob's zone, as upstream writes the scheduled-timestamp annotation. */
function formatInZone(t: Date, tz?: string): string {
  if (!tz) return t.toISOString().replace(/\.\d+Z$/, 'Z');
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
  }).formatToParts(t).map((p) => [p.type, p.value]));
  const offset = String(parts.timeZoneName ?? 'GMT').replace('GMT', '') || 'Z';
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}

const startTimeOf = (j: V1Job) => new Date((j.status?.startTime ?? j.metadata?.creationTimestamp ?? 0) as unknown as string).getTime();

/**
 * CronJob (upstream's cronjob controller v2): creates a Job per scheduled time in the CronJob's time zone, honours
 * suspend, concurrencyPolicy (Allow / Forbid / Replace), startingDeadlineSeconds and the history limits, and keeps
 * status.active / lastScheduleTime / lastSuccessfulTime. Requeues itself for the next scheduled time.
 */
export class CronJobController implements Controller {
  readonly name = 'cronjob';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext, private readonly now: () => Date = () => new Date()) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const cjs = this.ctx.informers.get<V1CronJob>('cronjobs');
    const jobs = this.ctx.informers.get<V1Job>('jobs');
    const q = this.runner.queue;
    cjs.onAdd((c) => q.add(keyOf(c)));
    cjs.onUpdate((c) => q.add(keyOf(c)));
    const owner = (j: V1Job) => {
      const r = controllerRefOf(j);
      return r?.kind === 'CronJob' ? `${j.metadata!.namespace}/${r.name}` : undefined;
    };
    for (const on of [jobs.onAdd, jobs.onUpdate, jobs.onDelete]) on.call(jobs, (j: V1Job) => { const k = owner(j); if (k) q.add(k); });
    this.runner.run();
  }

  private event(cj: V1CronJob, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.ctx.events.event({ ...cj, apiVersion: 'batch/v1', kind: 'CronJob' }, type, reason, message);
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const cj = this.ctx.informers.get<V1CronJob>('cronjobs').get(name, namespace);
    if (!cj) return;
    const ns = namespace!;
    const owned = this.ctx.informers.get<V1Job>('jobs').list(ns).filter((j) => isControlledBy(j, cj.metadata?.uid));
    const now = this.now();
    const status = { ...(cj.status ?? {}) };
    let active: V1ObjectReference[] = [...(status.active ?? [])];
    let lastSuccessfulTime = status.lastSuccessfulTime as unknown as string | undefined;
    // Reconcile the active list with the Jobs that exist.
    for (const j of owned) {
      const inActive = active.some((a) => a.uid === j.metadata?.uid);
      const finished = jobFinished(j);
      if (!inActive && !finished) active.push(this.refOf(j));
      if (inActive && finished) {
        active = active.filter((a) => a.uid !== j.metadata?.uid);
        this.event(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata?.name}, condition: ${finished}`);
        const done = j.status?.completionTime as unknown as string | undefined;
        if (finished === 'Complete' && done && (!lastSuccessfulTime || new Date(done) > new Date(lastSuccessfulTime))) lastSuccessfulTime = done;
      }
    }
    active = active.filter((a) => owned.some((j) => j.metadata?.uid === a.uid));
    let lastScheduleTime = status.lastScheduleTime as unknown as string | undefined;
    let requeueAfterMs: number | undefined;
    if (!cj.metadata?.deletionTimestamp && !cj.spec?.suspend) {
      let schedule: CronSchedule | undefined;
      try {
        schedule = new CronSchedule(cj.spec!.schedule, cj.spec?.timeZone);
      } catch (err) {
        this.event(cj, 'Warning', cj.spec?.timeZone ? 'UnknownTimeZone' : 'UnparseableSchedule', `unparseable schedule: ${cj.spec?.schedule}: ${(err as Error).message}`);
      }
      if (schedule) {
        const started = await this.maybeStart(cj, schedule, now, active, owned);
        if (started.ref) active.push(started.ref);
        // Never moves back: an informer copy older than our own last write must not undo it.
        if (started.scheduled && (!lastScheduleTime || Date.parse(started.scheduled) > Date.parse(lastScheduleTime))) lastScheduleTime = started.scheduled;
        active = active.filter((a) => !started.removed.includes(a.uid ?? ''));
        requeueAfterMs = Math.max(100, schedule.next(now).getTime() - now.getTime() + 100);
      }
    }
    await this.cleanupHistory(cj, owned);
    const same = JSON.stringify((cj.status?.active ?? []).map((a) => a.uid)) === JSON.stringify(active.map((a) => a.uid))
      && String(cj.status?.lastScheduleTime ?? '') === String(lastScheduleTime ?? '') && String(cj.status?.lastSuccessfulTime ?? '') === String(lastSuccessfulTime ?? '');
    if (!same) {
      try {
        await this.ctx.api.patchStatus({ apiVersion: 'batch/v1', kind: 'CronJob', namespace: ns, name }, {
          // Times are only ever set (merge patch: absent = unchanged); the active list is replaced whole.
          status: { active: active.length ? active : null, ...(lastScheduleTime ? { lastScheduleTime } : {}), ...(lastSuccessfulTime ? { lastSuccessfulTime } : {}) },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  private refOf(j: V1Job): V1ObjectReference {
    return { apiVersion: 'batch/v1', kind: 'Job', name: j.metadata?.name, namespace: j.metadata?.namespace, uid: j.metadata?.uid, resourceVersion: j.metadata?.resourceVersion };
  }

  private async maybeStart(cj: V1CronJob, schedule: CronSchedule, now: Date, active: V1ObjectReference[], owned: V1Job[]): Promise<{ ref?: V1ObjectReference; scheduled?: string; removed: string[] }> {
    const ns = cj.metadata!.namespace!;
    const due = dueStart(cj, schedule, now);
    if (due.missed > MAX_MISSED_STARTS) {
      this.event(cj, 'Warning', 'TooManyMissedTimes', `too many missed start times: ${due.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`);
    }
    if (!due.time) return { removed: [] };
    const deadline = cj.spec?.startingDeadlineSeconds;
    if (deadline !== undefined && deadline !== null && due.time.getTime() + deadline * 1000 < now.getTime()) {
      this.event(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${formatInZone(due.time, cj.spec?.timeZone)}`);
      return { removed: [] };
    }
    const jobName = jobNameFor(cj.metadata!.name!, due.time);
    const scheduled = due.time.toISOString().replace(/\.\d+Z$/, 'Z');
    // Already started (this sync may see a cache older than the Job): the schedule time still counts as taken.
    if (active.some((a) => a.name === jobName) || owned.some((j) => j.metadata?.name === jobName)) return { removed: [], scheduled };
    const removed: string[] = [];
    const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
    if (policy === 'Forbid' && active.length) {
      this.event(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      return { removed };
    }
    if (policy === 'Replace') {
      for (const a of active) {
        try {
          await this.ctx.api.delete({ apiVersion: 'batch/v1', kind: 'Job', namespace: ns, name: a.name! }, { propagationPolicy: 'Background', uid: a.uid });
          this.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${a.name}`);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        removed.push(a.uid ?? '');
      }
    }
    const tmpl = cj.spec!.jobTemplate;
    const job: V1Job = {
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: {
        name: jobName, namespace: ns,
        labels: { ...(tmpl.metadata?.labels ?? {}) },
        annotations: { ...(tmpl.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: formatInZone(due.time, cj.spec?.timeZone) },
        ownerReferences: [ownerRef(cj, 'batch/v1', 'CronJob')],
      },
      spec: tmpl.spec,
    };
    let created: V1Job;
    try {
      created = await this.ctx.api.create(job);
    } catch (err) {
      if (errorCode(err) === 409) return { removed, scheduled };
      this.event(cj, 'Warning', 'FailedCreate', `Error creating job: ${(err as Error).message}`);
      throw err;
    }
    this.event(cj, 'Normal', 'SuccessfulCreate', `Created job ${jobName}`);
    return { ref: this.refOf(created), scheduled, removed };
  }

  /** Finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit go, oldest first. */
  private async cleanupHistory(cj: V1CronJob, owned: V1Job[]): Promise<void> {
    const ns = cj.metadata!.namespace!;
    const trim = async (jobs: V1Job[], limit: number | undefined) => {
      if (limit === undefined || limit === null || jobs.length <= limit) return;
      const doomed = [...jobs].sort((a, b) => startTimeOf(a) - startTimeOf(b)).slice(0, jobs.length - limit);
      for (const j of doomed) {
        if (j.metadata?.deletionTimestamp) continue;
        try {
          await this.ctx.api.delete({ apiVersion: 'batch/v1', kind: 'Job', namespace: ns, name: j.metadata!.name! }, { propagationPolicy: 'Background', uid: j.metadata?.uid });
          this.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata!.name}`);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    };
    await trim(owned.filter((j) => jobFinished(j) === 'Complete'), cj.spec?.successfulJobsHistoryLimit);
    await trim(owned.filter((j) => jobFinished(j) === 'Failed'), cj.spec?.failedJobsHistoryLimit);
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
