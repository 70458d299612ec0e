/**
 * The edge's kubelet API (upstream kubelet paths: /containerLogs, /exec, /attach, /portForward, /stats/summary,
 * /metrics, /metrics/resource, /pods, /healthz), served by a Node HTTP server that never listens on the network:
 * its only connections are tunnel streams the hub opened on this node's own outbound link (`accept`). So the
 * only client that can reach it is the hub, which admits only the API server (docs/design/tunnel.md).
 *
 * Plain HTTP inside the stream: the stream already rides the node's mutually authenticated TLS link, and only the
 * hub can open one; a second TLS layer would cost the gateway a handshake per request for no party it does not
 * already trust. (For an upstream kube-apiserver, which insists on HTTPS to kubelets, the hub terminates that
 * TLS: docs/design/tunnel.md.)
 *
 * Handlers register with `route` (plain requests) and `upgrade` (exec/attach/port-forward); patterns are upstream's
 * paths with `:name` segments. Requests for pods this node does not run, or containers those pods do not have,
 * are answered 404/400 by `requirePod`/`requireContainer` before a handler touches the runtime.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import { badRequest, notFound, statusFailure, StatusError, toStatusError } from '../../apimachinery/status.js';
import { registryKey } from '../contracts.js';

export { KUBELET_PORT } from '../../common/kubelet-endpoint.js';

export type Params = Record<string, string>;
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: Params) => void | Promise<void>;
export type UpgradeRouteHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, params: Params) => void | Promise<void>;

interface Route<H> {
  method: string;
  segments: string[];
  /** A trailing `*` matches the rest of the path (as `params['*']`). */
  rest: boolean;
  handler: H;
}

export interface KubeletServerOptions {
  nodeName: string;
  /** The edge's local store: the pods bound to this node are the ones it answers for. */
  store: Store;
  log: Logger;
}

function compile<H>(method: string, pattern: string, handler: H): Route<H> {
  const segments = pattern.split('/').filter(Boolean);
  const rest = segments.at(-1) === '*';
  if (rest) segments.pop();
  return { method: method.toUpperCase(), segments, rest, handler };
}

function match<H>(routes: Route<H>[], method: string, pathname: string): { route: Route<H>; params: Params } | null {
  let parts: string[];
  try {
    parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
  for (const r of routes) {
    if (r.method !== '*' && r.method !== method) continue;
    if (r.rest ? parts.length < r.segments.length : parts.length !== r.segments.length) continue;
    const params: Params = {};
    let ok = true;
    for (let i = 0; i < r.segments.length && ok; i++) {
      const seg = r.segments[i]!;
      if (seg.startsWith(':')) params[seg.slice(1)] = parts[i]!;
      else ok = seg === parts[i];
    }
    if (!ok) continue;
    if (r.rest) params['*'] = parts.slice(r.segments.length).join('/');
    return { route: r, params };
  }
  return null;
}

/** Writes a Kubernetes Status as the body of an error answer (headers not sent yet) or ends the response. */
export function sendStatusError(res: ServerResponse, err: unknown): void {
  const se = toStatusError(err);
  if (res.headersSent) return void res.end();
  const body = JSON.stringify(se.status);
  res.writeHead(se.code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export class KubeletServer {
  private readonly server: http.Server;
  private readonly routes: Route<RouteHandler>[] = [];
  private readonly upgrades: Route<UpgradeRouteHandler>[] = [];
  private readonly connections = new Set<Duplex>();
  readonly nodeName: string;
  readonly log: Logger;

  constructor(private readonly o: KubeletServerOptions) {
    this.nodeName = o.nodeName;
    this.log = o.log;
    // No listen(): connections arrive only through accept(). Long follows and exec sessions must not be timed out.
    this.server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 });
    this.server.on('request', (req, res) => void this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err, socket) => {
      this.log.debug({ err: String(err) }, 'kubelet server: bad request on a tunnel stream');
      if (!socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    });
    this.route('GET', '/healthz', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  }

  /** Serve a plain request: `pattern` like `/containerLogs/:namespace/:pod/:container` (`*` = rest of the path). */
  route(method: string, pattern: string, handler: RouteHandler): void {
    this.routes.push(compile(method, pattern, handler));
  }

  /** Serve an Upgrade request (exec/attach/port-forward): the handler owns the socket. */
  upgrade(pattern: string, handler: UpgradeRouteHandler): void {
    this.upgrades.push(compile('*', pattern, handler));
  }

  /** A tunnel stream the hub opened: one HTTP/1.1 connection to this server. */
  accept(stream: Duplex): void {
    this.connections.add(stream);
    stream.once('close', () => this.connections.delete(stream));
    // A stream reset by the hub (link cut, kubectl gone) errors like a socket would: the HTTP server ends it.
    stream.on('error', (err) => this.log.debug({ err: String(err) }, 'tunnel stream ended'));
    this.server.emit('connection', stream);
  }

  /** Open connections (tunnel streams); for leak checks. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** The pod `namespace/name` if this node runs it (bound to it in the local store), else 404 as the kubelet. */
  async requirePod(namespace: string, name: string): Promise<V1Pod> {
    const kv = await this.o.store.get(registryKey('pods', namespace, name));
    const pod = kv ? (JSON.parse(kv.value) as V1Pod) : undefined;
    if (!pod || pod.spec?.nodeName !== this.nodeName) throw notFound({ group: '', resource: 'pods' }, name);
    return pod;
  }

  /** The container (init, regular or ephemeral) of `pod`, or 400 with upstream's words. */
  requireContainer(pod: V1Pod, container: string): void {
    const s = pod.spec;
    const names = [...(s?.initContainers ?? []), ...(s?.containers ?? []), ...(s?.ephemeralContainers ?? [])].map((c) => c.name);
    if (!names.includes(container)) throw badRequest(`container ${container} is not valid for pod ${pod.metadata?.name ?? ''}`);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const m = match(this.routes, req.method ?? 'GET', url.pathname);
    try {
      if (!m) throw statusFailure(404, 'NotFound', `no kubelet endpoint ${req.method} ${url.pathname}`);
      await m.route.handler(req, res, m.params);
    } catch (err) {
      if (!(err instanceof StatusError)) this.log.warn({ err: String(err), path: url.pathname }, 'kubelet request failed');
      sendStatusError(res, err);
    }
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const m = match(this.upgrades, req.method ?? 'GET', url.pathname);
    try {
      if (!m) throw statusFailure(404, 'NotFound', `no kubelet endpoint for an upgrade at ${url.pathname}`);
      await m.route.handler(req, socket, head, m.params);
    } catch (err) {
      const se = toStatusError(err);
      const body = JSON.stringify(se.status);
      if (!socket.destroyed && socket.writable) {
        socket.end(`HTTP/1.1 ${se.code} ${se.reason || 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      }
    }
  }

  /** Ends every connection (agent shutdown). */
  close(): void {
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    this.server.close();
  }
}
