import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, issueClientCertificate, keyMatchesCertificate } from '../pki/index.js';
import { readNodeIdentity, resolveRunSettings, writeNodeIdentity, type EdgeCredentials } from './config.js';

async function identities(n: number): Promise<EdgeCredentials[]> {
  const ca = await createCertificateAuthority('cloud-ca');
  const out: EdgeCredentials[] = [];
  for (let i = 0; i < n; i++) {
    const c = await issueClientCertificate(ca, 'system:node:n1', ['system:nodes']);
    out.push({ caCertPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem });
  }
  return out;
}

/** The files of a data dir written before identities were versioned (plain pki/ca.crt, node.crt, node.key). */
function writeLegacy(dataDir: string, c: EdgeCredentials): void {
  mkdirSync(path.join(dataDir, 'pki'), { recursive: true });
  writeFileSync(path.join(dataDir, 'pki', 'ca.crt'), c.caCertPem);
  writeFileSync(path.join(dataDir, 'pki', 'node.crt'), c.certPem);
  writeFileSync(path.join(dataDir, 'pki', 'node.key'), c.keyPem, { mode: 0o600 });
}

class Crash extends Error {}

test('rotation that crashes at any step leaves a matching key and certificate, old or new; the next rotation completes', async (t) => {
  const [oldId, newId, newerId] = await identities(3);
  // Learn the steps from one uninterrupted rotation.
  const steps: string[] = [];
  const probe = mkdtempSync(path.join(os.tmpdir(), 'kedge-rot-'));
  t.after(() => rmSync(probe, { recursive: true, force: true }));
  await writeNodeIdentity(probe, oldId!);
  await writeNodeIdentity(probe, newId!, (s) => void steps.push(s));
  assert.ok(steps.length >= 8, `steps: ${steps.join(', ')}`);
  const commit = steps.indexOf('swap current');
  assert.ok(commit > 0);

  for (const layout of ['versioned', 'legacy'] as const) {
    for (let k = 0; k < steps.length; k++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-rot-'));
      try {
        if (layout === 'legacy') writeLegacy(dir, oldId!);
        else await writeNodeIdentity(dir, oldId!);
        await assert.rejects(
          writeNodeIdentity(dir, newId!, (s) => {
            if (s === steps[k]) throw new Crash(`crash after ${s}`);
          }),
          Crash,
        );
        const loaded = await readNodeIdentity(dir);
        assert.ok(keyMatchesCertificate(loaded.certPem, loaded.keyPem), `${layout}, crash after ${steps[k]}: key and certificate match`);
        const expected = k < commit ? oldId! : newId!;
        assert.equal(loaded.certPem, expected.certPem, `${layout}, crash after ${steps[k]}: ${k < commit ? 'old' : 'new'} identity in force`);
        assert.equal(loaded.caCertPem, expected.caCertPem);
        // Recovery: the next rotation (the agent retries) completes and cleans up what the crash left.
        await writeNodeIdentity(dir, newerId!);
        const after = await readNodeIdentity(dir);
        assert.equal(after.certPem, newerId!.certPem);
        const pki = path.join(dir, 'pki');
        assert.equal(readdirSync(pki).filter((n) => n.startsWith('gen-')).length, 1, `${layout}, ${steps[k]}: one generation left`);
        assert.equal(readdirSync(pki).filter((n) => n.endsWith('.tmp')).length, 0);
        // The stable paths people and tools read follow the identity in force.
        assert.equal(readFileSync(path.join(pki, 'node.crt'), 'utf8'), newerId!.certPem);
        assert.equal(readFileSync(path.join(pki, 'node.key'), 'utf8'), newerId!.keyPem);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
});

test('a key that is not the certificate\'s, or a CA bundle, is refused at load with a clear message', async (t) => {
  const [a, b] = await identities(2);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-rot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeLegacy(dir, { ...a!, keyPem: b!.keyPem });
  await assert.rejects(readNodeIdentity(dir), /node\.key does not belong to .*node\.crt/);
  writeLegacy(dir, { ...a!, caCertPem: a!.caCertPem + b!.caCertPem });
  await assert.rejects(readNodeIdentity(dir), /ca\.crt: expected exactly one PEM certificate, got 2/);
});

test('run settings: stored ones win, defaults fill in, and a contradicting flag names the flag and the stored value', () => {
  const socket = () => '/run/kedge/containerd.sock';
  const joined = { server: 'https://h:1', nodeName: 'n1', runtime: 'cri' as const, criSocket: '/run/site/c.sock', localApiPort: 10551, heartbeatMs: 1000, keepaliveMs: 1000, reconnectMaxMs: 1500 };
  // `kedge edge run --data-dir D` with no flags: exactly as joined, the default socket is not consulted.
  const r = resolveRunSettings(joined, {}, () => assert.fail('default socket consulted'));
  assert.deepEqual(r.settings, { runtime: 'cri', criSocket: '/run/site/c.sock', localApiPort: 10551, heartbeatMs: 1000, keepaliveMs: 1000, reconnectMaxMs: 1500 });
  assert.equal(r.changed, false);
  // Repeating the stored values is fine; timings may differ for one run without being stored.
  assert.equal(resolveRunSettings(joined, { runtime: 'cri', criSocket: '/run/site/c.sock', localApiPort: '10551', heartbeat: '500' }, socket).settings.heartbeatMs, 500);
  assert.throws(() => resolveRunSettings(joined, { criSocket: '/run/kedge/containerd.sock' }, socket), /--cri-socket \/run\/kedge\/containerd\.sock contradicts .*joined with --cri-socket \/run\/site\/c\.sock/);
  assert.throws(() => resolveRunSettings(joined, { runtime: 'none' }, socket), /--runtime none contradicts .*--runtime cri/);
  assert.throws(() => resolveRunSettings(joined, { localApiPort: '10550' }, socket), /--local-api-port 10550 contradicts .*--local-api-port 10551/);
  const none = { server: 'https://h:1', nodeName: 'n1', runtime: 'none' as const, localApiPort: -1 };
  assert.throws(() => resolveRunSettings(none, { criSocket: '/x.sock' }, socket), /--cri-socket \/x\.sock contradicts .*--runtime none/);
  assert.throws(() => resolveRunSettings(none, { runtime: 'cri' }, socket), /--runtime cri contradicts .*--runtime none/);
  // A data dir from before settings were kept: flags then defaults, and the result is to be stored.
  const legacy = resolveRunSettings({ server: 'https://h:1', nodeName: 'n1' }, { localApiPort: '0' }, socket);
  assert.deepEqual(legacy.settings, { runtime: 'cri', criSocket: '/run/kedge/containerd.sock', localApiPort: 0, heartbeatMs: 10_000, keepaliveMs: 15_000, reconnectMaxMs: 30_000 });
  assert.equal(legacy.changed, true);
  assert.throws(() => resolveRunSettings(none, { runtime: 'docker' }, socket), /invalid --runtime "docker": cri or none/);
  assert.throws(() => resolveRunSettings(none, { heartbeat: 'soon' }, socket), /invalid --heartbeat soon/);
});

test('peer health flags: stored by join, a run may turn it off; a bad port or period is refused naming the flag', () => {
  const socket = () => '/run/x.sock';
  const joined = resolveRunSettings({ server: 's', nodeName: 'n' }, { peerHealthPort: '10267', peerProbePeriod: '1000' }, socket).settings;
  assert.equal(joined.peerHealthPort, 10267);
  assert.equal(joined.peerProbePeriodMs, 1000);
  const stored = { server: 's', nodeName: 'n', ...joined };
  assert.equal(resolveRunSettings(stored, {}, socket).settings.peerHealthPort, 10267);
  assert.equal(resolveRunSettings(stored, { peerHealthPort: '-1' }, socket).settings.peerHealthPort, -1);
  assert.throws(() => resolveRunSettings(stored, { peerHealthPort: '0' }, socket), /invalid --peer-health-port 0/);
  assert.throws(() => resolveRunSettings(stored, { peerHealthPort: 'x' }, socket), /invalid --peer-health-port x/);
  assert.throws(() => resolveRunSettings(stored, { peerProbePeriod: '5' }, socket), /invalid --peer-probe-period 5/);
});
