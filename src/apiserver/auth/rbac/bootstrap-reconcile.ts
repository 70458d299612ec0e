import type { V1ClusterRole, V1ClusterRoleBinding } from '@kubernetes/client-node';
import { AUTOUPDATE_ANNOTATION, bootstrapClusterRoleBindings, bootstrapClusterRoles } from './bootstrap-policy.js';

type MaybePromise<T> = T | Promise<T>;

/** What the API server provides so the default policy can be written at start-up (backed by its store). */
export interface BootstrapPolicyStore {
  getClusterRole(name: string): MaybePromise<V1ClusterRole | null>;
  createClusterRole(role: V1ClusterRole): MaybePromise<unknown>;
  /** Receives the object read by get (with its resourceVersion), modified. */
  updateClusterRole(role: V1ClusterRole): MaybePromise<unknown>;
  getClusterRoleBinding(name: string): MaybePromise<V1ClusterRoleBinding | null>;
  createClusterRoleBinding(binding: V1ClusterRoleBinding): MaybePromise<unknown>;
  updateClusterRoleBinding(binding: V1ClusterRoleBinding): MaybePromise<unknown>;
}

export interface ReconcileResult {
  created: string[];
  updated: string[];
}

/** Objects whose autoupdate annotation is "false" belong to the operator; upstream never touches them. */
function isProtected(obj: { metadata?: { annotations?: Record<string, string> } }): boolean {
  return obj.metadata?.annotations?.[AUTOUPDATE_ANNOTATION] === 'false';
}

const key = (v: unknown): string => JSON.stringify(v);

/**
 * Creates the default ClusterRoles and ClusterRoleBindings that are missing, and (like upstream's
 * reconciliation) adds missing rules, selectors, labels and subjects to existing unprotected ones without
 * removing anything an operator added. Idempotent: a second run changes nothing.
 */
export async function ensureBootstrapPolicy(store: BootstrapPolicyStore): Promise<ReconcileResult> {
  const result: ReconcileResult = { created: [], updated: [] };
  for (const want of bootstrapClusterRoles()) {
    const name = want.metadata!.name!;
    const have = await store.getClusterRole(name);
    if (!have) {
      await store.createClusterRole(want);
      result.created.push(`clusterrole/${name}`);
      continue;
    }
    if (isProtected(have)) continue;
    let changed = false;
    const labels = { ...(have.metadata?.labels ?? {}) };
    for (const [k, v] of Object.entries(want.metadata?.labels ?? {})) {
      if (labels[k] !== v) { labels[k] = v; changed = true; }
    }
    const next: V1ClusterRole = { ...have, metadata: { ...have.metadata, labels } };
    if (want.aggregationRule) {
      const selectors = [...(have.aggregationRule?.clusterRoleSelectors ?? [])];
      for (const s of want.aggregationRule.clusterRoleSelectors ?? []) {
        if (!selectors.some((h) => key(h) === key(s))) { selectors.push(s); changed = true; }
      }
      next.aggregationRule = { clusterRoleSelectors: selectors };
    } else {
      const rules = [...(have.rules ?? [])];
      for (const r of want.rules ?? []) {
        if (!rules.some((h) => key(h) === key(r))) { rules.push(r); changed = true; }
      }
      next.rules = rules;
    }
    if (changed) {
      await store.updateClusterRole(next);
      result.updated.push(`clusterrole/${name}`);
    }
  }
  for (const want of bootstrapClusterRoleBindings()) {
    const name = want.metadata!.name!;
    const have = await store.getClusterRoleBinding(name);
    if (!have) {
      await store.createClusterRoleBinding(want);
      result.created.push(`clusterrolebinding/${name}`);
      continue;
    }
    if (isProtected(have)) continue;
    const subjects = [...(have.subjects ?? [])];
    let changed = false;
    for (const s of want.subjects ?? []) {
      if (!subjects.some((h) => h.kind === s.kind && h.name === s.name && (h.namespace ?? '') === (s.namespace ?? ''))) {
        subjects.push(s);
        changed = true;
      }
    }
    if (changed) {
      await store.updateClusterRoleBinding({ ...have, subjects });
      result.updated.push(`clusterrolebinding/${name}`);
    }
  }
  return result;
}
