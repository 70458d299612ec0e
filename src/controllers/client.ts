import {
  AppsV1Api,
  ApisApi,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Namespace,
} from '@kubernetes/client-node';

import { CUSTOM_RESOURCES } from './custom-resources.js';

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
 * against an in-memory fake while production uses @kubernetes/client-node (and thereby works against any
 * conformant API server, not just Kedge's).
 */
export interface KubeApi {
  create<T extends KubernetesObject>(obj: T): Promise<T>;
  /** JSON merge patch of the main resource. Put metadata.resourceVersion in the patch for optimistic concurrency. */
  patch<T extends KubernetesObject>(ref: ObjectRef, patch: object): Promise<T>;
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

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Typed values come back with Date objects; controllers work on wire-format JSON (timestamps as strings). */
export function toWire<T>(obj: T): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

export function makeKubeApi(kc: KubeConfig): KubeApi {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const customObjects = kc.makeApiClient(CustomObjectsApi);
  const header = (ref: ObjectRef) => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
  });

  return {
    async create(obj) {
      return toWire(await objects.create(obj, undefined, undefined, 'kedge-controller-manager'));
    },
    async patch(ref, patch) {
      const p = patch as { metadata?: object };
      const body = { ...p, ...header(ref), metadata: { ...(p.metadata ?? {}), ...header(ref).metadata } };
      return toWire(
        await objects.patch(body, undefined, undefined, 'kedge-controller-manager', undefined, PatchStrategy.MergePatch),
      ) as never;
    },
    async patchStatus(ref, patch) {
      const name = ref.name;
      const namespace = ref.namespace ?? '';
      const body = patch;
      let out: unknown;
      switch (ref.kind) {
        case 'Pod': out = await core.patchNamespacedPodStatus({ name, namespace, body }, mergePatch); break;
        case 'Node': out = await core.patchNodeStatus({ name, body }, mergePatch); break;
        case 'Deployment': out = await apps.patchNamespacedDeploymentStatus({ name, namespace, body }, mergePatch); break;
        case 'ReplicaSet': out = await apps.patchNamespacedReplicaSetStatus({ name, namespace, body }, mergePatch); break;
        case 'DaemonSet': out = await apps.patchNamespacedDaemonSetStatus({ name, namespace, body }, mergePatch); break;
        case 'StatefulSet': out = await apps.patchNamespacedStatefulSetStatus({ name, namespace, body }, mergePatch); break;
        case 'Job': out = await batch.patchNamespacedJobStatus({ name, namespace, body }, mergePatch); break;
        default: {
          const custom = Object.values(CUSTOM_RESOURCES).find((r) => `${r.group}/${r.version}` === ref.apiVersion && r.kind === ref.kind);
          if (!custom) throw new Error(`patchStatus: unsupported kind ${ref.kind}`);
          const { group, version, plural } = custom;
          out = custom.namespaced
            ? await customObjects.patchNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body }, mergePatch)
            : await customObjects.patchClusterCustomObjectStatus({ group, version, plural, name, body }, mergePatch);
        }
      }
      return toWire(out) as never;
    },
    async delete(ref, opts = {}) {
      const body = {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
        ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
      };
      await objects.delete(header(ref), undefined, undefined, opts.gracePeriodSeconds, undefined, opts.propagationPolicy, body);
    },
    async get(ref) {
      try {
        return toWire(await objects.read(header(ref) as never)) as never;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async bindPod(namespace, podName, nodeName, podUid) {
      await core.createNamespacedPodBinding({
        name: podName,
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: podName, namespace, ...(podUid ? { uid: podUid } : {}) },
          target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        },
      });
    },
    async namespacedKinds() {
      const out: Array<{ apiVersion: string; kind: string }> = [];
      const usable = (r: { name: string; namespaced: boolean; verbs: string[] }) =>
        r.namespaced && !r.name.includes('/') && r.verbs.includes('list') && r.verbs.includes('delete');
      for (const r of (await core.getAPIResources()).resources) if (usable(r)) out.push({ apiVersion: 'v1', kind: r.kind });
      const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
      const custom = kc.makeApiClient(CustomObjectsApi);
      for (const g of groups.groups) {
        const gv = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
        if (!gv) continue;
        const [group, version] = gv.split('/') as [string, string];
        try {
          const list = (await custom.getAPIResources({ group, version })) as { resources: Array<{ name: string; namespaced: boolean; verbs: string[]; kind: string }> };
          for (const r of list.resources) if (usable(r)) out.push({ apiVersion: gv, kind: r.kind });
        } catch {
          // a group that fails discovery cannot hold anything we can delete; skip it
        }
      }
      return out;
    },
    async listObjects(apiVersion, kind, namespace) {
      const list = await objects.list(apiVersion, kind, namespace);
      return toWire(list.items);
    },
    async finalizeNamespace(ns, finalizers) {
      const name = ns.metadata!.name!;
      await core.replaceNamespaceFinalize({ name, body: { ...ns, spec: { ...(ns.spec ?? {}), finalizers } } });
    },
  };
}
