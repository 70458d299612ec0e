import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { errorCode, isNotFound, type ObjectRef } from '../client.js';
import { QueueRunner, type Controller, type ControllerContext } from '../controller.js';
import type { ResourceName, SharedInformer } from '../informers.js';
import { CUSTOM_RESOURCES } from '../custom-resources.js';

/** Kinds the collector watches (as dependents and as owners), with their apiVersion. */
const watched: Array<{ kind: string; apiVersion: string; resource: ResourceName }> = [
  { kind: 'Pod', apiVersion: 'v1', resource: 'pods' },
  { kind: 'ReplicaSet', apiVersion: 'apps/v1', resource: 'replicasets' },
  { kind: 'ReplicationController', apiVersion: 'v1', resource: 'replicationcontrollers' },
  { kind: 'Deployment', apiVersion: 'apps/v1', resource: 'deployments' },
  { kind: 'DaemonSet', apiVersion: 'apps/v1', resource: 'daemonsets' },
  { kind: 'StatefulSet', apiVersion: 'apps/v1', resource: 'statefulsets' },
  { kind: 'Job', apiVersion: 'batch/v1', resource: 'jobs' },
  { kind: 'Service', apiVersion: 'v1', resource: 'services' },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', resource: 'endpointslices' },
  // Owners of per-pool workloads (served as built-in CRDs by kedge server): their deletion must reach the workloads.
  ...(['yurtappsets', 'deploymentgrids', 'statefulsetgrids', 'servicegrids'] as const).map((r) => ({
    kind: CUSTOM_RESOURCES[r].kind, apiVersion: `${CUSTOM_RESOURCES[r].group}/${CUSTOM_RESOURCES[r].version}`, resource: r,
  })),
];

type Obj = KubernetesObject;
interface Node {
  kind: string;
  apiVersion: string;
  namespace?: string;
  name: string;
  uid: string;
}
const refOf = (n: Node): ObjectRef => ({ apiVersion: n.apiVersion, kind: n.kind, namespace: n.namespace, name: n.name });

/**
 * Garbage collector by ownerReferences, as upstream:
 *  - a dependent whose owners are all gone (confirmed with a live GET, not just the cache) is deleted;
 *    dangling references next to live owners are removed instead;
 *  - an owner deleted with propagationPolicy=Orphan carries the `orphan` finalizer: we strip its uid from its
 *    dependents' ownerReferences, then remove the finalizer;
 *  - an owner deleted with Foreground carries `foregroundDeletion`: its dependents are deleted (in foreground
 *    too) and the finalizer is removed once no dependent with blockOwnerDeletion=true remains.
 * Work items are "d:<kind>|<ns>|<name>" (check a dependent) and "o:<kind>|<ns>|<name>" (process an owner).
 */
export class GarbageCollector implements Controller {
  readonly name = 'garbagecollector';
  private readonly runner: QueueRunner;
  /** owner uid → dependent keys */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly informers = new Map<string, SharedInformer<Obj>>();

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  private static key(kind: string, o: Obj): string {
    return `${kind}|${o.metadata?.namespace ?? ''}|${o.metadata?.name}`;
  }

  start(): void {
    const q = this.runner.queue;
    for (const w of watched) {
      const inf = this.ctx.informers.get<Obj>(w.resource);
      this.informers.set(w.kind, inf);
      const index = (o: Obj, add: boolean) => {
        const k = GarbageCollector.key(w.kind, o);
        for (const r of o.metadata?.ownerReferences ?? []) {
          let s = this.dependents.get(r.uid);
          if (!s) this.dependents.set(r.uid, (s = new Set()));
          if (add) s.add(k);
          else s.delete(k);
        }
      };
      const onChange = (o: Obj) => {
        index(o, true);
        if (o.metadata?.ownerReferences?.length) q.add(`d:${GarbageCollector.key(w.kind, o)}`);
        const f = o.metadata?.finalizers ?? [];
        if (o.metadata?.deletionTimestamp && (f.includes('orphan') || f.includes('foregroundDeletion'))) q.add(`o:${GarbageCollector.key(w.kind, o)}`);
      };
      inf.onAdd(onChange);
      const prevRefs = new Map<string, string[]>();
      inf.onUpdate((o) => {
        // Drop index entries for owner refs that were removed.
        const k = GarbageCollector.key(w.kind, o);
        const now = (o.metadata?.ownerReferences ?? []).map((r) => r.uid);
        for (const uid of prevRefs.get(k) ?? []) if (!now.includes(uid)) this.dependents.get(uid)?.delete(k);
        prevRefs.set(k, now);
        onChange(o);
      });
      inf.onDelete((o) => {
        const k = GarbageCollector.key(w.kind, o);
        index(o, false);
        prevRefs.delete(k);
        // Owners may be waiting on this dependent (foreground); re-check them.
        for (const r of o.metadata?.ownerReferences ?? []) {
          const owner = this.findByUid(r);
          if (owner) q.add(`o:${GarbageCollector.key(r.kind, owner)}`);
        }
        // Its dependents may now be orphaned.
        for (const d of this.dependents.get(o.metadata?.uid ?? '') ?? []) q.add(`d:${d}`);
      });
    }
    this.runner.run();
  }

  private findByUid(r: V1OwnerReference): Obj | undefined {
    const inf = this.informers.get(r.kind);
    if (!inf) return undefined;
    // Owners are namespaced like their dependents, or cluster-scoped.
    for (const o of inf.list()) if (o.metadata?.uid === r.uid) return o;
    return undefined;
  }

  private lookup(kind: string, ns: string, name: string): Obj | undefined {
    return this.informers.get(kind)?.get(name, ns || undefined);
  }

  private apiVersionOf(kind: string): string {
    return watched.find((w) => w.kind === kind)?.apiVersion ?? 'v1';
  }

  /** Does the owner still exist with the same uid? Cache first; a cache miss is confirmed with the API. */
  private async ownerState(r: V1OwnerReference, ns: string | undefined): Promise<Obj | undefined> {
    const cached = this.lookup(r.kind, ns ?? '', r.name) ?? this.lookup(r.kind, '', r.name);
    if (cached && cached.metadata?.uid === r.uid) return cached;
    const live = await this.ctx.api.get<Obj>({ apiVersion: r.apiVersion, kind: r.kind, namespace: ns, name: r.name }).catch(async (err) => {
      // cluster-scoped owner referenced from a namespaced dependent
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (live && live.metadata?.uid === r.uid) return live;
    return undefined;
  }

  private async sync(item: string): Promise<void> {
    const [kind, ns, name] = item.slice(2).split('|') as [string, string, string];
    const obj = this.lookup(kind, ns, name);
    if (!obj) return;
    const node: Node = { kind, apiVersion: this.apiVersionOf(kind), namespace: ns || undefined, name, uid: obj.metadata!.uid! };
    if (item.startsWith('o:')) return this.processOwner(obj, node);
    return this.processDependent(obj, node);
  }

  private async processDependent(obj: Obj, node: Node): Promise<void> {
    const refs = obj.metadata?.ownerReferences ?? [];
    if (!refs.length || obj.metadata?.deletionTimestamp) return;
    const live: V1OwnerReference[] = [];
    const dangling: V1OwnerReference[] = [];
    let foregroundOwner = false;
    for (const r of refs) {
      const owner = await this.ownerState(r, node.namespace);
      if (!owner) dangling.push(r);
      else {
        live.push(r);
        const f = owner.metadata?.finalizers ?? [];
        if (owner.metadata?.deletionTimestamp && f.includes('foregroundDeletion')) foregroundOwner = true;
      }
    }
    const others = live.filter((r) => {
      const o = this.findByUid(r);
      return !(o?.metadata?.deletionTimestamp && (o.metadata.finalizers ?? []).includes('foregroundDeletion'));
    });
    if (dangling.length === 0 && !(foregroundOwner && others.length === 0)) return;
    if (live.length === 0 || (foregroundOwner && others.length === 0)) {
      const policy = foregroundOwner ? 'Foreground' : 'Background';
      try {
        await this.ctx.api.delete(refOf(node), { propagationPolicy: policy, uid: node.uid });
      } catch (err) {
        if (!isNotFound(err) && errorCode(err) !== 409) throw err;
      }
      return;
    }
    // Some owners live: just drop the dangling references.
    await this.ctx.api.patch(refOf(node), {
      metadata: { resourceVersion: obj.metadata?.resourceVersion, ownerReferences: refs.filter((r) => !dangling.includes(r)) },
    });
  }

  private async processOwner(owner: Obj, node: Node): Promise<void> {
    const f = owner.metadata?.finalizers ?? [];
    if (!owner.metadata?.deletionTimestamp) return;
    const deps = [...(this.dependents.get(node.uid) ?? [])]
      .map((k) => {
        const [kind, ns, name] = k.split('|') as [string, string, string];
        return { kind, ns, name, obj: this.lookup(kind, ns, name) };
      })
      .filter((d) => d.obj && d.obj.metadata?.ownerReferences?.some((r) => r.uid === node.uid));
    if (f.includes('orphan')) {
      for (const d of deps) {
        const refs = d.obj!.metadata!.ownerReferences!.filter((r) => r.uid !== node.uid);
        await this.ctx.api.patch(
          { apiVersion: this.apiVersionOf(d.kind), kind: d.kind, namespace: d.ns || undefined, name: d.name },
          { metadata: { resourceVersion: d.obj!.metadata?.resourceVersion, ownerReferences: refs.length ? refs : null } },
        );
      }
      await this.removeFinalizer(owner, node, 'orphan');
      return;
    }
    if (f.includes('foregroundDeletion')) {
      let blocking = 0;
      for (const d of deps) {
        const ref = d.obj!.metadata!.ownerReferences!.find((r) => r.uid === node.uid)!;
        if (ref.blockOwnerDeletion) blocking++;
        if (d.obj!.metadata?.deletionTimestamp) continue;
        try {
          await this.ctx.api.delete(
            { apiVersion: this.apiVersionOf(d.kind), kind: d.kind, namespace: d.ns || undefined, name: d.name },
            { propagationPolicy: 'Foreground', uid: d.obj!.metadata?.uid },
          );
        } catch (err) {
          if (!isNotFound(err) && errorCode(err) !== 409) throw err;
        }
      }
      if (blocking === 0) await this.removeFinalizer(owner, node, 'foregroundDeletion');
    }
  }

  private async removeFinalizer(owner: Obj, node: Node, finalizer: string): Promise<void> {
    const rest = (owner.metadata?.finalizers ?? []).filter((x) => x !== finalizer);
    try {
      await this.ctx.api.patch(refOf(node), { metadata: { resourceVersion: owner.metadata?.resourceVersion, finalizers: rest.length ? rest : null } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
