import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { DeleteOptions, KubeApi, ObjectRef } from '../client.js';
import type { InformerSource, ResourceName, SharedInformer } from '../informers.js';

/**
 * In-memory stand-in for the API server, for unit tests only: implements the controllers' KubeApi and
 * InformerSource with just enough API semantics (uids, resourceVersion preconditions, merge patch, finalizers,
 * propagation finalizers) to exercise controller logic. Acceptance tests use the real `kedge server`.
 */
const kindToResource: Record<string, string> = {
  Pod: 'pods', Node: 'nodes', Service: 'services', Namespace: 'namespaces', ServiceAccount: 'serviceaccounts',
  ReplicaSet: 'replicasets', Deployment: 'deployments', DaemonSet: 'daemonsets', StatefulSet: 'statefulsets',
  Job: 'jobs', EndpointSlice: 'endpointslices', Endpoints: 'endpoints', Event: 'events', Lease: 'leases',
  ControllerRevision: 'controllerrevisions', PersistentVolume: 'persistentvolumes', PersistentVolumeClaim: 'persistentvolumeclaims',
  StorageClass: 'storageclasses', ResourceQuota: 'resourcequotas', ConfigMap: 'configmaps',
};

export class ApiError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = mergePatch(out[k], v);
  }
  return out;
}

type Obj = KubernetesObject & { spec?: any; status?: any; [k: string]: any };

function subscribe(list: Array<(o: Obj) => void>, cb: (o: Obj) => void): () => void {
  list.push(cb);
  return () => {
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  };
}

class FakeInformer implements SharedInformer<Obj> {
  readonly objects = new Map<string, Obj>();
  readonly add: Array<(o: Obj) => void> = [];
  readonly upd: Array<(o: Obj) => void> = [];
  readonly del: Array<(o: Obj) => void> = [];
  get(name: string, namespace?: string) {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }
  list(namespace?: string) {
    const all = [...this.objects.values()];
    return namespace ? all.filter((o) => o.metadata?.namespace === namespace) : all;
  }
  onAdd(cb: (o: Obj) => void) { return subscribe(this.add, cb); }
  onUpdate(cb: (o: Obj) => void) { return subscribe(this.upd, cb); }
  onDelete(cb: (o: Obj) => void) { return subscribe(this.del, cb); }
  synced() { return true; }
}

export class FakeCluster implements KubeApi, InformerSource {
  private rv = 1;
  private readonly stores = new Map<string, FakeInformer>();
  /** Every write, for assertions: "create Pod default/x" etc. */
  readonly actions: string[] = [];
  /** Inject failures: return an error to make the next matching call fail. */
  failNext?: (verb: string, kind: string, name: string) => Error | undefined;

  private store(resource: string): FakeInformer {
    let s = this.stores.get(resource);
    if (!s) this.stores.set(resource, (s = new FakeInformer()));
    return s;
  }
  private resourceOf(kind: string, namespace?: string): string {
    if (kind === 'Lease' && namespace === 'kube-node-lease') return 'nodeleases';
    if (kind === 'Secret') return 'bootstraptokens'; // the only Secrets a controller watches
    const r = kindToResource[kind];
    if (!r) throw new Error(`fake: unknown kind ${kind}`);
    return r;
  }

  get<T extends KubernetesObject>(resource: ResourceName): SharedInformer<T>;
  get<T extends KubernetesObject>(ref: ObjectRef): Promise<T | undefined>;
  get(arg: ResourceName | ObjectRef): unknown {
    if (typeof arg === 'string') return this.store(arg);
    const s = this.store(this.resourceOf(arg.kind, arg.namespace));
    const o = s.get(arg.name, arg.namespace);
    return Promise.resolve(o ? structuredClone(o) : undefined);
  }

  list<T = Obj>(kind: string, namespace?: string): T[] {
    return this.store(this.resourceOf(kind, namespace)).list(namespace) as T[];
  }
  find<T = Obj>(kind: string, name: string, namespace?: string): T | undefined {
    return this.store(this.resourceOf(kind, namespace)).get(name, namespace) as T | undefined;
  }

  private check(verb: string, kind: string, name: string): void {
    const e = this.failNext?.(verb, kind, name);
    if (e) throw e;
  }

  private emit(resource: string, type: 'add' | 'upd' | 'del', obj: Obj): void {
    const s = this.store(resource);
    for (const cb of s[type]) cb(obj);
  }

  async create<T extends KubernetesObject>(input: T): Promise<T> {
    const obj = structuredClone(input) as Obj;
    const md = (obj.metadata ??= {});
    if (!md.name && md.generateName) md.name = md.generateName + Math.random().toString(36).slice(2, 7);
    this.check('create', obj.kind!, md.name!);
    const resource = this.resourceOf(obj.kind!, md.namespace);
    const s = this.store(resource);
    const key = `${md.namespace ?? ''}/${md.name}`;
    if (s.objects.has(key)) throw new ApiError(409, `${resource} "${md.name}" already exists`);
    md.uid = randomUUID();
    md.resourceVersion = String(++this.rv);
    md.creationTimestamp = new Date().toISOString() as never;
    if (obj.spec && md.generation === undefined && resource !== 'pods' && resource !== 'nodes') md.generation = 1;
    s.objects.set(key, obj);
    this.actions.push(`create ${obj.kind} ${key}`);
    this.emit(resource, 'add', obj);
    return structuredClone(obj) as T;
  }

  /** Direct write for tests (e.g. a kubelet marking a pod Running), emitted as an update. */
  async update(kind: string, name: string, namespace: string | undefined, patch: object): Promise<Obj> {
    return this.applyPatch({ apiVersion: 'v1', kind, name, namespace }, patch, false);
  }

  async patch<T extends KubernetesObject>(ref: ObjectRef, patch: object): Promise<T> {
    return (await this.applyPatch(ref, patch, true)) as T;
  }
  /** Server-side apply, approximated: create, or merge the applied fields into what is there. */
  async apply<T extends KubernetesObject>(obj: T, _fieldManager: string): Promise<T> {
    const ref = { apiVersion: obj.apiVersion ?? 'v1', kind: obj.kind ?? '', name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace };
    if (!this.find(ref.kind, ref.name, ref.namespace)) return this.create(obj);
    return (await this.applyPatch(ref, obj, true, 'apply')) as T;
  }
  async patchStatus<T extends KubernetesObject>(ref: ObjectRef, patch: object): Promise<T> {
    const p = patch as { status?: unknown };
    return (await this.applyPatch(ref, { status: p.status }, true, 'patchStatus')) as T;
  }

  private async applyPatch(ref: ObjectRef, patch: object, record: boolean, verb = 'patch'): Promise<Obj> {
    this.check(verb, ref.kind, ref.name);
    const resource = this.resourceOf(ref.kind, ref.namespace);
    const s = this.store(resource);
    const key = `${ref.namespace ?? ''}/${ref.name}`;
    const cur = s.objects.get(key);
    if (!cur) throw new ApiError(404, `${resource} "${ref.name}" not found`);
    const wantRv = (patch as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    if (wantRv && wantRv !== cur.metadata?.resourceVersion) throw new ApiError(409, 'the object has been modified');
    const next = mergePatch(cur, patch) as Obj;
    next.metadata!.resourceVersion = String(++this.rv);
    if (JSON.stringify(cur.spec) !== JSON.stringify(next.spec) && cur.metadata?.generation !== undefined) {
      next.metadata!.generation = (cur.metadata.generation ?? 0) + 1;
    }
    if (record) this.actions.push(`${verb} ${ref.kind} ${key}`);
    if (next.metadata?.deletionTimestamp && !(next.metadata.finalizers ?? []).length && !(next.spec?.finalizers ?? []).length) {
      s.objects.delete(key);
      this.emit(resource, 'del', next);
      return structuredClone(next);
    }
    s.objects.set(key, next);
    this.emit(resource, 'upd', next);
    return structuredClone(next);
  }

  async delete(ref: ObjectRef, opts: DeleteOptions = {}): Promise<void> {
    this.check('delete', ref.kind, ref.name);
    const resource = this.resourceOf(ref.kind, ref.namespace);
    const s = this.store(resource);
    const key = `${ref.namespace ?? ''}/${ref.name}`;
    const cur = s.objects.get(key);
    if (!cur) throw new ApiError(404, `${resource} "${ref.name}" not found`);
    if (opts.uid && cur.metadata?.uid !== opts.uid) throw new ApiError(409, 'uid precondition failed');
    this.actions.push(`delete ${ref.kind} ${key}${opts.propagationPolicy ? ' ' + opts.propagationPolicy : ''}`);
    const finalizers = [...(cur.metadata?.finalizers ?? [])];
    if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (finalizers.length) {
      if (cur.metadata?.deletionTimestamp) return;
      const next = structuredClone(cur);
      next.metadata!.finalizers = finalizers;
      next.metadata!.deletionTimestamp = new Date().toISOString() as never;
      next.metadata!.resourceVersion = String(++this.rv);
      s.objects.set(key, next);
      this.emit(resource, 'upd', next);
      return;
    }
    s.objects.delete(key);
    this.emit(resource, 'del', cur);
  }

  async bindPod(namespace: string, podName: string, nodeName: string): Promise<void> {
    this.check('bind', 'Pod', podName);
    const pod = this.find<Obj>('Pod', podName, namespace);
    if (!pod) throw new ApiError(404, `pods "${podName}" not found`);
    if (pod.spec?.nodeName) throw new ApiError(409, `pod ${podName} is already assigned to node "${pod.spec.nodeName}"`);
    await this.applyPatch({ apiVersion: 'v1', kind: 'Pod', namespace, name: podName }, { spec: { nodeName } }, false);
    this.actions.push(`bind Pod ${namespace}/${podName} ${nodeName}`);
  }

  async finalizeNamespace(ns: KubernetesObject, finalizers: string[]): Promise<void> {
    const name = ns.metadata!.name!;
    const next = await this.applyPatch({ apiVersion: 'v1', kind: 'Namespace', name }, { spec: { finalizers } }, true, 'finalize');
    // As the API server: a terminating namespace with no finalizers left is removed.
    if (next.metadata?.deletionTimestamp && finalizers.length === 0 && !(next.metadata.finalizers ?? []).length) {
      this.store('namespaces').objects.delete(`/${name}`);
      this.emit('namespaces', 'del', next);
    }
  }

  async namespacedKinds(): Promise<Array<{ apiVersion: string; kind: string }>> {
    return [
      { apiVersion: 'v1', kind: 'Pod' }, { apiVersion: 'v1', kind: 'Service' }, { apiVersion: 'v1', kind: 'ServiceAccount' },
      { apiVersion: 'apps/v1', kind: 'Deployment' }, { apiVersion: 'apps/v1', kind: 'ReplicaSet' },
    ];
  }

  async listObjects(_apiVersion: string, kind: string, namespace: string): Promise<KubernetesObject[]> {
    return structuredClone(this.list(kind, namespace)) as KubernetesObject[];
  }
}
