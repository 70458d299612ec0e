/**
 * @kubernetes/client-node KubeConfigs for the few `kedge server` components still written against its typed
 * APIs (the API server's token, RBAC aggregation and CSR signing controllers). Long-running clients that
 * `kedge cloud` runs use src/common/kube-client.ts instead and never load client-node (issue 19: importing it
 * alone costs ~105 MiB RSS). The kubeconfig is read by kubeconfig-file.ts, as everywhere in Kedge.
 *
 * Keep-alive: client-node 1.4 builds a new https.Agent for every request, so every call would pay a
 * SecureContext, a TLS handshake and a certificate lookup on the server (44% of the server's busy CPU on the
 * fleet bench); `withKeepAlive` gives a KubeConfig one keep-alive agent per credentials.
 */
import https from 'node:https';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { readKubeconfigSync } from './kubeconfig-file.js';
import { LOOPBACK_SERVER_URL, loopbackAgent, sharedSecureContext, tlsMaterialKey, type LoopbackTransport } from './kube-client.js';
import { loopbackFor } from './kubeconfig.js';

type AgentFactory = (cluster: unknown, agentOptions: https.AgentOptions) => http.Agent;

/** Sockets kept per API server; watches each hold one, so this bounds only idle + request sockets. */
const MAX_FREE_SOCKETS = 64;

/** Make `kc` reuse one keep-alive agent for every request it configures (returns `kc`). */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  const original = (kc as unknown as { createAgent: AgentFactory }).createAgent.bind(kc);
  let shared: http.Agent | undefined;
  let sharedFor: string | undefined;
  (kc as unknown as { createAgent: AgentFactory }).createAgent = (cluster, agentOptions) => {
    // Plain-HTTP clusters keep client-node's own agent; only direct TLS is pooled.
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

/** A client-node KubeConfig that reaches the API over `t` (plain HTTP on the Unix socket, bearer token). */
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
  return kc;
}

/**
 * A client-node KubeConfig for a kubeconfig file: the thread's loopback transport for that path if one is
 * registered (src/common/kubeconfig.ts), else the file's current context (read by kubeconfig-file.ts) over
 * keep-alive TLS.
 */
export function loadClientNodeKubeConfig(file: string): KubeConfig {
  const loopback = loopbackFor(file);
  if (loopback) return loopbackKubeConfig(loopback);
  const r = readKubeconfigSync(file);
  const b64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'utf8').toString('base64'));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: r.server, caData: b64(r.caCertPem), skipTLSVerify: r.insecureSkipTlsVerify ?? false, tlsServerName: r.tlsServerName }],
    users: [{ name: 'u', certData: b64(r.clientCertPem), keyData: b64(r.clientKeyPem), token: r.token }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u', namespace: r.namespace }],
    currentContext: 'ctx',
  });
  return withKeepAlive(kc);
}
