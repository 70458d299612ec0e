/**
 * The edge's local read-only Kubernetes API on 127.0.0.1: get/list/watch of what the cloud sent (pods,
 * configmaps, secrets, serviceaccounts, services, endpointslices, the node), served from the local store
 * with the control plane's own list/watch machinery (src/apimachinery: selectors, pagination,
 * resourceVersion semantics, bookmarks, 410 for compacted history), so node-local clients keep working
 * while the cloud is unreachable. resourceVersion here is the local store's revision (what a watch resumes
 * from against this server). Every write verb is refused with 405 MethodNotAllowed.
 * Who may read what (Host check, public reads, the node token, the Unix socket, pod tokens): access.ts.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Logger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { listObjects, parseListQuery, serveWatch } from '../../apimachinery/listwatch.js';
import { StatusError, badRequest, forbiddenPath, internalError, methodNotAllowed, notFound, pathNotFound } from '../../apimachinery/status.js';
import { requestUrl } from '../../common/request-url.js';
import type { KubeObject } from '../../apimachinery/object.js';
import { SYNCED_RESOURCES, type SyncedResource } from '../../protocol/keys.js';
import { slowClientServerOptions } from '../../common/slow-clients.js';
import { listenOnUnixSocket } from '../../common/unix-socket.js';
import { hostRefusal, LocalApiAccess, type Caller } from './access.js';

export interface LocalApiOptions {
  store: Store;
  port: number;
  host?: string;
  nodeName: string;
  log: Logger;
  /** The node's local-API credential (credentials.ts: DATA_DIR/local-api.token). */
  adminToken: string;
  /** Also serve on this Unix socket (mode 0600); requests there are the node's own. */
  socketPath?: string;
}

export interface LocalApi {
  port: number;
  socketPath?: string;
  close(): Promise<void>;
}

interface Route {
  def: SyncedResource;
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
}

function groupOf(def: SyncedResource): { group: string; version: string; plural: string } {
  const [gv, version] = def.apiVersion.includes('/') ? def.apiVersion.split('/') : ['', def.apiVersion];
  return { group: gv!, version: version!, plural: def.resource.split('.')[0]! };
}

/** /api/v1/[namespaces/NS/]PLURAL[/NAME] and /apis/G/V/[namespaces/NS/]PLURAL[/NAME]. */
function route(pathname: string): Route | null {
  const parts = pathname.split('/').filter(Boolean);
  let group = '';
  let version: string | undefined;
  let rest: string[];
  if (parts[0] === 'api') {
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    version = parts[2];
    rest = parts.slice(3);
  } else return null;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, ...extra] = rest;
  if (!plural || extra.length > 0) return null;
  for (const def of SYNCED_RESOURCES) {
    const g = groupOf(def);
    if (g.group === group && g.version === version && g.plural === plural) {
      if (!def.namespaced && namespace) return null;
      return { def, ...g, namespace, name };
    }
  }
  return null;
}

function fieldValue(obj: KubeObject, field: string): string | undefined {
  if (field === 'metadata.name') return obj.metadata?.name;
  if (field === 'metadata.namespace') return obj.metadata?.namespace ?? '';
  let cur: unknown = obj;
  for (const p of field.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return typeof cur === 'string' ? cur : cur === undefined ? '' : String(cur);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function discovery(pathname: string): unknown | null {
  if (pathname === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
  if (pathname === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: 'discovery.k8s.io', versions: [{ groupVersion: 'discovery.k8s.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'discovery.k8s.io/v1', version: 'v1' } }],
    };
  }
  const gv = pathname === '/api/v1' ? 'v1' : pathname.startsWith('/apis/') ? pathname.slice(6) : null;
  if (!gv) return null;
  const resources = SYNCED_RESOURCES.filter((d) => d.apiVersion === gv).map((d) => ({
    name: groupOf(d).plural,
    singularName: d.kind.toLowerCase(),
    namespaced: d.namespaced,
    kind: d.kind,
    verbs: ['get', 'list', 'watch'],
  }));
  if (resources.length === 0) return null;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

export async function startLocalApi(o: LocalApiOptions): Promise<LocalApi> {
  // Root '/' (not '/registry/'): the agent's own /kedge/ writes bump the store revision too, and the
  // feed must see every revision for freshness waits ("list at the latest revision") to complete.
  const feed = new WatchCacheFeed(o.store, '/');
  await feed.start();
  const access = new LocalApiAccess(feed, o.adminToken);
  const listenHost = o.host ?? '127.0.0.1';

  async function handle(req: IncomingMessage, res: ServerResponse, viaSocket: boolean): Promise<void> {
    const url = requestUrl(req.url);
    if (!url) throw badRequest(`malformed request URL ${JSON.stringify((req.url ?? '').slice(0, 256))}`);
    const p = url.pathname.replace(/\/+$/, '') || '/';
    // Before anything else: a page in a browser reaching 127.0.0.1 through a rebound name is refused.
    const refusal = viaSocket ? undefined : hostRefusal(req.headers.host, o.nodeName, listenHost);
    if (refusal) throw forbiddenPath(refusal);
    const caller = await access.authenticate(req, viaSocket);
    if (p === '/healthz' || p === '/readyz' || p === '/livez') return void res.end('ok');
    if (p === '/version') return sendJson(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-kedge-edge', platform: `linux/${process.arch}` });
    const disc = discovery(p);
    if (disc) return sendJson(res, 200, disc);
    const r = route(p);
    if (!r) throw pathNotFound();
    if (req.method !== 'GET') throw methodNotAllowed();
    const gr = { group: r.group, resource: r.plural };
    const resourcePrefix = `/registry/${r.def.resource}/`;
    const q = r.name ? undefined : parseListQuery(url.searchParams);
    authorizeRead(caller, r, q);
    if (r.name) {
      const key = r.def.namespaced ? `${resourcePrefix}${r.namespace ?? ''}/${r.name}` : `${resourcePrefix}${r.name}`;
      const cache = await feed.cache(resourcePrefix);
      await feed.waitFresh();
      const item = r.def.namespaced && !r.namespace ? undefined : cache.get(key);
      if (!item) throw notFound(gr, r.name);
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(item.raw);
    }
    if (!q) throw pathNotFound();
    const scopePrefix = r.namespace ? `${resourcePrefix}${r.namespace}/` : resourcePrefix;
    const matches = (obj: KubeObject): boolean =>
      q.labelSelector.matches(obj.metadata?.labels) && q.fieldSelector.matches((f) => fieldValue(obj, f));
    if (q.watch) {
      const cache = await feed.cache(resourcePrefix);
      return serveWatch(res, {
        cache,
        feed,
        scopePrefix,
        query: q,
        matches,
        render: (item) => item.raw,
        bookmarkKind: { apiVersion: r.def.apiVersion, kind: r.def.kind },
      });
    }
    const out = await listObjects({ feed, resourcePrefix, scopePrefix, matches }, q);
    const metadata: Record<string, unknown> = { resourceVersion: String(out.resourceVersion) };
    if (out.continueToken) metadata.continue = out.continueToken;
    if (out.remainingItemCount !== undefined) metadata.remainingItemCount = out.remainingItemCount;
    const body = `{"kind":"${r.def.kind}List","apiVersion":"${r.def.apiVersion}","metadata":${JSON.stringify(metadata)},"items":[${out.items.map((i) => i.raw).join(',')}]}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  }

  function authorizeRead(caller: Caller, r: Route, q: ReturnType<typeof parseListQuery> | undefined): void {
    access.authorize(caller, {
      verb: !q ? 'get' : q.watch ? 'watch' : 'list',
      resource: r.def.resource, group: r.group, plural: r.plural, namespaced: r.def.namespaced, namespace: r.namespace,
      // A list or watch that pins one object by name (client-go's single-object informers) reads just that object.
      name: r.name ?? q?.fieldSelector.exactValue('metadata.name'),
    });
  }

  const serve = (viaSocket: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, viaSocket).catch((err) => {
      const se = err instanceof StatusError ? err : internalError(err);
      if (!(err instanceof StatusError)) o.log.error({ err: String(err) }, 'local API request failed');
      if (res.headersSent) return void res.end();
      sendJson(res, se.code, se.status);
    });
  };
  const limits = slowClientServerOptions();
  const server = http.createServer(limits, serve(false));
  server.keepAliveTimeout = limits.keepAliveTimeout!;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, listenHost, () => resolve());
  });
  let socketServer: http.Server | undefined;
  if (o.socketPath) {
    socketServer = http.createServer(limits, serve(true));
    try {
      await listenOnUnixSocket(socketServer, o.socketPath);
    } catch (err) {
      o.log.warn({ socket: o.socketPath, err: String((err as Error).message ?? err) }, 'local API Unix socket unavailable: serving TCP only');
      socketServer = undefined;
    }
  }
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    socketPath: socketServer ? o.socketPath : undefined,
    async close() {
      feed.close();
      for (const srv of [server, socketServer]) {
        if (!srv) continue;
        srv.closeAllConnections();
        await new Promise<void>((r) => srv.close(() => r()));
      }
      if (socketServer && o.socketPath) await unlink(o.socketPath).catch(() => {});
    },
  };
}
