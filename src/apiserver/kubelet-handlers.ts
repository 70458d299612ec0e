/**
 * Subresources served by a node's kubelet, as kube-apiserver serves them: the request is authorized here (RBAC,
 * upstream's verbs: `get pods/log`, `get|create|… nodes/proxy`), checked against the Pod/Node objects, then
 * forwarded to the node's kubelet API through the node dialer (node-dialer.ts: the hub's tunnel for edge nodes),
 * and the kubelet's answer is streamed back.
 *
 *   GET /api/v1/namespaces/NS/pods/NAME/log?container=&follow=&previous=&…  → /containerLogs/NS/NAME/CONTAINER?…
 *   *   /api/v1/nodes/NAME/proxy/PATH?QUERY                                  → /PATH?QUERY
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { badRequest, methodNotAllowed, statusFailure } from '../apimachinery/status.js';
import { parsePodLogOptions } from '../apimachinery/pod-log-options.js';
import { requestUrl } from '../common/request-url.js';
import type { SubresourceHandler } from './handler.js';
import type { ObjectStore } from './objects.js';
import type { Registry } from './registry.js';
import type { RequestInfo } from './request-info.js';
import { kubeletRequest, type NodeDialer } from './node-dialer.js';

export interface KubeletHandlerDeps {
  registry: Registry;
  objects: ObjectStore;
  dialer: NodeDialer;
}

/** The container a log/exec/attach request means, as upstream's validateContainer: the only one, or the named one. */
export function containerFor(pod: V1Pod, requested: string | null): string {
  const spec = pod.spec;
  const all = [...(spec?.initContainers ?? []), ...(spec?.containers ?? []), ...(spec?.ephemeralContainers ?? [])].map((c) => c.name);
  const name = pod.metadata?.name ?? '';
  if (!requested) {
    if ((spec?.containers ?? []).length === 1) return spec!.containers[0]!.name;
    const regular = (spec?.containers ?? []).map((c) => c.name);
    const init = (spec?.initContainers ?? []).map((c) => c.name);
    const eph = (spec?.ephemeralContainers ?? []).map((c) => c.name);
    let msg = `a container name must be specified for pod ${name}, choose one of: [${regular.join(' ')}]`;
    if (init.length) msg += ` or one of the init containers: [${init.join(' ')}]`;
    if (eph.length) msg += ` or one of the ephemeral containers: [${eph.join(' ')}]`;
    throw badRequest(msg);
  }
  if (!all.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${name}`);
  return requested;
}

/** The pod of a pods/* subresource request (404 as a get would answer). */
export async function podOf(deps: KubeletHandlerDeps, info: RequestInfo): Promise<V1Pod> {
  const def = deps.registry.get('', 'v1', 'pods');
  if (!def) throw statusFailure(500, 'InternalError', 'pods are not served');
  return (await deps.objects.get(def, info.namespace, info.name)).obj as V1Pod;
}

/** Streams a kubelet response to the client; a client that goes away ends the kubelet request (and the tunnel stream). */
function pipeBack(kubelet: IncomingMessage, abort: () => void, res: ServerResponse, contentType?: string): void {
  const headers: Record<string, string | string[]> = {};
  for (const h of ['content-type', 'content-length', 'content-encoding', 'cache-control']) {
    const v = kubelet.headers[h];
    if (v !== undefined) headers[h] = v;
  }
  if (contentType) headers['content-type'] = contentType;
  res.writeHead(kubelet.statusCode ?? 502, headers);
  res.once('close', abort);
  kubelet.once('error', () => res.destroy());
  kubelet.pipe(res);
}

/** A kubelet's error answer as the API server's Status (its Status body passed through, plain text wrapped). */
async function kubeletError(kubelet: IncomingMessage): Promise<never> {
  let body = '';
  for await (const c of kubelet) {
    if (body.length < 64 * 1024) body += (c as Buffer).toString('utf8');
  }
  const code = kubelet.statusCode ?? 500;
  try {
    const s = JSON.parse(body) as { kind?: string; message?: string; reason?: string };
    if (s.kind === 'Status' && typeof s.message === 'string') throw statusFailure(code, (s.reason ?? '') as never, s.message);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  throw statusFailure(code, code === 404 ? 'NotFound' : code === 400 ? 'BadRequest' : 'InternalError', body.trim() || `the kubelet answered ${code}`);
}

export function podLogHandler(deps: KubeletHandlerDeps): SubresourceHandler {
  return async (req, res, info) => {
    if (info.verb !== 'get') throw methodNotAllowed();
    const url = requestUrl(req.url)!;
    const pod = await podOf(deps, info);
    const container = containerFor(pod, url.searchParams.get('container'));
    parsePodLogOptions(url.searchParams, info.name); // 422/400 before the node is bothered
    const node = pod.spec?.nodeName;
    // As upstream: a pod without a node has no logs yet (an empty answer, not an error).
    if (!node) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end();
    }
    const q = new URLSearchParams(url.searchParams);
    q.delete('container');
    q.delete('insecureSkipTLSVerifyBackend');
    const path = `/containerLogs/${encodeURIComponent(info.namespace)}/${encodeURIComponent(info.name)}/${encodeURIComponent(container)}${q.size ? `?${q}` : ''}`;
    const { res: kres, abort } = await kubeletRequest(deps.dialer, node, { method: 'GET', path });
    if (kres.statusCode !== 200) await kubeletError(kres);
    pipeBack(kres, abort, res, 'text/plain');
  };
}

/** `nodes/NAME/proxy/PATH`: any method, the rest of the path and the query go to the kubelet. */
export function nodeProxyHandler(deps: KubeletHandlerDeps): SubresourceHandler {
  return async (req, res, info) => {
    const def = deps.registry.get('', 'v1', 'nodes');
    if (!def) throw statusFailure(500, 'InternalError', 'nodes are not served');
    await deps.objects.get(def, '', info.name); // 404 nodes "x" not found, as upstream
    const url = requestUrl(req.url)!;
    const marker = `/nodes/${encodeURIComponent(info.name)}/proxy`;
    const at = url.pathname.indexOf(marker);
    const rest = at >= 0 ? url.pathname.slice(at + marker.length) : '';
    const path = `${rest.startsWith('/') ? rest : `/${rest}`}${url.search}`;
    const headers: Record<string, string> = {};
    for (const h of ['accept', 'content-type', 'content-length', 'accept-encoding']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const { res: kres, abort } = await kubeletRequest(deps.dialer, info.name, { method: req.method ?? 'GET', path, headers, body: hasBody ? req : undefined });
    pipeBack(kres, abort, res);
  };
}

export function registerKubeletHandlers(handlers: Map<string, SubresourceHandler>, deps: KubeletHandlerDeps): void {
  handlers.set('pods/log', podLogHandler(deps));
  handlers.set('nodes/proxy', nodeProxyHandler(deps));
}
