/**
 * Interactive sessions (exec, attach, port-forward) start as the kubelet starts them: CRI Exec/Attach/PortForward
 * return a one-time URL of the runtime's streaming server, and the kubelet API proxies the client there. Only
 * containers and sandboxes this agent runs (its labels, this node) are reachable, and only while they run.
 */
import type { ContainerRuntime, StreamingOptions } from '../../runtime/types.js';
import * as L from './labels.js';

export type StreamingRequest =
  | { kind: 'exec'; container: string; command: string[]; opts: StreamingOptions }
  | { kind: 'attach'; container: string; opts: StreamingOptions }
  | { kind: 'portforward'; ports: number[] };

/** Nothing runs that could serve the request: the kubelet's words (`container not found ("c")`). */
export class StreamingTargetNotFound extends Error {}

export interface StreamingPod {
  namespace: string;
  name: string;
  uid: string;
}

/** The runtime's one-time URL, and the container it serves (absent for port-forward). */
export interface StreamingTarget {
  url: string;
  containerId?: string;
}

export async function streamingUrl(rt: ContainerRuntime, nodeName: string, pod: StreamingPod, req: StreamingRequest): Promise<StreamingTarget> {
  const mine = { ...L.managedSelector(nodeName), [L.POD_UID]: pod.uid };
  if (req.kind === 'portforward') {
    const sandboxes = await rt.listPodSandbox({ labelSelector: mine, state: { state: 'SANDBOX_READY' } });
    if (sandboxes.length === 0) throw new StreamingTargetNotFound(`pod not found (${JSON.stringify(`${pod.name}_${pod.namespace}`)})`);
    return { url: await rt.portForward(sandboxes[0]!.id, req.ports) };
  }
  const running = await rt.listContainers({ labelSelector: { ...mine, [L.CONTAINER_NAME]: req.container }, state: { state: 'CONTAINER_RUNNING' } });
  if (running.length === 0) throw new StreamingTargetNotFound(`container not found (${JSON.stringify(req.container)})`);
  const id = running[0]!.id;
  return { url: req.kind === 'exec' ? await rt.exec(id, req.command, req.opts) : await rt.attach(id, req.opts), containerId: id };
}
