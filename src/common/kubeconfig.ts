/**
 * API clients for long-running in-process components (hub, controllers, the server's own components).
 *
 * Loopback. When the kubeconfig's API server is this very process (`kedge server` runs the hub and controllers
 * in-process), TLS between two threads of one process buys nothing and cost ~16% of the API thread in the
 * heartbeat benchmark. `kedge server` serves the same API on a Unix socket in its data dir (plain HTTP, mode
 * 0600) that accepts a random bearer token made at start and handed to its components in memory (never written
 * to disk), as kube-apiserver's loopback client config does. `useLoopbackFor` registers that transport for the
 * admin kubeconfig's path in the current thread; `loadKubeClient` of that path then returns a client that
 * speaks to the socket with the token. The token maps to the identity of the kubeconfig's client certificate,
 * so the components keep exactly their RBAC.
 *
 * Nothing here loads @kubernetes/client-node (see kube-client.ts for why); the few server components still
 * built on its typed APIs get their KubeConfig from client-node-config.ts.
 */
import path from 'node:path';
import { KubeClient, type LoopbackTransport } from './kube-client.js';

export { LOOPBACK_SERVER_URL, loopbackAgent, sharedSecureContext, tlsMaterialKey, type LoopbackTransport, type TlsMaterial } from './kube-client.js';

/** Per thread (module state is per isolate): resolved kubeconfig path → the transport serving its API. */
const loopbackByKubeconfig = new Map<string, LoopbackTransport>();

/**
 * From now on `loadKubeClient(kubeconfigPath)` in this thread talks to the API over `transport`
 * (undefined: back to the file's own server and credentials). Called by `kedge server` for its admin
 * kubeconfig, on the main thread and in each component thread.
 */
export function useLoopbackFor(kubeconfigPath: string, transport: LoopbackTransport | undefined): void {
  const key = path.resolve(kubeconfigPath);
  if (transport) loopbackByKubeconfig.set(key, transport);
  else loopbackByKubeconfig.delete(key);
}

/** The loopback transport registered for `kubeconfigPath` in this thread, if any. */
export function loopbackFor(kubeconfigPath: string): LoopbackTransport | undefined {
  return loopbackByKubeconfig.get(path.resolve(kubeconfigPath));
}

/**
 * The API client of a kubeconfig file for a long-running component: its loopback transport if
 * `useLoopbackFor` registered one for this path in this thread, else the file's own server and credentials
 * over keep-alive TLS.
 */
export function loadKubeClient(file: string): KubeClient {
  const loopback = loopbackFor(file);
  return loopback ? KubeClient.loopback(loopback) : KubeClient.fromKubeconfigFile(file);
}
