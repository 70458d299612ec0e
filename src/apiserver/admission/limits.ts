/**
 * Upstream's LimitRanger and ResourceQuota admission plugins:
 * - LimitRange `type: Container`: default limits / default requests filled into containers that set none, then
 *   min / max / maxLimitRequestRatio checked; `type: PersistentVolumeClaim`: min / max of the storage request
 *   (403 with upstream's wording).
 * - ResourceQuota: object counts (`pods`, `services`, `count/<resource>`, ...), compute requests/limits and
 *   `requests.storage` (src/common/quota.ts counts them): a create (or a Service/claim update that uses more) that
 *   would pass `spec.hard` is refused with upstream's `exceeded quota` message; an admitted one is charged to the
 *   quota's status.used with an optimistic write, re-checked on conflict, as upstream's admission does (so it is
 *   atomic under concurrent creates, across API servers too); the resource quota controller recounts it
 *   (src/controllers/quota). Names the status does not carry yet are counted from the watch cache.
 */
import type { KubeObject } from '../../apimachinery/object.js';
import { forbidden, StatusError } from '../../apimachinery/status.js';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { addQuantities, compareQuantities, formatQuantity, milliValue, parseQuantity, subtractQuantities, tryParseQuantity, type Quantity } from '../../common/quantity.js';
import { accumulate, missingPodResources, quotaCounts, usageOf, usedStatus, ZERO, type QuotaScopeSpec } from '../../common/quota.js';
import type { ObjectStore } from '../objects.js';
import type { Registry, ResourceDef, StrategyContext } from '../registry.js';
import type { Obj } from '../resources/helpers.js';

const q = (v: unknown): Quantity | undefined => tryParseQuantity(v);

/** Upstream's `%f`: six decimals. */
const ratioText = (limit: Quantity, request: Quantity): string => (Number(milliValue(limit)) / Number(milliValue(request))).toFixed(6);

function checkContainer(item: Obj, r: Obj, why: (msg: string) => StatusError): void {
  for (const [name, min] of Object.entries((item.min ?? {}) as Obj)) {
    const req = q(r.requests?.[name]);
    if (!req) throw why(`minimum ${name} usage per Container is ${min}.  No request is specified`);
    if (compareQuantities(req, parseQuantity(String(min))) < 0) throw why(`minimum ${name} usage per Container is ${min}, but request is ${r.requests[name]}`);
  }
  for (const [name, max] of Object.entries((item.max ?? {}) as Obj)) {
    const lim = q(r.limits?.[name]);
    if (!lim) throw why(`maximum ${name} usage per Container is ${max}.  No limit is specified`);
    if (compareQuantities(lim, parseQuantity(String(max))) > 0) throw why(`maximum ${name} usage per Container is ${max}, but limit is ${r.limits[name]}`);
  }
  for (const [name, ratio] of Object.entries((item.maxLimitRequestRatio ?? {}) as Obj)) {
    const lim = q(r.limits?.[name]);
    const req = q(r.requests?.[name]);
    if (!req || milliValue(req) === 0n) throw why(`${name} max limit to request ratio per Container is ${ratio}, but no request is specified or request is 0`);
    if (!lim || milliValue(lim) === 0n) throw why(`${name} max limit to request ratio per Container is ${ratio}, but no limit is specified or limit is 0`);
    const max = parseQuantity(String(ratio));
    if (milliValue(lim) * 1000n > milliValue(max) * milliValue(req)) throw why(`${name} max limit to request ratio per Container is ${ratio}, but provided ratio is ${ratioText(lim, req)}`);
  }
}

/** LimitRanger: defaults, then min/max/ratio, for the containers of a pod being created (mutates the pod). */
export function admitLimitRanges(pod: Obj, ranges: Obj[]): void {
  const containers = [...((pod.spec?.containers ?? []) as Obj[]), ...((pod.spec?.initContainers ?? []) as Obj[])];
  const why = (msg: string) => forbidden({ group: '', resource: 'pods' }, pod.metadata?.name ?? '', msg);
  for (const lr of ranges) {
    for (const item of ((lr.spec?.limits ?? []) as Obj[]).filter((l) => l.type === 'Container')) {
      for (const c of containers) {
        const r = (c.resources ??= {}) as Obj;
        for (const [name, v] of Object.entries((item.default ?? {}) as Obj)) if (r.limits?.[name] === undefined) (r.limits ??= {})[name] = v;
        for (const [name, v] of Object.entries((item.defaultRequest ?? {}) as Obj)) if (r.requests?.[name] === undefined) (r.requests ??= {})[name] = v;
        // A limit without a request requests the limit (pod defaulting runs again after the LimitRanger upstream).
        for (const [name, v] of Object.entries((r.limits ?? {}) as Obj)) if (r.requests?.[name] === undefined) (r.requests ??= {})[name] = v;
        checkContainer(item, r, why);
      }
    }
  }
}

/** LimitRanger for a claim: the storage request within each `PersistentVolumeClaim` item's min and max. */
export function admitClaimLimitRanges(claim: Obj, ranges: Obj[]): void {
  const why = (msg: string) => forbidden({ group: '', resource: 'persistentvolumeclaims' }, claim.metadata?.name ?? '', msg);
  const requests = (claim.spec?.resources?.requests ?? {}) as Obj;
  for (const lr of ranges) {
    for (const item of ((lr.spec?.limits ?? []) as Obj[]).filter((l) => l.type === 'PersistentVolumeClaim')) {
      for (const [name, min] of Object.entries((item.min ?? {}) as Obj)) {
        const req = q(requests[name]);
        if (!req) throw why(`minimum ${name} usage per PersistentVolumeClaim is ${min}.  No request is specified`);
        if (compareQuantities(req, parseQuantity(String(min))) < 0) throw why(`minimum ${name} usage per PersistentVolumeClaim is ${min}, but request is ${requests[name]}`);
      }
      for (const [name, max] of Object.entries((item.max ?? {}) as Obj)) {
        const req = q(requests[name]);
        if (req && compareQuantities(req, parseQuantity(String(max))) > 0) throw why(`maximum ${name} usage per PersistentVolumeClaim is ${max}, but request is ${requests[name]}`);
      }
    }
  }
}

const isCore = (def: ResourceDef, resource: string) => def.group === '' && def.resource === resource;
const QUOTAS = '/registry/core/resourcequotas/';
/** Optimistic charges of one quota before admission gives up (each retry means another request charged it first). */
const MAX_CHARGE_ATTEMPTS = 50;

/** What an update adds: the names whose usage grew, by how much (upstream charges only increases). */
function increments(next: Map<string, Quantity>, prev: Map<string, Quantity>): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  for (const [k, v] of next) {
    const delta = subtractQuantities(v, prev.get(k) ?? ZERO);
    if (compareQuantities(delta, ZERO) > 0) out.set(k, delta);
  }
  return out;
}

/** Refuses with upstream's `exceeded quota` message when `used` + `adds` passes the quota's hard limits. */
function checkQuota(quota: Obj, used: Map<string, Quantity>, adds: Map<string, Quantity>, refuse: (msg: string) => StatusError): void {
  const over: string[] = [];
  for (const [k, hardRaw] of Object.entries((quota.spec?.hard ?? {}) as Record<string, string>)) {
    const add = adds.get(k);
    const hard = q(hardRaw);
    if (!add || !hard) continue;
    if (compareQuantities(addQuantities(used.get(k) ?? ZERO, add), hard) > 0) over.push(k);
  }
  if (!over.length) return;
  const list = (f: (k: string) => string) => over.sort().map((k) => `${k}=${f(k)}`).join(',');
  throw refuse(`exceeded quota: ${quota.metadata.name}, requested: ${list((k) => formatQuantity(adds.get(k)!))}, used: ${list((k) => formatQuantity(used.get(k) ?? ZERO))}, limited: ${list((k) => String(quota.spec.hard[k]))}`);
}

export class QuotaAdmission {
  constructor(private readonly feed: WatchCacheFeed, private readonly registry: Registry, private readonly objects: () => ObjectStore) {}

  /** LimitRanger (a mutating plugin: runs before the webhooks). */
  async limitRanger(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
    if (old || ctx.subresource || !(isCore(def, 'pods') || isCore(def, 'persistentvolumeclaims'))) return;
    const ns = obj.metadata?.namespace ?? ctx.namespace;
    const ranges = (await this.feed.cache('/registry/core/limitranges/')).snapshot(`/registry/core/limitranges/${ns}/`).map((c) => c.obj as Obj);
    if (!ranges.length) return;
    if (def.resource === 'pods') admitLimitRanges(obj as Obj, ranges);
    else admitClaimLimitRanges(obj as Obj, ranges);
  }

  /**
   * ResourceQuota (the last plugin, after the validating webhooks, as upstream orders them). On create: what the
   * object uses; on an update of a Service or a claim (upstream's evaluators that handle UPDATE): what it uses more
   * than before (a type change to NodePort/LoadBalancer, a claim resized). Charged with `charge` below.
   */
  async admit(def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
    if (ctx.subresource || !def.namespaced) return;
    if (old && !(isCore(def, 'services') || isCore(def, 'persistentvolumeclaims'))) return;
    const ns = obj.metadata?.namespace ?? ctx.namespace;
    const quotas = (await this.feed.cache(QUOTAS)).snapshot(`${QUOTAS}${ns}/`).map((c) => c.obj as Obj);
    if (!quotas.length) return;
    const adds = old ? increments(usageOf(def.group, def.resource, obj as Obj), usageOf(def.group, def.resource, old as Obj)) : usageOf(def.group, def.resource, obj as Obj);
    const relevant = quotas.filter((quota) => quotaCounts(quota.spec ?? {}, def.group, def.resource, obj as Obj)
      && Object.keys(quota.spec?.hard ?? {}).some((k) => adds.has(k) || (!old && isCore(def, 'pods') && /^(requests\.|limits\.)?(cpu|memory|ephemeral-storage)$/.test(k))));
    if (!relevant.length) return;
    const name = obj.metadata?.name ?? '';
    const refuse = (msg: string) => forbidden({ group: def.group, resource: def.resource }, name, msg);
    if (isCore(def, 'pods')) {
      for (const quota of relevant) {
        const missing = missingPodResources(obj as Obj, Object.keys(quota.spec?.hard ?? {}));
        if (missing.length) throw refuse(`failed quota: ${quota.metadata.name}: must specify ${missing.join(',')}`);
      }
    }
    // Every quota is checked before any is charged, so a refusal by the second charges nothing to the first.
    const fresh = await Promise.all(relevant.map((quota) => this.current(ns, String(quota.metadata.name))));
    for (const quota of fresh) if (quota) checkQuota(quota, await this.basis(ns, quota), adds, refuse);
    if (ctx.dryRun) return;
    for (const quota of fresh) if (quota) await this.charge(ns, quota, adds, refuse, ctx);
  }

  /**
   * Adds `adds` to a quota's status.used with an optimistic write (the quota's resourceVersion as precondition), as
   * upstream's quota admission does: when another admission charged the quota first, the write conflicts and the
   * check runs again on the usage that one wrote. So concurrent creates that together pass `hard` cannot all succeed.
   */
  private async charge(ns: string, first: Obj, adds: Map<string, Quantity>, refuse: (msg: string) => StatusError, ctx: StrategyContext): Promise<void> {
    const quotaDef = this.registry.get('', 'v1', 'resourcequotas')!;
    let quota: Obj | undefined = first;
    for (let attempt = 0; quota; attempt++) {
      const used = await this.basis(ns, quota);
      if (attempt > 0) checkQuota(quota, used, adds, refuse);
      const hard = (quota.spec?.hard ?? {}) as Record<string, string>;
      const total = new Map(used);
      accumulate(total, adds);
      const resourceVersion = String(quota.metadata.resourceVersion);
      try {
        await this.objects().update(quotaDef, ns, String(quota.metadata.name), { user: ctx.user, namespace: ns, subresource: 'status', dryRun: false },
          (cur) => ({ ...cur, metadata: { ...cur.metadata, resourceVersion }, status: { hard: { ...hard }, used: usedStatus(hard, total) } } as KubeObject));
        return;
      } catch (err) {
        if (!(err instanceof StatusError) || err.code !== 409 || attempt >= MAX_CHARGE_ATTEMPTS) {
          if (err instanceof StatusError && err.code === 404) return; // the quota went away meanwhile
          throw err;
        }
      }
      quota = await this.current(ns, String(quota.metadata.name));
    }
  }

  /** The quota as stored now (not the watch cache's copy: its resourceVersion is the precondition of the charge). */
  private async current(ns: string, name: string): Promise<Obj | undefined> {
    try {
      return (await this.objects().get(this.registry.get('', 'v1', 'resourcequotas')!, ns, name)).obj as Obj;
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) return undefined;
      throw err;
    }
  }

  /**
   * What a quota has used so far: its status.used, which every admission charges (upstream's basis); names the
   * status does not carry yet (a new quota, a name just added to spec.hard) are counted from the objects.
   */
  private async basis(ns: string, quota: Obj): Promise<Map<string, Quantity>> {
    const keys = Object.keys(quota.spec?.hard ?? {});
    const status = (quota.status?.used ?? {}) as Record<string, unknown>;
    const out = new Map<string, Quantity>();
    const missing = new Set<string>();
    for (const k of keys) {
      const v = q(status[k]);
      if (v) out.set(k, v);
      else missing.add(k);
    }
    if (missing.size) for (const [k, v] of await this.usage(ns, missing, quota.spec ?? {})) out.set(k, v);
    return out;
  }

  /** Current usage in a namespace of the given quota names by the objects a quota of `scope` counts, from the watch cache. */
  async usage(ns: string, keys: Set<string>, scope: QuotaScopeSpec): Promise<Map<string, Quantity>> {
    const out = new Map<string, Quantity>();
    const seen = new Set<string>();
    for (const d of this.registry.all().filter((x) => x.namespaced && !x.virtual && !x.computed)) {
      const prefix = d.storagePrefix ?? `/registry/${d.group || 'core'}/${d.resource}/`;
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      const counted = usageOf(d.group, d.resource, { spec: { containers: [{ resources: { requests: { cpu: '1', memory: '1', 'ephemeral-storage': '1' }, limits: { cpu: '1', memory: '1', 'ephemeral-storage': '1' } } }], resources: { requests: { storage: '1' } }, type: 'LoadBalancer' } });
      if (![...counted.keys()].some((k) => keys.has(k))) continue;
      for (const item of (await this.feed.cache(prefix)).snapshot(`${prefix}${ns}/`)) {
        if (quotaCounts(scope, d.group, d.resource, item.obj as Obj)) accumulate(out, usageOf(d.group, d.resource, item.obj as Obj), keys);
      }
    }
    return out;
  }
}
