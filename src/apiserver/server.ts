/**
 * The Kubernetes-compatible API server: wires store → watch cache → object lifecycle → HTTP pipeline, registers
 * the built-in resources, writes the objects a fresh cluster must have, and serves HTTPS.
 *
 * Extension points for other components:
 *  - `server.registry.add(def)` / `.remove(...)`: serve a resource at runtime (CRDs).
 *  - `server.subresourceHandlers.set('pods/log', handler)`: serve streaming subresources (hub tunnel).
 *  - `server.upgradeHandlers.set('pods/exec', handler)`: WebSocket/SPDY upgrades (kubectl exec/attach/port-forward).
 *  - `server.objects`: in-process create/update/delete with full API semantics (no HTTP).
 *  - `server.serve(listener)`: the same API on another listener (the in-process loopback socket, loopback.ts).
 */
import { registerKubeletHandlers } from './kubelet-handlers.js';
import { registerStreamingHandlers } from './streaming/index.js';
import type { NodeDialer } from './node-dialer.js';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Store } from '../storage/types.js';
import { createLogger, type Logger } from '../common/logger.js';
import { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { decodeKv, type KubeObject } from '../apimachinery/object.js';
import { StatusError } from '../apimachinery/status.js';
import {
  BootstrapTokenAuthenticator, ensureBootstrapPolicy, RbacAuthorizer, RequestAuthenticator, StaticTokenAuthenticator,
  AuthAdmission, serviceAccountIssuerDiscovery, DEFAULT_ISSUER, ServiceAccountTokenAuthenticator, ServiceAccountTokenIssuer, tokenRequestHandler,
  type Authenticator, type Authorizer, type RbacSource, type TokenAuthenticator, type UserInfo,
} from './auth/index.js';
import { ApiServerMetrics } from './metrics.js';
import { ApiHandler, type OpenApiSource, type SubresourceHandler, type UpgradeHandler } from './handler.js';
import { ClusterIpAllocator, NodePortAllocator } from './ip-allocator.js';
import { keyFor, ObjectStore } from './objects.js';
import { isStored, Registry, storagePrefix, type ResourceDef, type StrategyContext } from './registry.js';
import { registerBuiltins } from './builtins.js';
import { BuiltinAdmission } from './admission/index.js';
import type { PodSecurityConfig } from './admission/admission-config.js';
import { ensureSystemPriorityClasses } from './admission/priority.js';
import { startApiServiceRegistration } from './apiservices.js';
import { evictionHandler } from './eviction.js';
import { createOpenApiSource } from './openapi.js';
import { NamespaceFinalizer } from './namespace-finalizer.js';
import { CrdController } from './crd/crd-controller.js';
import { admitDeviceObject, deviceModelKey, installDeviceCrds } from './devices.js';
import { installBuiltinCrds } from './crd/builtin/index.js';
import { TENANCY_GROUP } from '../common/tenancy.js';
import { TenancyGate } from './tenancy/gate.js';
import { admitTenancy } from './tenancy/admission.js';
import { unknownFieldProblems } from './schema/index.js';
import type { Obj } from './resources/helpers.js';
import type { SigningKeyPair } from '../pki/index.js';
import { isMirrorPod, mountServiceAccountToken, serviceAccountMissing } from './serviceaccount-admission.js';
import { createRootCaPublisher } from './root-ca-publisher.js';
import { DEFAULT_EVENT_TTL_MS, EventTtlSweeper } from './event-ttl.js';
import { constants as cryptoConstants } from 'node:crypto';
import { slowClientServerOptions, type SlowClientLimits } from '../common/slow-clients.js';

export interface ApiServerOptions {
  store: Store;
  tls: { cert: string; key: string; ca: string };
  bindAddress?: string;
  /** 0 picks a free port. */
  port?: number;
  serviceClusterIpRange?: string;
  serviceNodePortRange?: [number, number];
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** Extra bearer-token authenticators (static token file, service account tokens). */
  tokenAuthenticators?: TokenAuthenticator[];
  tokenAuthFile?: string;
  /** Key pair for service account tokens (pki ensureServiceAccountKeyPair): enables SA token auth and serviceaccounts/token. */
  serviceAccountKey?: SigningKeyPair;
  /** PodSecurity defaults and exemptions from `--admission-control-config-file` (admission/admission-config.ts). */
  podSecurity?: PodSecurityConfig;
  logger?: Logger;
  maxBodyBytes?: number;
  bookmarkIntervalMs?: number;
  minRequestTimeoutSeconds?: number;
  /** In-flight limits (429 beyond them); 0 disables. Defaults 400 / 200 as upstream. */
  maxRequestsInflight?: number;
  maxMutatingRequestsInflight?: number;
  /** Run the tiny built-in namespace finalizer (empties deleted namespaces). Default true. */
  namespaceFinalizer?: boolean;
  /** Events are deleted this long after their last write (kube-apiserver --event-ttl); 0 keeps them. Default 1h. */
  eventTtlMs?: number;
  /**
   * kube-apiserver's --anonymous-auth (default true): a request with no credentials is served as
   * system:anonymous (group system:unauthenticated) and RBAC decides; false answers it 401.
   */
  anonymousAuth?: boolean;
  /** Read deadlines against slow clients (src/common/slow-clients.ts); kube-apiserver's by default. */
  slowClientLimits?: Partial<SlowClientLimits>;
  /**
   * How to reach a node's kubelet API (node-dialer.ts; `kedge server`: the hub's CONNECT proxy socket). With it,
   * pods/log and nodes/proxy are served (kubelet-handlers.ts); without, they answer 404 as before.
   */
  nodeDialer?: NodeDialer;
}

export interface ApiServer {
  url: string;
  port: number;
  registry: Registry;
  objects: ObjectStore;
  feed: WatchCacheFeed;
  subresourceHandlers: Map<string, SubresourceHandler>;
  upgradeHandlers: Map<string, UpgradeHandler>;
  /** The way to nodes' kubelets (for exec/attach/port-forward/stats handlers registered by other components). */
  nodeDialer?: NodeDialer;
  /** /metrics: the API server's metrics; push other components' prom-client registries onto `metrics.extra`. */
  metrics: ApiServerMetrics;
  /** Server-internal identity for in-process writes. */
  systemContext(namespace?: string): StrategyContext;
  /**
   * Serve the same API (same authentication, authorization, handlers) on `listener` too; its owner closes it.
   * Requests `exemptFromInflightLimit` picks skip the in-flight limit (the loopback channel's own clients).
   */
  serve(listener: http.Server, o?: { exemptFromInflightLimit?: (req: http.IncomingMessage) => boolean }): void;
  close(): Promise<void>;
}

export const SYSTEM_USER: UserInfo = { username: 'system:apiserver', groups: ['system:masters', 'system:authenticated'] };
export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** RBAC objects read from the watch cache: authorization never touches the store. */
function cachedRbacSource(feed: WatchCacheFeed): RbacSource {
  const all = async (resource: string, ns?: string) => {
    const cache = await feed.cache(`/registry/rbac.authorization.k8s.io/${resource}/`);
    const prefix = ns === undefined ? '' : `/registry/rbac.authorization.k8s.io/${resource}/${ns}/`;
    const out: never[] = [];
    for (const item of cache.items.values()) if (!prefix || item.key.startsWith(prefix)) out.push(item.obj as never);
    return out;
  };
  return {
    listClusterRoles: () => all('clusterroles'),
    listClusterRoleBindings: () => all('clusterrolebindings'),
    listRoles: (ns) => all('roles', ns),
    listRoleBindings: (ns) => all('rolebindings', ns),
  };
}

export async function createApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.logger ?? createLogger('apiserver');
  const store = opts.store;
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  const registry = new Registry();
  const ips = new ClusterIpAllocator(opts.serviceClusterIpRange ?? '10.43.0.0/16');
  const ports = new NodePortAllocator(...(opts.serviceNodePortRange ?? [30000, 32767]));
  const rbac = cachedRbacSource(feed);
  const secretLookup = async (ns: string, name: string) => {
    const kv = await store.get(`/registry/core/secrets/${ns}/${name}`);
    return kv ? (decodeKv(kv) as never) : null;
  };
  const tokenAuthenticators: TokenAuthenticator[] = [...(opts.tokenAuthenticators ?? [])];
  if (opts.tokenAuthFile) tokenAuthenticators.push(StaticTokenAuthenticator.fromFile(opts.tokenAuthFile));
  const getStored = async <T>(key: string): Promise<T | null> => { const kv = await store.get(key); return kv ? (decodeKv(kv) as T) : null; };
  const saLookups = {
    getServiceAccount: (ns: string, name: string) => getStored<never>(`/registry/core/serviceaccounts/${ns}/${name}`),
    getPod: (ns: string, name: string) => getStored<never>(`/registry/core/pods/${ns}/${name}`),
    getSecret: (ns: string, name: string) => getStored<never>(`/registry/core/secrets/${ns}/${name}`),
    getNode: (name: string) => getStored<never>(`/registry/core/nodes/${name}`),
  };
  if (opts.serviceAccountKey) tokenAuthenticators.push(new ServiceAccountTokenAuthenticator({ keys: [opts.serviceAccountKey], lookup: saLookups }));
  tokenAuthenticators.push(new BootstrapTokenAuthenticator(secretLookup));
  const authenticator = opts.authenticator ?? new RequestAuthenticator({ clientCertificates: true, tokenAuthenticators });
  const authorizer = opts.authorizer ?? new RbacAuthorizer(rbac);

  let objects!: ObjectStore;
  const namespaceState = async (ns: string): Promise<'active' | 'missing' | 'terminating'> => {
    const cache = await feed.cache('/registry/core/namespaces/');
    let item = cache.get(`/registry/core/namespaces/${ns}`);
    if (!item) {
      // The cache may trail a namespace created a moment ago by another request: ask the store.
      const kv = await store.get(`/registry/core/namespaces/${ns}`);
      if (!kv) return 'missing';
      item = { key: kv.key, obj: decodeKv(kv), raw: '', revision: kv.modRevision };
    }
    return item.obj.metadata?.deletionTimestamp ? 'terminating' : 'active';
  };
  // RBAC escalation prevention, CSR approval/signing rules and NodeRestriction (src/apiserver/auth).
  const podNode = async (ns: string, name: string) => (await getStored<{ spec?: { nodeName?: string } }>(`/registry/core/pods/${ns}/${name}`))?.spec?.nodeName;
  const authAdmission = new AuthAdmission(authorizer, rbac, podNode);
  // Multi-tenant isolation: the request gate (handler) and its admission step (src/apiserver/tenancy).
  const tenancy = new TenancyGate(feed);
  const builtinAdmission = new BuiltinAdmission(feed, log.child({ component: 'admission' }), registry, () => objects, opts.podSecurity);
  objects = new ObjectStore({ store, feed, namespaces: { namespaceState }, admit: async (def, obj, old, ctx) => {
    await authAdmission.admit(def, obj, old, ctx);
    await admitTenancy(tenancy, def, obj, old, ctx);
    // KubeEdge devices: a Device is checked against its DeviceModel (src/apiserver/devices.ts).
    await admitDeviceObject(def, obj, ctx, (ns, name) => getStored(deviceModelKey(ns, name)));
    // ServiceAccount admission: pods get the kube-api-access-* projected volume (token, root CA, namespace).
    if (!old && def.group === '' && def.resource === 'pods' && !ctx.subresource) {
      const spec = (obj as Obj).spec ?? {};
      const ns = obj.metadata!.namespace!;
      const saName = spec.serviceAccountName || 'default';
      const sa = await getStored<never>(`/registry/core/serviceaccounts/${ns}/${saName}`);
      if (!sa && !isMirrorPod(obj)) throw serviceAccountMissing(obj, ns, saName);
      mountServiceAccountToken(obj as never, sa);
    }
    await builtinAdmission.admit(def, obj, old, ctx);
  }, admitDelete: (def, old, opts, ctx) => builtinAdmission.admitDelete(def, old, opts, ctx) });

  // TokenReview answers with the same bearer-token authenticators as requests use.
  registerBuiltins(registry, { ips, ports, authorizer, rbac, tokenReviewer: new RequestAuthenticator({ clientCertificates: false, tokenAuthenticators }) });
  // Every served resource gets its cache (and event history) now, not on first use: a client that lists at
  // revision R and then watches from R must find the events after R, even if it is the first to ask.
  const primeCaches = () => { for (const d of registry.all()) if (isStored(d)) void feed.cache(storagePrefix(d)).catch((err) => log.warn({ err, resource: d.resource }, 'watch cache')); };
  primeCaches();
  registry.onChange(primeCaches);
  const systemContext = (namespace = ''): StrategyContext => ({ user: SYSTEM_USER, namespace, dryRun: false, subresource: '' });

  // Namespaces get their `default` ServiceAccount as soon as they exist (upstream's serviceaccount controller).
  const nsDef = registry.get('', 'v1', 'namespaces')!;
  const saDef = registry.get('', 'v1', 'serviceaccounts')!;
  const ensureDefaultServiceAccount = async (ns: string) => {
    try {
      await objects.create(saDef, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } }, systemContext(ns));
    } catch (err) {
      if (!(err instanceof StatusError && (err.code === 409 || err.code === 403 || err.code === 404))) log.warn({ err, ns }, 'default service account');
    }
  };
  // Every namespace also gets ConfigMap kube-root-ca.crt (upstream's root-ca-cert-publisher), put back if deleted.
  const rootCa = createRootCaPublisher({ objects, configMapDef: registry.get('', 'v1', 'configmaps')!, systemContext, caPem: opts.tls.ca, log });
  registry.add(rootCa.wrapConfigMapDef(registry.get('', 'v1', 'configmaps')!));
  const ensureNamespaceDefaults = async (ns: string) => { await ensureDefaultServiceAccount(ns); await rootCa.ensure(ns); };
  registry.add({ ...nsDef, strategy: { ...nsDef.strategy, afterCreate: (o) => ensureNamespaceDefaults(o.metadata!.name!) } });

  await rebuildAllocations(store, ips, ports, log);
  await bootstrapObjects({ registry, objects, systemContext, ips, log, port: opts.port ?? 6443, ensureDefaultServiceAccount: ensureNamespaceDefaults });
  await ensureSystemPriorityClasses(objects, registry.get('scheduling.k8s.io', 'v1', 'priorityclasses')!, systemContext());
  const roleDefs = {
    cr: registry.get('rbac.authorization.k8s.io', 'v1', 'clusterroles')!,
    crb: registry.get('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings')!,
  };
  const getOrNull = async (def: ResourceDef, name: string) => {
    try { return (await objects.get(def, '', name)).obj as never; } catch (err) { if (err instanceof StatusError && err.code === 404) return null; throw err; }
  };
  const policy = await ensureBootstrapPolicy({
    getClusterRole: (n) => getOrNull(roleDefs.cr, n),
    createClusterRole: (r) => objects.create(roleDefs.cr, r as KubeObject, systemContext()),
    updateClusterRole: (r) => objects.update(roleDefs.cr, '', r.metadata!.name!, systemContext(), () => r as KubeObject),
    getClusterRoleBinding: (n) => getOrNull(roleDefs.crb, n),
    createClusterRoleBinding: (b) => objects.create(roleDefs.crb, b as unknown as KubeObject, systemContext()),
    updateClusterRoleBinding: (b) => objects.update(roleDefs.crb, '', b.metadata!.name!, systemContext(), () => b as unknown as KubeObject),
  });
  if (policy.created.length || policy.updated.length) log.info({ created: policy.created.length, updated: policy.updated.length }, 'bootstrap RBAC policy reconciled');

  let ready = false;
  let serverUrl = '';
  const subresourceHandlers = new Map<string, SubresourceHandler>();
  const upgradeHandlers = new Map<string, UpgradeHandler>();
  const metrics = new ApiServerMetrics(feed, registry);
  if (opts.nodeDialer) registerKubeletHandlers(subresourceHandlers, { registry, objects, dialer: opts.nodeDialer });
  if (opts.nodeDialer) registerStreamingHandlers(upgradeHandlers, subresourceHandlers, {
    objects,
    admitConnect: (info, options, user) => builtinAdmission.admitConnect(registry.get('', 'v1', 'pods')!, info.name, options, { user, namespace: info.namespace, dryRun: false, subresource: info.subresource }),
    dialKubelet: (n) => opts.nodeDialer!.dialKubelet(n), log: log.child({ component: 'streaming' }) });
  // kubectl drain: evictions honour PodDisruptionBudgets (eviction.ts).
  subresourceHandlers.set('pods/eviction', evictionHandler({ registry, objects, feed }));
  if (opts.serviceAccountKey) subresourceHandlers.set('serviceaccounts/token', tokenRequestHandler({ issuer: new ServiceAccountTokenIssuer(opts.serviceAccountKey), ...saLookups }));
  // Custom resources: CRD strategy + serving every established CRD (src/apiserver/crd).
  const crds = new CrdController({ registry, objects, feed, log, systemContext });
  crds.install();
  await crds.start();
  // KubeEdge's device API (devices.kubeedge.io/v1beta1) as built-in CRDs: docs/design/devices.md.
  await installDeviceCrds({ registry, objects, systemContext, log });
  await waitUntilServed(registry, 'devices.kubeedge.io', ['devices', 'devicemodels', 'devicestatuses']);
  // OpenYurt's and SuperEdge's kinds, served as CRDs out of the box (crd/builtin, docs/design/node-pools.md).
  await installBuiltinCrds({ registry, objects, systemContext, log });
  await waitUntilServed(registry, 'apps.openyurt.io', ['nodepools', 'yurtappsets']);
  await waitUntilServed(registry, 'superedge.io', ['deploymentgrids', 'statefulsetgrids', 'servicegrids']);
  await waitUntilServed(registry, TENANCY_GROUP, ['tenants']);
  // kube-aggregator's autoregister: an APIService per served group/version (kubectl get apiservices).
  const apiServices = startApiServiceRegistration({ registry, objects, feed, systemContext, log: log.child({ component: 'apiservices' }) });
  await apiServices.synced;
  const openapi: OpenApiSource | undefined = await createOpenApiSource(registry, log);
  const handler = new ApiHandler({
    registry, objects, feed, authenticator, authorizer, log, subresourceHandlers, upgradeHandlers, openapi, metrics, tenancy,
    anonymousAuth: opts.anonymousAuth ?? true,
    nonResourceHandlers: opts.serviceAccountKey ? serviceAccountIssuerDiscovery(DEFAULT_ISSUER, [opts.serviceAccountKey]) : undefined,
    fieldValidation: (def, obj) => unknownFieldProblems(def, obj),
    serverAddress: () => serverUrl.replace(/^https:\/\//, ''),
    isReady: () => ready,
    maxBodyBytes: opts.maxBodyBytes,
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    minRequestTimeoutSeconds: opts.minRequestTimeoutSeconds,
    maxRequestsInflight: opts.maxRequestsInflight,
    maxMutatingRequestsInflight: opts.maxMutatingRequestsInflight,
  });

  const limits = slowClientServerOptions(opts.slowClientLimits);
  const server = https.createServer({
    ...limits,
    cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2',
    // A connection keeps the identity of its first certificate (authn caches it per socket): no TLS 1.2 renegotiation.
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  }, (req, res) => { void handler.handle(req, res); });
  server.on('upgrade', (req, socket, head) => { void handler.handleUpgrade(req, socket, head); });
  server.keepAliveTimeout = limits.keepAliveTimeout!;
  const host = opts.bindAddress ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 6443, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  serverUrl = `https://${urlHost}:${port}`;

  const finalizer = opts.namespaceFinalizer === false ? null : new NamespaceFinalizer({ registry, objects, feed, log, systemContext });
  await finalizer?.start();
  const eventTtl = new EventTtlSweeper({ store, feed, ttlMs: opts.eventTtlMs ?? DEFAULT_EVENT_TTL_MS, log });
  await eventTtl.start();
  ready = true;
  log.info({ url: serverUrl, resources: registry.all().length }, 'API server listening');

  return {
    url: serverUrl, port, registry, objects, feed, subresourceHandlers, upgradeHandlers, metrics, systemContext, nodeDialer: opts.nodeDialer,
    serve(listener, o) {
      const exempt = o?.exemptFromInflightLimit;
      listener.on('request', (req, res) => { void handler.handle(req, res, exempt?.(req) ?? false); });
      listener.on('upgrade', (req, socket, head) => { void handler.handleUpgrade(req, socket, head); });
    },
    async close() {
      ready = false;
      finalizer?.stop();
      eventTtl.stop();
      crds.stop();
      apiServices.stop();
      feed.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The CRD controller serves a new CRD from its watch: wait for it so the first request after start finds it. */
async function waitUntilServed(registry: Registry, group: string, resources: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!resources.every((r) => registry.all().some((d) => d.group === group && d.resource === r))) {
    if (Date.now() > deadline) throw new Error(`custom resources ${resources.join(', ')}.${group} not served after 10 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Service IPs and node ports in use are whatever stored Services hold. */
async function rebuildAllocations(store: Store, ips: ClusterIpAllocator, ports: NodePortAllocator, log: Logger): Promise<void> {
  let startAfter: string | undefined;
  let n = 0;
  for (;;) {
    const page = await store.list('/registry/core/services/', { limit: 1000, startAfter });
    for (const kv of page.items) {
      const s = (JSON.parse(kv.value) as Obj).spec ?? {};
      for (const ip of (s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : [])) as string[]) if (ip && ip !== 'None') ips.markUsed(ip);
      for (const p of (s.ports ?? []) as Obj[]) if (p.nodePort) ports.markUsed(p.nodePort);
      n++;
    }
    if (!page.more || !page.items.length) break;
    startAfter = page.items[page.items.length - 1]!.key;
  }
  if (n) log.debug({ services: n }, 'service allocations rebuilt');
}

async function bootstrapObjects(o: {
  registry: Registry; objects: ObjectStore; systemContext: (ns?: string) => StrategyContext; ips: ClusterIpAllocator; log: Logger; port: number;
  ensureDefaultServiceAccount: (ns: string) => Promise<void>;
}): Promise<void> {
  const { registry, objects, systemContext } = o;
  const ignoreExists = async (p: Promise<unknown>) => {
    try { await p; } catch (err) { if (!(err instanceof StatusError && err.code === 409)) throw err; }
  };
  const nsDef = registry.get('', 'v1', 'namespaces')!;
  for (const ns of DEFAULT_NAMESPACES) {
    await ignoreExists(objects.create(nsDef, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, systemContext()));
  }
  // Namespaces created before a crash between the two writes still get their ServiceAccount.
  const nsCache = await objects['deps'].feed.cache(storagePrefix(nsDef));
  for (const item of nsCache.snapshot()) if (!item.obj.metadata?.deletionTimestamp) await o.ensureDefaultServiceAccount(item.obj.metadata!.name!);
  const svcDef = registry.get('', 'v1', 'services')!;
  const exists = await objects.get(svcDef, 'default', 'kubernetes').then(() => true, () => false);
  if (!exists) await ignoreExists(objects.create(svcDef, {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { clusterIP: o.ips.firstAddress, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: o.port }] },
  } as KubeObject, systemContext('default')));
}

export { keyFor };
