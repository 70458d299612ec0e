/**
 * Test-only: just enough REST behaviour (get/create/patch of namespaced objects, in memory) behind
 * FakeDiscoveryServer for kubectl apply/patch to run end to end against this package's patch code.
 */
import type http from 'node:http';
import { parse as parseYaml } from 'yaml';
import { strategicMergePatch } from '../strategic-merge-patch.js';
import { serverSideApply, updateManagedFields, defaultFieldManager, ApplyConflictError } from '../apply/server-side-apply.js';
import type { RecordedRequest } from './fake-discovery-server.js';
import type { ApiResourceInfo } from '../resource-info.js';

type Obj = Record<string, any>;

export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Obj = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

export class FakeObjectStore {
  readonly objects = new Map<string, Obj>();
  readonly patches: Array<{ contentType: string; body: Obj; url: string }> = [];
  private rv = 1;

  constructor(private readonly resources: ApiResourceInfo[]) {}

  private route(p: string): { r: ApiResourceInfo; ns?: string; name?: string } | undefined {
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(p);
    if (!m) return undefined;
    const group = m[2] ?? '';
    const version = m[1] ?? m[3];
    const r = this.resources.find((x) => x.group === group && x.version === version && x.plural === m[5]);
    return r ? { r, ns: m[4], name: m[6] } : undefined;
  }

  key(r: ApiResourceInfo, ns: string | undefined, name: string): string {
    return `${r.group}/${r.plural}/${ns ?? ''}/${name}`;
  }

  handle = (req: RecordedRequest, res: http.ServerResponse): boolean => {
    const url = new URL(req.url, 'http://x');
    const route = this.route(url.pathname);
    if (!route) return false;
    const send = (code: number, body: unknown): true => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return true;
    };
    const notFound = (): true => send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404,
      message: `${route.r.plural} "${route.name}" not found`, details: { name: route.name, kind: route.r.plural } });
    const { r, ns } = route;
    const target = { group: r.group, version: r.version, kind: r.kind, hasStatusSubresource: r.subresources?.includes('status') };
    const manager = url.searchParams.get('fieldManager') ?? defaultFieldManager(req.userAgent);
    if (req.method === 'GET' && route.name) {
      const obj = this.objects.get(this.key(r, ns, route.name));
      return obj ? send(200, obj) : notFound();
    }
    if (req.method === 'POST' && !route.name) {
      const obj = JSON.parse(req.body) as Obj;
      obj.metadata = { ...obj.metadata, namespace: r.namespaced ? ns : undefined, resourceVersion: String(this.rv++), uid: `uid-${this.rv}` };
      updateManagedFields({ updated: obj, manager, target });
      this.objects.set(this.key(r, ns, obj.metadata.name), obj);
      return send(201, obj);
    }
    if (req.method === 'PATCH' && route.name) {
      const key = this.key(r, ns, route.name);
      const current = this.objects.get(key);
      const contentType = (req.contentType ?? '').split(';')[0];
      if (contentType === 'application/apply-patch+yaml') {
        try {
          const applied = serverSideApply({ live: current, applied: parseYaml(req.body) as Obj, manager, force: url.searchParams.get('force') === 'true', target });
          (applied.metadata as Obj).resourceVersion = String(this.rv++);
          if (r.namespaced) (applied.metadata as Obj).namespace = ns;
          this.objects.set(key, applied);
          return send(current ? 200 : 201, applied);
        } catch (e) {
          if (!(e instanceof ApplyConflictError)) throw e;
          return send(409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: e.message, details: { causes: e.causes } });
        }
      }
      if (!current) return notFound();
      const body = JSON.parse(req.body) as Obj;
      this.patches.push({ contentType, body, url: req.url });
      let next: Obj;
      if (contentType === 'application/strategic-merge-patch+json') next = strategicMergePatch(current, body, r);
      else if (contentType === 'application/merge-patch+json') next = jsonMergePatch(current, body) as Obj;
      else return send(415, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'UnsupportedMediaType', code: 415, message: contentType });
      updateManagedFields({ old: current, updated: next, manager, target });
      next.metadata.resourceVersion = String(this.rv++);
      this.objects.set(key, next);
      return send(200, next);
    }
    return false;
  };
}
