import type { Command } from 'commander';
import type { EdgeRunSettings, RunFlagValues } from '../../edge/config.js';

interface RunFlags extends RunFlagValues, DeviceFlags {
  dataDir: string;
}

/** Per-run device flags (not stored by join: the default follows the data dir). */
interface DeviceFlags {
  dmiSocket?: string;
}

/** KubeEdge's DMI for mappers: on DATA_DIR/dmi.sock unless --dmi-socket moves it or turns it off. */
async function deviceServicesFor(dataDir: string, flags: DeviceFlags): Promise<import('../../edge/agent.js').DeviceServiceFactory[]> {
  if (flags.dmiSocket === 'none') return [];
  const { dmiService } = await import('../../edge/devices/dmi/index.js');
  const { DMI_SOCKET_FILE } = await import('../../protocol/dmi/types.js');
  const path = await import('node:path');
  return [dmiService({ socketPath: path.resolve(flags.dmiSocket ?? path.join(dataDir, DMI_SOCKET_FILE)) })];
}

/** The CRI socket used when none is given: KEDGE_CONTAINERD_SOCK, else Kedge's own containerd. */
async function defaultCriSocket(): Promise<string> {
  const { DEFAULT_CRI_SOCKET } = await import('../../edge/podmanager/index.js');
  return process.env.KEDGE_CONTAINERD_SOCK ?? DEFAULT_CRI_SOCKET;
}

/**
 * Shared by `edge join` (which keeps running) and `edge run`: the node runs with the settings join stored
 * (config.json); flags may only repeat them (or, for the timings, change them for this run).
 */
async function runAgent(dataDir: string, flags: RunFlagValues & DeviceFlags): Promise<void> {
  // A pod rollout is an allocation burst: without this V8 grows the young generation to 16 MiB semi-spaces and the
  // agent's peak and idle stay above what its pods need (issue 19; bench:edge). Idempotent after `join`'s.
  (await import('../../common/young-generation.js')).pinYoungGeneration();
  const { readEdgeIdentity, resolveRunSettings, writeEdgeConfig, edgePaths } = await import('../../edge/config.js');
  const { EdgeAgent } = await import('../../edge/agent.js');
  const { parseMqttBroker } = await import('../../edge/devices/mqtt-broker.js');
  const { config, credentials } = await readEdgeIdentity(dataDir);
  const fallbackSocket = await (flags.runtime === 'none' || config.runtime === 'none' ? Promise.resolve('') : defaultCriSocket());
  const { settings, changed } = resolveRunSettings(config, flags, () => fallbackSocket, edgePaths(dataDir).config);
  // A data dir joined before settings were kept: remember what this run uses, so the next one cannot differ.
  if (changed) await writeEdgeConfig(dataDir, { ...config, ...settings });
  const agent = new EdgeAgent({
    nodeName: config.nodeName,
    dataDir,
    hubUrl: config.server,
    credentials,
    localApiPort: settings.localApiPort >= 0 ? settings.localApiPort : undefined,
    heartbeatIntervalMs: settings.heartbeatMs,
    deadAfterMs: settings.keepaliveMs * 3,
    backoff: { initialMs: Math.min(500, settings.reconnectMaxMs), maxMs: settings.reconnectMaxMs },
    rotateCertificates: true,
    podManager: await podManagerFor(settings, await logRotationFrom(flags)),
    devices: {
      mqttBroker: parseMqttBroker(settings.mqttBroker),
      ...(settings.mqttBind !== undefined ? { mqttHost: settings.mqttBind } : {}),
      ...(settings.mqttPort !== undefined ? { mqttPort: settings.mqttPort } : {}),
    },
    deviceServices: await deviceServicesFor(dataDir, flags),
    ...(settings.clusterDns && settings.clusterDns !== 'none'
      ? { dns: { clusterDns: settings.clusterDns, port: settings.dnsPort ?? 53, clusterDomain: settings.clusterDomain ?? 'cluster.local' } }
      : {}),
    onRevoked: (message) => void stop(1, message),
    processMetrics: true,
    ...(settings.peerHealthPort !== undefined && settings.peerHealthPort > 0 ? { peerHealth: { port: settings.peerHealthPort, periodMs: settings.peerProbePeriodMs } } : {}),
    serviceProxy: (settings.serviceProxy ?? (settings.runtime === 'cri' ? 'nftables' : 'none')) === 'nftables',
  });
  const stop = async (code: number, message?: string) => {
    await agent.stop();
    if (message) process.stderr.write(`kedge edge ${config.nodeName}: ${message}\n`);
    process.exit(code);
  };
  await agent.start();
  if (agent.localApiPort !== undefined) process.stderr.write(`kedge edge ${config.nodeName}: local API on http://127.0.0.1:${agent.localApiPort}\n`);
  if (agent.dnsPort !== undefined) process.stderr.write(`kedge edge ${config.nodeName}: node DNS on ${settings.clusterDns}:${agent.dnsPort} (udp+tcp)\n`);
  if (agent.mqttUrl !== undefined) process.stderr.write(`kedge edge ${config.nodeName}: device twin MQTT on ${agent.mqttUrl.replace(/\/\/[^@/]*@/, '//')}\n`);
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));
}

/** `--container-log-max-size` / `--container-log-max-files` as the kubelet's (max files counts the live one). */
async function logRotationFrom(flags: RunFlagValues): Promise<import('../../edge/podmanager/logs.js').RotationPolicy | undefined> {
  if (flags.containerLogMaxSize === undefined && flags.containerLogMaxFiles === undefined) return undefined;
  const { parseQuantity, scaledValue, toSafeNumber } = await import('../../common/quantity.js');
  const { DEFAULT_ROTATION } = await import('../../edge/podmanager/pod-manager.js');
  let maxBytes = DEFAULT_ROTATION.maxBytes;
  if (flags.containerLogMaxSize !== undefined) {
    try {
      maxBytes = toSafeNumber(scaledValue(parseQuantity(flags.containerLogMaxSize), 0));
    } catch {
      maxBytes = NaN;
    }
    if (!(maxBytes >= 1024)) throw new Error(`invalid --container-log-max-size ${JSON.stringify(flags.containerLogMaxSize)}: want a size of at least 1Ki, such as 10Mi`);
  }
  const files = flags.containerLogMaxFiles === undefined ? DEFAULT_ROTATION.maxFiles + 1 : Number(flags.containerLogMaxFiles);
  if (!Number.isInteger(files) || files < 2) throw new Error(`invalid --container-log-max-files ${JSON.stringify(flags.containerLogMaxFiles)}: want a whole number ≥ 2`);
  return { ...DEFAULT_ROTATION, maxBytes, maxFiles: files - 1 };
}

/** `--runtime cri` (default): pods run on Kedge's containerd; `none`: sync and status only, no pods started. */
async function podManagerFor(settings: EdgeRunSettings, logRotation?: import('../../edge/podmanager/logs.js').RotationPolicy): Promise<import('../../edge/contracts.js').PodManagerFactory | undefined> {
  if (settings.runtime === 'none') return undefined;
  const { podManagerFactory } = await import('../../edge/podmanager/index.js');
  return podManagerFactory({ socket: settings.criSocket, ...(logRotation ? { logRotation } : {}) });
}

/**
 * The bootstrap token from exactly one place: --token-file (as K3s), --token, or KEDGE_TOKEN (K3s: K3S_TOKEN).
 * A token on the command line is readable by every local user through ps while join runs, so it is discouraged.
 */
async function bootstrapToken(o: { token?: string; tokenFile?: string }): Promise<string> {
  if (o.token !== undefined && o.tokenFile !== undefined) throw new Error('give the bootstrap token once: --token or --token-file, not both');
  let token: string | undefined;
  if (o.tokenFile !== undefined) {
    const { readFile } = await import('node:fs/promises');
    token = await readFile(o.tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot read --token-file ${o.tokenFile}: ${err.code ?? err.message}`);
    });
  } else if (o.token !== undefined) {
    process.stderr.write('kedge edge join: --token is visible to other local users (ps) while join runs; prefer --token-file or KEDGE_TOKEN\n');
    token = o.token;
  } else {
    token = process.env.KEDGE_TOKEN;
  }
  // Not passed on to what the agent starts (containerd through scripts/containerd.sh inherits process.env).
  delete process.env.KEDGE_TOKEN;
  token = token?.trim();
  if (!token) throw new Error('a bootstrap token is required: --token-file FILE, KEDGE_TOKEN, or --token');
  return token;
}

/**
 * What ps shows for this process from now on. /proc/PID/cmdline is the process's own argv memory, which Node
 * overwrites (and zero-fills) when the title is set; process.argv is scrubbed too, for in-process readers.
 */
function setCommandLine(title: string, secret?: string): void {
  process.title = title;
  if (secret) for (let i = 0; i < process.argv.length; i++) if (process.argv[i]!.includes(secret)) process.argv[i] = process.argv[i]!.split(secret).join('<redacted>');
}

function runOptions(cmd: Command): Command {
  // No defaults here: an absent flag means "as stored by join" (defaults: src/edge/config.ts RUN_DEFAULTS).
  return cmd
    .option('--local-api-port <port>', 'local read-only Kubernetes API port on 127.0.0.1 (0 = ephemeral, -1 = off; default 10550)')
    .option('--heartbeat <ms>', 'lease renewal period (default 10000)')
    .option('--keepalive <ms>', 'hub keepalive interval, the link is dead after 3 missed (default 15000)')
    .option('--reconnect-max <ms>', 'cap of the reconnect backoff, full jitter below it (default 30000)')
    .option('--mqtt-broker <broker>', 'device twin MQTT: embedded (aedes, default), none, or tcp://HOST:PORT of an external broker such as mosquitto')
    .option('--mqtt-bind <address>', 'embedded MQTT broker bind address (default 127.0.0.1: local processes only)')
    .option('--mqtt-port <port>', 'embedded MQTT broker port (default 1883; 0 = ephemeral)')
    .option('--dmi-socket <path>', "KubeEdge DMI socket device mappers register on (default DATA_DIR/dmi.sock; 'none': no DMI)")
    .option('--service-proxy <mode>', 'Services on this node: nftables (ClusterIP/NodePort rules from the local store, routes to the pool\'s pod CIDRs; needs root and nft) or none (default: nftables with --runtime cri, none with --runtime none)')
    .option('--peer-health-port <port>', "probe the NodePool's peers and answer their probes on this port at the node's InternalIP (mutual TLS with node certificates; the same port on every node of the pool, e.g. 10267); the cloud keeps a node its pool still reaches in the pool's endpoints; -1: off (default: off)")
    .option('--peer-probe-period <ms>', 'peer probe period (default 10000; a peer is unreachable after 3 failed probes in a row)')
    .option('--runtime <kind>', 'container runtime: cri (containerd) or none (sync/status only) (default cri)')
    .option('--cri-socket <path>', 'containerd CRI socket (default KEDGE_CONTAINERD_SOCK or /run/kedge/containerd.sock)')
    .option('--cluster-dns <ip>', "node-local DNS for pods on this IP, written into their resolv.conf as the kubelet's --cluster-dns (e.g. 169.254.20.10, put on a kedge-dns0 dummy interface); none: off, pods use the host's resolvers (default: off)")
    .option('--cluster-domain <domain>', 'cluster DNS domain (default cluster.local)')
    .option('--dns-port <port>', 'node DNS port (default 53; 0 = ephemeral, for tests: pods always ask port 53)')
    .option('--container-log-max-size <size>', 'rotate a container log file past this size, as the kubelet (default 10Mi; checked every 10 s)')
    .option('--container-log-max-files <n>', 'log files kept per container, the live one included, as the kubelet (default 5)');
}

/** Subcommands of `kedge edge`; other components add theirs here (e.g. `edge image import`). */
export function register(program: Command): void {
  const edge = program.command('edge').description('the edge agent: join a node to the cloud and run it');
  runOptions(
    edge
      .command('join')
      .description('join this node with a bootstrap token, then keep running')
      .requiredOption('--server <url>', 'cloud hub address, https://HOST:PORT; several servers on one datastore: their hubs comma-separated (the node moves to the next when one fails)')
      .option('--token-file <file>', 'file holding the bootstrap token from `kedge token create`')
      .option('--token <token>', 'bootstrap token (visible in ps while join runs: prefer --token-file or KEDGE_TOKEN)')
      .option('--ca-cert-hash <hash>', 'sha256:<hex> pin of the cloud CA (printed by `kedge token create`)')
      .option('--unsafe-skip-ca-verification', 'trust whatever CA the server presents (not recommended)')
      .requiredOption('--node-name <name>', 'name of this node')
      .option('--nodepool <name>', 'NodePool to join (OpenYurt apps.openyurt.io/nodepool): set by the hub when it registers the node; the node cannot change it later')
      .option('--pod-cidr <cidr>', "this node's pod subnet (its CNI bridge's, e.g. 10.244.1.0/24): recorded as the Node's spec.podCIDR so the pool's nodes route to its pods; must not overlap another node's")
      .requiredOption('--data-dir <dir>', 'where the node keeps its identity, settings and local store'),
  ).action(async (o: RunFlags & { server: string; token?: string; tokenFile?: string; caCertHash?: string; unsafeSkipCaVerification?: boolean; nodeName: string; nodepool?: string; podCidr?: string }) => {
    // First, before start-up allocations grow the young generation (young-generation.ts).
    (await import('../../common/young-generation.js')).pinYoungGeneration();
    // Off the command line at once: the token must not stay readable in /proc/PID/cmdline for the life of the agent.
    setCommandLine(`kedge edge join --node-name ${o.nodeName} --data-dir ${o.dataDir}`, o.token);
    const { parseHubList } = await import('../../edge/hubs.js');
    parseHubList(o.server); // a bad URL is a flag error before anything is written
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(o.nodeName)) throw new Error(`invalid --node-name ${JSON.stringify(o.nodeName)}: must be a lowercase DNS subdomain`);
    const { NODEPOOL_NAME } = await import('../../common/node-restriction.js');
    if (o.nodepool !== undefined && !NODEPOOL_NAME.test(o.nodepool)) {
      throw new Error(`invalid --nodepool ${JSON.stringify(o.nodepool)}: a NodePool name is a label value (at most 63 characters: a-z, A-Z, 0-9, '-', '_', '.')`);
    }
    if (o.podCidr !== undefined) {
      const { formatIpv4Cidr, parseIpv4Cidr } = await import('../../common/ipv4.js');
      const r = parseIpv4Cidr(o.podCidr);
      if (r === null || formatIpv4Cidr(r) !== o.podCidr) throw new Error(`invalid --pod-cidr ${JSON.stringify(o.podCidr)}: want an IPv4 network like 10.244.1.0/24 (host bits zero)`);
    }
    const token = await bootstrapToken(o);
    const { resolveRunSettings } = await import('../../edge/config.js');
    // What this join was given (defaults filled in) is what every later `kedge edge run` uses.
    const socket = o.runtime === 'none' ? '' : await defaultCriSocket();
    const { settings } = resolveRunSettings({ server: o.server, nodeName: o.nodeName }, o, () => socket);
    const { joinCluster } = await import('../../edge/join.js');
    await joinCluster({ server: o.server, token, caCertHash: o.caCertHash, unsafeSkipCaVerification: o.unsafeSkipCaVerification, nodeName: o.nodeName, nodePool: o.nodepool, podCIDR: o.podCidr, dataDir: o.dataDir, settings });
    process.stderr.write(`kedge edge: node ${o.nodeName} joined ${o.server}\n`);
    setCommandLine(`kedge edge run --data-dir ${o.dataDir}`);
    // Stored settings rule the run; per-run flags (DMI socket, log rotation) are passed on.
    await runAgent(o.dataDir, { dmiSocket: o.dmiSocket, containerLogMaxSize: o.containerLogMaxSize, containerLogMaxFiles: o.containerLogMaxFiles });
  });
  runOptions(
    edge
      .command('run')
      .description('run an already-joined node as it was joined (works with the cloud unreachable)')
      .requiredOption('--data-dir <dir>', 'data dir of a joined node'),
  ).action(async (o: RunFlags) => runAgent(o.dataDir, o));
  edge
    .command('cleanup')
    .description("remove what this node's service proxy and NetworkPolicy enforcer installed (nftables tables kedge-proxy and kedge-netpol, pod routes with protocol 199), as kube-proxy --cleanup; run with the agent stopped")
    .action(async () => {
      const { cleanupServiceProxy } = await import('../../edge/proxy/proxier.js');
      const { cleanupNetpol } = await import('../../edge/netpol/enforcer.js');
      const { routes } = await cleanupServiceProxy();
      await cleanupNetpol();
      process.stderr.write(`kedge edge cleanup: nftables tables kedge-proxy and kedge-netpol removed, ${routes} pod route(s) removed\n`);
    });
  edge
    .command('image')
    .description('container images on this node')
    .command('import <file>')
    .description('import an image tarball (OCI layout or docker save) into Kedge\'s containerd, for sites without a registry')
    .option('--data-dir <dir>', 'data dir of a joined node: import into the runtime that node runs on')
    .option('--cri-socket <path>', 'containerd socket (default: the node\'s, with --data-dir; else KEDGE_CONTAINERD_SOCK or /run/kedge/containerd.sock)')
    .action(async (file: string, o: { dataDir?: string; criSocket?: string }) => {
      const { importImageArchive } = await import('../../runtime/image/import.js');
      let socket: string;
      if (o.dataDir !== undefined) {
        const { readEdgeConfig, resolveRunSettings, edgePaths } = await import('../../edge/config.js');
        const config = await readEdgeConfig(o.dataDir);
        if (config.runtime === 'none') throw new Error(`node ${config.nodeName} runs with --runtime none (${edgePaths(o.dataDir).config}): it has no container runtime to import into`);
        const fallback = await defaultCriSocket();
        socket = resolveRunSettings(config, { criSocket: o.criSocket }, () => fallback, edgePaths(o.dataDir).config).settings.criSocket!;
      } else {
        socket = o.criSocket ?? (await defaultCriSocket());
      }
      const r = await importImageArchive(socket, file);
      for (const img of r.images) process.stdout.write(`imported ${img}\n`);
    });
}
