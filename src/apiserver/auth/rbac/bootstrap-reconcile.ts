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
    const outcome = await retryOnConflict(() => reconcileClusterRole(store, want));
    if (outcome) result[outcome].push(`clusterrole/${want.metadata!.name!}`);
  }
  for (const want of bootstrapClusterRoleBindings()) {
    const outcome = await retryOnConflict(() => reconcileClusterRoleBinding(store, want));
    if (outcome) result[outcome].push(`clusterrolebinding/${want.metadata!.name!}`);
  }
  return result;
}

/**
 * Several servers started together on an empty datastore reconcile the same objects at once: a create then answers
 * AlreadyExists and an update Conflict (409). Reading again and reconciling that object once more converges, as
 * upstream's bootstrap policy hook retries on conflict.
 */
async function retryOnConflict<T>(reconcile: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await reconcile();
    } catch (err) {
      if (attempt >= 5 || (err as { code?: unknown }).code !== 409) throw err;
    }
  }
}

async function reconcileClusterRole(store: BootstrapPolicyStore, want: V1ClusterRole): Promise<'created' | 'updated' | undefined> {
  const name = want.metadata!.name!;
  const have = await store.getClusterRole(name);
  if (!have) {
    await store.createClusterRole(want);
    return 'created';
  }
  if (isProtected(have)) return undefined;
  let changed = false;
  const labels = { ...(have.metadata?.labels ?? {}) };
  for (const [k, v] of Object.entries(want.metadata?.labels ?? {})) {
    if (labels[k] !== v) { labels[k] = v; changed = true; }
  }
  const next: V1ClusterRole = { ...have, metadata: { ...have.metadata, labels } };
  if (want.aggregationRule) {
    const selectors = [...(have.aggregationRule?.clusterRoleSelectors ?? [])];
    for (const sel of want.aggregationRule.clusterRoleSelectors ?? []) {
      if (!selectors.some((h) => key(h) === key(sel))) { selectors.push(sel); changed = true; }
    }
    next.aggregationRule = { clusterRoleSelectors: selectors };
  } else {
    const rules = [...(have.rules ?? [])];
    for (const r of want.rules ?? []) {
      if (!rules.some((h) => key(h) === key(r))) { rules.push(r); changed = true; }
    }
    next.rules = rules;
  }
  if (!changed) return undefined;
  await store.updateClusterRole(next);
  return 'updated';
}

async function reconcileClusterRoleBinding(store: BootstrapPolicyStore, want: V1ClusterRoleBinding): Promise<'created' | 'updated' | undefined> {
  const have = await store.getClusterRoleBinding(want.metadata!.name!);
  if (!have) {
    await store.createClusterRoleBinding(want);
    return 'created';
  }
  if (isProtected(have)) return undefined;
  const subjects = [...(have.subjects ?? [])];
  let changed = false;
  for (const sub of want.subjects ?? []) {
    if (!subjects.some((h) => h.kind === sub.kind && h.name === sub.name && (h.namespace ?? '') === (sub.namespace ?? ''))) {
      subjects.push(sub);
      changed = true;
    }
  }
  if (!changed) return undefined;
  await store.updateClusterRoleBinding({ ...have, subjects });
  return 'updated';
}
