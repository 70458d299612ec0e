/**
 * `pods/exec`, `pods/attach` and `pods/portforward`: kubectl's streaming subresources, served through the node's
 * kubelet API (reached by `dialKubelet`, which for edge nodes rides the node's own hub connection).
 *
 * Which protocol is spoken to the kubelet, per client (as kube-apiserver 1.32):
 *  - WebSocket offering `v5.channel.k8s.io` (kubectl ≥ 1.30, client-node): translated to SPDY (exec-translator.ts).
 *  - WebSocket offering `SPDY/3.1+portforward.k8s.io` (kubectl ≥ 1.31 port-forward): unwrapped to SPDY
 *    (portforward-tunnel.ts).
 *  - Anything else (SPDY/3.1 upgrades, the older WebSocket channel protocols): proxied as is (proxy.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { badRequest, internalError, StatusError } from '../../apimachinery/status.js';
import type { SubresourceHandler, UpgradeHandler } from '../handler.js';
import type { ObjectStore } from '../objects.js';
import { podsDef } from '../resources/pods.js';
import { translateExec, wantsV5 } from './exec-translator.js';
import { tunnelPortForward, wantsTunnel } from './portforward-tunnel.js';
import { proxyUpgrade } from '../../common/upgrade-proxy.js';
import { kubeletTarget, type StreamKind } from './target.js';
import { connectOptions } from './connect-options.js';
import type { KubeObject } from '../../apimachinery/object.js';
import type { RequestInfo } from '../request-info.js';
import type { UserInfo } from '../auth/types.js';

/** A connection to a node's kubelet API (plain HTTP/1.1 inside; the transport authenticates the node). */
export type KubeletDialer = (nodeName: string) => Promise<Duplex>;

export interface StreamingDeps {
  objects: ObjectStore;
  /** CONNECT admission (the webhooks): refuses by throwing a StatusError before the pod is reached. */
  admitConnect?: (info: RequestInfo, options: KubeObject, user: UserInfo) => Promise<void>;
  dialKubelet: KubeletDialer;
  log: Logger;
}

/** Sessions in flight, by subresource (a gauge for leak checks and metrics). */
export const activeStreams: Record<StreamKind, number> = { exec: 0, attach: 0, portforward: 0 };

/** Dial errors keep their Status (the dialer says 503 for a node that is offline); others become upstream's text. */
async function dial(d: StreamingDeps, nodeName: string): Promise<Duplex> {
  try {
    return await d.dialKubelet(nodeName);
  } catch (err) {
    if (err instanceof StatusError) throw err;
    throw internalError(new Error(`error dialing backend: ${(err as Error).message}`));
  }
}

function handlerFor(kind: StreamKind, d: StreamingDeps): UpgradeHandler {
  return async (req: IncomingMessage, socket: Duplex, head: Buffer, info, user) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    await d.admitConnect?.(info, connectOptions(kind, query), user);
    const pod = (await d.objects.get(podsDef, info.namespace, info.name)).obj as V1Pod;
    const target = kubeletTarget(kind, pod, query);
    const log = d.log.child({ stream: kind, namespace: info.namespace, pod: info.name, node: target.nodeName });
    activeStreams[kind]++;
    let counted = true;
    const onEnd = () => {
      if (!counted) return;
      counted = false;
      activeStreams[kind]--;
    };
    try {
      if (kind !== 'portforward' && wantsV5(req)) {
        // Upstream upgrades the client first and reports kubelet failures on the status channel.
        translateExec(req, socket, head, { target, dial: () => dial(d, target.nodeName), log, onEnd });
        return;
      }
      const upstream = await dial(d, target.nodeName);
      if (kind === 'portforward' && wantsTunnel(req)) {
        tunnelPortForward(req, socket, head, { target, upstream, log, onEnd });
        return;
      }
      proxyUpgrade(req, socket, head, upstream, target.path, target.nodeName, onEnd);
    } catch (err) {
      onEnd();
      throw err;
    }
  };
}

export function registerStreamingHandlers(upgradeHandlers: Map<string, UpgradeHandler>, subresourceHandlers: Map<string, SubresourceHandler>, d: StreamingDeps): void {
  for (const kind of ['exec', 'attach', 'portforward'] as const) {
    upgradeHandlers.set(`pods/${kind}`, handlerFor(kind, d));
    // The same path without an Upgrade header: upstream's answer.
    subresourceHandlers.set(`pods/${kind}`, (_req, res) => {
      const body = JSON.stringify(badRequest('Upgrade request required').status);
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  }
}
