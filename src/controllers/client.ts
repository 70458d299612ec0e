import type { KubernetesObject, V1Namespace } from '@kubernetes/client-node';
import { KubeApiError, seg, type KubeClient } from '../common/kube-client.js';

/** Identifies one object for a write: apiVersion + kind locate the resource, namespace + name the object. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Only delete if the object still has this uid (protects against deleting a re-created namesake). */
  uid?: string;
  gracePeriodSeconds?: number;
}

/**
 * Every write the controllers make goes through this narrow interface, so controller logic can be unit-tested
 * against an in-memory fake while production speaks plain Kubernetes REST through src/common/kube-client.ts (and
 * thereby works against any conformant API server, not just Kedge's).
 */
export interface KubeApi {
  create<T extends KubernetesObject>(obj: T): Promise<T>;
  /** JSON merge patch of the main resource. Put metadata.resourceVersion in the patch for optimistic concurrency. */
  patch<T extends KubernetesObject>(ref: ObjectRef, patch: object): Promise<T>;
  /**
   * Server-side apply (`application/apply-patch+yaml`) as `fieldManager`, taking over conflicting fields (`force`),
   * as a deployer that owns what its source says does. Namespaced objects without a namespace land in `default`.
   */
  apply<T extends KubernetesObject>(obj: T, fieldManager: string): Promise<T>;
  /** JSON merge patch of the status subresource. */
  patchStatus<T extends KubernetesObject>(ref: ObjectRef, patch: object): Promise<T>;
  delete(ref: ObjectRef, opts?: DeleteOptions): Promise<void>;
  get<T extends KubernetesObject>(ref: ObjectRef): Promise<T | undefined>;
  bindPod(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void>;
  /** PUT /api/v1/namespaces/NAME/finalize with the given spec.finalizers. */
  finalizeNamespace(ns: V1Namespace, finalizers: string[]): Promise<void>;
  /** Every namespaced resource kind the server serves (from discovery) that can be listed and deleted. */
  namespacedKinds(): Promise<Array<{ apiVersion: string; kind: string }>>;
  listObjects(apiVersion: string, kind: string, namespace: string): Promise<KubernetesObject[]>;
}

/** HTTP status of an API error, whatever shape the client library gave it. */
export function errorCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}
export const isNotFound = (err: unknown): boolean => errorCode(err) === 404;

/** The API server's Status message of a failed call (client-node keeps the body as text or JSON), else the error's. */
export function apiErrorMessage(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body;
    }
  }
  const msg = (parsed as { message?: unknown } | undefined)?.message;
  return typeof msg === 'string' ? msg : String((err as Error | undefined)?.message ?? err);
}
export const isConflict = (err: unknown): boolean => errorCode(err) === 409;

const MERGE_PATCH = 'application/merge-patch+json';
const FIELD_MANAGER = 'kedge-controller-manager';
/** A groupVersion's discovery is trusted this long when a kind is missing from it (a CRD may have just been added). */
const DISCOVERY_STALE_MS = 10_000;

/** Typed values come back with Date objects; controllers work on wire-format JSON (timestamps as strings). */
export function toWire<T>(obj: T): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

interface ApiResource { name: string; kind: string; namespaced: boolean; verbs: string[] }

/** Kind → resource mapping from the server's discovery documents, cached per groupVersion. */
class Discovery {
  private readonly byGroupVersion = new Map<string, { at: number; resources: ApiResource[] }>();

  constructor(private readonly client: KubeClient) {}

  static pathOf(groupVersion: string): string {
    return groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
  }

  async resources(groupVersion: string, fresh = false): Promise<ApiResource[]> {
    const cached = this.byGroupVersion.get(groupVersion);
    if (cached && !fresh) return cached.resources;
    const doc = await this.client.request<{ resources: ApiResource[] }>('GET', Discovery.pathOf(groupVersion));
    // Subresources (pods/status) are not kinds of their own.
    const resources = doc.resources.filter((r) => !r.name.includes('/'));
    this.byGroupVersion.set(groupVersion, { at: Date.now(), resources });
    return resources;
  }

  async resourceFor(apiVersion: string, kind: string): Promise<ApiResource> {
    let found = (await this.resources(apiVersion)).find((r) => r.kind === kind);
    if (!found && Date.now() - (this.byGroupVersion.get(apiVersion)?.at ?? 0) > DISCOVERY_STALE_MS) {
      found = (await this.resources(apiVersion, true)).find((r) => r.kind === kind);
    }
    if (!found) throw new KubeApiError(404, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `the server doesn't have a resource type for ${kind} in ${apiVersion}` }), 'GET', Discovery.pathOf(apiVersion));
    return found;
  }

  /** The collection path of `ref`'s kind (namespaced when the resource is), and the object's path. */
  async paths(ref: { apiVersion: string; kind: string; namespace?: string; name?: string }): Promise<{ collection: string; object: string }> {
    const r = await this.resourceFor(ref.apiVersion, ref.kind);
    const ns = r.namespaced ? `/namespaces/${seg(ref.namespace || 'default')}` : '';
    const collection = `${Discovery.pathOf(ref.apiVersion)}${ns}/${r.name}`;
    return { collection, object: `${collection}/${seg(ref.name ?? '')}` };
  }
}

export function makeKubeApi(client: KubeClient): KubeApi {
  const discovery = new Discovery(client);
  const manager = `fieldManager=${FIELD_MANAGER}`;
  const withMeta = (ref: ObjectRef, patch: object): object => {
    const p = patch as { metadata?: object };
    return { ...p, apiVersion: ref.apiVersion, kind: ref.kind, metadata: { ...(p.metadata ?? {}), name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } };
  };

  return {
    async create(obj) {
      const { collection } = await discovery.paths({ apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '', namespace: obj.metadata?.namespace });
      return client.request('POST', `${collection}?${manager}`, obj);
    },
    async patch(ref, patch) {
      const { object } = await discovery.paths(ref);
      return client.request('PATCH', `${object}?${manager}`, withMeta(ref, patch), MERGE_PATCH);
    },
    async apply(obj, fieldManager) {
      const { object } = await discovery.paths({ apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '', namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? '' });
      // JSON is YAML: the apply body needs no YAML writer.
      return client.request('PATCH', `${object}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`, obj, 'application/apply-patch+yaml');
    },
    async patchStatus(ref, patch) {
      const { object } = await discovery.paths(ref);
      return client.request('PATCH', `${object}/status?${manager}`, patch, MERGE_PATCH);
    },
    async delete(ref, opts = {}) {
      const { object } = await discovery.paths(ref);
      const body = {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
        ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
      };
      await client.request('DELETE', object, body);
    },
    async get(ref) {
      try {
        const { object } = await discovery.paths(ref);
        return await client.request('GET', object);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async bindPod(namespace, podName, nodeName, podUid) {
      await client.request('POST', `/api/v1/namespaces/${seg(namespace)}/pods/${seg(podName)}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: podName, namespace, ...(podUid ? { uid: podUid } : {}) },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      });
    },
    async namespacedKinds() {
      const out: Array<{ apiVersion: string; kind: string }> = [];
      const usable = (r: ApiResource) => r.namespaced && r.verbs.includes('list') && r.verbs.includes('delete');
      for (const r of await discovery.resources('v1', true)) if (usable(r)) out.push({ apiVersion: 'v1', kind: r.kind });
      const groups = await client.request<{ groups: Array<{ preferredVersion?: { groupVersion: string }; versions: Array<{ groupVersion: string }> }> }>('GET', '/apis');
      for (const g of groups.groups) {
        const gv = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
        if (!gv) continue;
        try {
          for (const r of await discovery.resources(gv, true)) if (usable(r)) out.push({ apiVersion: gv, kind: r.kind });
        } catch {
          // a group that fails discovery cannot hold anything we can delete; skip it
        }
      }
      return out;
    },
    async listObjects(apiVersion, kind, namespace) {
      const { collection } = await discovery.paths({ apiVersion, kind, namespace });
      const list = await client.request<{ items?: KubernetesObject[] }>('GET', collection);
      // List items carry no apiVersion/kind on the wire; callers address them by the kind they asked for.
      return (list.items ?? []).map((o) => ({ ...o, apiVersion, kind }));
    },
    async finalizeNamespace(ns, finalizers) {
      const name = ns.metadata!.name!;
      await client.request('PUT', `/api/v1/namespaces/${seg(name)}/finalize`, { ...ns, spec: { ...(ns.spec ?? {}), finalizers } });
    },
  };
}
