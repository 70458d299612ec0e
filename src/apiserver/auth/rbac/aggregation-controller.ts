import { KubeConfig, RbacAuthorizationV1Api, makeInformer, type V1ClusterRole } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { ServerComponent } from '../../run.js';
import { aggregatedRules, clusterRoleMap } from './aggregation.js';
import { loadClientNodeKubeConfig } from '../../../common/client-node-config.js';

/**
 * Upstream's clusterrole-aggregation controller: writes the union of the selected ClusterRoles' rules into every
 * ClusterRole with an aggregationRule, so `kubectl get/describe clusterrole view` shows what view grants.
 * Authorization does not depend on it (the authorizer resolves aggregation on read); this keeps the stored objects
 * looking like upstream's.
 */
export async function startClusterRoleAggregator(opts: { kubeConfig: KubeConfig; log?: Logger }): Promise<() => Promise<void>> {
  const api = opts.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const informer = makeInformer<V1ClusterRole>(opts.kubeConfig, '/apis/rbac.authorization.k8s.io/v1/clusterroles', () => api.listClusterRole());
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;

  const syncAll = async (): Promise<void> => {
    const all = clusterRoleMap([...informer.list()]);
    for (const role of all.values()) {
      if (stopped || !role.aggregationRule) continue;
      const want = aggregatedRules(role, all);
      if (JSON.stringify(want) === JSON.stringify(role.rules ?? [])) continue;
      try {
        await api.replaceClusterRole({ name: role.metadata!.name!, body: { ...role, rules: want } });
      } catch (err) {
        // 409: someone changed it; the resulting update event triggers another pass.
        if ((err as { code?: number }).code !== 409) opts.log?.warn({ err, clusterRole: role.metadata?.name }, 'aggregating cluster role failed');
      }
    }
  };
  // Any ClusterRole change can affect any aggregated role: coalesce bursts into one full pass at a time.
  const trigger = (): void => {
    if (stopped) return;
    if (running) { again = true; return; }
    running = syncAll().catch((err) => opts.log?.warn({ err }, 'cluster role aggregation failed')).finally(() => {
      running = null;
      if (again) { again = false; trigger(); }
    });
  };
  informer.on('add', trigger);
  informer.on('update', trigger);
  informer.on('delete', trigger);
  informer.on('error', () => {
    if (!stopped) setTimeout(() => { if (!stopped) void informer.start().catch(() => undefined); }, 2000).unref();
  });
  await informer.start();
  trigger();
  return async () => {
    stopped = true;
    await informer.stop();
    await running;
  };
}

export function clusterRoleAggregationComponent(log?: Logger): ServerComponent {
  return async ({ kubeconfigPath }) => {
    const kubeConfig = loadClientNodeKubeConfig(kubeconfigPath);
    return startClusterRoleAggregator({ kubeConfig, log: log ?? createLogger('clusterrole-aggregation') });
  };
}
