/**
 * Dynamic admission: Mutating, then Validating WebhookConfigurations, called with admission.k8s.io/v1
 * AdmissionReview as kube-apiserver calls them — rules (operations, groups, versions, resources incl. `*` and
 * subresources, scope), namespaceSelector and objectSelector, clientConfig by URL or by Service (resolved to the
 * Service's endpoint addresses: the API server has no cluster-IP path), caBundle-pinned TLS, timeoutSeconds,
 * failurePolicy Fail/Ignore, JSONPatch responses from mutating webhooks, warnings. The API server dials out here:
 * docs/design/security.md ("Admission webhooks").
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { KubeObject } from '../../apimachinery/object.js';
import { labelSelectorFromObject } from '../../apimachinery/labels.js';
import { internalError, invalid, StatusError } from '../../apimachinery/status.js';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import type { Logger } from '../../common/logger.js';
import { applyJsonPatch } from '../patch.js';
import type { ResourceDef, StrategyContext } from '../registry.js';
import type { Obj } from '../resources/helpers.js';

const VALIDATING = '/registry/admissionregistration.k8s.io/validatingwebhookconfigurations/';
const MUTATING = '/registry/admissionregistration.k8s.io/mutatingwebhookconfigurations/';
/** Upper bound on a webhook's answer, so a hostile endpoint cannot make the API server buffer without limit. */
const MAX_RESPONSE_BYTES = 3 * 1024 * 1024;

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionAttributes {
  def: ResourceDef;
  /** CREATE/UPDATE: the object written; CONNECT: the connect options (e.g. PodExecOptions); DELETE: null. */
  obj: KubeObject | null;
  /** UPDATE: the stored object; DELETE: the object being deleted (upstream sends it as oldObject). */
  old: KubeObject | null;
  operation: Operation;
  ctx: StrategyContext;
  /** DELETE: the request's DeleteOptions (sent as `options`). CREATE/UPDATE get Create/UpdateOptions; CONNECT none. */
  options?: Obj;
  /** CONNECT: the kind of the options object (`PodExecOptions`...), which upstream reports as the request's kind. */
  kind?: string;
  /** CONNECT: the name of the object connected to (the options carry none). */
  name?: string;
}

function ruleMatches(rule: Obj, a: AdmissionAttributes): boolean {
  const any = (list: unknown, v: string) => Array.isArray(list) && (list.includes('*') || list.includes(v));
  if (!any(rule.operations, a.operation)) return false;
  if (!any(rule.apiGroups, a.def.group) || !any(rule.apiVersions, a.def.version)) return false;
  const sub = a.ctx.subresource;
  const full = sub ? `${a.def.resource}/${sub}` : a.def.resource;
  const resources = (rule.resources ?? []) as string[];
  const resOk = resources.some((r) => r === '*/*' || r === full || (!sub && r === '*') || (sub && (r === `${a.def.resource}/*` || r === `*/${sub}`)));
  if (!resOk) return false;
  const scope = rule.scope ?? '*';
  return scope === '*' || (scope === 'Namespaced') === a.def.namespaced;
}

function selectorMatches(sel: Obj | undefined, labels: Record<string, string>): boolean {
  if (!sel || (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length)) return true;
  try { return labelSelectorFromObject(sel).matches(labels); } catch { return false; }
}

interface Target { url: URL; servername?: string }

export class WebhookAdmission {
  constructor(private readonly feed: WatchCacheFeed, private readonly log: Logger) {}

  private async configs(prefix: string): Promise<Obj[]> {
    const cache = await this.feed.cache(prefix);
    return cache.snapshot().map((c) => c.obj as Obj).sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
  }

  private async namespaceLabels(ns: string): Promise<Record<string, string>> {
    const cache = await this.feed.cache('/registry/core/namespaces/');
    return ((cache.get(`/registry/core/namespaces/${ns}`)?.obj as Obj | undefined)?.metadata?.labels ?? {}) as Record<string, string>;
  }

  private async applies(w: Obj, a: AdmissionAttributes): Promise<boolean> {
    if (!((w.rules ?? []) as Obj[]).some((r) => ruleMatches(r, a))) return false;
    // CONNECT's object is the options (no labels): the selector is matched against nothing, as upstream.
    const subject = (a.operation === 'CONNECT' ? null : a.obj ?? a.old) as Obj | null;
    if (!selectorMatches(w.objectSelector, subject?.metadata?.labels ?? {}) && !(a.old && selectorMatches(w.objectSelector, (a.old as Obj).metadata?.labels ?? {}))) return false;
    if (a.def.group === '' && a.def.resource === 'namespaces') return selectorMatches(w.namespaceSelector, subject?.metadata?.labels ?? {});
    if (!a.def.namespaced) return true;
    return selectorMatches(w.namespaceSelector, await this.namespaceLabels(a.ctx.namespace || subject?.metadata?.namespace));
  }

  /** Runs mutating webhooks (the object is patched in place), then validating ones. Throws the refusal. */
  async admit(a: AdmissionAttributes, revalidate: (obj: KubeObject) => void): Promise<void> {
    // As upstream: webhook configurations themselves are never sent to webhooks (no lock-out).
    if (a.def.group === 'admissionregistration.k8s.io') return;
    let mutated = false;
    for (const cfg of await this.configs(MUTATING)) {
      for (const w of (cfg.webhooks ?? []) as Obj[]) {
        if (!(await this.applies(w, a))) continue;
        const response = await this.call(w, a, true);
        if (!response) continue;
        if (response.patch && a.obj) {
          if (response.patchType !== 'JSONPatch') throw internalError(new Error(`webhook "${w.name}" returned an unsupported patchType ${String(response.patchType)}`));
          let ops: unknown;
          try { ops = JSON.parse(Buffer.from(String(response.patch), 'base64').toString('utf8')); } catch { throw internalError(new Error(`webhook "${w.name}" returned a patch that is not JSON`)); }
          const next = applyJsonPatch(a.obj, ops);
          for (const k of Object.keys(a.obj)) delete (a.obj as Obj)[k];
          Object.assign(a.obj, next);
          mutated = true;
        }
      }
    }
    if (mutated && a.obj) revalidate(a.obj);
    for (const cfg of await this.configs(VALIDATING)) {
      for (const w of (cfg.webhooks ?? []) as Obj[]) {
        if (await this.applies(w, a)) await this.call(w, a, false);
      }
    }
  }

  private async target(w: Obj): Promise<Target> {
    const cc = (w.clientConfig ?? {}) as Obj;
    if (cc.url) return { url: new URL(String(cc.url)) };
    const svc = cc.service as Obj;
    const ns = String(svc.namespace);
    const name = String(svc.name);
    const services = await this.feed.cache('/registry/core/services/');
    const service = services.get(`/registry/core/services/${ns}/${name}`)?.obj as Obj | undefined;
    if (!service) throw new Error(`service "${name}" not found`);
    const port = ((service.spec?.ports ?? []) as Obj[]).find((p) => p.port === (svc.port ?? 443));
    if (!port) throw new Error(`service "${name}" has no port ${svc.port ?? 443}`);
    const endpoints = await this.feed.cache('/registry/core/endpoints/');
    const ep = endpoints.get(`/registry/core/endpoints/${ns}/${name}`)?.obj as Obj | undefined;
    for (const subset of (ep?.subsets ?? []) as Obj[]) {
      const addr = ((subset.addresses ?? []) as Obj[])[0]?.ip;
      const epPort = ((subset.ports ?? []) as Obj[]).find((p) => (port.name ? p.name === port.name : true))?.port;
      if (addr && epPort) {
        const host = String(addr).includes(':') ? `[${addr}]` : addr;
        return { url: new URL(`https://${host}:${epPort}${svc.path ?? ''}`), servername: `${name}.${ns}.svc` };
      }
    }
    throw new Error(`no endpoints available for service "${name}"`);
  }

  private review(a: AdmissionAttributes, uid: string): Obj {
    const u = a.ctx.user;
    const gvk = { group: a.def.group, version: a.def.version, kind: a.kind ?? a.def.kind };
    const gvr = { group: a.def.group, version: a.def.version, resource: a.def.resource };
    const subject = (a.obj ?? a.old) as Obj | null;
    const request: Obj = {
      uid, kind: gvk, resource: gvr, requestKind: gvk, requestResource: gvr,
      name: a.name ?? subject?.metadata?.name ?? '', operation: a.operation,
      userInfo: { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups, ...(u.extra ? { extra: u.extra } : {}) },
      object: a.obj ?? null, oldObject: a.old ?? null, dryRun: a.ctx.dryRun,
      options: a.operation === 'CONNECT' ? null
        : a.options ?? { apiVersion: 'meta.k8s.io/v1', kind: a.operation === 'CREATE' ? 'CreateOptions' : a.operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions' },
    };
    if (a.ctx.subresource) { request.subResource = a.ctx.subresource; request.requestSubResource = a.ctx.subresource; }
    if (a.def.namespaced) request.namespace = a.ctx.namespace || (a.operation === 'CONNECT' ? undefined : subject?.metadata?.namespace);
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
  }

  /** One webhook call; returns the response, or undefined when it failed and failurePolicy is Ignore. */
  private async call(w: Obj, a: AdmissionAttributes, mutating: boolean): Promise<Obj | undefined> {
    const uid = randomUUID();
    let response: Obj;
    try {
      const target = await this.target(w);
      const body = await post(target, w, JSON.stringify(this.review(a, uid)));
      const parsed = JSON.parse(body) as Obj;
      if (parsed.kind !== 'AdmissionReview' || !parsed.response) throw new Error('expected response.uid to be set');
      response = parsed.response as Obj;
      if (response.uid !== uid) throw new Error(`expected response.uid="${uid}", got "${String(response.uid)}"`);
    } catch (err) {
      const msg = `failed calling webhook "${w.name}": failed to call webhook: ${(err as Error).message}`;
      if (w.failurePolicy === 'Ignore') {
        this.log.warn({ webhook: w.name, err: (err as Error).message }, 'admission webhook failed; ignored (failurePolicy Ignore)');
        return undefined;
      }
      throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `Internal error occurred: ${msg}`, reason: 'InternalError', details: { causes: [{ message: msg }] }, code: 500 });
    }
    if (response.allowed !== true) throw denied(String(w.name), (response.status ?? {}) as Obj);
    if (!mutating && response.patch) throw internalError(new Error(`validating webhook "${w.name}" may not return a patch`));
    return response;
  }
}

/** Upstream's webhookerrors.ToStatusErr. */
function denied(name: string, st: Obj): StatusError {
  const by = `admission webhook "${name}" denied the request`;
  const message = st.message ? `${by}: ${st.message}` : st.reason ? `${by}: ${st.reason}` : `${by} without explanation`;
  const code = typeof st.code === 'number' && st.code >= 400 ? st.code : 400;
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, ...(st.reason ? { reason: st.reason } : {}), ...(st.details ? { details: st.details } : {}), code });
}

function post(t: Target, w: Obj, body: string): Promise<string> {
  const ca = w.clientConfig?.caBundle ? Buffer.from(String(w.clientConfig.caBundle), 'base64').toString('utf8') : undefined;
  const timeoutMs = (w.timeoutSeconds ?? 10) * 1000;
  return new Promise((resolve, reject) => {
    const req = https.request(t.url, {
      method: 'POST', ca, servername: t.servername, timeout: timeoutMs,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) { req.destroy(new Error('response body too large')); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 400) reject(new Error(`the server responded with the status code ${res.statusCode} but did not return more information`));
        else resolve(text);
      });
      res.on('error', reject);
    });
    const deadline = setTimeout(() => req.destroy(new Error(`Post "${t.url.href}": context deadline exceeded`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`Post "${t.url.href}": context deadline exceeded`)));
    req.on('error', (err) => { clearTimeout(deadline); reject(err); });
    req.on('close', () => clearTimeout(deadline));
    req.end(body);
  });
}

/** Re-runs the resource's validation after a mutating webhook changed the object (upstream validates after mutation). */
export function revalidator(a: AdmissionAttributes): (obj: KubeObject) => void {
  return (obj) => {
    const errs = a.old ? (a.def.strategy.validateUpdate?.(obj, a.old, a.ctx) ?? a.def.strategy.validate?.(obj, a.ctx) ?? []) : (a.def.strategy.validate?.(obj, a.ctx) ?? []);
    if (errs.length) throw invalid(a.def.kind, a.def.group, obj.metadata?.name ?? '', errs);
  };
}
