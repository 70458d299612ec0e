import type { Command } from 'commander';
import { batteries } from '../../common/batteries.js';

interface ServerFlags {
  dataDir: string;
  bindAddress: string;
  securePort: string;
  serviceClusterIpRange: string;
  tokenAuthFile?: string;
  advertiseAddress?: string;
  tlsSan?: string[];
  hubPort: string;
  hubBindAddress: string;
  anonymousAuth: string;
  hubThread: boolean;
  leaseCoalescing?: boolean;
  batchedNodeWrites: boolean;
  loopback: boolean;
  disableControllers?: boolean;
  controllers?: string;
  nodeMonitorGracePeriod: string;
  defaultTolerationSeconds: string;
  upstreamNodeLifecycle?: boolean;
  nodeEvictionRate: string;
  secondaryNodeEvictionRate: string;
  unhealthyZoneThreshold: string;
  largeClusterSizeThreshold: string;
  defaultNotReadyTolerationSeconds: string;
  defaultUnreachableTolerationSeconds: string;
  minRequestTimeout: string;
  maxRequestsInflight: string;
  maxMutatingRequestsInflight: string;
  eventTtl: string;
  admissionControlConfigFile?: string;
  datastoreEndpoint?: string;
  datastoreCafile?: string;
  datastoreCertfile?: string;
  datastoreKeyfile?: string;
  token?: string;
  tokenFile?: string;
  metricResolution: string;
  disable: string[];
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
}

function nonNegative(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) fail(`invalid ${flag} ${JSON.stringify(v)}: want a whole number ≥ 0`);
  return Number(v);
}

/** A non-negative number flag (rates, fractions, seconds). */
function nonNegativeNumber(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) fail(`invalid ${flag} ${JSON.stringify(v)}: want a number ≥ 0`);
  return n;
}

/** kube-controller-manager durations (`40s`, `1m`) or plain seconds (`40`), in seconds. */
async function seconds(flag: string, v: string): Promise<number> {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const { parseGoDuration } = await import('../../apiserver/event-ttl.js');
  const ms = parseGoDuration(v);
  if (ms === null) fail(`invalid ${flag} ${JSON.stringify(v)}: want a duration such as 40s or 5m (or seconds)`);
  return ms / 1000;
}

/** Repeatable flag: every occurrence kept, in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function fail(msg: string): never {
  process.stderr.write(`kedge server: ${msg}\n`);
  process.exit(2);
}

/** Flag checks up front, with messages that say what is wrong and what is expected. */
function validateFlags(f: ServerFlags): { port: number } {
  const port = Number(f.securePort);
  if (!/^\d+$/.test(f.securePort) || port > 65535) fail(`invalid --secure-port ${JSON.stringify(f.securePort)}: want 0-65535 (0 picks a free port)`);
  for (const [flag, v] of [['--bind-address', f.bindAddress], ['--hub-bind-address', f.hubBindAddress]] as const) {
    if (!/^[\d.]+$|^[0-9a-fA-F:]+$|^localhost$/.test(v)) fail(`invalid ${flag} ${JSON.stringify(v)}: want an IP address such as 127.0.0.1 or 0.0.0.0`);
  }
  if (f.anonymousAuth !== 'true' && f.anonymousAuth !== 'false') fail(`invalid --anonymous-auth ${JSON.stringify(f.anonymousAuth)}: want true or false`);
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(f.serviceClusterIpRange)) fail(`invalid --service-cluster-ip-range ${JSON.stringify(f.serviceClusterIpRange)}: want an IPv4 CIDR such as 10.43.0.0/16`);
  const bits = Number(f.serviceClusterIpRange.split('/')[1]);
  if (bits < 8 || bits > 30) fail(`invalid --service-cluster-ip-range ${f.serviceClusterIpRange}: prefix length must be between /8 and /30`);
  return { port };
}

/** `--event-ttl` as kube-apiserver takes it: a Go duration (`1h`, `30m`, `90s`, `1h30m`), `0` = never expire. */
async function eventTtlMs(v: string): Promise<number> {
  const { parseGoDuration } = await import('../../apiserver/event-ttl.js');
  const ms = parseGoDuration(v);
  if (ms === null) fail(`invalid --event-ttl ${JSON.stringify(v)}: want a duration such as 1h, 30m or 90s (0 keeps events forever)`);
  return ms;
}

/** A Go duration flag (`15s`, `1m`); `0` turns the feature off. */
async function durationMs(flag: string, v: string, example: string): Promise<number> {
  const { parseGoDuration } = await import('../../apiserver/event-ttl.js');
  const ms = parseGoDuration(v);
  if (ms === null) fail(`invalid ${flag} ${JSON.stringify(v)}: want a duration such as ${example} (0 turns it off)`);
  return ms;
}

/** The `--leader-elect-*` flags (kube-controller-manager's), checked with client-go's rules. */
async function leaderElectionTiming(f: ServerFlags) {
  const { leaderElectionTimingError } = await import('../../controllers/leaderelection.js');
  const { parseGoDuration } = await import('../../common/duration.js');
  const ms = (flag: string, v: string): number => {
    const n = parseGoDuration(v);
    if (n === null || n <= 0) fail(`invalid ${flag} ${JSON.stringify(v)}: want a duration such as 10s`);
    return n;
  };
  const leaseMs = ms('--leader-elect-lease-duration', f.leaderElectLeaseDuration);
  if (leaseMs % 1000 !== 0) fail(`invalid --leader-elect-lease-duration ${JSON.stringify(f.leaderElectLeaseDuration)}: the Lease holds whole seconds`);
  const timing = { leaseDurationSeconds: leaseMs / 1000, renewDeadlineMs: ms('--leader-elect-renew-deadline', f.leaderElectRenewDeadline), retryPeriodMs: ms('--leader-elect-retry-period', f.leaderElectRetryPeriod) };
  const error = leaderElectionTimingError(timing);
  if (error) fail(`invalid --leader-elect-* flags: ${error}`);
  return timing;
}

/** K3s's component names for `--help`; the list itself lives in src/common/batteries.ts (pure data, cheap to load). */
const batteryNames = batteries.map((b) => b.name).join(', ');

export function register(program: Command): void {
  program
    .command('server')
    .description('run the control plane: Kubernetes API server on embedded SQLite, etcd or PostgreSQL (+ controllers)')
    .requiredOption('--data-dir <dir>', 'where the database, PKI and admin.kubeconfig live')
    .option('--bind-address <ip>', 'address the Kubernetes API (HTTPS) listens on', '127.0.0.1')
    .option('--secure-port <port>', 'HTTPS port (0 = pick a free port)', '6443')
    .option('--service-cluster-ip-range <cidr>', 'ClusterIP range for Services', '10.43.0.0/16')
    .option('--token-auth-file <file>', 'static bearer tokens (CSV: token,user,uid,"group1,group2")')
    .option('--advertise-address <host>', 'address written into admin.kubeconfig (default: the bind address)')
    .option('--tls-san <host...>', 'extra names/IPs for the serving certificate')
    .option('--max-requests-inflight <n>', 'concurrent non-mutating requests before 429 (0 = unlimited)', '400')
    .option('--max-mutating-requests-inflight <n>', 'concurrent mutating requests before 429 (0 = unlimited)', '200')
    .option('--min-request-timeout <seconds>', 'watches end after a random [N, 2N) seconds; clients re-watch', '1800')
    .option('--hub-port <port>', 'cloud hub TLS port edge nodes dial (on --hub-bind-address; -1 = no hub)', '10000')
    .option('--hub-bind-address <ip>', 'address the cloud hub listens on (join, renew, the edge sessions; never the Kubernetes API)', '0.0.0.0')
    .option('--anonymous-auth <bool>', 'serve requests without credentials as system:anonymous (RBAC grants it /healthz, /livez, /readyz, /version only); false answers them 401', 'true')
    .option('--no-hub-thread', 'run the cloud hub on the API server\'s thread instead of its own')
    .option('--lease-coalescing', 'write an edge Lease renewal only when the Lease is 3/8 of --node-monitor-grace-period old (every other kubelet renewal); off by default: under load the held-back renewals let connected nodes go NotReady (docs/design/fleet-scale.md)')
    .option('--no-batched-node-writes', 'the hub writes each edge Lease renewal and status report as a request of its own instead of in node-write batches (each item still authorized as its node; docs/design/fleet-scale.md §12)')
    .option('--no-loopback', 'in-process hub and controllers reach the API over HTTPS instead of a token-authenticated Unix socket in the data dir')
    .option('--disable-controllers', 'do not run the scheduler and controllers in-process')
    .option('--controllers <list>', 'controllers to run, kube-controller-manager style: "*,-scheduler" (default: all but namespace,serviceaccount, which the API server handles)')
    .option('--datastore-endpoint <endpoint>', 'where objects live, as K3s: sqlite (default, in --data-dir), etcd https://host:2379[,https://host2:2379], or postgres://user:password@host:5432/db?sslmode=verify-full')
    .option('--datastore-cafile <file>', 'etcd: CA certificate that signed the etcd servers\' certificates')
    .option('--datastore-certfile <file>', 'etcd: client certificate (with --datastore-keyfile) for etcd\'s --client-cert-auth')
    .option('--datastore-keyfile <file>', 'etcd: the client certificate\'s private key')
    .option('--token <token>', 'server token (K3s\'s): on an external --datastore-endpoint, the first server seals its CA and service-account keys with it in the datastore, and servers started later with the same token read them (also KEDGE_TOKEN; prefer --token-file: argv is visible to other local users)')
    .option('--token-file <file>', 'read the server token from this file')
    .option('--metric-resolution <duration>', 'how often nodes are scraped for metrics.k8s.io (kubectl top), as metrics-server (default 60s, its own flag default; 0 = no metrics API)', '60s')
    .option('--disable <name>', `do not run a packaged component (K3s's --disable; repeatable or comma-separated): ${batteryNames}`, collect, [])
    .option('--leader-elect-lease-duration <duration>', 'controller-manager election: how long a candidate waits after the last renewal it saw before taking the Lease (kube-controller-manager\'s flag; upstream\'s default is 15s, Kedge\'s 10s so a killed leader is replaced within ~12 s)', '10s')
    .option('--leader-elect-renew-deadline <duration>', 'controller-manager election: the leader stops its controllers when it could not renew for this long (< lease duration; upstream 10s)', '7s')
    .option('--leader-elect-retry-period <duration>', 'controller-manager election: how often the leader renews and candidates look (upstream 2s)', '1s')
    .option('--admission-control-config-file <file>', 'kube-apiserver\'s AdmissionConfiguration (apiserver.config.k8s.io/v1): the PodSecurity plugin\'s defaults and exemptions (PodSecurityConfiguration v1)')
    .option('--event-ttl <duration>', 'delete events this long after their last write, like kube-apiserver (e.g. 1h, 30m, 90s; 0 = never)', '1h')
    .option('--node-monitor-grace-period <seconds>', 'node heartbeat silence before a node is unreachable', '40')
    .option('--default-toleration-seconds <seconds>', 'eviction delay for cloud-node pods without their own unreachable toleration', '300')
    .option('--upstream-node-lifecycle', 'node lifecycle exactly as kube-controller-manager\'s (no edge autonomy: edge pods are evicted after their tolerations, zone disruption modes apply); Kedge\'s podbinding controller is then off unless --controllers names it. For running `kedge cloud` against upstream semantics (docs/design/upstream-lifecycle.md)')
    .option('--node-eviction-rate <per-second>', 'with --upstream-node-lifecycle: NoExecute taints per second per healthy zone', '0.1')
    .option('--secondary-node-eviction-rate <per-second>', 'with --upstream-node-lifecycle: the rate in a partially disrupted zone larger than --large-cluster-size-threshold', '0.01')
    .option('--unhealthy-zone-threshold <fraction>', 'with --upstream-node-lifecycle: fraction of not-Ready nodes (more than 2) that makes a zone partially disrupted', '0.55')
    .option('--large-cluster-size-threshold <nodes>', 'with --upstream-node-lifecycle: zones up to this size stop evicting in partial disruption', '50')
    .option('--default-not-ready-toleration-seconds <seconds>', 'DefaultTolerationSeconds admission: tolerationSeconds of the not-ready:NoExecute toleration added to every pod without one', '300')
    .option('--default-unreachable-toleration-seconds <seconds>', 'DefaultTolerationSeconds admission: tolerationSeconds of the unreachable:NoExecute toleration added to every pod without one', '300')
    .action(async (flags: ServerFlags) => {
      const { port } = validateFlags(flags);
      const { parseDisabledBatteries } = await import('../../common/batteries.js');
      let disabled: ReadonlySet<string> = new Set();
      try { disabled = parseDisabledBatteries(flags.disable); } catch (err) { fail(`invalid --disable: ${(err as Error).message}`); }
      // metrics-server disabled: no metrics.k8s.io at all, as K3s without its metrics-server addon.
      const metricResolutionMs = disabled.has('metrics-server') ? 0 : await durationMs('--metric-resolution', flags.metricResolution, '60s');
      const eventTtl = await eventTtlMs(flags.eventTtl);
      let podSecurity;
      if (flags.admissionControlConfigFile) {
        const { loadAdmissionConfig } = await import('../../apiserver/admission/admission-config.js');
        try { podSecurity = loadAdmissionConfig(flags.admissionControlConfigFile); } catch (err) { fail((err as Error).message); }
      }
      const { parseDatastoreEndpoint, DatastoreFatalError } = await import('../../storage/datastore.js');
      let datastore;
      try {
        datastore = parseDatastoreEndpoint(flags.datastoreEndpoint, { cafile: flags.datastoreCafile, certfile: flags.datastoreCertfile, keyfile: flags.datastoreKeyfile });
      } catch (err) {
        fail((err as Error).message);
      }
      let serverToken = flags.token ?? process.env.KEDGE_TOKEN;
      if (flags.tokenFile) {
        const { readFile } = await import('node:fs/promises');
        serverToken = (await readFile(flags.tokenFile, 'utf8').catch((err: Error) => fail(`--token-file: ${err.message}`))).trim();
      }
      if (serverToken !== undefined && datastore!.kind === 'sqlite') {
        fail('--token shares the CA and service-account keys through an external datastore (--datastore-endpoint etcd or postgres); the embedded SQLite has one server');
      }
      const { runServer, serverComponents } = await import('../../apiserver/run.js');
      const { BootstrapTokenError } = await import('../../apiserver/bootstrap-data.js');
      const hubPort = Number(flags.hubPort);
      if (!/^-?\d+$/.test(flags.hubPort) || hubPort < -1 || hubPort > 65535) fail(`invalid --hub-port ${JSON.stringify(flags.hubPort)}: want 0-65535, or -1 for no hub`);
      if (hubPort >= 0) {
        // Lease renewals are coalesced within 3/8 of the grace the node lifecycle controller gives them.
        const { leaseCoalesceWindowMs } = await import('../../cloudhub/status-writer.js');
        const leaseCoalesceMs = flags.leaseCoalescing ? leaseCoalesceWindowMs(await seconds('--node-monitor-grace-period', flags.nodeMonitorGracePeriod)) : 0;
        const advertiseHost = flags.advertiseAddress ?? (['0.0.0.0', '::'].includes(flags.hubBindAddress) ? flags.bindAddress : flags.hubBindAddress);
        if (datastore!.kind !== 'sqlite' && flags.advertiseAddress === undefined && /^(127\.|::1$|localhost$)/.test(advertiseHost)) {
          // Peers find this hub (to relay kubelet streams, to move nodes here) at the advertised address.
          const { createLogger } = await import('../../common/logger.js');
          createLogger('kedge-server').warn({ advertiseHost }, 'several servers share this datastore, but peers will reach this hub at a loopback address: set --advertise-address to an address the other servers and the edge nodes reach');
        }
        // Rebalancing needs peers: only servers on an external datastore can have any.
        const hubOptions = { port: hubPort, bindAddress: flags.hubBindAddress, advertiseHost, balance: datastore!.kind !== 'sqlite', leaseCoalesceMs, batchNodeWrites: flags.batchedNodeWrites, usageIntervalMs: metricResolutionMs ? Math.max(1000, metricResolutionMs) : undefined, hosts: [flags.bindAddress, flags.advertiseAddress ?? '', ...(flags.tlsSan ?? [])].filter(Boolean) };
        if (flags.hubThread) {
          // Its own thread: the hub reaches the API only through admin.kubeconfig, and at fleet scale it and the
          // API server each need a core (src/common/worker-component.ts).
          const { workerThreadComponent } = await import('../../common/worker-component.js');
          const { createLogger } = await import('../../common/logger.js');
          const moduleUrl = new URL('../../cloudhub/component.js', import.meta.url).href;
          serverComponents.push(workerThreadComponent({ name: 'cloudhub', moduleUrl, factory: 'cloudHubComponent', options: hubOptions }, createLogger('kedge-server')));
        } else {
          const { cloudHubComponent } = await import('../../cloudhub/component.js');
          serverComponents.push(cloudHubComponent(hubOptions));
        }
      }
      const { defaultTolerations } = await import('../../apiserver/resources/pods.js');
      defaultTolerations.notReadySeconds = nonNegative('--default-not-ready-toleration-seconds', flags.defaultNotReadyTolerationSeconds);
      defaultTolerations.unreachableSeconds = nonNegative('--default-unreachable-toleration-seconds', flags.defaultUnreachableTolerationSeconds);
      if (!flags.disableControllers) {
        const grace = await seconds('--node-monitor-grace-period', flags.nodeMonitorGracePeriod);
        const tol = Number(flags.defaultTolerationSeconds);
        if (!(grace > 0)) fail(`invalid --node-monitor-grace-period ${JSON.stringify(flags.nodeMonitorGracePeriod)}: want seconds > 0`);
        if (!(tol >= 0)) fail(`invalid --default-toleration-seconds ${JSON.stringify(flags.defaultTolerationSeconds)}: want seconds >= 0`);
        const { controllersComponent, parseControllersFlag, serverDefaultControllers } = await import('../../controllers/component.js');
        const { selectControllers } = await import('../../controllers/manager.js');
        const upstream = flags.upstreamNodeLifecycle;
        const upstreamNodeLifecycle = upstream
          ? {
              nodeEvictionRate: nonNegativeNumber('--node-eviction-rate', flags.nodeEvictionRate),
              secondaryNodeEvictionRate: nonNegativeNumber('--secondary-node-eviction-rate', flags.secondaryNodeEvictionRate),
              unhealthyZoneThreshold: nonNegativeNumber('--unhealthy-zone-threshold', flags.unhealthyZoneThreshold),
              largeClusterSizeThreshold: nonNegative('--large-cluster-size-threshold', flags.largeClusterSizeThreshold),
            }
          : undefined;
        // As an upstream cluster: no Kedge edge controllers unless asked for by name.
        const defaults = upstream ? [...serverDefaultControllers, '-podbinding'] : serverDefaultControllers;
        const chosen = flags.controllers ? parseControllersFlag(flags.controllers) : defaults;
        const { withoutDisabledControllers } = await import('../../common/batteries.js');
        const controllers = withoutDisabledControllers(chosen, disabled);
        try { selectControllers(controllers); } catch (err) { fail(`invalid --controllers: ${(err as Error).message}`); }
        const leaderElection = await leaderElectionTiming(flags);
        serverComponents.push(controllersComponent({ controllers, leaderElect: true, leaderElection, nodeMonitorGracePeriodSeconds: grace, defaultTolerationSeconds: tol, upstreamNodeLifecycle }));
        // The cluster CA's CSR signer (kube-controller-manager's csrsigning), src/apiserver/auth/csr.
        const { csrSigningComponent } = await import('../../apiserver/auth/csr/signing-controller.js');
        serverComponents.push(csrSigningComponent());
        // Legacy Secret-based service account tokens (kube-controller-manager's token controller).
        const { legacyTokenComponent } = await import('../../apiserver/auth/authn/legacy-token-controller.js');
        serverComponents.push(legacyTokenComponent());
        // ClusterRole aggregation (admin/edit/view show their aggregated rules, as upstream).
        const { clusterRoleAggregationComponent } = await import('../../apiserver/auth/rbac/aggregation-controller.js');
        serverComponents.push(clusterRoleAggregationComponent());
      }
      // K3s's auto-deploying manifests (<data-dir>/server/manifests) and the batteries' own manifests.
      const { deployComponent } = await import('../../controllers/deploy/component.js');
      serverComponents.push(deployComponent({ disabledBatteries: disabled }));
      await runServer({
        datastore,
        dataDir: flags.dataDir,
        bindAddress: flags.bindAddress,
        port,
        serviceClusterIpRange: flags.serviceClusterIpRange,
        tokenAuthFile: flags.tokenAuthFile,
        advertiseAddress: flags.advertiseAddress,
        tlsSans: flags.tlsSan ?? [],
        maxRequestsInflight: nonNegative('--max-requests-inflight', flags.maxRequestsInflight),
        maxMutatingRequestsInflight: nonNegative('--max-mutating-requests-inflight', flags.maxMutatingRequestsInflight),
        loopback: flags.loopback,
        anonymousAuth: flags.anonymousAuth === 'true',
        eventTtlMs: eventTtl,
        podSecurity,
        serverToken,
        metricResolutionMs,
        disabledBatteries: disabled,
        minRequestTimeoutSeconds: (() => {
          const n = Number(flags.minRequestTimeout);
          if (!Number.isInteger(n) || n < 1) fail(`invalid --min-request-timeout ${JSON.stringify(flags.minRequestTimeout)}: want whole seconds ≥ 1`);
          return n;
        })(),
      }).catch((err: unknown) => {
        // Waiting cannot fix it (credentials refused, database missing, certificate files unreadable): say so and stop.
        if (err instanceof DatastoreFatalError) fail(`datastore: ${err.message}`);
        if (err instanceof BootstrapTokenError) fail(`bootstrap data: ${err.message}`);
        throw err;
      });
    });
}
