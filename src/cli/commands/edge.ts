import type { Command } from 'commander';

interface RunFlags {
  dataDir: string;
  runtime: string;
  criSocket?: string;
  localApiPort: string;
  heartbeat: string;
  keepalive: string;
  reconnectMax: string;
}

/** Shared by `edge join` (which keeps running) and `edge run`. */
async function runAgent(dataDir: string, flags: RunFlags): Promise<void> {
  const { readEdgeIdentity } = await import('../../edge/config.js');
  const { EdgeAgent } = await import('../../edge/agent.js');
  const { config, credentials } = await readEdgeIdentity(dataDir);
  const localApiPort = Number(flags.localApiPort);
  if (!Number.isInteger(localApiPort) || localApiPort < -1 || localApiPort > 65535) throw new Error(`invalid --local-api-port ${flags.localApiPort}`);
  const heartbeat = Number(flags.heartbeat);
  const keepalive = Number(flags.keepalive);
  const reconnectMax = Number(flags.reconnectMax);
  if (!(heartbeat >= 100) || !(keepalive >= 100) || !(reconnectMax >= 100)) throw new Error('--heartbeat, --keepalive and --reconnect-max are milliseconds (≥ 100)');
  const agent = new EdgeAgent({
    nodeName: config.nodeName,
    dataDir,
    hubUrl: config.server,
    credentials,
    localApiPort: localApiPort >= 0 ? localApiPort : undefined,
    heartbeatIntervalMs: heartbeat,
    deadAfterMs: keepalive * 3,
    backoff: { initialMs: Math.min(500, reconnectMax), maxMs: reconnectMax },
    rotateCertificates: true,
    podManager: await podManagerFor(flags),
  });
  await agent.start();
  if (agent.localApiPort !== undefined) process.stderr.write(`kedge edge ${config.nodeName}: local API on http://127.0.0.1:${agent.localApiPort}\n`);
  const stop = async () => {
    await agent.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

/** `--runtime cri` (default): pods run on Kedge's containerd; `none`: sync and status only, no pods started. */
async function podManagerFor(flags: RunFlags): Promise<import('../../edge/contracts.js').PodManagerFactory | undefined> {
  if (flags.runtime === 'none') return undefined;
  if (flags.runtime !== 'cri') throw new Error(`invalid --runtime ${JSON.stringify(flags.runtime)}: cri or none`);
  const { podManagerFactory } = await import('../../edge/podmanager/index.js');
  return podManagerFactory({ socket: flags.criSocket });
}

function runOptions(cmd: Command): Command {
  return cmd
    .option('--local-api-port <port>', 'local read-only Kubernetes API port on 127.0.0.1 (0 = ephemeral, -1 = off)', '10550')
    .option('--heartbeat <ms>', 'lease renewal period', '10000')
    .option('--keepalive <ms>', 'hub keepalive interval (the link is dead after 3 missed)', '15000')
    .option('--reconnect-max <ms>', 'cap of the reconnect backoff (full jitter below it)', '30000')
    .option('--runtime <kind>', 'container runtime: cri (containerd) or none (sync/status only)', 'cri')
    .option('--cri-socket <path>', 'containerd CRI socket (default /run/kedge/containerd.sock)');
}

/** Subcommands of `kedge edge`; other components add theirs here (e.g. `edge image import`). */
export function register(program: Command): void {
  const edge = program.command('edge').description('the edge agent: join a node to the cloud and run it');
  runOptions(
    edge
      .command('join')
      .description('join this node with a bootstrap token, then keep running')
      .requiredOption('--server <url>', 'cloud hub address, https://HOST:PORT')
      .requiredOption('--token <token>', 'bootstrap token from `kedge token create`')
      .option('--ca-cert-hash <hash>', 'sha256:<hex> pin of the cloud CA (printed by `kedge token create`)')
      .option('--unsafe-skip-ca-verification', 'trust whatever CA the server presents (not recommended)')
      .requiredOption('--node-name <name>', 'name of this node')
      .requiredOption('--data-dir <dir>', 'where the node keeps its identity and local store'),
  ).action(async (o: RunFlags & { server: string; token: string; caCertHash?: string; unsafeSkipCaVerification?: boolean; nodeName: string }) => {
    if (!/^https:\/\/[^/]+\/?$/.test(o.server)) throw new Error(`invalid --server ${JSON.stringify(o.server)}: expected https://HOST:PORT`);
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(o.nodeName)) throw new Error(`invalid --node-name ${JSON.stringify(o.nodeName)}: must be a lowercase DNS subdomain`);
    const { joinCluster } = await import('../../edge/join.js');
    await joinCluster({ server: o.server, token: o.token, caCertHash: o.caCertHash, unsafeSkipCaVerification: o.unsafeSkipCaVerification, nodeName: o.nodeName, dataDir: o.dataDir });
    process.stderr.write(`kedge edge: node ${o.nodeName} joined ${o.server}\n`);
    await runAgent(o.dataDir, o);
  });
  runOptions(
    edge
      .command('run')
      .description('run an already-joined node (works with the cloud unreachable)')
      .requiredOption('--data-dir <dir>', 'data dir of a joined node'),
  ).action(async (o: RunFlags) => runAgent(o.dataDir, o));
  edge
    .command('image')
    .description('container images on this node')
    .command('import <file>')
    .description('import an image tarball (OCI layout or docker save) into Kedge\'s containerd, for sites without a registry')
    .option('--cri-socket <path>', 'containerd socket (default /run/kedge/containerd.sock)')
    .action(async (file: string, o: { criSocket?: string }) => {
      const { importImageArchive } = await import('../../runtime/image/import.js');
      const socket = o.criSocket ?? process.env.KEDGE_CONTAINERD_SOCK ?? '/run/kedge/containerd.sock';
      const r = await importImageArchive(socket, file);
      for (const img of r.images) process.stdout.write(`imported ${img}\n`);
    });
}
