/**
 * The kubelet API's `/exec/{ns}/{pod}/{container}`, `/attach/{ns}/{pod}/{container}` and
 * `/portForward/{ns}/{pod}[/{uid}]`, as upstream's kubelet serves them: check that this node runs the pod (and
 * the container), ask CRI for a one-time streaming URL (Exec/Attach/PortForward), and proxy the client's upgrade
 * to containerd's streaming server on 127.0.0.1 unchanged. containerd 1.6 speaks what the kubelet's streaming
 * server speaks: SPDY/3.1 (remotecommand v1–v4, portforward.k8s.io) and the WebSocket channel protocols up to v4.
 *
 * The session ends when either side closes: a cut tunnel stream closes the connection to containerd, and the exec's
 * process, which containerd would leave running, is killed (exec-reaper.ts; docs/design/tunnel.md, "Streams").
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { proxyUpgrade } from '../../common/upgrade-proxy.js';
import { NO_STREAMS_MESSAGE, streamOptions } from '../../common/stream-options.js';
import { badRequest, internalError, StatusError, toStatusError } from '../../apimachinery/status.js';
import type { PodManagerHandle } from '../contracts.js';
import { StreamingTargetNotFound, type StreamingRequest, type StreamingTarget } from '../podmanager/streaming.js';
import { ExecReaper } from './exec-reaper.js';

type Params = Record<string, string>;
type UpgradeRouteHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, params: Params) => void | Promise<void>;

/** What these routes need of the kubelet server (src/edge/kubelet/server.ts). */
export interface StreamingRouteHost {
  readonly log: Logger;
  upgrade(pattern: string, handler: UpgradeRouteHandler): void;
  requirePod(namespace: string, name: string): Promise<V1Pod>;
  requireContainer(pod: V1Pod, container: string): void;
}

/** Sessions proxied to the runtime right now (leak checks). */
export const openRuntimeSessions = { count: 0 };

function notFoundStatus(message: string): StatusError {
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'NotFound', code: 404 });
}

function answer(socket: Duplex, err: unknown): void {
  const se = err instanceof StreamingTargetNotFound ? notFoundStatus(err.message) : toStatusError(err);
  const body = JSON.stringify(se.status);
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${se.code} ${se.reason || 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function requestFor(kind: StreamingRequest['kind'], params: Params, query: URLSearchParams): StreamingRequest {
  if (kind === 'portforward') {
    // WebSocket clients name their ports in the query; SPDY clients name one per stream (any port is allowed then).
    const ports = query.getAll('ports').flatMap((p) => p.split(',')).filter(Boolean).map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`invalid port ${JSON.stringify(p.slice(0, 32))}`);
      return n;
    });
    return { kind, ports };
  }
  const opts = streamOptions(query);
  if (!opts.stdin && !opts.stdout && !opts.stderr) throw badRequest(NO_STREAMS_MESSAGE);
  const container = params.container!;
  if (kind === 'attach') return { kind, container, opts };
  const command = query.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least 1 command');
  return { kind, container, command, opts };
}

function connect(url: URL): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port || 80), url.hostname);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function handler(host: StreamingRouteHost, podManager: PodManagerHandle | undefined, kind: StreamingRequest['kind']): UpgradeRouteHandler {
  return async (req, socket, head, params) => {
    try {
      const pod = await host.requirePod(params.namespace!, params.pod!);
      if (params.uid && pod.metadata?.uid !== params.uid) throw notFoundStatus(`pod not found (${JSON.stringify(`${params.pod}_${params.namespace}`)})`);
      if (kind !== 'portforward') host.requireContainer(pod, params.container!);
      const streamingRequest = requestFor(kind, params, new URL(req.url ?? '/', 'http://kubelet').searchParams);
      if (!podManager?.streamingUrl) throw badRequest(`node runs no containers (--runtime none): ${kind} is not available`);
      let target: StreamingTarget;
      try {
        target = await podManager.streamingUrl(params.namespace!, params.pod!, streamingRequest);
      } catch (err) {
        if (err instanceof StreamingTargetNotFound) throw err;
        throw internalError(err);
      }
      if (socket.destroyed) return; // the client left while the runtime answered
      const url = new URL(target.url);
      const upstream = await connect(url);
      const reaper = streamingRequest.kind === 'exec' && target.containerId ? new ExecReaper(target.containerId, streamingRequest.command) : undefined;
      openRuntimeSessions.count++;
      proxyUpgrade(req, socket, head, upstream, url.pathname + url.search, url.host, () => {
        openRuntimeSessions.count--;
        reaper?.end();
      });
    } catch (err) {
      host.log.debug({ kind, pod: `${params.namespace}/${params.pod}`, err: String(err) }, 'streaming request refused');
      answer(socket, err);
    }
  };
}

export function registerStreamingRoutes(host: StreamingRouteHost, podManager: PodManagerHandle | undefined): void {
  host.upgrade('/exec/:namespace/:pod/:container', handler(host, podManager, 'exec'));
  host.upgrade('/exec/:namespace/:pod/:uid/:container', handler(host, podManager, 'exec'));
  host.upgrade('/attach/:namespace/:pod/:container', handler(host, podManager, 'attach'));
  host.upgrade('/attach/:namespace/:pod/:uid/:container', handler(host, podManager, 'attach'));
  host.upgrade('/portForward/:namespace/:pod', handler(host, podManager, 'portforward'));
  host.upgrade('/portForward/:namespace/:pod/:uid', handler(host, podManager, 'portforward'));
}
