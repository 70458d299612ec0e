/**
 * The loops every server runs, all at once on one datastore (issue 16): the CSR signer, the event TTL sweeper; and the
 * bootstrap-token cleaner, which runs under the controller Lease. Each check watches the objects through the API
 * and counts what every server logged, so a double signing, an early delete or a second cleaner shows.
 */
import assert from 'node:assert/strict';
import { KubeConfig, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { createCertificateRequest } from '../../src/pki/index.js';
import { createJoinToken, eventually, kubectl, type HaServer } from './ha-cluster.js';

/** The event TTL the HA servers run with (`--event-ttl`): short enough to see expiry within the test. */
export const HA_EVENT_TTL_S = 20;

interface Seen { type: string; object: KubernetesObject & { status?: { certificate?: string } } }

/** Every watch event of `path` from now on, until stop(). */
async function record(kubeconfig: string, path: string): Promise<{ events: Seen[]; stop(): void }> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const list = await kubectl(kubeconfig, ['get', '--raw', path]);
  assert.equal(list.code, 0, list.stderr);
  const resourceVersion = (JSON.parse(list.stdout) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  const events: Seen[] = [];
  const abort = await new Watch(kc).watch(path, { resourceVersion, allowWatchBookmarks: false }, (type, object) => events.push({ type, object }), () => undefined);
  return { events, stop: () => abort.abort() };
}

/** Log lines with message `msg` in a server's output, as parsed JSON. */
function logged(s: HaServer, msg: string): Array<Record<string, unknown>> {
  return s.server.currentOutput.split('\n').filter((l) => l.includes(msg)).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === msg);
}

/** Approved CSRs are signed once: one certificate per CSR, never replaced by another server's. */
export async function csrsSignedOnce(servers: HaServer[], count: number): Promise<void> {
  const kc = servers[0]!.kubeconfig;
  const watch = await record(kc, '/apis/certificates.k8s.io/v1/certificatesigningrequests');
  const names = Array.from({ length: count }, (_, i) => `ha-user-${i}`);
  const csrs = [];
  for (const name of names) {
    const { csrPem } = await createCertificateRequest({ commonName: name, organizations: ['ha-testers'] });
    csrs.push({ apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'], expirationSeconds: 3600 } });
  }
  let r = await kubectl(kc, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: csrs }));
  assert.equal(r.code, 0, r.stderr);
  // One approval for all: every server's signer sees them Approved at the same moment.
  r = await kubectl(servers[1]!.kubeconfig, ['certificate', 'approve', ...names]);
  assert.equal(r.code, 0, r.stderr);
  const signed = async () => {
    const res = await kubectl(kc, ['get', 'csr', ...names, '-o', 'json']);
    return res.code === 0 && (JSON.parse(res.stdout) as { items: Seen['object'][] }).items.every((c) => c.status?.certificate);
  };
  await eventually('every CSR signed', signed, 60_000);
  await new Promise((res) => setTimeout(res, 3000)); // a late second signer would write now
  watch.stop();
  for (const name of names) {
    const certs = new Set(watch.events.filter((e) => e.object.metadata?.name === name && e.object.status?.certificate).map((e) => e.object.status!.certificate));
    assert.equal(certs.size, 1, `${name}: one certificate ever written (saw ${certs.size})`);
    const signers = servers.filter((s) => logged(s, 'certificate signing request processed').some((e) => e.csr === name));
    assert.equal(signers.length, 1, `${name}: signed by exactly one of ${servers.length} servers`);
  }
  for (const s of servers) assert.equal(logged(s, 'writing CSR status failed').length, 0, 'no signer failed');
  r = await kubectl(kc, ['delete', 'csr', ...names]);
  assert.equal(r.code, 0, r.stderr);
}

/**
 * Events expire once, and only when due: half of them are rewritten every 2 s through the servers in turn
 * (each server's sweeper sees each rewrite at its own moment), the others are left alone. The left ones are deleted
 * once each within the TTL (plus headroom); none of the rewritten ones is deleted.
 */
export async function eventsExpireOnce(servers: HaServer[], ns: string, count: number): Promise<void> {
  const watch = await record(servers[0]!.kubeconfig, `/api/v1/namespaces/${ns}/events`);
  const event = (name: string, n: number) => ({
    apiVersion: 'v1', kind: 'Event', metadata: { name, namespace: ns }, involvedObject: { kind: 'Namespace', name: ns, apiVersion: 'v1' },
    reason: 'HaTest', message: `write ${n}`, type: 'Normal', count: n, firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString(),
  });
  const names = Array.from({ length: count }, (_, i) => `ha-event-${i}`);
  const kept = names.filter((_, i) => i % 2 === 0);
  const left = names.filter((_, i) => i % 2 === 1);
  const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
  // Created through every server (one List each), then the kept ones rewritten every 2 s, each round through the next
  // server, for 1.6 TTLs. A kept event's writes are never further apart than `maxGap` (from one call's start to the
  // next one's return), which must stay under the TTL for "never deleted" to be the claim.
  let lastStart = Date.now();
  for (let i = 0; i < servers.length; i++) {
    const r = await kubectl(servers[i]!.kubeconfig, ['create', '-f', '-'], list(names.filter((_, j) => j % servers.length === i).map((n) => event(n, 1))));
    assert.equal(r.code, 0, r.stderr);
  }
  const start = Date.now();
  let maxGap = 0;
  for (let round = 2; Date.now() - start < HA_EVENT_TTL_S * 1600; round++) {
    const callStart = Date.now();
    const r = await kubectl(servers[round % servers.length]!.kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', '-'], list(kept.map((n) => event(n, round))));
    assert.equal(r.code, 0, r.stderr);
    maxGap = Math.max(maxGap, Date.now() - lastStart);
    lastStart = callStart;
    await new Promise((res) => setTimeout(res, 2000));
  }
  assert.ok(maxGap < HA_EVENT_TTL_S * 1000, `the kept events were rewritten at most ${maxGap} ms apart: under the TTL (else this machine was too slow for the test)`);
  watch.stop();
  const r = await kubectl(servers[0]!.kubeconfig, ['get', 'events', '-n', ns, '-o', 'json']);
  const present = new Set((JSON.parse(r.stdout) as { items: Seen['object'][] }).items.map((e) => e.metadata!.name!));
  const deletes = (name: string) => watch.events.filter((e) => e.type === 'DELETED' && e.object.metadata?.name === name).length;
  for (const n of kept) {
    assert.ok(present.has(n), `${n}, rewritten every 2 s, is still there`);
    assert.equal(deletes(n), 0, `${n} never deleted`);
  }
  for (const n of left) {
    assert.ok(!present.has(n), `${n}, written once ${HA_EVENT_TTL_S * 1.6} s ago, expired`);
    assert.equal(deletes(n), 1, `${n} deleted exactly once`);
  }
}

/** An expired bootstrap token's Secret is deleted by the Lease holder alone; an unexpired one stays. */
export async function expiredTokensCleaned(servers: HaServer[]): Promise<void> {
  const kc = servers.at(-1)!.kubeconfig;
  const [shortLived] = await createJoinToken(kc, '3s');
  const [longLived] = await createJoinToken(kc, '1h');
  const secret = (token: string) => `bootstrap-token-${token.split('.')[0]}`;
  await eventually('the expired token\'s Secret deleted', async () => (await kubectl(kc, ['get', 'secret', '-n', 'kube-system', secret(shortLived)])).code !== 0, 60_000);
  const r = await kubectl(kc, ['get', 'secret', '-n', 'kube-system', secret(longLived), '-o', 'name']);
  assert.equal(r.code, 0, `the unexpired token stays: ${r.stderr}`);
  const cleaners = servers.filter((s) => logged(s, 'deleted expired bootstrap token').some((e) => e.secret === `kube-system/${secret(shortLived)}`));
  assert.equal(cleaners.length, 1, 'one server (the Lease holder) deleted it');
}
