/**
 * The object a CONNECT admission sees: the connect request's options decoded from its query into their v1 kind
 * (PodExecOptions, PodAttachOptions, PodPortForwardOptions), as upstream's ConnectResource decodes them before it
 * calls admission. Fields left at their zero value are omitted, as Go's `omitempty` does.
 */
import type { KubeObject } from '../../apimachinery/object.js';
import { streamOptions } from '../../common/stream-options.js';
import type { StreamKind } from './target.js';

const KINDS: Record<StreamKind, string> = { exec: 'PodExecOptions', attach: 'PodAttachOptions', portforward: 'PodPortForwardOptions' };

export function connectOptions(kind: StreamKind, query: URLSearchParams): KubeObject {
  const out: Record<string, unknown> = { kind: KINDS[kind], apiVersion: 'v1' };
  if (kind === 'portforward') {
    // `ports=80,443` and repeated `ports=` both name ports, as kubectl sends them.
    const ports = query.getAll('ports').flatMap((p) => p.split(',')).map((p) => Number(p.trim())).filter((p) => Number.isInteger(p));
    if (ports.length) out.ports = ports;
    return out as KubeObject;
  }
  const streams = streamOptions(query);
  for (const k of ['stdin', 'stdout', 'stderr', 'tty'] as const) if (streams[k]) out[k] = true;
  const container = query.get('container');
  if (container) out.container = container;
  if (kind === 'exec') {
    const command = query.getAll('command');
    if (command.length) out.command = command;
  }
  return out as KubeObject;
}
