/**
 * Labels and annotations the pod manager puts on sandboxes and containers, so that a restarted
 * agent can tell from the runtime alone which pod and container each one belongs to (adoption),
 * and which ones nobody wants any more (orphans). Same keys as the kubelet's io.kubernetes.* labels,
 * plus a Kedge marker so a shared containerd's other tenants are never touched.
 */
export const MANAGED_BY = 'io.kedge.managed-by';
export const MANAGED_BY_VALUE = 'kedge-edge';
export const POD_NAME = 'io.kubernetes.pod.name';
export const POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const POD_UID = 'io.kubernetes.pod.uid';
export const CONTAINER_NAME = 'io.kubernetes.container.name';
/** "init" or "regular". */
export const CONTAINER_KIND = 'io.kedge.container.kind';
/** Annotations (not labels): values change per instance. */
export const RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const TERMINATION_GRACE = 'io.kubernetes.pod.terminationGracePeriod';
/** Which node's agent owns these; lets several agents (tests, simulators) share one containerd. */
export const NODE_NAME = 'io.kedge.node';

export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
}

export function sandboxLabels(nodeName: string, pod: PodIdentity, podLabels: Record<string, string> = {}): Record<string, string> {
  return { ...podLabels, [MANAGED_BY]: MANAGED_BY_VALUE, [NODE_NAME]: nodeName, [POD_NAME]: pod.name, [POD_NAMESPACE]: pod.namespace, [POD_UID]: pod.uid };
}

export function containerLabels(nodeName: string, pod: PodIdentity, container: string, kind: 'init' | 'regular'): Record<string, string> {
  return {
    [MANAGED_BY]: MANAGED_BY_VALUE,
    [NODE_NAME]: nodeName,
    [POD_NAME]: pod.name,
    [POD_NAMESPACE]: pod.namespace,
    [POD_UID]: pod.uid,
    [CONTAINER_NAME]: container,
    [CONTAINER_KIND]: kind,
  };
}

export function managedSelector(nodeName: string): Record<string, string> {
  return { [MANAGED_BY]: MANAGED_BY_VALUE, [NODE_NAME]: nodeName };
}
