/**
 * Admission beyond authorization (which src/apiserver/auth does): TaintNodesByCondition, Priority, LimitRanger and ResourceQuota as
 * upstream's built-in plugins, then the dynamic admission webhooks (mutating, then validating). Called by the
 * ObjectStore for every write after validation.
 */
import type { KubeObject } from '../../apimachinery/object.js';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import type { Registry, ResourceDef, StrategyContext } from '../registry.js';
import type { DeleteOptions, ObjectStore } from '../objects.js';
import { QuotaAdmission } from './limits.js';
import type { Obj } from '../resources/helpers.js';
import { admitPodPriority } from './priority.js';
import { admitNewNodeTaint } from './node-taint.js';
import { evaluatePodSecurity, existingPodWarnings, POD_SECURITY_LABEL_PREFIX } from './pod-security.js';
import { forbidden } from '../../apimachinery/status.js';
import { DEFAULT_STORAGE_CLASS_ANNOTATION } from '../resources/storage.js';
import { revalidator, WebhookAdmission } from './webhooks.js';
import type { PodSecurityConfig } from './admission-config.js';
import type { Logger } from '../../common/logger.js';

const PRIORITY_CLASSES = '/registry/scheduling.k8s.io/priorityclasses/';
const NAMESPACES = '/registry/core/namespaces/';
const PODS = '/registry/core/pods/';

/** The pod spec a write carries: a Pod's, or the template of a workload resource (CronJob: its job's template). */
function podSpecOf(def: ResourceDef, obj: KubeObject): Obj | undefined {
  const o = obj as Obj;
  if (def.group === '' && def.resource === 'pods') return o.spec ?? {};
  if (def.group === '' && def.resource === 'replicationcontrollers') return o.spec?.template?.spec;
  if (def.group === 'apps' && ['deployments', 'replicasets', 'statefulsets', 'daemonsets'].includes(def.resource)) return o.spec?.template?.spec;
  if (def.group === 'batch' && def.resource === 'jobs') return o.spec?.template?.spec;
  if (def.group === 'batch' && def.resource === 'cronjobs') return o.spec?.jobTemplate?.spec?.template?.spec;
  return undefined;
}

/** A namespace's labels with enforce dropped (pod templates are only warned about). */
function warnOnly(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !k.startsWith(`${POD_SECURITY_LABEL_PREFIX}enforce`)));
}
const STORAGE_CLASSES = '/registry/storage.k8s.io/storageclasses/';

/**
 * StorageObjectInUseProtection: new claims get `kubernetes.io/pvc-protection`, new volumes `kubernetes.io/pv-protection`;
 * the pvc-protection / pv-protection controllers (src/controllers/storage/protection.ts) remove them once unused.
 */
function storageObjectInUseProtection(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): void {
  if (old || ctx.subresource || def.group !== '') return;
  const finalizer = def.resource === 'persistentvolumeclaims' ? 'kubernetes.io/pvc-protection' : def.resource === 'persistentvolumes' ? 'kubernetes.io/pv-protection' : undefined;
  if (!finalizer) return;
  const md = (obj.metadata ??= {});
  if (!(md.finalizers ?? []).includes(finalizer)) md.finalizers = [...(md.finalizers ?? []), finalizer];
}

export class BuiltinAdmission {
  private readonly webhooks: WebhookAdmission;
  private readonly quota: QuotaAdmission;
  constructor(private readonly feed: WatchCacheFeed, log: Logger, registry: Registry, objects: () => ObjectStore, private readonly podSecurityConfig?: PodSecurityConfig) {
    this.webhooks = new WebhookAdmission(feed, log);
    this.quota = new QuotaAdmission(feed, registry, objects);
  }

  /** Upstream's plugin order: TaintNodesByCondition, LimitRanger, DefaultStorageClass, StorageObjectInUseProtection, Priority, mutating webhooks, validating webhooks, ResourceQuota. */
  async admit(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
    if (!old && !ctx.subresource && def.group === '' && def.resource === 'nodes') admitNewNodeTaint(obj);
    await this.podSecurity(def, obj, old, ctx);
    await this.quota.limitRanger(def, obj, old, ctx);
    await this.defaultStorageClass(def, obj, old, ctx);
    storageObjectInUseProtection(def, obj, old, ctx);
    await this.priority(def, obj, old, ctx);
    // Every create/update, whoever writes it (controllers too), as upstream; DELETE: admitDelete, CONNECT: admitConnect.
    const a = { def, obj, old, operation: old ? 'UPDATE' as const : 'CREATE' as const, ctx };
    await this.webhooks.admit(a, revalidator(a));
    await this.quota.admit(def, obj, old, ctx);
  }

  /**
   * DELETE: the webhooks get the stored object as oldObject and the request's DeleteOptions as options (upstream's
   * AdmissionToValidateObjectDeleteFunc: mutating, whose patches have no object to apply to, then validating).
   */
  async admitDelete(def: ResourceDef, old: KubeObject, opts: DeleteOptions, ctx: StrategyContext): Promise<void> {
    const options: Obj = { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions' };
    if (opts.gracePeriodSeconds !== undefined) options.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.preconditions) options.preconditions = opts.preconditions;
    if (opts.propagationPolicy) options.propagationPolicy = opts.propagationPolicy;
    if (opts.dryRun) options.dryRun = ['All'];
    await this.webhooks.admit({ def, obj: null, old, operation: 'DELETE', ctx: { ...ctx, dryRun: opts.dryRun }, options }, () => undefined);
  }

  /**
   * CONNECT (pods/exec, attach, portforward): the webhooks get the connect options (PodExecOptions, ...) as the
   * object and as the request's kind, no oldObject and no options, as upstream's ConnectResource admits them.
   */
  async admitConnect(def: ResourceDef, name: string, options: KubeObject, ctx: StrategyContext): Promise<void> {
    await this.webhooks.admit({ def, obj: options, old: null, operation: 'CONNECT', ctx, kind: options.kind, name }, () => undefined);
  }

  /** A namespace's PodSecurity labels over the admission configuration's defaults (a namespace's own label wins per key). */
  private podSecurityLabels(labels: Record<string, string> | undefined): Record<string, string> {
    return { ...(this.podSecurityConfig?.defaults ?? {}), ...(labels ?? {}) };
  }

  /**
   * PodSecurity: enforce (pods) and warn (pods and pod templates) by the namespace's labels (pod-security.ts) over
   * the admission configuration's defaults; exempt usernames, runtimeClasses and namespaces are not evaluated.
   */
  private async podSecurity(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
    const exempt = this.podSecurityConfig?.exemptions;
    if (old && !ctx.subresource && def.group === '' && def.resource === 'namespaces') {
      // A namespace whose enforce level changes: its existing pods the new level would refuse, as warnings.
      const ns = obj.metadata?.name ?? '';
      if (exempt?.namespaces.has(ns)) return;
      const pods = (await this.feed.cache(PODS)).snapshot(`${PODS}${ns}/`).map((c) => c.obj as Obj)
        .filter((p) => !exempt?.runtimeClasses.has(p.spec?.runtimeClassName ?? ''));
      for (const w of existingPodWarnings(ns, this.podSecurityLabels(old.metadata?.labels), this.podSecurityLabels(obj.metadata?.labels), pods)) ctx.warn?.(w);
      return;
    }
    if (old || ctx.subresource) return;
    const spec = podSpecOf(def, obj);
    if (!spec) return;
    const ns = obj.metadata?.namespace ?? ctx.namespace;
    if (exempt && (exempt.namespaces.has(ns) || exempt.usernames.has(ctx.user.username) || exempt.runtimeClasses.has(spec.runtimeClassName ?? ''))) return;
    const namespace = (await this.feed.cache(NAMESPACES)).get(NAMESPACES + ns)?.obj;
    const labels = this.podSecurityLabels(namespace?.metadata?.labels);
    const verdict = evaluatePodSecurity(spec, labels);
    // Enforce is for pods only; a pod template is warned about, as upstream.
    if (verdict.refuse && def.resource === 'pods') throw forbidden({ group: '', resource: 'pods' }, obj.metadata?.name ?? '', verdict.refuse);
    const warnings = def.resource === 'pods' ? verdict.warnings : evaluatePodSecurity(spec, { ...warnOnly(labels) }).warnings;
    for (const w of warnings) ctx.warn?.(w);
  }

  /**
   * DefaultStorageClass: a claim created without spec.storageClassName gets the default class (the newest when
   * several are marked default, as upstream); an explicit "" stays classless.
   */
  private async defaultStorageClass(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
    if (old || ctx.subresource || def.group !== '' || def.resource !== 'persistentvolumeclaims') return;
    const spec = ((obj as Obj).spec ??= {}) as Obj;
    if (spec.storageClassName !== undefined && spec.storageClassName !== null) return;
    const defaults = (await this.feed.cache(STORAGE_CLASSES)).snapshot().map((c) => c.obj as Obj)
      .filter((c) => c.metadata?.annotations?.[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true' || c.metadata?.annotations?.['storageclass.beta.kubernetes.io/is-default-class'] === 'true')
      .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')) || String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
    if (defaults.length) spec.storageClassName = defaults[0]!.metadata.name;
  }

  private async priority(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
    if (old || ctx.subresource || def.group !== '' || def.resource !== 'pods') return;
    const classes = await this.feed.cache(PRIORITY_CLASSES);
    admitPodPriority(obj as Obj, {
      get: (name) => classes.get(PRIORITY_CLASSES + name)?.obj as Obj | undefined,
      all: () => classes.snapshot().map((c) => c.obj as Obj),
    });
  }
}
