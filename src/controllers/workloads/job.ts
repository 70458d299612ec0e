import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { Expectations } from '../util/expectations.js';
import { controllerRefOf, isControlledBy, isPodReady, ownerRef, podFromTemplate } from '../util/pods.js';
import { slowStart } from './replicaset.js';

/** How many pods should be running now (upstream: min(parallelism, remaining completions)). */
export function wantActive(job: V1Job, succeeded: number): number {
  const parallelism = job.spec?.parallelism ?? 1;
  const completions = job.spec?.completions;
  if (completions === undefined || completions === null) return succeeded > 0 ? 0 : parallelism;
  return Math.max(0, Math.min(parallelism, completions - succeeded));
}

/**
 * Job: runs pods until `completions` succeeded (or, without completions, until one succeeded and none is left
 * running), fails the Job once more than backoffLimit pods failed, counting from pod phases.
 */
export class JobController implements Controller {
  readonly name = 'job';
  private readonly runner: QueueRunner;
  private readonly expectations = new Expectations();

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const jobs = this.ctx.informers.get<V1Job>('jobs');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const q = this.runner.queue;
    jobs.onAdd((j) => q.add(keyOf(j)));
    jobs.onUpdate((j) => q.add(keyOf(j)));
    const owner = (p: V1Pod) => {
      const r = controllerRefOf(p);
      return r?.kind === 'Job' ? `${p.metadata!.namespace}/${r.name}` : undefined;
    };
    pods.onAdd((p) => { const k = owner(p); if (k) { this.expectations.observedAdd(k); q.add(k); } });
    pods.onUpdate((p) => { const k = owner(p); if (k) q.add(k); });
    pods.onDelete((p) => { const k = owner(p); if (k) { this.expectations.observedDelete(k); q.add(k); } });
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const job = this.ctx.informers.get<V1Job>('jobs').get(name, namespace);
    if (!job) return;
    const finished = (job.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    const pods = this.ctx.informers.get<V1Pod>('pods').list(namespace).filter((p) => isControlledBy(p, job.metadata?.uid));
    const active = pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    // Pods may be deleted after they finished; counts never go down.
    const succeeded = Math.max(job.status?.succeeded ?? 0, pods.filter((p) => p.status?.phase === 'Succeeded').length);
    const failed = Math.max(job.status?.failed ?? 0, pods.filter((p) => p.status?.phase === 'Failed').length);
    const now = new Date().toISOString();
    const conditions: V1JobCondition[] = [...(job.status?.conditions ?? [])];
    let completionTime = job.status?.completionTime as unknown as string | undefined;
    const backoffLimit = job.spec?.backoffLimit ?? 6;
    const completions = job.spec?.completions;
    const done = completions !== undefined && completions !== null ? succeeded >= completions : succeeded > 0 && active.length === 0;
    const suspended = job.spec?.suspend === true;
    let terminate = false;
    if (!finished) {
      if (failed > backoffLimit) {
        conditions.push(
          { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: now as never, lastTransitionTime: now as never },
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: now as never, lastTransitionTime: now as never },
        );
        terminate = true;
        this.ctx.events.event({ ...job, apiVersion: 'batch/v1', kind: 'Job' }, 'Warning', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      } else if (done) {
        conditions.push(
          { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: now as never, lastTransitionTime: now as never },
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: now as never, lastTransitionTime: now as never },
        );
        completionTime = now;
        terminate = true;
        this.ctx.events.event({ ...job, apiVersion: 'batch/v1', kind: 'Job' }, 'Normal', 'Completed', 'Job completed');
      } else if (!suspended && !job.metadata?.deletionTimestamp && this.expectations.satisfied(key)) {
        const diff = wantActive(job, succeeded) - active.length;
        if (diff > 0) {
          this.expectations.expect(key, diff, 0);
          try {
            await slowStart(diff, async () => {
              const uid = job.metadata!.uid!;
              const pod = await this.ctx.api.create(
                podFromTemplate(job.spec!.template, namespace!, ownerRef(job, 'batch/v1', 'Job'), { generateName: `${name}-` }, {
                  'batch.kubernetes.io/controller-uid': uid,
                  'batch.kubernetes.io/job-name': name,
                  'controller-uid': uid,
                  'job-name': name,
                }),
              );
              this.ctx.events.event({ ...job, apiVersion: 'batch/v1', kind: 'Job' }, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata?.name}`);
            });
          } catch (err) {
            this.expectations.forget(key);
            throw err;
          }
        } else if (diff < 0) {
          await this.deletePods(job, active.slice(0, -diff));
        }
      }
    }
    if (terminate || (finished && active.length)) await this.deletePods(job, active);
    const status = {
      active: terminate ? 0 : active.length,
      succeeded,
      failed,
      ready: active.filter(isPodReady).length,
      startTime: (job.status?.startTime as unknown as string | undefined) ?? now,
      ...(completionTime ? { completionTime } : {}),
      conditions,
    };
    const cur = job.status ?? {};
    const changed =
      (cur.active ?? 0) !== status.active ||
      (cur.succeeded ?? 0) !== status.succeeded ||
      (cur.failed ?? 0) !== status.failed ||
      (cur.ready ?? 0) !== status.ready ||
      !cur.startTime ||
      (cur.conditions ?? []).length !== conditions.length;
    if (changed) {
      try {
        await this.ctx.api.patchStatus({ apiVersion: 'batch/v1', kind: 'Job', namespace: namespace!, name }, { status });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async deletePods(job: V1Job, pods: V1Pod[]): Promise<void> {
    const namespace = job.metadata!.namespace!;
    await Promise.all(
      pods.map(async (p) => {
        try {
          await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name: p.metadata!.name! }, { uid: p.metadata?.uid });
          this.ctx.events.event({ ...job, apiVersion: 'batch/v1', kind: 'Job' }, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),
    );
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
