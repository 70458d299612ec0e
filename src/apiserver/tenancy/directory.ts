/**
 * The tenancy directory: which tenant a user belongs to and which tenant owns a namespace or a cluster-scoped
 * object, answered from the watch caches of Tenants and Namespaces (no store reads on the request path). The
 * membership maps are rebuilt only when a Tenant changed.
 */
import type { KubeObject } from '../../apimachinery/object.js';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import {
  BUILTIN_SHARED_NAMESPACES, isShared, namespaceTenant, nodeTenant, TENANCY_GROUP, TENANT_LABEL, type TenantObject,
} from '../../common/tenancy.js';
import type { UserInfo } from '../auth/types.js';
import { METRICS_GROUP } from '../resource-metrics/api.js';

export const TENANTS_PREFIX = `/registry/${TENANCY_GROUP}/tenants/`;
export const NAMESPACES_PREFIX = '/registry/core/namespaces/';
export const NODES_PREFIX = '/registry/core/nodes/';
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** The group whose members are cluster administrators: never confined to a tenant (upstream's superuser group). */
export const ADMIN_GROUP = 'system:masters';

/** The tenants as one consistent snapshot (rebuilt when a Tenant changes). */
export interface TenantState {
  readonly tenants: ReadonlyMap<string, TenantObject>;
  readonly byUser: ReadonlyMap<string, string>;
  readonly byGroup: ReadonlyMap<string, string>;
  readonly byServiceAccount: ReadonlyMap<string, string>;
  /** Namespaces a Tenant's spec lists (a namespace's own label takes precedence). */
  readonly listedNamespaces: ReadonlyMap<string, string>;
}

/** What kind of cluster-scoped object an ownership question is about (their owners are found differently). */
export type ClusterKind = 'namespaces' | 'nodes' | 'tenants' | 'other';

export class TenantDirectory {
  private state: TenantState | undefined;
  private stateRevision = -1;

  constructor(private readonly feed: WatchCacheFeed) {}

  async snapshot(): Promise<TenantState> {
    const cache = await this.feed.cache(TENANTS_PREFIX);
    if (this.state && this.stateRevision === cache.lastChangeRevision) return this.state;
    const tenants = new Map<string, TenantObject>();
    // Sorted by name: a user listed by two tenants belongs to the first (documented; deterministic).
    for (const item of cache.snapshot()) tenants.set(item.obj.metadata!.name!, item.obj as TenantObject);
    const byUser = new Map<string, string>();
    const byGroup = new Map<string, string>();
    const byServiceAccount = new Map<string, string>();
    const listedNamespaces = new Map<string, string>();
    const first = (m: Map<string, string>, k: string, v: string) => { if (!m.has(k)) m.set(k, v); };
    for (const [name, t] of tenants) {
      for (const u of t.spec?.users ?? []) first(byUser, u, name);
      for (const g of t.spec?.groups ?? []) first(byGroup, g, name);
      for (const sa of t.spec?.serviceAccounts ?? []) first(byServiceAccount, sa, name);
      for (const ns of t.spec?.namespaces ?? []) first(listedNamespaces, ns, name);
    }
    this.state = { tenants, byUser, byGroup, byServiceAccount, listedNamespaces };
    this.stateRevision = cache.lastChangeRevision;
    return this.state;
  }

  /**
   * The tenant a request's user is confined to, or undefined: cluster administrators (system:masters) and users
   * no tenant names are not confined (RBAC alone decides for them). A service account of a tenant's namespace
   * belongs to that tenant, so a pod's own token sees what its tenant sees.
   */
  async tenantOf(user: UserInfo): Promise<string | undefined> {
    if (user.groups.includes(ADMIN_GROUP)) return undefined;
    const s = await this.snapshot();
    if (s.tenants.size === 0) return undefined;
    const direct = s.byUser.get(user.username);
    if (direct) return direct;
    for (const g of user.groups) { const t = s.byGroup.get(g); if (t) return t; }
    const sa = SERVICE_ACCOUNT_USER.exec(user.username);
    if (sa) return s.byServiceAccount.get(`${sa[1]}/${sa[2]}`) ?? (await this.namespaceOwner(sa[1]!));
    return undefined;
  }

  async namespaceObject(name: string): Promise<KubeObject | undefined> {
    return (await this.feed.cache(NAMESPACES_PREFIX)).get(`${NAMESPACES_PREFIX}${name}`)?.obj;
  }

  async nodeObject(name: string): Promise<KubeObject | undefined> {
    return (await this.feed.cache(NODES_PREFIX)).get(`${NODES_PREFIX}${name}`)?.obj;
  }

  /** The tenant that owns a namespace (existing or not: a Tenant may list one before it is created). */
  async namespaceOwner(name: string): Promise<string | undefined> {
    const s = await this.snapshot();
    return namespaceTenant(await this.namespaceObject(name), name, []) ?? s.listedNamespaces.get(name);
  }

  /** Namespaces every tenant may read and none may write: the system ones, and those labelled shared. */
  async namespaceShared(name: string): Promise<boolean> {
    if (BUILTIN_SHARED_NAMESPACES.has(name)) return true;
    return isShared(await this.namespaceObject(name));
  }

  /** The owner of a cluster-scoped object, by its kind's rule (the label first, then what a Tenant lists). */
  ownerOf(kind: ClusterKind, obj: KubeObject, s: TenantState): string | undefined {
    const name = obj.metadata?.name ?? '';
    switch (kind) {
      case 'namespaces': return namespaceTenant(obj, name, []) ?? s.listedNamespaces.get(name);
      case 'nodes': return nodeTenant(obj, s.tenants.values());
      case 'tenants': return name;
      default: return obj.metadata?.labels?.[TENANT_LABEL] || undefined;
    }
  }

  /** Whether `tenant` may read an object it does not own (shared objects; shared nodes only if it may use them). */
  sharedFor(kind: ClusterKind, obj: KubeObject, tenant: string, s: TenantState): boolean {
    if (kind === 'namespaces' && BUILTIN_SHARED_NAMESPACES.has(obj.metadata?.name ?? '')) return true;
    if (kind === 'tenants' || !isShared(obj)) return false;
    return kind !== 'nodes' || s.tenants.get(tenant)?.spec?.sharedNodes === true;
  }
}

/** metrics.k8s.io NodeMetrics carry their Node's name and labels: owned by the Node's rule. */
export function clusterKindOf(group: string, resource: string): ClusterKind {
  if ((group === '' || group === METRICS_GROUP) && resource === 'nodes') return 'nodes';
  if (group === '' && resource === 'namespaces') return resource;
  if (group === TENANCY_GROUP && resource === 'tenants') return 'tenants';
  return 'other';
}
