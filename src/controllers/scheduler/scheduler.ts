import type { V1Namespace, V1Node, V1Pod } from '@kubernetes/client-node';
import { isShared, namespaceTenant, nodeAdmitsTenant, nodeTenant, type TenantObject } from '../../common/tenancy.js';
import { errorCode } from '../client.js';
import { keyOf, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { WorkQueue } from '../workqueue.js';
import { schedulePod } from './algorithm.js';
import { ClusterState, isTerminal } from './cluster-state.js';
import { planVolumes } from './volumes.js';
import { SELECTED_NODE_ANNOTATION } from '../storage/claims.js';

export const schedulerName = 'default-scheduler';

function wantsScheduling(pod: V1Pod): boolean {
  return (
    !pod.spec?.nodeName &&
    (pod.spec?.schedulerName ?? schedulerName) === schedulerName &&
    !pod.metadata?.deletionTimestamp &&
    !isTerminal(pod)
  );
}

/**
 * kube-scheduler's job: decisions come from the in-memory ClusterState (one at a time, so they never
 * overlap), bindings go out concurrently through pods/binding. A pod that fits nowhere gets PodScheduled=False
 * (reason Unschedulable) and a FailedScheduling event, and waits in the unschedulable set until the cluster
 * changes (node added/updated, pod removed), when it is retried.
 */
export class Scheduler implements Controller {
  readonly name = 'scheduler';
  private readonly state = new ClusterState();
  private readonly queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 30_000 });
  private readonly unschedulable = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private loop?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private flushTimer?: NodeJS.Timeout;
  // Bindings are independent writes whose latency is the API's commit latency: keep many in flight
  // (upstream binds each pod in its own goroutine) so throughput is not latency × a small window.
  private readonly maxInflightBinds = 256;

  constructor(private readonly ctx: ControllerContext) {}

  start(): void {
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const namespaces = this.ctx.informers.get<V1Namespace>('namespaces');
    // Tenants decide which nodes a pod may use; a change may make an unschedulable pod fit.
    const tenants = this.ctx.informers.get<V1Node>('tenants');
    tenants.onAdd(() => this.retryUnschedulableSoon());
    tenants.onUpdate(() => this.retryUnschedulableSoon());
    const onPod = (pod: V1Pod) => {
      this.state.setPod(pod);
      if (wantsScheduling(pod)) this.queue.add(keyOf(pod));
    };
    pods.onAdd(onPod);
    pods.onUpdate((pod) => {
      onPod(pod);
      if (!wantsScheduling(pod)) this.unschedulable.delete(keyOf(pod));
    });
    pods.onDelete((pod) => {
      this.state.removePod(ClusterState.podKey(pod));
      this.unschedulable.delete(keyOf(pod));
      if (pod.spec?.nodeName) this.retryUnschedulableSoon();
    });
    nodes.onAdd((n) => {
      this.state.setNode(n);
      this.retryUnschedulableSoon();
    });
    nodes.onUpdate((n) => {
      this.state.setNode(n);
      this.retryUnschedulableSoon();
    });
    nodes.onDelete((n) => this.state.deleteNode(n.metadata!.name!));
    // A claim bound or a volume provisioned may let a waiting pod go on.
    for (const r of ['persistentvolumeclaims', 'persistentvolumes', 'storageclasses'] as const) {
      const inf = this.ctx.informers.get(r);
      inf.onAdd(() => this.retryUnschedulableSoon());
      inf.onUpdate(() => this.retryUnschedulableSoon());
    }
    // Upstream flushes unschedulable pods periodically in case a change was missed.
    this.flushTimer = setInterval(() => this.retryUnschedulable(), 30_000);
    this.flushTimer.unref?.();
    this.namespaces = namespaces;
    this.loop = this.run();
  }
  private namespaces?: ReturnType<ControllerContext['informers']['get']>;

  private retryUnschedulableSoon(): void {
    if (this.retryTimer || this.unschedulable.size === 0) return;
    // Coalesce bursts (500 node heartbeats) into one retry pass.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryUnschedulable();
    }, 200);
  }

  private retryUnschedulable(): void {
    for (const k of this.unschedulable) this.queue.add(k);
    this.unschedulable.clear();
  }

  private async run(): Promise<void> {
    const pods = this.ctx.informers.get<V1Pod>('pods');
    await this.ctx.synced;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        const { namespace, name } = splitKey(key);
        const pod = pods.get(name, namespace);
        if (!pod || !wantsScheduling(pod)) continue;
        // An assumed pod whose binding is still in flight is already counted: skip it.
        if (this.assumed.has(key)) continue;
        const volumes = planVolumes(pod, this.ctx.informers);
        if (volumes.kind === 'wait') {
          this.unschedulable.add(key);
          continue;
        }
        if (volumes.kind === 'unschedulable') {
          this.ctx.metrics.scheduleAttempts.labels('unschedulable').inc();
          this.unschedulable.add(key);
          await this.reportUnschedulable(pod, `0/${this.state.nodes.size} nodes are available: ${volumes.message}.`);
          continue;
        }
        const result = schedulePod(pod, {
          state: this.state,
          namespaceLabels: (ns) => (this.namespaces?.get(ns) as V1Namespace | undefined)?.metadata?.labels,
          tenantAdmits: this.tenantAdmits(pod),
          volumesAdmit: volumes.admits,
        });
        if (result.nodeName && volumes.delayed.length) {
          // WaitForFirstConsumer: the claims learn the node; the pod binds once they are bound (PV node affinity).
          for (const claim of volumes.delayed) {
            await this.ctx.api.patch({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: claim.metadata!.namespace!, name: claim.metadata!.name! },
              { metadata: { annotations: { [SELECTED_NODE_ANNOTATION]: result.nodeName } } });
          }
          this.unschedulable.add(key);
        } else if (result.nodeName) {
          this.ctx.metrics.scheduleAttempts.labels('scheduled').inc();
          this.state.assume(pod, result.nodeName);
          this.assumed.add(key);
          while (this.inflight.size >= this.maxInflightBinds) await Promise.race(this.inflight);
          const p = this.bind(pod, result.nodeName).finally(() => {
            this.inflight.delete(p);
            this.assumed.delete(key);
          });
          this.inflight.add(p);
        } else {
          this.ctx.metrics.scheduleAttempts.labels('unschedulable').inc();
          this.unschedulable.add(key);
          await this.reportUnschedulable(pod, result.message ?? 'unschedulable');
        }
      } catch (err) {
        this.ctx.log.warn({ key, err: String(err) }, 'scheduling attempt failed');
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
  private readonly assumed = new Set<string>();

  /**
   * Tenancy: a pod of a tenant's namespace goes only to that tenant's nodes (and shared ones if its Tenant allows
   * them); a pod of no tenant never goes to a tenant's node. Undefined while no Tenant exists (nothing to check).
   */
  private tenantAdmits(pod: V1Pod): ((node: V1Node) => boolean) | undefined {
    const tenants = this.ctx.informers.get<TenantObject & V1Node>('tenants').list() as TenantObject[];
    if (tenants.length === 0) return undefined;
    const ns = pod.metadata?.namespace ?? 'default';
    const podTenant = namespaceTenant(this.namespaces?.get(ns) as V1Namespace | undefined, ns, tenants);
    const allowsShared = tenants.find((t) => t.metadata?.name === podTenant)?.spec?.sharedNodes === true;
    return (node) => nodeAdmitsTenant(nodeTenant(node, tenants), isShared(node), podTenant, allowsShared);
  }

  private async bind(pod: V1Pod, nodeName: string): Promise<void> {
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const key = `${ns}/${name}`;
    try {
      await this.ctx.api.bindPod(ns, name, nodeName, pod.metadata?.uid);
      this.queue.forget(key);
      this.ctx.events.event(
        { ...pod, apiVersion: 'v1', kind: 'Pod' },
        'Normal',
        'Scheduled',
        `Successfully assigned ${ns}/${name} to ${nodeName}`,
      );
    } catch (err) {
      // Forget the assumption; retry unless the pod is gone or already bound elsewhere.
      this.state.removePod(key);
      const current = this.ctx.informers.get<V1Pod>('pods').get(name, ns);
      if (current) this.state.setPod(current);
      const code = errorCode(err);
      if (code === 404) return;
      if (code === 409 && current?.spec?.nodeName) return;
      this.ctx.log.warn({ key, nodeName, err: String(err) }, 'binding failed');
      this.queue.addRateLimited(key);
    }
  }

  private async reportUnschedulable(pod: V1Pod, message: string): Promise<void> {
    this.ctx.events.event({ ...pod, apiVersion: 'v1', kind: 'Pod' }, 'Warning', 'FailedScheduling', message);
    const cond = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (cond?.status === 'False' && cond.reason === 'Unschedulable' && cond.message === message) return;
    const others = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    try {
      await this.ctx.api.patchStatus(
        { apiVersion: 'v1', kind: 'Pod', namespace: pod.metadata!.namespace!, name: pod.metadata!.name! },
        {
          status: {
            conditions: [
              ...others,
              { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: new Date().toISOString() },
            ],
          },
        },
      );
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.queue.shutDown();
    await this.loop;
    await Promise.all(this.inflight);
  }
}
