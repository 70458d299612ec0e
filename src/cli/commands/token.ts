import type { Command } from 'commander';
import { parseGoDuration } from '../../common/duration.js';

/** Go-style durations as kubeadm takes them: 24h, 90m, 1h30m, 45s; 0 = never expires. */
export function parseDuration(s: string): number {
  const ms = parseGoDuration(s);
  if (ms === null) throw new Error(`invalid duration ${JSON.stringify(s)} (examples: 24h, 30m, 1h30m, 0 for never)`);
  return ms;
}

export function register(program: Command): void {
  const token = program.command('token').description('manage bootstrap tokens for joining edge nodes');
  token
    .command('create')
    .description('create a bootstrap token; prints the token, then the CA cert hash edge nodes pin')
    .option('--ttl <duration>', 'time to live (e.g. 24h, 30m; 0 = never expires)', '24h')
    .option('--kubeconfig <file>', 'admin kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--ca-cert <file>', 'CA the hub serves with, for the printed hash (default: the CA the running hub published in kube-system/kedge-cloudhub)')
    .option('--description <text>', 'human-readable description stored with the token')
    .option(
      '--node-name <name>',
      'make the token for one node name: it joins only as NAME, may join again under the name of a registered node ' +
        '(one that lost its disk; the certificates it had are revoked), and is used up by that one join',
    )
    .option('--nodepool <name>', 'make the token for one NodePool: a node joined with it is in that pool (apps.openyurt.io/nodepool), whatever --nodepool the node asks for')
    .option('--tenant <name>', 'make the token for one Tenant: a node joined with it is that tenant\'s (tenancy.kedge.io/tenant): it runs only its pods and receives nothing of other tenants')
    .action(async (o: { ttl: string; kubeconfig?: string; caCert?: string; description?: string; nodeName?: string; nodepool?: string; tenant?: string }) => {
      const ttlMs = parseDuration(o.ttl);
      if (o.tenant !== undefined) {
        const { NODEPOOL_NAME } = await import('../../common/node-restriction.js');
        if (!NODEPOOL_NAME.test(o.tenant)) throw new Error(`invalid --tenant ${JSON.stringify(o.tenant)}: must be a Tenant name (a label value: at most 63 characters: a-z, A-Z, 0-9, '-', '_', '.')`);
      }
      if (o.nodepool !== undefined) {
        const { NODEPOOL_NAME } = await import('../../common/node-restriction.js');
        if (!NODEPOOL_NAME.test(o.nodepool)) throw new Error(`invalid --nodepool ${JSON.stringify(o.nodepool)}: must be a NodePool name usable as a label value (at most 63 characters: a-z, A-Z, 0-9, '-', '_', '.')`);
      }
      if (o.nodeName !== undefined) {
        const { NODE_NAME } = await import('../../cloudhub/join.js');
        if (!NODE_NAME.test(o.nodeName)) throw new Error(`invalid --node-name ${JSON.stringify(o.nodeName)}: must be a lowercase DNS subdomain (a-z, 0-9, '-', '.')`);
      }
      const { readFile } = await import('node:fs/promises');
      const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
      const pki = await import('../../pki/index.js');
      const kc = new KubeConfig();
      if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
      else kc.loadFromDefault();
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error('the kubeconfig has no current cluster');
      // The CA edges must pin is the one the hub serves: explicit --ca-cert, else what the running hub published in
      // the cluster (kedge server's and kedge cloud's hubs both do, src/cloudhub/ca-publisher.ts), else — no hub has
      // run yet — the cluster CA, which is the hub's CA in `kedge server` (never in `kedge cloud`: say so).
      let caPem: string | undefined;
      if (o.caCert) caPem = await readFile(o.caCert, 'utf8');
      else {
        const { HUB_CA_CONFIGMAP } = await import('../../cloudhub/ca-publisher.js');
        const cm = await kc
          .makeApiClient(CoreV1Api)
          .readNamespacedConfigMap({ namespace: HUB_CA_CONFIGMAP.namespace, name: HUB_CA_CONFIGMAP.name })
          .catch((err: { code?: number }) => {
            if (err.code === 404) return undefined;
            throw err;
          });
        caPem = cm?.data?.[HUB_CA_CONFIGMAP.key];
        if (!caPem) {
          if (cluster.caData) caPem = Buffer.from(cluster.caData, 'base64').toString('utf8');
          else if (cluster.caFile) caPem = await readFile(cluster.caFile, 'utf8');
          if (caPem) process.stderr.write(`warning: no hub has published its CA (${HUB_CA_CONFIGMAP.namespace}/${HUB_CA_CONFIGMAP.name}); printing the cluster CA's hash, which is right for \`kedge server\` only — start the hub first, or pass --ca-cert\n`);
        }
      }
      const t = pki.generateBootstrapToken();
      const secret = pki.bootstrapTokenSecret(t, {
        ttlMs: ttlMs > 0 ? ttlMs : undefined,
        description: o.description ?? (o.nodeName ? `kedge edge join token for node ${o.nodeName}` : 'kedge edge join token'),
        nodeName: o.nodeName,
        nodePool: o.nodepool,
        tenant: o.tenant,
      });
      await kc.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: pki.BOOTSTRAP_TOKEN_NAMESPACE, body: secret });
      process.stdout.write(pki.formatBootstrapToken(t) + '\n');
      if (caPem) process.stdout.write(pki.caCertHash(caPem) + '\n');
      else process.stderr.write('warning: no CA certificate known; pass --ca-cert to print the hash edge nodes must pin\n');
    });
}
