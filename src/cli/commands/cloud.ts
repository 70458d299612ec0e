import type { Command } from 'commander';
import type { KubeClient } from '../../common/kube-client.js';

/**
 * KubeEdge's device CRDs on the attached cluster, created when absent (an existing one, e.g. KubeEdge's own, is left
 * as it is): the hub routes Devices to their nodes and writes DeviceStatus. Without the right to create CRDs the hub
 * runs on and devices stay off until someone applies them (docs/design/devices.md).
 */
async function ensureDeviceCrds(api: KubeClient): Promise<void> {
  const { deviceCrds } = await import('../../common/device-crds.js');
  const crds = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of deviceCrds()) {
    const name = crd.metadata!.name!;
    try {
      await api.request('GET', `${crds}/${name}`);
      continue;
    } catch (err) {
      if ((err as { code?: number }).code !== 404) {
        process.stderr.write(`kedge cloud: cannot read CRD ${name} (${String((err as Error).message ?? err).slice(0, 200)}); devices need it\n`);
        continue;
      }
    }
    try {
      await api.request('POST', crds, crd);
      process.stderr.write(`kedge cloud: created CRD ${name}\n`);
    } catch (err) {
      process.stderr.write(`kedge cloud: could not create CRD ${name} (${String((err as Error).message ?? err).slice(0, 200)}); apply it to use devices\n`);
    }
  }
}

export function register(program: Command): void {
  program
    .command('cloud')
    .description('run the cloud hub (edge nodes dial it) against any Kubernetes API')
    .requiredOption('--kubeconfig <file>', 'kubeconfig of the cluster to serve edge nodes from')
    .option('--data-dir <dir>', 'where the hub keeps its CA and serving certificate', '/var/lib/kedge/cloud')
    .option('--ca-cert <file>', 'CA certificate to sign node certificates with (default: DATA_DIR/pki/ca.crt, created)')
    .option('--ca-key <file>', 'its private key')
    .option('--bind-address <addr>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'hub TLS port', '10000')
    .option('--advertise-address <host...>', 'extra names/IPs for the hub serving certificate')
    .option('--keepalive <ms>', 'ping interval for edge sessions', '15000')
    .option('--node-cert-validity <duration>', 'validity of issued node certificates (edges renew at 80%)', '8760h')
    .option('--controllers <list>', 'controllers to run against the cluster: "podbinding" (default: edge pods tolerate a lost link under kube-controller-manager\'s own node lifecycle, as OpenYurt\'s yurt-manager does), "nodelifecycle" (Kedge\'s edge-aware node lifecycle: only with kube-controller-manager\'s disabled), "*" adds the generic ones, "" = none', 'podbinding')
    .option('--node-monitor-grace-period <seconds>', 'node heartbeat silence before a node is unreachable', '40')
    .option('--kubelet-proxy-socket <path>', 'Unix socket (0600) of the HTTP CONNECT proxy to edge kubelets, for the kube-apiserver\'s EgressSelectorConfiguration (default DATA_DIR/kubelet-proxy.sock; "" = off)')
    .option('--kubelet-client-ca <file>', 'CA of the kube-apiserver\'s kubelet client certificate: TLS clients of the proxy must present one it signed')
    .action(async (o: { kubeletProxySocket?: string; kubeletClientCa?: string; kubeconfig: string; dataDir: string; caCert?: string; caKey?: string; bindAddress: string; port: string; advertiseAddress?: string[]; keepalive: string; nodeCertValidity: string; controllers: string; nodeMonitorGracePeriod: string }) => {
      // First, before start-up allocations grow the young generation (young-generation.ts).
      (await import('../../common/young-generation.js')).pinYoungGeneration();
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${JSON.stringify(o.port)}`);
      const keepalive = Number(o.keepalive);
      if (!Number.isFinite(keepalive) || keepalive < 100) throw new Error(`invalid --keepalive ${JSON.stringify(o.keepalive)} (milliseconds, ≥ 100)`);
      if (!!o.caCert !== !!o.caKey) throw new Error('--ca-cert and --ca-key go together');
      const path = await import('node:path');
      const { readFile } = await import('node:fs/promises');
      const { loadKubeClient } = await import('../../common/kubeconfig.js');
      const pki = await import('../../pki/index.js');
      const { startCloudHub } = await import('../../cloudhub/index.js');
      const { parseGoDuration } = await import('../../common/duration.js');
      const certValidityMs = parseGoDuration(o.nodeCertValidity);
      if (certValidityMs === null) throw new Error(`invalid --node-cert-validity ${JSON.stringify(o.nodeCertValidity)} (examples: 8760h, 720h30m)`);
      if (certValidityMs < 60_000) throw new Error(`--node-cert-validity ${o.nodeCertValidity} is too short (at least 1m)`);
      const client = loadKubeClient(o.kubeconfig);
      const dir = path.join(o.dataDir, 'pki');
      const ca = o.caCert ? { certPem: await readFile(o.caCert, 'utf8'), keyPem: await readFile(o.caKey!, 'utf8') } : await pki.ensureCertificateAuthority(dir);
      await ensureDeviceCrds(client);
      const hub = await startCloudHub({
        client,
        ca,
        pkiDir: dir,
        host: o.bindAddress,
        port,
        hosts: [o.bindAddress, ...(o.advertiseAddress ?? [])],
        pingIntervalMs: keepalive,
        certValidityMs,
        kubeletProxySocket: o.kubeletProxySocket === '' ? undefined : o.kubeletProxySocket ?? path.join(o.dataDir, 'kubelet-proxy.sock'),
        kubeletClientCaPem: o.kubeletClientCa ? await readFile(o.kubeletClientCa, 'utf8') : undefined,
      });
      process.stderr.write(`kedge cloud hub listening on ${hub.url} (CA hash ${pki.caCertHash(ca.certPem)})\n`);
      // Edge controllers (leader-elected, so several hubs can run); generic ones only when asked. They read the
      // hub cache's informers where it has the resource (pods, nodes, ...): one list-watch and one cache per resource.
      const { startControllerManager } = await import('../../controllers/manager.js');
      const { parseControllersFlag } = await import('../../controllers/component.js');
      const wanted = parseControllersFlag(o.controllers);
      const grace = Number(o.nodeMonitorGracePeriod);
      if (!(grace > 0)) throw new Error(`invalid --node-monitor-grace-period ${JSON.stringify(o.nodeMonitorGracePeriod)} (seconds > 0)`);
      const cm = wanted !== 'all' && wanted.length === 0 ? undefined : startControllerManager({ kubeConfig: client, controllers: wanted, leaderElect: true, leaderElectionName: 'kedge-cloud-controllers', nodeMonitorGracePeriodSeconds: grace, sharedInformers: hub.informers });
      const stop = async () => {
        await cm?.stop();
        await hub.stop();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop());
      process.once('SIGINT', () => void stop());
    });
}
