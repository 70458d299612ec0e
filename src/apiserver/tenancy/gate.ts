/**
 * The tenancy gate: the eleven request classes of multi-tenant API isolation (docs/design/tenancy.md), decided
 * after RBAC allowed a request and before it touches storage. RBAC says what a user may do; the gate narrows it
 * to the user's tenant. Refusals never tell whether another tenant's object exists:
 * - a namespaced request is decided by its namespace alone (403 for every name in a namespace that is not the
 *   tenant's, existing or not: what RBAC answers for a namespace the user has no role in);
 * - a named cluster-scoped object of another tenant is 404 NotFound, word for word what a missing one gets;
 * - lists and watches leave out what the tenant cannot see (an object leaving its view is a DELETED event).
 */
import { alreadyExists, forbidden, notFound } from '../../apimachinery/status.js';
import type { KubeObject } from '../../apimachinery/object.js';
import { labelBucket, namespaceBucket, type CachedObject, type ResourceCache, type WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { NODEPOOL_LABEL } from '../../common/node-restriction.js';
import { BUILTIN_SHARED_NAMESPACES, SHARED_LABEL, TENANT_LABEL, type TenantObject } from '../../common/tenancy.js';
import type { UserInfo } from '../auth/types.js';
import type { RequestInfo } from '../request-info.js';
import { storagePrefix, type ResourceDef } from '../registry.js';
import { clusterKindOf, NAMESPACES_PREFIX, TenantDirectory, type ClusterKind, type TenantState } from './directory.js';

const READ_VERBS = new Set(['get', 'list', 'watch']);

/** What a confined list, watch or deletecollection may return: a predicate, and where its candidates are indexed. */
export interface TenantRestriction {
  matches(obj: KubeObject): boolean;
  candidates(cache: ResourceCache): CachedObject[];
}

export interface GateRequest {
  user: UserInfo;
  info: RequestInfo;
  def: ResourceDef;
  /** A server-side apply patch: it creates the object when missing, so a hidden name answers as create would. */
  isApply?: boolean;
}

export class TenancyGate {
  readonly directory: TenantDirectory;

  constructor(private readonly feed: WatchCacheFeed) {
    this.directory = new TenantDirectory(feed);
  }

  /**
   * Throws the Status a confined user gets for a request outside its tenant; returns a restriction for lists,
   * watches and collection deletes of a confined user; undefined when the request is not confined.
   */
  async admit(r: GateRequest): Promise<TenantRestriction | undefined> {
    if (!r.info.isResourceRequest) return undefined;
    const tenant = await this.directory.tenantOf(r.user);
    if (!tenant) return undefined;
    const s = await this.directory.snapshot();
    return r.def.namespaced ? this.namespaced(r, tenant, s) : this.clusterScoped(r, tenant, s);
  }

  private async namespaced(r: GateRequest, tenant: string, s: TenantState): Promise<TenantRestriction | undefined> {
    const { info } = r;
    if (!info.namespace) {
      // Row 2 (all-namespace list / watch) and collection deletes across namespaces: the tenant's namespaces only.
      // A create without a namespace in the path names it in the body: the admission step checks that one.
      if (info.verb === 'create') return undefined;
      const owned = await this.ownedNamespaces(tenant, s);
      return {
        matches: (o) => owned.has(o.metadata?.namespace ?? ''),
        candidates: (cache) => cache.snapshotOf([...owned].map(namespaceBucket)),
      };
    }
    await this.checkNamespace(r, tenant);
    return undefined;
  }

  /**
   * Rows 3, 5, 7, 10 and 11: a namespaced request is the tenant's only in its own namespaces; in a shared one it
   * may read. Decided from the namespace's name alone (whether it or the object exists is never consulted).
   */
  private async checkNamespace(r: GateRequest, tenant: string): Promise<void> {
    const { info } = r;
    const ns = info.namespace;
    if ((await this.directory.namespaceOwner(ns)) === tenant) return;
    const shared = await this.directory.namespaceShared(ns);
    if (shared && READ_VERBS.has(info.verb)) return;
    const why = shared
      ? `namespace "${ns}" is shared: tenant "${tenant}" may only read it`
      : `namespace "${ns}" is not in tenant "${tenant}"`;
    throw forbidden({ group: r.def.group, resource: r.def.resource }, info.name, `${cannot(r)} in the namespace "${ns}": ${why}`);
  }

  private async clusterScoped(r: GateRequest, tenant: string, s: TenantState): Promise<TenantRestriction | undefined> {
    const { info, def } = r;
    const kind = clusterKindOf(def.group, def.resource);
    const gr = { group: def.group, resource: def.resource };
    const write = !READ_VERBS.has(info.verb);
    if (kind === 'tenants' && write) {
      // Decided by the resource alone: a member may read its own Tenant, never write any.
      throw forbidden(gr, info.name, `${cannot(r)} at the cluster scope: members of tenant "${tenant}" cannot change Tenants`);
    }
    // Rows 1 and 9: lists and watches see the tenant's objects and the shared ones it may read; a collection
    // delete removes only the tenant's own.
    const visible = (o: KubeObject) => {
      const owner = this.directory.ownerOf(kind, o, s);
      if (owner !== undefined) return owner === tenant;
      return !write && this.directory.sharedFor(kind, o, tenant, s);
    };
    const t = s.tenants.get(tenant);
    const restriction: TenantRestriction = { matches: visible, candidates: (cache) => clusterCandidates(cache, kind, tenant, t, write) };
    if (info.name) {
      // Virtual resources (reviews) have no object to own. A computed one (NodeMetrics: its Node's name and labels)
      // is judged once computed: the resource answers one the tenant may not see as a missing one (rows 4, 8).
      if (def.virtual) return undefined;
      if (def.computed) return restriction;
      const obj = (await this.feed.cache(storagePrefix(def))).get(keyOf(def, info.name))?.obj;
      // A missing object goes on: its 404 (get, update, delete) or its create (apply) is the store's as for anyone.
      if (!obj) return undefined;
      const owner = this.directory.ownerOf(kind, obj, s);
      if (owner === tenant) return undefined;
      if (owner === undefined && this.directory.sharedFor(kind, obj, tenant, s)) {
        if (!write) return undefined;
        throw forbidden(gr, info.name, `${cannot(r)} at the cluster scope: ${def.resource} "${info.name}" is shared: tenant "${tenant}" may only read it`);
      }
      // Row 4 / 8: another tenant's object (or one no tenant shares) answers exactly as a missing one.
      if (r.isApply) throw alreadyExists(gr, info.name);
      throw notFound(gr, info.name);
    }
    if (info.verb === 'create') return undefined; // row 6: admission marks the new object as the tenant's
    return restriction;
  }

  /**
   * A tenant's member may not act as someone else (`kubectl --as`), whatever RBAC's impersonate verb says: it would
   * step out of its tenant (as an administrator, or as another tenant's user).
   */
  async checkImpersonation(user: UserInfo, headers: Record<string, string | string[] | undefined>): Promise<void> {
    if (!headers['impersonate-user'] && !headers['impersonate-group']) return;
    const tenant = await this.directory.tenantOf(user);
    if (tenant === undefined) return;
    const target = String(headers['impersonate-user'] ?? '');
    throw forbidden({ group: '', resource: 'users' }, target, `User "${user.username}" cannot impersonate resource "users" in API group "" at the cluster scope: members of tenant "${tenant}" cannot impersonate`);
  }

  /** The namespaces a tenant owns: those labelled for it and those its Tenant lists (from the namespace index). */
  async ownedNamespaces(tenant: string, s: TenantState): Promise<Set<string>> {
    const cache = await this.feed.cache(NAMESPACES_PREFIX);
    const owned = new Set<string>();
    for (const item of cache.snapshotOf([labelBucket(TENANT_LABEL, tenant)])) owned.add(item.obj.metadata!.name!);
    for (const ns of s.tenants.get(tenant)?.spec?.namespaces ?? []) {
      if ((await this.directory.namespaceOwner(ns)) === tenant) owned.add(ns);
    }
    return owned;
  }
}

/** A cluster-scoped list's candidates: the tenant's label bucket, the shared bucket, and what its Tenant names. */
function clusterCandidates(cache: ResourceCache, kind: ClusterKind, tenant: string, t: TenantObject | undefined, write: boolean): CachedObject[] {
  const buckets = [labelBucket(TENANT_LABEL, tenant)];
  if (!write) buckets.push(labelBucket(SHARED_LABEL, 'true'));
  if (kind === 'nodes') for (const pool of t?.spec?.nodePools ?? []) buckets.push(labelBucket(NODEPOOL_LABEL, pool));
  const named = kind === 'nodes' ? t?.spec?.nodes ?? [] : kind === 'namespaces' ? t?.spec?.namespaces ?? [] : kind === 'tenants' ? [tenant] : [];
  const extra = kind === 'namespaces' && !write ? [...BUILTIN_SHARED_NAMESPACES] : [];
  const items = cache.snapshotOf(buckets);
  const have = new Set(items.map((i) => i.key));
  for (const name of [...named, ...extra]) {
    const item = cache.get(`${cache.prefix}${name}`);
    if (item && !have.has(item.key)) { items.push(item); have.add(item.key); }
  }
  return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function keyOf(def: ResourceDef, name: string): string {
  return `${storagePrefix(def)}${name}`;
}

/** The start of upstream's Forbidden text: `User "u" cannot list resource "pods" in API group ""`. */
function cannot(r: GateRequest): string {
  const res = r.info.subresource ? `${r.info.resource}/${r.info.subresource}` : r.info.resource;
  return `User "${r.user.username}" cannot ${r.info.verb} resource "${res}" in API group "${r.info.group}"`;
}
