/**
 * Where an exec, attach or port-forward request goes: the pod's node and the kubelet path, after upstream's checks
 * (pkg/registry/core/pod: ExecLocation, AttachLocation, PortForwardLocation) with their words, so kubectl prints
 * what it prints against kube-apiserver. The path is the kubelet's (`/exec/{ns}/{pod}/{container}?command=…&input=1`),
 * with upstream's parameter names, so the same request also suits an upstream kubelet.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { badRequest } from '../../apimachinery/status.js';
import { NO_STREAMS_MESSAGE, streamOptions, type StreamOptions } from '../../common/stream-options.js';

export type StreamKind = 'exec' | 'attach' | 'portforward';

export interface KubeletTarget {
  nodeName: string;
  /** Path and query on the node's kubelet API. */
  path: string;
  container: string;
  /** What the client asked for (exec/attach), as the kubelet will see it. */
  streams: StreamOptions;
}

function containerFor(pod: V1Pod, requested: string): string {
  const name = pod.metadata?.name ?? '';
  const spec = pod.spec;
  if (!requested) {
    if (spec?.containers?.length === 1) return spec.containers[0]!.name;
    const names = (spec?.containers ?? []).map((c) => c.name);
    throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
  }
  const all = [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])].map((c) => c.name);
  if (!all.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${name}`);
  return requested;
}

function nodeOf(pod: V1Pod): string {
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) throw badRequest(`pod ${pod.metadata?.name ?? ''} does not have a host assigned`);
  return nodeName;
}

export function kubeletTarget(kind: StreamKind, pod: V1Pod, query: URLSearchParams): KubeletTarget {
  const ns = encodeURIComponent(pod.metadata?.namespace ?? '');
  const name = encodeURIComponent(pod.metadata?.name ?? '');
  const streams = streamOptions(query);
  if (kind === 'portforward') {
    const nodeName = nodeOf(pod);
    // A WebSocket port-forward names its ports in the query (`ports=80,443`); SPDY ones per stream.
    const ports = query.getAll('ports');
    const q = new URLSearchParams();
    for (const p of ports) q.append('ports', p);
    const qs = q.toString();
    return { nodeName, path: `/portForward/${ns}/${name}${qs ? `?${qs}` : ''}`, container: '', streams };
  }
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw badRequest(`cannot ${kind === 'exec' ? 'exec into' : 'attach to'} a container in a completed pod; current phase is ${phase}`);
  }
  const container = containerFor(pod, query.get('container') ?? '');
  const nodeName = nodeOf(pod);
  const q = new URLSearchParams();
  if (kind === 'exec') {
    const command = query.getAll('command');
    if (command.length === 0) throw badRequest('you must specify at least 1 command');
    for (const c of command) q.append('command', c);
  }
  if (streams.stdin) q.set('input', '1');
  if (streams.stdout) q.set('output', '1');
  if (streams.stderr) q.set('error', '1');
  if (streams.tty) q.set('tty', '1');
  if (!streams.stdin && !streams.stdout && !streams.stderr) throw badRequest(NO_STREAMS_MESSAGE);
  const op = kind === 'exec' ? 'exec' : 'attach';
  return { nodeName, path: `/${op}/${ns}/${name}/${encodeURIComponent(container)}?${q.toString()}`, container, streams };
}
