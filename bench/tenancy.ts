/**
 * Tenancy benchmark (issue 15), against one real `kedge server` process in one run: N pods across T tenants'
 * namespaces; list and watch latency for ONE tenant's pods with tenancy on vs off, like with like (the same pods
 * come back either way):
 *   - on:  the tenant's member lists /api/v1/pods (all namespaces): the tenancy gate serves it from the watch
 *          cache's namespace index;
 *   - off: the administrator (not confined) lists the same pods with `labelSelector=tenancy.kedge.io/tenant=tX`
 *          (what a client must do without tenancy: a selector over every pod), and `namespaces/ns-tX/pods`.
 *   Watch: a member's all-namespace watch vs the administrator's label-selected watch, open together while pods
 *   are created in every tenant's namespace; latency from each create's response to the event's arrival.
 *
 * Usage: npm run bench:tenancy [-- --pods 10000 --tenants 10 --watch-pods 200 --list-repeats 10 --no-record]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as pki from '../src/pki/index.js';
import { Harness } from '../test/harness/processes.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, runConcurrent, round, since, now, type Distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const { values: opt } = parseArgs({
  options: {
    pods: { type: 'string', default: '10000' },
    tenants: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    'watch-pods': { type: 'string', default: '200' },
    'list-repeats': { type: 'string', default: '10' },
    'page-size': { type: 'string', default: '500' },
    'no-record': { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof opt) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${String(opt[name])}`);
  return v;
};
const P = { pods: int('pods'), tenants: int('tenants'), concurrency: int('concurrency'), watchPods: int('watch-pods'), listRepeats: int('list-repeats'), pageSize: int('page-size') };
const log = (msg: string) => process.stderr.write(`[bench:tenancy ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const TENANT_LABEL = 'tenancy.kedge.io/tenant';
const ns = (t: number) => `ns-t${t}`;

function pod(name: string, i: number): object {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'bench' } },
    spec: { containers: [{ name: 'app', image: 'registry.example/bench/app:1.0', env: [{ name: 'INDEX', value: String(i) }], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  };
}

async function listTimes(client: KubeHttp, p: string, repeats: number, pageSize = 0): Promise<{ ms: Distribution; items: number }> {
  const times: number[] = [];
  let items = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    const out = await client.listAll(p, pageSize);
    times.push(since(t0));
    items = out.items;
  }
  return { ms: distribution(times), items };
}

async function main(): Promise<void> {
  const h = new Harness('bench-tenancy');
  try {
    const base = h.tempDir('bench');
    const dataDir = path.join(base, 'data');
    const tokenFile = path.join(base, 'tokens.csv');
    await writeFile(tokenFile, Array.from({ length: P.tenants }, (_, t) => `tok-bench-member-${String(t).padStart(4, '0')},member-${t},uid-${t},"bench-members"`).join('\n') + '\n', { mode: 0o600 });
    const port = await h.freePort();
    const url = `https://127.0.0.1:${port}`;
    const server = await h.startKedge('server', ['server', '--data-dir', dataDir, '--secure-port', String(port), '--token-auth-file', tokenFile, '--hub-port', '-1', '--disable-controllers'],
      { ready: { url: `${url}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 120_000 } });
    // The server answers /readyz a moment before it has written admin.kubeconfig.
    for (let i = 0; !existsSync(pki.adminKubeconfigPath(dataDir)); i++) {
      if (i > 600) throw new Error('no admin.kubeconfig after 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const admin = await KubeHttp.fromKubeconfig(pki.adminKubeconfigPath(dataDir), P.concurrency + 4);
    const caCertPem = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
    const memberFile = path.join(base, 'member.kubeconfig');
    const measured = Math.floor(P.tenants / 2);
    await pki.writeKubeconfig(memberFile, pki.buildKubeconfig({ server: url, caCertPem, userName: `member-${measured}`, token: `tok-bench-member-${String(measured).padStart(4, '0')}` }));
    const member = await KubeHttp.fromKubeconfig(memberFile, 8);

    await admin.ensure('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'bench-pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] });
    await admin.ensure('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'bench-pod-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'bench-pod-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'bench-members' }],
    });
    for (let t = 0; t < P.tenants; t++) {
      await admin.ensure('/apis/tenancy.kedge.io/v1alpha1/tenants', { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: `t${t}` }, spec: { users: [`member-${t}`] } });
      await admin.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(t), labels: { [TENANT_LABEL]: `t${t}` } } });
    }
    log(`creating ${P.pods} pods across ${P.tenants} tenants' namespaces (concurrency ${P.concurrency})`);
    const created = await runConcurrent(P.pods, P.concurrency, (i) => admin.json('POST', `/api/v1/namespaces/${ns(i % P.tenants)}/pods`, pod(`p-${String(i).padStart(6, '0')}`, i)));
    log(`created in ${round(created.wallMs / 1000, 1)} s (${round(created.opsPerSecond)}/s, ${created.errors} errors${created.firstError ? `: ${created.firstError}` : ""})`);
    if (created.errors) throw new Error(`pod creates failed: ${created.firstError ?? ''}`);
    const perTenant = Math.floor(P.pods / P.tenants) + (measured < P.pods % P.tenants ? 1 : 0);

    const selector = `labelSelector=${encodeURIComponent(`${TENANT_LABEL}=t${measured}`)}`;
    // Warm both paths once, then alternate so machine load drifts into both alike.
    await member.listAll('/api/v1/pods');
    await admin.listAll(`/api/v1/pods?${selector}`);
    const on: number[] = [];
    const off: number[] = [];
    const offNs: number[] = [];
    for (let r = 0; r < P.listRepeats; r++) {
      let t0 = now();
      const a = await member.listAll('/api/v1/pods');
      on.push(since(t0));
      t0 = now();
      const b = await admin.listAll(`/api/v1/pods?${selector}`);
      off.push(since(t0));
      t0 = now();
      const c = await admin.listAll(`/api/v1/namespaces/${ns(measured)}/pods`);
      offNs.push(since(t0));
      if (a.items !== perTenant || b.items !== perTenant || c.items !== perTenant) throw new Error(`expected ${perTenant} pods each way, got on=${a.items} off=${b.items} ns=${c.items}`);
    }
    const pagedOn = await listTimes(member, '/api/v1/pods', P.listRepeats, P.pageSize);
    const pagedOff = await listTimes(admin, `/api/v1/pods?${selector}`, P.listRepeats, P.pageSize);
    const listOn = distribution(on);
    const listOff = distribution(off);
    const listOffNs = distribution(offNs);
    log(`list p50 on ${round(listOn.p50)} ms, off ${round(listOff.p50)} ms (namespace list ${round(listOffNs.p50)} ms)`);

    // Watch latency: both watches from the same revision, pods created across all tenants.
    const rv = (await admin.json<{ metadata: { resourceVersion: string } }>('GET', '/api/v1/namespaces/default/pods?limit=1')).metadata.resourceVersion;
    const sentAt = new Map<string, number>();
    const latOn: number[] = [];
    const latOff: number[] = [];
    let foreignOn = 0;
    const watched = (into: number[]) => (type: string, o: { metadata?: { name?: string; namespace?: string } }) => {
      if (type !== 'ADDED') return;
      if (o.metadata?.namespace !== ns(measured)) { foreignOn++; return; }
      const t0 = sentAt.get(o.metadata.name ?? '');
      if (t0 !== undefined) into.push(since(t0));
    };
    const wOn = member.watch('/api/v1/pods', rv, watched(latOn));
    const wOff = admin.watch('/api/v1/pods', rv, watched(latOff), selector);
    await Promise.all([wOn.established, wOff.established]);
    const mine = P.watchPods;
    const total = mine * P.tenants;
    await runConcurrent(total, 8, async (i) => {
      const name = `w-${String(i).padStart(6, '0')}`;
      const t = i % P.tenants;
      const t0 = now();
      await admin.json('POST', `/api/v1/namespaces/${ns(t)}/pods`, pod(name, i));
      if (t === measured) sentAt.set(name, t0);
    });
    const deadline = Date.now() + 60_000;
    while ((latOn.length < mine || latOff.length < mine) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    wOn.close();
    wOff.close();
    const watchOn = distribution(latOn);
    const watchOff = distribution(latOff);
    const rss = server.sample().rssBytes;

    const report = newReport('tenancy', { ...P, measuredTenant: `t${measured}`, podsPerTenant: perTenant, machine: `${os.cpus().length} cores, load ${os.loadavg().map((x) => round(x, 2)).join(' ')}` });
    report.results = { listOn, listOff, listOffNs, pagedOn: pagedOn.ms, pagedOff: pagedOff.ms, watchOn, watchOff, foreignEventsOnTenantWatch: foreignOn, serverRssBytes: rss };
    report.notes.push(
      'Like with like: every list returns the same pods (one tenant\'s); "off" is what a client does without tenancy (a label selector over all pods, or one namespace).',
      'Watch latency is from the create\'s response to the event (both watches open together, from the same revision); creates latency is shared, so compare the ratio.',
      'Shared 2-core machine with other engineers\' work running: absolute numbers are noisy, ratios are what the run compares.',
    );
    if (foreignOn > 0) report.notes.push(`DEFECT: the tenant's watch received ${foreignOn} events of other tenants`);
    if (latOn.length < mine || latOff.length < mine) report.notes.push(`watch: only ${latOn.length} / ${latOff.length} of ${mine} events arrived within 60 s`);
    const ms = (d: Distribution) => `p50 ${round(d.p50, 1)} ms, p99 ${round(d.p99, 1)} ms`;
    const rows: SummaryRow[] = [
      [`list one tenant's ${perTenant} pods of ${P.pods} (tenancy on: member, all namespaces)`, ms(listOn), `ratio on/off p50 ${round(listOn.p50 / listOff.p50, 2)}`],
      ['  off: administrator, label selector over all pods', ms(listOff), `administrator, one namespace: ${ms(listOffNs)}`],
      [`paginated (limit=${P.pageSize}) on / off`, `${ms(pagedOn.ms)} / ${ms(pagedOff.ms)}`, `ratio p50 ${round(pagedOn.ms.p50 / pagedOff.ms.p50, 2)}`],
      [`watch latency, ${mine} of ${total} creates are the tenant's (on: member watch)`, ms(watchOn), `ratio on/off p50 ${round(watchOn.p50 / watchOff.p50, 2)}, p99 ${round(watchOn.p99 / watchOff.p99, 2)}`],
      ['  off: administrator watch with the label selector', ms(watchOff), `other tenants' events on the member's watch: ${foreignOn}`],
      ['server RSS with the pods', `${round(rss / 1048576, 0)} MiB`],
    ];
    publish(report, rows, { write: !opt['no-record'] });
  } finally {
    await h.cleanup();
  }
}

await main();
