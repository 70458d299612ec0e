/**
 * The request pipeline: authenticate → parse RequestInfo → authorize → dispatch to discovery, OpenAPI, health,
 * or the resource handlers (get/list/watch/create/update/patch/delete/deletecollection and subresources).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/logger.js';
import { clone, type KubeObject } from '../apimachinery/object.js';
import {
  badRequest, invalid, methodNotAllowed, notFound, pathNotFound, StatusError, successStatus, toStatusError, tooManyRequests,
} from '../apimachinery/status.js';
import { listObjects, parseListQuery, serveWatch, type ListQuery } from '../apimachinery/listwatch.js';
import type { CachedObject, WatchCacheFeed } from '../apimachinery/watchcache.js';
import type { Authenticator, Authorizer, UserInfo } from './auth/types.js';
import { decodeObjectBody, mediaType, readBody, DEFAULT_MAX_BODY_BYTES } from './body.js';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { negotiate, type Representation } from './negotiate.js';
import { asServed, grOf, keyFor, type DeleteOptions, type ObjectStore } from './objects.js';
import { applyPatch, decodePatchBody, JsonPatchTestFailed, patchTypeOf, type PatchType } from './patch.js';
import { groupVersion, storagePrefix, verbsOf, type ComputedSource, type Registry, type ResourceDef, type StrategyContext } from './registry.js';
import { requestUrl } from '../common/request-url.js';
import { parseRequestInfo, type RequestInfo } from './request-info.js';
import { RequestIdentity } from './request-identity.js';
import { sendJson, sendRaw, sendStatus } from './respond.js';
import { partialMetadata, partialObjectMetadataList, tableFor, tableRow, type IncludeObject } from './table.js';
import { bindPod } from './resources/pods.js';
import { isNodeWritesRequest, NodeWrites } from './node-writes.js';
import { ObjectBodies } from './object-bodies.js';
import { inflightLane, InflightLanes } from './inflight-lanes.js';
import type { ApiServerMetrics } from './metrics.js';
import type { TenancyGate, TenantRestriction } from './tenancy/gate.js';
import {
  applyStep, decodeTypeError, defaultFieldManager, duplicateFieldsInJson, managedFieldsStep,
} from './schema/index.js';
import type { Obj } from './resources/helpers.js';

/** A handler for a non-CRUD subresource served by another component (pods/log, pods/exec via the hub, …). */
export type SubresourceHandler = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, user: UserInfo) => void | Promise<void>;

/**
 * A handler for an HTTP Upgrade (WebSocket/SPDY) on a subresource — `kubectl exec/attach/port-forward` (and
 * `logs -f` clients that upgrade). Called after authentication and authorization; it owns the socket.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, info: RequestInfo, user: UserInfo) => void | Promise<void>;

export interface OpenApiSource {
  v2(req: IncomingMessage, res: ServerResponse): void;
  v3(req: IncomingMessage, res: ServerResponse, path: string): void;
}

export interface HandlerDeps {
  registry: Registry;
  objects: ObjectStore;
  feed: WatchCacheFeed;
  authenticator: Authenticator;
  authorizer: Authorizer;
  log: Logger;
  serverAddress: () => string;
  isReady: () => boolean;
  openapi?: OpenApiSource;
  maxBodyBytes?: number;
  bookmarkIntervalMs?: number;
  /** Watches without timeoutSeconds end after a random time in [min, 2·min) seconds, as upstream (clients re-watch). */
  minRequestTimeoutSeconds?: number;
  /** Extra subresource handlers keyed "resource/subresource" (e.g. "pods/log"). */
  subresourceHandlers: Map<string, SubresourceHandler>;
  /** Upgrade (WebSocket/SPDY) handlers keyed "resource/subresource" (e.g. "pods/exec"). */
  upgradeHandlers?: Map<string, UpgradeHandler>;
  /** GET handlers for extra non-resource paths (service account issuer discovery), after authorization. */
  nonResourceHandlers?: Map<string, (req: IncomingMessage, res: ServerResponse) => void>;
  metrics?: ApiServerMetrics;
  /** --anonymous-auth: requests without credentials run as system:anonymous (RBAC decides) instead of 401. */
  anonymousAuth?: boolean;
  /** Upstream's --max-requests-inflight / --max-mutating-requests-inflight (watches and long-running requests excluded). */
  maxRequestsInflight?: number;
  maxMutatingRequestsInflight?: number;
  /** Schema-driven hooks (fieldValidation, managedFields, apply). */
  fieldValidation?: (def: ResourceDef, raw: unknown, mode: string) => string[];
  /** Multi-tenant isolation (src/apiserver/tenancy): narrows what a tenant's member sees after RBAC allowed it. */
  tenancy?: TenancyGate;
}

const WATCH_KIND = (def: ResourceDef, rep: Representation) =>
  rep.as === 'Table' ? { apiVersion: `meta.k8s.io/${rep.version}`, kind: 'Table' }
    : rep.as === 'PartialObjectMetadata' ? { apiVersion: `meta.k8s.io/${rep.version}`, kind: 'PartialObjectMetadata' }
      : { apiVersion: groupVersion(def), kind: def.kind };

export class ApiHandler {
  private readonly identity: RequestIdentity;

  private readonly nodeWrites: NodeWrites;
  /** Decoding and field checks of write bodies, and the warnings they produce (object-bodies.ts). */
  private readonly bodies: ObjectBodies;

  constructor(private readonly d: HandlerDeps) {
    this.identity = new RequestIdentity(d);
    this.bodies = new ObjectBodies(d.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    const mutating = d.maxMutatingRequestsInflight ?? 200;
    // Node liveness gets as many slots as all other writes: its own lane, never shared with them.
    this.lanes = new InflightLanes({ readonly: d.maxRequestsInflight ?? 400, mutating, node: mutating });
    this.nodeWrites = new NodeWrites({
      impersonateAs: (caller, name, groups) => this.identity.impersonateAs(caller, name, groups),
      authorize: (user, info) => this.identity.authorize(user, info),
      putInProcess: (user, path, raw, manager, authorize) => this.putInProcess(user, path, raw, manager, authorize),
    });
  }

  /** Requests in flight per lane (inflight-lanes.ts); node liveness writes get a budget of their own. */
  private readonly lanes: InflightLanes;

  /**
   * Overload protection as upstream's max-in-flight filter: past the limit a request gets 429 with Retry-After and
   * clients (client-go, client-node informers) back off and retry instead of piling on. Watches are not counted.
   * `exempt`: a request of the in-process control plane on its loopback channel (its own token, loopback.ts), which
   * upstream lets through as it lets its loopback client (system:masters: the exempt priority level, and the legacy
   * filter's exemption): the hub and the controllers bound their own writes in flight, and a hub filling the
   * mutating lane with its nodes' pod statuses and events would otherwise refuse users' writes with 429.
   */
  async handle(req: IncomingMessage, res: ServerResponse, exempt = false): Promise<void> {
    const q = req.url ?? '';
    const longRunning = /[?&]watch=(true|1)/.test(q) || q.includes('/watch/') || /\/(log|exec|attach|portforward|proxy)(\?|$)/.test(q);
    if (longRunning || exempt) return this.handleAdmitted(req, res);
    const lane = inflightLane(req.method, q);
    if (!this.lanes.tryEnter(lane)) {
      this.d.metrics?.observe('', '', 429, 0);
      res.setHeader('Retry-After', '1');
      return sendStatus(req, res, tooManyRequests('Too many requests, please try again later.'));
    }
    try {
      await this.handleAdmitted(req, res);
    } finally {
      this.lanes.leave(lane);
    }
  }

  private async handleAdmitted(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const parsedUrl = requestUrl(req.url);
    const url = parsedUrl ?? new URL('http://localhost/');
    let user: UserInfo | null = null;
    let metricVerb = (req.method ?? 'GET').toLowerCase();
    let metricResource = '';
    try {
      if (!parsedUrl) throw badRequest(`malformed request URL ${JSON.stringify((req.url ?? '').slice(0, 256))}`);
      user = await this.identity.authenticateOrAnonymous(req);
      await this.d.tenancy?.checkImpersonation(user, req.headers);
      user = await this.identity.impersonate(req, user);
      const info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
      metricVerb = info.verb;
      metricResource = info.isResourceRequest ? `${info.resource}${info.group ? `.${info.group}` : ''}${info.subresource ? `/${info.subresource}` : ''}` : '';
      await this.identity.authorize(user, info);
      await this.route(req, res, url, info, user);
    } catch (err) {
      const se = toStatusError(err);
      if (se.code >= 500) this.d.log.error({ err, path: url.pathname, method: req.method }, 'request failed');
      if (!res.headersSent) sendStatus(req, res, se);
      else res.end();
    } finally {
      this.d.metrics?.observe(metricVerb, metricResource, res.statusCode, (Date.now() - started) / 1000);
      if (this.d.log.isLevelEnabled('debug')) {
        this.d.log.debug({ method: req.method, path: url.pathname, code: res.statusCode, ms: Date.now() - started, user: user?.username }, 'request');
      }
    }
  }

  /** An HTTP Upgrade request: same authentication/authorization, then the registered upgrade handler takes the socket. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const fail = (err: unknown) => {
      const se = toStatusError(err);
      const body = JSON.stringify(se.status);
      socket.end(`HTTP/1.1 ${se.code} ${se.reason || 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    try {
      const url = requestUrl(req.url);
      if (!url) throw badRequest(`malformed request URL ${JSON.stringify((req.url ?? '').slice(0, 256))}`);
      let user = await this.identity.authenticateOrAnonymous(req);
      await this.d.tenancy?.checkImpersonation(user, req.headers);
      user = await this.identity.impersonate(req, user);
      const info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
      // A WebSocket upgrade arrives as GET and is authorized as "get"; for exec/attach/portforward upstream
      // (AuthorizePodWebsocketUpgradeCreatePermission) also requires "create", the verb of the SPDY POST.
      await this.identity.authorize(user, info);
      const streams = ['exec', 'attach', 'portforward'].includes(info.subresource);
      if (info.verb !== 'create' && streams) await this.identity.authorize(user, { ...info, verb: 'create' });
      const def = info.isResourceRequest ? this.d.registry.get(info.group, info.version, info.resource) : undefined;
      if (def) await this.d.tenancy?.admit({ user, info: streams ? { ...info, verb: 'create' } : info, def });
      const h = this.d.upgradeHandlers?.get(`${info.resource}/${info.subresource}`);
      if (!info.isResourceRequest || !h) throw pathNotFound();
      await h(req, socket, head, info, user);
    } catch (err) {
      fail(err);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, info: RequestInfo, user: UserInfo): Promise<void> {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (!info.isResourceRequest) {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
      if (p === '/healthz' || p === '/livez' || p === '/readyz' || p.startsWith('/healthz/') || p.startsWith('/livez/') || p.startsWith('/readyz/')) {
        const ok = !p.startsWith('/readyz') || this.d.isReady();
        res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(ok ? 'ok' : '[-]readiness failed: still starting\nreadyz check failed');
        return;
      }
      if (p === '/version') return sendJson(req, res, 200, versionInfo());
      if (p === '/metrics' && this.d.metrics) {
        const text = await this.d.metrics.text();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(text);
        return;
      }
      const extra = this.d.nonResourceHandlers?.get(p);
      if (extra) return extra(req, res);
      if (p === '/api') return this.discovery(req, res, true);
      if (p === '/apis') return this.discovery(req, res, false);
      if (p === '/openapi/v2' && this.d.openapi) return this.d.openapi.v2(req, res);
      if ((p === '/openapi/v3' || p.startsWith('/openapi/v3/')) && this.d.openapi) return this.d.openapi.v3(req, res, p.slice('/openapi/v3'.length).replace(/^\//, ''));
      if (info.apiPrefix === 'api' && info.version) {
        const list = apiResourceList(this.d.registry, '', info.version);
        if (list) return sendJson(req, res, 200, list);
      }
      if (info.apiPrefix === 'apis' && info.group) {
        if (!info.version) {
          const g = apiGroup(this.d.registry, info.group);
          if (g) return sendJson(req, res, 200, g);
        } else {
          const list = apiResourceList(this.d.registry, info.group, info.version);
          if (list) return sendJson(req, res, 200, list);
        }
      }
      if (p === '/') {
        return sendJson(req, res, 200, { paths: ['/api', '/api/v1', '/apis', ...this.d.registry.groups().filter((g) => g.name).flatMap((g) => [`/apis/${g.name}`, ...g.versions.map((v) => `/apis/${g.name}/${v}`)]), '/healthz', '/livez', '/openapi/v2', '/openapi/v3', '/readyz', '/version'] });
      }
      throw pathNotFound();
    }
    if (isNodeWritesRequest(info)) {
      if (info.verb !== 'create') throw methodNotAllowed();
      return this.nodeWrites.serve(req, res, user, this.manager(req, url.searchParams));
    }
    const def = this.d.registry.get(info.group, info.version, info.resource);
    if (!def) throw pathNotFound();
    if (def.namespaced === false && info.namespace && info.resource !== 'namespaces') throw pathNotFound();
    const verbs = verbsOf(def);
    if (!info.subresource && !verbs.includes(info.verb) && !(info.verb === 'watch' && verbs.includes('watch'))) throw methodNotAllowed();
    const ns = def.namespaced ? info.namespace : '';
    const query = url.searchParams;
    const ctx: StrategyContext = { user, namespace: ns, dryRun: parseDryRun(query), subresource: info.subresource, warn: (t) => this.bodies.addWarnings(query, [t]) };
    const isApply = req.method === 'PATCH' && /apply-patch/.test(req.headers['content-type'] ?? '');
    const restriction = await this.d.tenancy?.admit({ user, info, def, isApply });
    if (info.subresource) return this.subresource(req, res, def, info, ctx, query);
    switch (info.verb) {
      case 'get': return this.get(req, res, def, ns, info.name, query, restriction);
      case 'list': return this.list(req, res, def, ns, query, restriction);
      case 'watch': return this.watch(req, res, def, ns, info.name, query, restriction);
      case 'create': return this.create(req, res, def, ns, ctx, query, info.name);
      case 'update': return this.update(req, res, def, ns, info.name, ctx, query);
      case 'patch': return this.patch(req, res, def, ns, info.name, ctx, query);
      case 'delete': return this.delete(req, res, def, ns, info.name, ctx, query);
      case 'deletecollection': return this.deleteCollection(req, res, def, ns, ctx, query, restriction);
      default: throw methodNotAllowed();
    }
  }

  private discovery(req: IncomingMessage, res: ServerResponse, legacy: boolean): void {
    const rep = negotiate(req, ['APIGroupDiscoveryList']);
    res.setHeader('Vary', 'Accept');
    if (rep.as === 'APIGroupDiscoveryList') {
      const body = aggregatedDiscovery(this.d.registry, legacy, rep.version);
      return sendRaw(req, res, 200, JSON.stringify(body), `application/json;g=apidiscovery.k8s.io;v=${rep.version};as=APIGroupDiscoveryList`);
    }
    return sendJson(req, res, 200, legacy ? apiVersions(this.d.serverAddress()) : apiGroupList(this.d.registry));
  }

  // ---- reads ----

  private render(req: IncomingMessage, res: ServerResponse, def: ResourceDef, obj: KubeObject, code: number, query: URLSearchParams): void {
    this.bodies.sendWarnings(res, query);
    const rep = negotiate(req, ['Table', 'PartialObjectMetadata']);
    if (rep.as === 'Table') {
      return sendJson(req, res, code, tableFor(def, [obj], { include: includeObject(query), version: rep.version, resourceVersion: obj.metadata?.resourceVersion }));
    }
    if (rep.as === 'PartialObjectMetadata') return sendJson(req, res, code, partialMetadata(obj, rep.version));
    return sendJson(req, res, code, obj);
  }

  private async get(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, name: string, query: URLSearchParams, restriction?: TenantRestriction): Promise<void> {
    if (def.virtual) throw methodNotAllowed();
    if (def.computed) {
      const obj = await def.computed.get(ns, name, restriction?.matches);
      if (!obj || (restriction && !restriction.matches(obj))) throw notFound(grOf(def), name);
      return this.render(req, res, def, obj, 200, query);
    }
    const { obj } = await this.d.objects.get(def, ns, name);
    this.render(req, res, def, obj, 200, query);
  }

  private selection(def: ResourceDef, q: ListQuery, restriction?: TenantRestriction): (o: KubeObject) => boolean {
    const selected = this.querySelection(def, q);
    if (!restriction) return selected;
    return (o) => restriction.matches(o) && selected(o);
  }

  private querySelection(def: ResourceDef, q: ListQuery): (o: KubeObject) => boolean {
    const fieldGetters = def.fields ?? {};
    const getField = (o: KubeObject) => (f: string) => {
      if (f === 'metadata.name') return o.metadata?.name;
      if (f === 'metadata.namespace') return o.metadata?.namespace ?? '';
      return fieldGetters[f]?.(o);
    };
    const ls = q.labelSelector;
    const fs = q.fieldSelector;
    if (ls.empty && fs.empty) return () => true;
    return (o) => ls.matches(o.metadata?.labels) && fs.matches(getField(o));
  }

  private listQuery(def: ResourceDef, query: URLSearchParams): ListQuery {
    const supported = (f: string) => f === 'metadata.name' || f === 'metadata.namespace' || !!def.fields?.[f];
    return parseListQuery(query, supported);
  }

  private scopePrefix(def: ResourceDef, ns: string): string {
    return storagePrefix(def) + (def.namespaced && ns ? `${ns}/` : '');
  }

  private async list(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, query: URLSearchParams, restriction?: TenantRestriction): Promise<void> {
    if (def.virtual) throw methodNotAllowed();
    const q = this.listQuery(def, query);
    if (q.watch) return this.watch(req, res, def, ns, '', query, restriction);
    if (def.computed) return this.listComputed(req, res, def, def.computed, ns, q, query, restriction);
    const rep = negotiate(req, ['Table', 'PartialObjectMetadata']);
    const out = await listObjects({
      feed: this.d.feed, resourcePrefix: storagePrefix(def), scopePrefix: this.scopePrefix(def, ns), matches: this.selection(def, q, restriction), candidates: restriction?.candidates,
    }, q);
    const meta: Record<string, unknown> = { resourceVersion: String(out.resourceVersion) };
    if (out.continueToken) meta.continue = out.continueToken;
    if (out.remainingItemCount !== undefined) meta.remainingItemCount = out.remainingItemCount;
    if (rep.as === 'Table') {
      return sendJson(req, res, 200, tableFor(def, out.items.map((i) => asServed(def, i.obj)), {
        include: includeObject(query), version: rep.version, resourceVersion: meta.resourceVersion as string, continueToken: out.continueToken, remainingItemCount: out.remainingItemCount,
      }));
    }
    if (rep.as === 'PartialObjectMetadata') return sendJson(req, res, 200, partialObjectMetadataList(out.items.map((i) => i.obj), rep.version, meta));
    const items = out.items.map((i) => this.rawOf(def, i)).join(',');
    const head = JSON.stringify({ kind: `${def.kind}List`, apiVersion: groupVersion(def), metadata: meta });
    sendRaw(req, res, 200, `${head.slice(0, -1)},"items":[${items}]}`);
  }

  /** A computed resource's list: selected in memory, never paginated (metrics-server answers whole lists too). */
  private async listComputed(req: IncomingMessage, res: ServerResponse, def: ResourceDef, source: ComputedSource, ns: string, q: ListQuery, query: URLSearchParams, restriction?: TenantRestriction): Promise<void> {
    const items = (await source.list(ns)).filter(this.selection(def, q, restriction));
    const rep = negotiate(req, ['Table', 'PartialObjectMetadata']);
    const meta = { resourceVersion: '' };
    if (rep.as === 'Table') return sendJson(req, res, 200, tableFor(def, items, { include: includeObject(query), version: rep.version, resourceVersion: '' }));
    if (rep.as === 'PartialObjectMetadata') return sendJson(req, res, 200, partialObjectMetadataList(items, rep.version, meta));
    sendJson(req, res, 200, { kind: `${def.kind}List`, apiVersion: groupVersion(def), metadata: meta, items });
  }

  /** The cached JSON text when it already has the served apiVersion/kind (the common case), else re-serialized. */
  private rawOf(def: ResourceDef, item: CachedObject): string {
    const o = item.obj;
    if (o.apiVersion === groupVersion(def) && o.kind === def.kind) return item.raw;
    return JSON.stringify(asServed(def, o));
  }

  private async watch(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, name: string, query: URLSearchParams, restriction?: TenantRestriction): Promise<void> {
    if (def.virtual) throw methodNotAllowed();
    const q = this.listQuery(def, query);
    if (!q.timeoutSeconds) {
      const min = this.d.minRequestTimeoutSeconds ?? 1800;
      q.timeoutSeconds = Math.floor(min * (1 + Math.random()));
    }
    const rep = negotiate(req, ['Table', 'PartialObjectMetadata']);
    const baseMatch = this.selection(def, q, restriction);
    const matches = name ? (o: KubeObject) => o.metadata?.name === name && baseMatch(o) : baseMatch;
    const cache = await this.d.feed.cache(storagePrefix(def));
    const include = includeObject(query);
    let first = true;
    const render = (item: CachedObject): string => {
      if (rep.as === 'Table') {
        const t = tableFor(def, [], { include, version: rep.version, noHeaders: !first });
        first = false;
        t.rows = [tableRow(def, asServed(def, item.obj), include, rep.version, Date.now())];
        t.metadata = { resourceVersion: String(item.revision) };
        return JSON.stringify(t);
      }
      if (rep.as === 'PartialObjectMetadata') return JSON.stringify(partialMetadata(item.obj, rep.version));
      return this.rawOf(def, item);
    };
    await serveWatch(res, {
      cache, feed: this.d.feed, scopePrefix: this.scopePrefix(def, ns), query: q, matches, render,
      bookmarkKind: WATCH_KIND(def, rep), bookmarkIntervalMs: this.d.bookmarkIntervalMs,
    });
  }

  // ---- writes ----

  /** The field manager of a write: ?fieldManager=, else derived from the User-Agent (kubectl/v1.32… → kubectl). */
  private manager(req: IncomingMessage, query: URLSearchParams): string {
    return query.get('fieldManager') || defaultFieldManager(req.headers['user-agent']);
  }

  /** Record the manager's field ownership (metadata.managedFields) on an ordinary write. */
  private track(def: ResourceDef, old: KubeObject | undefined, updated: KubeObject, manager: string, subresource: string): KubeObject {
    try {
      return managedFieldsStep(def, old, updated, { manager, subresource });
    } catch (err) {
      this.d.log.warn({ err, resource: def.resource }, 'managedFields tracking failed; write continues without it');
      return updated;
    }
  }

  private async create(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, ctx: StrategyContext, query: URLSearchParams, name: string): Promise<void> {
    if (name) throw methodNotAllowed();
    const obj = await this.bodies.readObject(req, def, query);
    if (def.virtual) return sendJson(req, res, 201, await def.virtual(obj, ctx));
    const created = await this.d.objects.create(def, this.track(def, undefined, obj, this.manager(req, query), ''), ctx);
    this.render(req, res, def, created, 201, query);
  }

  private async update(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, name: string, ctx: StrategyContext, query: URLSearchParams): Promise<void> {
    const { obj, again } = await this.bodies.readObjectAgain(req, def, query);
    const out = await this.putObject(def, ns, name, ctx, obj, again, this.manager(req, query));
    this.render(req, res, def, out.obj, out.created ? 201 : 200, query);
  }

  /**
   * A PUT of `obj` to the main resource or to a status-like subresource (ctx.subresource): the same steps for a
   * request over HTTP and for one item of a node-write batch (node-writes.ts). `again` decodes a fresh copy of the
   * body for a retry after a storage conflict (the first attempt may consume `obj`).
   */
  private async putObject(def: ResourceDef, ns: string, name: string, ctx: StrategyContext, obj: KubeObject, again: () => KubeObject, manager: string): Promise<{ obj: KubeObject; created: boolean }> {
    const bodyName = obj.metadata?.name;
    if (bodyName && bodyName !== name) throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    const sub = ctx.subresource;
    if (sub === '' && def.namespaced && obj.metadata?.namespace && obj.metadata.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    let attempts = 0;
    return this.d.objects.update(def, ns, name, ctx, (cur) => {
      const body = attempts++ === 0 ? obj : again();
      if (sub === '') {
        (body.metadata ??= {}).name = name;
        return this.track(def, cur, body, manager, '');
      }
      // Subresource writes keep the stored metadata (upstream's ResetObjectMetaForStatus); the body's
      // resourceVersion is still the client's precondition.
      let next: KubeObject;
      if (sub === 'finalize') {
        next = clone(cur);
        (next as Obj).spec = { ...((cur as Obj).spec ?? {}), finalizers: (body as Obj).spec?.finalizers ?? [] };
      } else {
        // Only the body's status is taken (and may be changed by defaulting): copy just that part.
        next = { ...body, status: body.status === undefined ? undefined : clone(body.status) };
        if (next.status === undefined) delete next.status;
      }
      next.metadata = { ...cur.metadata, resourceVersion: body.metadata?.resourceVersion };
      if (!next.metadata.resourceVersion) delete next.metadata.resourceVersion;
      return this.track(def, cur, next, manager, sub);
    });
  }

  /**
   * One item of a node-write batch (node-writes.ts): a PUT of `raw` to `path` as `user`, through the steps a PUT
   * over HTTP takes after authentication — RequestInfo, authorization (`authorize`: the batch's node rules, then
   * RBAC), tenancy, decoding checks, field validation, managedFields (`manager`), admission, the store's
   * optimistic concurrency — and counted in the request metrics like one.
   */
  async putInProcess(user: UserInfo, path: string, raw: unknown, manager: string, authorize: (user: UserInfo, info: RequestInfo) => Promise<void>): Promise<KubeObject> {
    const started = Date.now();
    const info = parseRequestInfo('PUT', path, new URLSearchParams());
    let code = 500;
    try {
      if (!info.isResourceRequest || !info.name) throw badRequest(`a node write must name one object: ${JSON.stringify(path.slice(0, 256))}`);
      await authorize(user, info);
      const def = this.d.registry.get(info.group, info.version, info.resource);
      if (!def || def.computed || (def.namespaced === false && info.namespace)) throw pathNotFound();
      if (info.subresource && !['status', 'approval', 'finalize'].includes(info.subresource)) throw badRequest(`a node write cannot update subresource ${info.subresource}`);
      if (info.subresource && !def.subresources?.includes(info.subresource as never)) throw pathNotFound();
      if (!verbsOf(def).includes('update')) throw methodNotAllowed();
      const ns = def.namespaced ? info.namespace : '';
      const query = new URLSearchParams();
      await this.d.tenancy?.admit({ user, info, def, isApply: false });
      const ctx: StrategyContext = { user, namespace: ns, dryRun: false, subresource: info.subresource, warn: () => {} };
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(raw)?.slice(0, 200)}'`);
      const text = JSON.stringify(raw);
      const again = () => this.bodies.checkObject(def, JSON.parse(text), text, query);
      const out = await this.putObject(def, ns, info.name, ctx, this.bodies.checkObject(def, raw, text, query), again, manager);
      code = 200;
      return out.obj;
    } catch (err) {
      code = toStatusError(err).code;
      throw err;
    } finally {
      const resource = `${info.resource}${info.group ? `.${info.group}` : ''}${info.subresource ? `/${info.subresource}` : ''}`;
      this.d.metrics?.observe('update', resource, code, (Date.now() - started) / 1000);
    }
  }

  private async readPatch(req: IncomingMessage, query: URLSearchParams): Promise<{ type: PatchType; patch: unknown; duplicates: string[] }> {
    const type = patchTypeOf(mediaType(req));
    const body = await readBody(req, this.d.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    if (type === 'apply' && !query.get('fieldManager')) {
      throw invalid('PatchOptions', 'meta.k8s.io', '', [{ type: 'Required', field: 'fieldManager', detail: 'is required for apply patch' }]);
    }
    const text = body.toString('utf8');
    const patch = decodePatchBody(type, text);
    // Duplicate keys vanish once parsed, so they are found in the body (upstream decodes merge patches strictly).
    const duplicates = type === 'merge' || type === 'strategic' ? duplicateFieldsInJson(text) : [];
    return { type, patch, duplicates };
  }

  private patchMutation(def: ResourceDef, type: PatchType, patch: unknown, query: URLSearchParams, manager: string, subresource: string, namespace: string, duplicates: string[] = []) {
    return (cur: KubeObject): KubeObject => {
      const curRv = cur.metadata?.resourceVersion;
      let next: KubeObject;
      try {
        if (type === 'apply') {
          const applied = applyStep(def, cur, patch, { manager, force: query.get('force') === 'true', subresource, fieldValidation: fieldValidationOf(query), namespace });
          this.bodies.addWarnings(query, applied.warnings);
          next = applied.obj;
        } else {
          next = this.track(def, cur, applyPatch(type, cur, patch, { group: def.group, version: def.version, kind: def.kind }), manager, subresource);
        }
      } catch (err) {
        if (err instanceof JsonPatchTestFailed) throw invalid(def.kind, def.group, cur.metadata?.name ?? '', [{ type: 'Invalid', field: err.path, detail: err.message }]);
        throw err;
      }
      // The patched object is decoded into the typed struct upstream; a value of the wrong type fails that decoding.
      const typeError = def.openAPIV3Schema ? undefined : decodeTypeError(next, def.group, def.version, def.kind);
      if (typeError) throw invalid('', '', '', [{ type: 'Invalid', field: 'patch', value: JSON.stringify(next), detail: typeError }]);
      // Strict field validation looks at the patched object: patch bodies carry directives ($setElementOrder…).
      if (type !== 'apply') this.bodies.strictFields(def, next, query, { duplicateJson: duplicates });
      if (next.kind !== cur.kind || next.apiVersion !== cur.apiVersion) {
        if (type === 'apply' && next.kind === def.kind) next.apiVersion = cur.apiVersion;
        else throw badRequest('the API version in the data does not match the expected API version');
      }
      // A patch that does not mention resourceVersion is unconditional.
      if (next.metadata?.resourceVersion === curRv) delete next.metadata!.resourceVersion;
      return next;
    };
  }

  private async patch(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, name: string, ctx: StrategyContext, query: URLSearchParams): Promise<void> {
    const { type, patch, duplicates } = await this.readPatch(req, query);
    const manager = this.manager(req, query);
    const createIfMissing = type === 'apply' ? () => {
      const applied = applyStep(def, undefined, patch, { manager, force: query.get('force') === 'true', subresource: '', fieldValidation: fieldValidationOf(query), namespace: ns });
      this.bodies.addWarnings(query, applied.warnings);
      const obj = applied.obj;
      (obj.metadata ??= {}).name ??= name;
      if (def.namespaced) obj.metadata.namespace ??= ns;
      return this.bodies.checkObject(def, obj, JSON.stringify(patch), query);
    } : undefined;
    const out = await this.d.objects.update(def, ns, name, ctx, this.patchMutation(def, type, patch, query, manager, '', ns, duplicates), { createIfMissing });
    this.render(req, res, def, out.obj, out.created ? 201 : 200, query);
  }

  private async deleteOptions(req: IncomingMessage, query: URLSearchParams, ctx: StrategyContext): Promise<DeleteOptions> {
    const body = await readBody(req, this.d.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    let o: Obj = {};
    if (body.length) {
      const parsed = decodeObjectBody(body, mediaType(req) || 'application/json');
      if (parsed && typeof parsed === 'object') o = parsed as Obj;
    }
    const grace = query.get('gracePeriodSeconds') ?? o.gracePeriodSeconds;
    let policy = query.get('propagationPolicy') ?? o.propagationPolicy;
    const orphan = query.get('orphanDependents') ?? o.orphanDependents;
    if (!policy && orphan !== undefined && orphan !== null) policy = String(orphan) === 'true' ? 'Orphan' : 'Background';
    if (policy && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw invalid('DeleteOptions', 'meta.k8s.io', '', [{ type: 'NotSupported', field: 'propagationPolicy', value: policy, supported: ['Foreground', 'Background', 'Orphan', 'nil'] }]);
    }
    const dryRun = ctx.dryRun || (Array.isArray(o.dryRun) && o.dryRun.includes('All'));
    const g = grace === undefined || grace === null ? undefined : Number(grace);
    if (g !== undefined && !Number.isInteger(g)) throw badRequest(`invalid gracePeriodSeconds: ${String(grace)}`);
    return { gracePeriodSeconds: g === undefined ? undefined : Math.max(0, g), propagationPolicy: policy, preconditions: o.preconditions, dryRun };
  }

  private async delete(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, name: string, ctx: StrategyContext, query: URLSearchParams): Promise<void> {
    const opts = await this.deleteOptions(req, query, ctx);
    ctx.dryRun = opts.dryRun;
    const out = await this.d.objects.delete(def, ns, name, opts, ctx);
    if (out.deleted && !def.returnDeletedObject) {
      return sendJson(req, res, 200, successStatus({ name, group: def.group || undefined, kind: def.resource, uid: out.obj.metadata?.uid }));
    }
    this.render(req, res, def, out.obj, 200, query);
  }

  private async deleteCollection(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, ctx: StrategyContext, query: URLSearchParams, restriction?: TenantRestriction): Promise<void> {
    const opts = await this.deleteOptions(req, query, ctx);
    ctx.dryRun = opts.dryRun;
    const q = this.listQuery(def, query);
    const out = await listObjects({
      feed: this.d.feed, resourcePrefix: storagePrefix(def), scopePrefix: this.scopePrefix(def, ns), matches: this.selection(def, q, restriction), candidates: restriction?.candidates,
    }, { ...q, limit: 0, continueToken: undefined });
    const deleted: KubeObject[] = [];
    for (const item of out.items) {
      try {
        const r = await this.d.objects.delete(def, item.obj.metadata?.namespace ?? '', item.obj.metadata!.name!, opts, ctx);
        deleted.push(r.obj);
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) continue;
        throw err;
      }
    }
    sendJson(req, res, 200, { kind: `${def.kind}List`, apiVersion: groupVersion(def), metadata: { resourceVersion: String(this.d.feed.revision) }, items: deleted });
  }

  // ---- subresources ----

  private async subresource(req: IncomingMessage, res: ServerResponse, def: ResourceDef, info: RequestInfo, ctx: StrategyContext, query: URLSearchParams): Promise<void> {
    const sub = info.subresource;
    const ns = ctx.namespace;
    const name = info.name;
    const external = this.d.subresourceHandlers.get(`${def.resource}/${sub}`);
    if (external) return external(req, res, info, ctx.user);
    if (!def.subresources?.includes(sub as never)) throw pathNotFound();
    switch (sub) {
      case 'status':
      case 'approval':
      case 'finalize': {
        if (info.verb === 'get') return this.get(req, res, def, ns, name, query);
        if (info.verb === 'update') {
          const { obj, again } = await this.bodies.readObjectAgain(req, def, query, sub);
          const out = await this.putObject(def, ns, name, ctx, obj, again, this.manager(req, query));
          return this.render(req, res, def, out.obj, 200, query);
        }
        if (info.verb === 'patch') {
          const { type, patch, duplicates } = await this.readPatch(req, query);
          const out = await this.d.objects.update(def, ns, name, ctx, this.patchMutation(def, type, patch, query, this.manager(req, query), sub, ns, duplicates));
          return this.render(req, res, def, out.obj, 200, query);
        }
        throw methodNotAllowed();
      }
      case 'scale': return this.scale(req, res, def, ns, name, ctx, info, query);
      case 'binding': {
        if (info.verb !== 'create') throw methodNotAllowed();
        const body = decodeObjectBody(await readBody(req), mediaType(req)) as Obj;
        const target = body?.target?.name;
        if (!target) throw invalid('Binding', '', name, [{ type: 'Required', field: 'target.name' }]);
        if (body?.metadata?.name && body.metadata.name !== name) throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
        await this.d.objects.update(def, ns, name, ctx, (cur) => {
          const msg = bindPod(cur as Obj, target);
          if (msg) throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `Operation cannot be fulfilled on pods/binding "${name}": ${msg}`, reason: 'Conflict', details: { name, kind: 'pods/binding' }, code: 409 });
          return cur;
        });
        return sendJson(req, res, 201, successStatus());
      }
      default:
        throw notFound(grOf(def), `${name}/${sub}`);
    }
  }

  private async scale(req: IncomingMessage, res: ServerResponse, def: ResourceDef, ns: string, name: string, ctx: StrategyContext, info: RequestInfo, query: URLSearchParams): Promise<void> {
    const sc = def.scale;
    if (!sc) throw pathNotFound();
    const path = (p: string) => p.replace(/^\./, '').split('.');
    const read = (o: unknown, p: string) => path(p).reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Obj)[k] : undefined), o);
    const toScale = (o: KubeObject): Obj => {
      const sel = sc.labelSelectorPath ? read(o, sc.labelSelectorPath) : undefined;
      let selector: string | undefined;
      if (sel && typeof sel === 'object') {
        const { selectorString } = { selectorString: (s: Obj) => [...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`)].join(',') };
        selector = selectorString(sel as Obj);
      } else if (typeof sel === 'string') selector = sel;
      return {
        kind: 'Scale', apiVersion: 'autoscaling/v1',
        metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, uid: o.metadata?.uid, resourceVersion: o.metadata?.resourceVersion, creationTimestamp: o.metadata?.creationTimestamp },
        spec: { replicas: Number(read(o, sc.specReplicasPath) ?? 0) },
        status: { replicas: Number(read(o, sc.statusReplicasPath) ?? 0), ...(selector ? { selector } : {}) },
      };
    };
    const setReplicas = (o: KubeObject, n: number) => {
      const parts = path(sc.specReplicasPath);
      let cur = o as Obj;
      for (const k of parts.slice(0, -1)) cur = (cur[k] ??= {}) as Obj;
      cur[parts[parts.length - 1]!] = n;
    };
    if (info.verb === 'get') {
      const { obj } = await this.d.objects.get(def, ns, name);
      return sendJson(req, res, 200, toScale(obj));
    }
    let desired: (cur: KubeObject) => Obj;
    if (info.verb === 'update') {
      const body = decodeObjectBody(await readBody(req), mediaType(req)) as Obj;
      const typeError = decodeTypeError(body, 'autoscaling', 'v1', 'Scale');
      if (typeError) throw badRequest(`Scale in version "v1" cannot be handled as a Scale: ${typeError}`);
      desired = () => body;
    } else if (info.verb === 'patch') {
      const { type, patch } = await this.readPatch(req, query);
      desired = (cur) => applyPatch(type, toScale(cur), patch, { group: 'autoscaling', version: 'v1', kind: 'Scale' }) as Obj;
    } else throw methodNotAllowed();
    ctx.subresource = 'scale';
    const manager = this.manager(req, query);
    const out = await this.d.objects.update(def, ns, name, ctx, (cur) => {
      const before = clone(cur);
      const s = desired(cur);
      const n = s?.spec?.replicas;
      if (!Number.isInteger(n) || n < 0) throw invalid('Scale', 'autoscaling', name, [{ type: 'Invalid', field: 'spec.replicas', value: n, detail: 'must be greater than or equal to 0' }]);
      const rv = s?.metadata?.resourceVersion;
      if (rv && rv !== cur.metadata?.resourceVersion) cur.metadata!.resourceVersion = rv; // precondition → 409 in update()
      else delete cur.metadata!.resourceVersion;
      setReplicas(cur, n);
      // As upstream's scale handler: the writer owns spec.replicas of the parent, recorded with subresource "scale".
      return this.track(def, before, cur, manager, 'scale');
    });
    return sendJson(req, res, 200, toScale(out.obj));
  }
}

function parseDryRun(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  if (!v.length) return false;
  for (const x of v) if (x !== 'All') throw invalid('CreateOptions', 'meta.k8s.io', '', [{ type: 'NotSupported', field: 'dryRun', value: x, supported: ['All'] }]);
  return true;
}

function fieldValidationOf(q: URLSearchParams): 'Strict' | 'Warn' | 'Ignore' {
  const v = q.get('fieldValidation');
  return v === 'Strict' || v === 'Ignore' ? v : 'Warn';
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

export { keyFor };
