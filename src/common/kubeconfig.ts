/**
 * Kubeconfigs for long-running in-process API clients (hub, controllers, the server's own components).
 *
 * 1. Keep-alive. @kubernetes/client-node 1.4 builds a new https.Agent for every request, so every API call
 *    pays a SecureContext (the private key is parsed again), a TLS handshake and, on the server, a certificate
 *    lookup. Measured on the fleet benchmark (1,000 hollow nodes, in-process hub and controllers): TLS setup
 *    was 44% of the server's busy CPU. `withKeepAlive` gives a KubeConfig one keep-alive agent per
 *    credentials, and every TLS agent built here shares one SecureContext per credentials
 *    (`sharedSecureContext`): the key and CA are parsed once per process thread, not per connection.
 * 2. Loopback. When the kubeconfig's API server is this very process (`kedge server` runs the hub and
 *    controllers in-process), TLS between two threads of one process buys nothing and cost ~16% of the API
 *    thread in the heartbeat benchmark. `kedge server` serves the same API on a Unix socket in its data dir
 *    (plain HTTP, mode 0600) that accepts a random bearer token made at start and handed to its components
 *    in memory (never written to disk), as kube-apiserver's loopback client config does. `useLoopbackFor`
 *    registers that transport for the admin kubeconfig's path in the current thread; `loadKubeConfig` of that
 *    path then returns a KubeConfig that speaks to the socket with the token. The token maps to the identity
 *    of the kubeconfig's client certificate, so the components keep exactly their RBAC.
 */
import https from 'node:https';
import http from 'node:http';
import tls from 'node:tls';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

type AgentFactory = (cluster: unknown, agentOptions: https.AgentOptions) => http.Agent;

/** Sockets kept per API server; watches each hold one, so this bounds only idle + request sockets. */
const MAX_FREE_SOCKETS = 64;

/** TLS material of a client connection, as client-node hands it to an agent. */
export type TlsMaterial = Pick<tls.SecureContextOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase'>;

/** Distinct credentials a thread keeps contexts for; rotation replaces them rarely, so a few suffice. */
const MAX_SECURE_CONTEXTS = 16;
const secureContexts = new Map<string, tls.SecureContext>();

/** A string that is equal for equal credentials and trust (the SecureContext cache key). */
export function tlsMaterialKey(o: TlsMaterial): string {
  return [o.ca, o.cert, o.key, o.pfx, o.passphrase].map((v) => String(v ?? '')).join('\u0000');
}

/**
 * One SecureContext per distinct credentials and trust in this thread. Without it Node builds one per TLS
 * connection (`tls.connect` parses the key and CA each time), which is what a reconnecting watch or a
 * bounded pool opening connections would pay.
 */
export function sharedSecureContext(o: TlsMaterial): tls.SecureContext {
  const key = tlsMaterialKey(o);
  let ctx = secureContexts.get(key);
  if (ctx) return ctx;
  ctx = tls.createSecureContext({ ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase });
  if (secureContexts.size >= MAX_SECURE_CONTEXTS) secureContexts.delete(secureContexts.keys().next().value!);
  secureContexts.set(key, ctx);
  return ctx;
}

/** Make `kc` reuse one keep-alive agent for every request it configures (returns `kc`). */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  const original = (kc as unknown as { createAgent: AgentFactory }).createAgent.bind(kc);
  let shared: http.Agent | undefined;
  let sharedFor: string | undefined;
  (kc as unknown as { createAgent: AgentFactory }).createAgent = (cluster, agentOptions) => {
    // Proxies and plain-HTTP clusters keep client-node's own agent; only direct TLS is pooled.
    const c = cluster as { proxyUrl?: string; server?: string } | undefined;
    if (c?.proxyUrl || !c?.server?.startsWith('https:')) return original(cluster, agentOptions);
    // Same server, same credentials → same agent. A kubeconfig switched to another context gets its own.
    const identity = `${c.server}\u0000${tlsMaterialKey(agentOptions)}\u0000${kc.getCurrentContext()}`;
    if (!shared || sharedFor !== identity) {
      shared?.destroy();
      // A per-call timeout must not become every later call's socket timeout.
      const { timeout: _perCall, ...tlsOptions } = agentOptions;
      shared = new https.Agent({ ...tlsOptions, secureContext: sharedSecureContext(tlsOptions), keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS, scheduling: 'lifo' } as https.AgentOptions);
      sharedFor = identity;
    }
    return shared;
  };
  return kc;
}

/** How an in-process client reaches its own process's API server without TLS. */
export interface LoopbackTransport {
  /** Unix domain socket serving the API as plain HTTP (mode 0600, in the server's data dir). */
  socketPath: string;
  /** Bearer token the server accepts for the kubeconfig's identity; lives only in this process's memory. */
  token: string;
}

/**
 * The URL loopback KubeConfigs name. Requests never resolve it: the agent dials the Unix socket. Plain
 * `http:` is what tells clients (client-node, JsonApi) to skip TLS.
 */
export const LOOPBACK_SERVER_URL = 'http://localhost';

/** Per thread (module state is per isolate): resolved kubeconfig path → the transport serving its API. */
const loopbackByKubeconfig = new Map<string, LoopbackTransport>();
const loopbackOfConfig = new WeakMap<KubeConfig, LoopbackTransport>();

/**
 * From now on `loadKubeConfig(kubeconfigPath)` in this thread talks to the API over `transport`
 * (undefined: back to the file's own server and credentials). Called by `kedge server` for its admin
 * kubeconfig, on the main thread and in each component thread.
 */
export function useLoopbackFor(kubeconfigPath: string, transport: LoopbackTransport | undefined): void {
  const key = path.resolve(kubeconfigPath);
  if (transport) loopbackByKubeconfig.set(key, transport);
  else loopbackByKubeconfig.delete(key);
}

/** A KubeConfig that reaches the API over `t` (plain HTTP on the Unix socket, bearer token), with one keep-alive agent. */
export function loopbackKubeConfig(t: LoopbackTransport): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // skipTLSVerify: client-node refuses http: servers without it; there is no TLS to verify here.
    clusters: [{ name: 'loopback', server: LOOPBACK_SERVER_URL, skipTLSVerify: true }],
    users: [{ name: 'loopback', token: t.token }],
    contexts: [{ name: 'loopback', cluster: 'loopback', user: 'loopback' }],
    currentContext: 'loopback',
  });
  const agent = loopbackAgent(t.socketPath, {});
  (kc as unknown as { createAgent: AgentFactory }).createAgent = () => agent;
  loopbackOfConfig.set(kc, t);
  return kc;
}

/** The loopback transport `kc` speaks over, if it was made by `loopbackKubeConfig`. */
export function loopbackOf(kc: KubeConfig): LoopbackTransport | undefined {
  return loopbackOfConfig.get(kc);
}

/** A keep-alive HTTP agent whose every connection is to the Unix socket `socketPath`. */
export function loopbackAgent(socketPath: string, o: { maxSockets?: number }): http.Agent {
  // Agent options are merged into every connection's options, and `socketPath` makes it a Unix socket.
  return new http.Agent({ keepAlive: true, maxFreeSockets: o.maxSockets ?? MAX_FREE_SOCKETS, maxSockets: o.maxSockets, scheduling: 'lifo', socketPath } as http.AgentOptions);
}

/**
 * Load a kubeconfig file for a long-running in-cluster client (hub, controllers, server components): its
 * loopback transport if `useLoopbackFor` registered one for this path in this thread, else the file's own
 * server and credentials over keep-alive TLS.
 */
export function loadKubeConfig(file: string): KubeConfig {
  const loopback = loopbackByKubeconfig.get(path.resolve(file));
  if (loopback) return loopbackKubeConfig(loopback);
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return withKeepAlive(kc);
}
