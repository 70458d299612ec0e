/**
 * The resource registry: every served resource (built-in or CRD) is a ResourceDef. Definitions can be added and
 * removed at runtime (the CRD engineer's code registers custom resources here), and discovery, routing and
 * OpenAPI are derived from whatever is registered at the moment of the request.
 */
import type { FieldError } from '../apimachinery/status.js';
import type { KubeObject } from '../apimachinery/object.js';
import type { UserInfo } from './auth/types.js';

export interface StrategyContext {
  user: UserInfo;
  namespace: string;
  dryRun: boolean;
  /** For updates, which subresource is being written ('' for the main resource). */
  subresource: string;
  /** Adds a `Warning: 299` header to the response (admission's warnings); absent for in-process writes. */
  warn?: (text: string) => void;
}

/** Per-resource behaviour, like upstream's rest.RESTCreateStrategy/RESTUpdateStrategy. All hooks optional. */
export interface Strategy {
  /** Fill in defaults (on create and on update). */
  defaults?(obj: KubeObject): void;
  /** Reset fields the client may not set on create (e.g. status), allocate things (ClusterIPs). */
  prepareForCreate?(obj: KubeObject, ctx: StrategyContext): void | Promise<void>;
  /** Carry over what the client may not change (e.g. status on the main resource). */
  prepareForUpdate?(obj: KubeObject, old: KubeObject, ctx: StrategyContext): void | Promise<void>;
  validate?(obj: KubeObject, ctx: StrategyContext): FieldError[];
  validateUpdate?(obj: KubeObject, old: KubeObject, ctx: StrategyContext): FieldError[];
  /** Seconds of graceful deletion for this object (0/undefined = delete now). */
  gracePeriodSeconds?(obj: KubeObject, requested: number | undefined): number | undefined;
  /** Refuse a deletion (throw a StatusError), e.g. the namespaces that may never be deleted. */
  beforeDelete?(obj: KubeObject): void;
  /** Deletion must wait for more than metadata.finalizers (namespaces wait for spec.finalizers). */
  pendingFinalization?(obj: KubeObject): boolean;
  /** After the object is gone from the store (release ClusterIPs, …). */
  afterDelete?(obj: KubeObject): void | Promise<void>;
  /** After a successful create (e.g. namespaces get their default ServiceAccount). */
  afterCreate?(obj: KubeObject): void | Promise<void>;
  /** Rolled back when the store write fails after prepareForCreate allocated something. */
  abortCreate?(obj: KubeObject): void | Promise<void>;
}

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description?: string;
  /** 0 = always shown; 1 = only with -o wide. */
  priority?: number;
}

export interface TableDef {
  columns: TableColumn[];
  /** One row's cells, in column order. */
  cells(obj: KubeObject, now: number): unknown[];
}

/** Handler of a subresource with its own semantics (binding, eviction, approval, finalize, scale). */
export type SubresourceKind = 'status' | 'scale' | 'binding' | 'eviction' | 'approval' | 'finalize' | 'proxy' | 'log' | 'exec' | 'attach' | 'portforward' | 'token';

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, lowercase: `pods`. */
  resource: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Default: all of get list watch create update patch delete deletecollection. */
  verbs?: string[];
  subresources?: SubresourceKind[];
  scale?: ScaleSpec;
  strategy: Strategy;
  table?: TableDef;
  /** Field selector support beyond metadata.name/metadata.namespace. */
  fields?: Record<string, (obj: KubeObject) => string | undefined>;
  /**
   * For a version whose shape differs from the stored one (events.k8s.io/v1 Events are stored as core/v1 Events):
   * convert on every read and write. Without it, versions sharing storage only differ in apiVersion.
   */
  convert?: { fromStorage(obj: KubeObject): KubeObject; toStorage(obj: KubeObject): KubeObject };
  /** Where objects live in the store; versions of one resource share it. Default /registry/<group|core>/<resource>/. */
  storagePrefix?: string;
  /** Name validation flavour (default: DNS-1123 subdomain). */
  nameValidation?: 'subdomain' | 'label' | 'dns1035' | 'pathSegment';
  /** Return the deleted object instead of a Success Status (pods, as upstream). */
  returnDeletedObject?: boolean;
  /** metadata.generation is maintained (bumped on spec changes). Default true. */
  tracksGeneration?: boolean;
  /** Only create is served and nothing is stored (access reviews). */
  virtual?: (obj: KubeObject, ctx: StrategyContext) => Promise<KubeObject>;
  /**
   * Read-only objects computed on request, never stored (metrics.k8s.io, as metrics-server serves them):
   * only get and list are served; label and field selectors, namespaces and tables apply as for stored ones.
   */
  computed?: ComputedSource;
  /** CRD-owned schema (the CRD engineer fills this; passed on to OpenAPI). */
  openAPIV3Schema?: unknown;
  /** Owner, e.g. 'crd' for dynamically registered resources. */
  source?: 'builtin' | 'crd';
}

export interface ComputedSource {
  /**
   * null → 404 NotFound. `namespace` is '' for cluster-scoped resources. An object `visible` rejects (another
   * tenant's, docs/design/tenancy.md) is answered exactly as a missing one.
   */
  get(namespace: string, name: string, visible?: (o: KubeObject) => boolean): Promise<KubeObject | null>;
  /** `namespace` '' = all namespaces. */
  list(namespace: string): Promise<KubeObject[]>;
}

/** Objects of this resource live in the store (not access reviews, not computed ones). */
export function isStored(def: ResourceDef): boolean {
  return !def.virtual && !def.computed;
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function groupVersion(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

export function storagePrefix(def: ResourceDef): string {
  return def.storagePrefix ?? `/registry/${def.group || 'core'}/${def.resource}/`;
}

export function verbsOf(def: ResourceDef): string[] {
  return def.verbs ?? ALL_VERBS;
}

type Listener = () => void;

export class Registry {
  private byGvr = new Map<string, ResourceDef>();
  private listeners = new Set<Listener>();
  /** Group order as registered (discovery lists groups in this order). */
  private groupOrder: string[] = [];

  private static keyOf(group: string, version: string, resource: string): string {
    return `${group}/${version}/${resource}`;
  }

  add(def: ResourceDef): void {
    this.byGvr.set(Registry.keyOf(def.group, def.version, def.resource), def);
    if (!this.groupOrder.includes(def.group)) this.groupOrder.push(def.group);
    this.changed();
  }

  remove(group: string, version: string, resource: string): ResourceDef | undefined {
    const k = Registry.keyOf(group, version, resource);
    const def = this.byGvr.get(k);
    this.byGvr.delete(k);
    if (def) {
      if (!this.all().some((d) => d.group === group)) this.groupOrder = this.groupOrder.filter((g) => g !== group);
      this.changed();
    }
    return def;
  }

  get(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.byGvr.get(Registry.keyOf(group, version, resource));
  }

  all(): ResourceDef[] {
    return [...this.byGvr.values()];
  }

  /** Groups in registration order, each with its versions (first registered = preferred). */
  groups(): { name: string; versions: string[] }[] {
    return this.groupOrder.map((g) => {
      const versions: string[] = [];
      for (const d of this.byGvr.values()) if (d.group === g && !versions.includes(d.version)) versions.push(d.version);
      return { name: g, versions };
    });
  }

  resourcesIn(group: string, version: string): ResourceDef[] {
    return this.all().filter((d) => d.group === group && d.version === version);
  }

  /** Definitions whose objects live under a namespace (for namespace cleanup). */
  namespacedStorage(): ResourceDef[] {
    const seen = new Set<string>();
    return this.all().filter((d) => {
      if (!d.namespaced || !isStored(d)) return false;
      const p = storagePrefix(d);
      if (seen.has(p)) return false;
      seen.add(p);
      return true;
    });
  }

  onChange(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}
