/**
 * pods/eviction (policy/v1 Eviction), as upstream's eviction REST: a pod covered by a PodDisruptionBudget is
 * deleted only while the budget allows a disruption; the budget's disruptionsAllowed is decremented and the pod
 * recorded in status.disruptedPods in the same step (the disruption controller clears it once the pod is gone).
 * Otherwise 429 TooManyRequests with upstream's message and a DisruptionBudget cause, which `kubectl drain`
 * retries. Terminal or pending pods, pods already being deleted, and (with unhealthyPodEvictionPolicy
 * AlwaysAllow, or IfHealthyBudget while the budget is met) unready pods bypass the budget check.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../apimachinery/object.js';
import { labelSelectorFromObject } from '../apimachinery/labels.js';
import { badRequest, invalid, methodNotAllowed, StatusError, successStatus } from '../apimachinery/status.js';
import type { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { requestUrl } from '../common/request-url.js';
import { decodeObjectBody, mediaType, readBody } from './body.js';
import type { SubresourceHandler } from './handler.js';
import type { ObjectStore } from './objects.js';
import type { Registry, ResourceDef, StrategyContext } from './registry.js';
import type { RequestInfo } from './request-info.js';
import { sendJson } from './respond.js';
import type { Obj } from './resources/helpers.js';
import type { UserInfo } from './auth/types.js';

const PDB_PREFIX = '/registry/policy/poddisruptionbudgets/';
/** Upstream's MaxDisruptedPodSize: beyond it the controller is too far behind to trust the budget. */
const MAX_DISRUPTED_PODS = 2000;
export const EVICTION_VIOLATION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget.";

function budgetRefusal(cause: string): StatusError {
  return new StatusError({
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: EVICTION_VIOLATION_MESSAGE, reason: 'TooManyRequests',
    details: { causes: [{ reason: 'DisruptionBudget', message: cause }] }, code: 429,
  });
}

function forbiddenEviction(message: string): StatusError {
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 });
}

const isReady = (pod: Obj) => ((pod.status?.conditions ?? []) as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True');

export function evictionHandler(d: { registry: Registry; objects: ObjectStore; feed: WatchCacheFeed }): SubresourceHandler {
  return async (req: IncomingMessage, res: ServerResponse, info: RequestInfo, user: UserInfo) => {
    if (info.verb !== 'create') throw methodNotAllowed();
    const podDef = d.registry.get('', 'v1', 'pods')!;
    const pdbDef = d.registry.get('policy', 'v1', 'poddisruptionbudgets')!;
    const dryRun = requestUrl(req.url)?.searchParams.getAll('dryRun').includes('All') ?? false;
    const body = (decodeObjectBody(await readBody(req), mediaType(req)) ?? {}) as Obj;
    if (body.metadata?.name && body.metadata.name !== info.name) throw badRequest(`name in URL does not match name in Eviction object`);
    const opts = (body.deleteOptions ?? {}) as Obj;
    if (opts.dryRun !== undefined && !Array.isArray(opts.dryRun)) throw invalid('Eviction', 'policy', info.name, [{ type: 'Invalid', field: 'deleteOptions.dryRun', value: opts.dryRun, detail: 'must be a list' }]);
    const ctx: StrategyContext = { user, namespace: info.namespace, dryRun: dryRun || (opts.dryRun ?? []).includes('All'), subresource: '' };
    const { obj: pod } = await d.objects.get(podDef, info.namespace, info.name);
    const p = pod as Obj;
    const deletePod = async () => {
      await d.objects.delete(podDef, info.namespace, info.name, { gracePeriodSeconds: opts.gracePeriodSeconds, preconditions: opts.preconditions, dryRun: ctx.dryRun, skipAdmission: true }, ctx);
      sendJson(req, res, 201, successStatus());
    };
    // Pods that are done, not started or already going need no budget (upstream's canIgnorePDB).
    if (p.metadata?.deletionTimestamp || ['Succeeded', 'Failed', 'Pending'].includes(p.status?.phase)) return deletePod();
    const budgets = (await d.feed.cache(PDB_PREFIX)).snapshot(`${PDB_PREFIX}${info.namespace}/`).map((c) => c.obj as Obj).filter((b) => {
      try { return b.spec?.selector != null && labelSelectorFromObject(b.spec.selector).matches(p.metadata?.labels ?? {}); } catch { return false; }
    });
    if (!budgets.length) return deletePod();
    if (budgets.length > 1) {
      throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 500, reason: 'InternalError',
        message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' });
    }
    const pdbName = budgets[0]!.metadata.name as string;
    const podName = info.name;
    await d.objects.update(pdbDef, info.namespace, pdbName, { ...ctx, subresource: 'status' }, (cur: KubeObject) => {
      const b = cur as Obj;
      const st = (b.status ?? {}) as Obj;
      const allowedUnready = !isReady(p) && (b.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || (st.currentHealthy ?? 0) >= (st.desiredHealthy ?? 0) && (st.desiredHealthy ?? 0) > 0);
      if (allowedUnready) return cur; // no budget is spent on a pod that is not healthy
      if ((st.observedGeneration ?? 0) < (b.metadata?.generation ?? 0)) throw budgetRefusal(`The disruption budget ${pdbName} is still being processed by the server.`);
      if ((st.disruptionsAllowed ?? 0) < 0) throw forbiddenEviction('pdb disruptions allowed is negative');
      if (Object.keys(st.disruptedPods ?? {}).length > MAX_DISRUPTED_PODS) throw forbiddenEviction('DisruptedPods map too big - too many evictions not confirmed by PDB controller');
      if ((st.disruptionsAllowed ?? 0) === 0) {
        throw budgetRefusal(`The disruption budget ${pdbName} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`);
      }
      const disruptedPods = { ...(st.disruptedPods ?? {}), [podName]: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
      return { ...cur, status: { ...st, disruptionsAllowed: st.disruptionsAllowed - 1, disruptedPods } } as KubeObject;
    });
    return deletePod();
  };
}

export type { ResourceDef };
