/**
 * `GET /containerLogs/{namespace}/{pod}/{container}` as the kubelet serves it, with PodLogOptions as query
 * parameters (follow, previous, sinceSeconds, sinceTime, timestamps, tailLines, limitBytes). The body streams:
 * each chunk is written as it is read, and a slow reader stops the reading (write back-pressure), so a chatty
 * container followed over a slow link costs a bounded buffer, not memory that grows.
 */
import type { ServerResponse } from 'node:http';
import { badRequest, statusFailure } from '../../apimachinery/status.js';
import { parsePodLogOptions } from '../../apimachinery/pod-log-options.js';
import type { PodManagerHandle } from '../contracts.js';
import type { KubeletServer } from './server.js';

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

export function registerLogRoutes(kubelet: KubeletServer, podManager: PodManagerHandle | undefined): void {
  kubelet.route('GET', '/containerLogs/:namespace/:pod/:container', async (req, res, p) => {
    const pod = await kubelet.requirePod(p.namespace!, p.pod!);
    kubelet.requireContainer(pod, p.container!);
    const opts = parsePodLogOptions(new URL(req.url ?? '/', 'http://kubelet').searchParams, p.pod!);
    if (!podManager?.readLogs) throw statusFailure(404, 'NotFound', `container logs are not available on node ${kubelet.nodeName}: it runs no container runtime`);
    const aborted = new AbortController();
    res.once('close', () => aborted.abort());
    const write = (chunk: string): Promise<void> | undefined => {
      if (aborted.signal.aborted) return undefined;
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      return res.write(chunk) ? undefined : waitDrain(res);
    };
    try {
      await podManager.readLogs(p.namespace!, p.pod!, p.container!, { ...opts, signal: aborted.signal }, write);
    } catch (err) {
      const e = err as Error & { why?: string };
      if (e.why === 'previous-not-found') throw badRequest(`previous terminated container "${p.container}" in pod "${p.pod}" not found`);
      if (e.why === 'no-logs') throw badRequest(`container "${p.container}" in pod "${p.pod}" is waiting to start: no logs yet`);
      throw err;
    }
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/plain' });
    res.end();
  });
}
