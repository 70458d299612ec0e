/**
 * The edge side of join and identity, and how an operator runs the agent, with the real `kedge` binary:
 * the CA pin covers everything the edge trusts (an on-path party's CA bundle is refused before the token
 * leaves), the bootstrap token is not in the agent's command line, `kedge edge run --data-dir D` runs the node
 * exactly as join set it up, hub connection failures are visible at warn, and the Node reports the machine.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync, statfsSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from '../../src/pki/index.js';
import { EDGE_FLAGS, copyDataDir, createToken, eventually, localGet, startCluster, type Cluster } from './cluster.js';
import type { ManagedProcess } from '../harness/processes.js';

interface NodeJson {
  status: { nodeInfo: { osImage: string; containerRuntimeVersion: string }; capacity: Record<string, string>; allocatable: Record<string, string> };
}

/** Bytes of a binary-SI quantity as the kubelet writes ephemeral-storage ("61255492Ki" or plain bytes). */
function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(q);
  assert.ok(m, `unexpected quantity ${q}`);
  return Number(m[1]) * { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[m[2] ?? '']!;
}

describe('edge identity and operation', { timeout: 600_000 }, () => {
  let c: Cluster;
  let token: { token: string; hash: string };

  before(async () => {
    c = await startCluster('edge-identity');
    token = await createToken(c);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
  });

  /** `kedge edge join` through its own proxy link; `tokenArgs` say how the token is passed. */
  async function join(name: string, tokenArgs: string[], opts: { env?: Record<string, string>; extra?: string[] } = {}) {
    const link = await c.proxy.addLink(name, { host: '127.0.0.1', port: c.hubPort });
    const dataDir = c.h.tempDir(name);
    const localApiPort = await c.h.freePort();
    const args = ['edge', 'join', '--server', `https://127.0.0.1:${link.port}`, ...tokenArgs, '--ca-cert-hash', token.hash, '--node-name', name, '--data-dir', dataDir, '--local-api-port', String(localApiPort), ...EDGE_FLAGS, ...(opts.extra ?? [])];
    const proc = await c.h.startKedge(name, args, { env: opts.env, ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
    return { name, link, dataDir, localApiPort, proc, extraFlags: [] as string[] };
  }

  const cmdline = (p: ManagedProcess) => readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');

  it('kedge edge join refuses a CA bundle an on-path party serves past the pin, and never sends it the token', async () => {
    // The attacker terminates TLS with its own CA and serves the real CA first, then its own.
    const realCa = readFileSync(path.join(c.dataDir, 'pki', 'ca.crt'), 'utf8');
    const attackerCa = await createCertificateAuthority('on-path-attacker');
    const serving = await issueServerCertificate(attackerCa, 'hub', ['127.0.0.1']);
    const received: string[] = [];
    const attacker = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      if (req.url === '/v1/cacert') return void res.end(realCa + attackerCa.certPem);
      received.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    try {
      const dataDir = c.h.tempDir('victim');
      const proc = c.h.process({
        name: 'victim',
        args: ['edge', 'join', '--server', `https://127.0.0.1:${(attacker.address() as AddressInfo).port}`, '--token', token.token, '--ca-cert-hash', token.hash, '--node-name', 'victim', '--data-dir', dataDir, ...EDGE_FLAGS],
      });
      await proc.start();
      const exit = await proc.exited;
      assert.deepEqual(received, [], 'the token never reached the attacker');
      assert.notEqual(exit.code, 0);
      assert.match(proc.currentOutput, /refusing the cloud CA .*exactly one PEM certificate, got 2/);
    } finally {
      attacker.closeAllConnections();
      await new Promise<void>((r) => attacker.close(() => r()));
    }
  });

  it('the bootstrap token is not in the agent\'s command line, whether given as --token, --token-file or KEDGE_TOKEN', async () => {
    const secret = token.token.split('.')[1]!;
    const tokenFile = path.join(c.h.tempDir('token'), 'token');
    writeFileSync(tokenFile, `${token.token}\n`, { mode: 0o600 });
    const ways: Array<[string, string[], Record<string, string>]> = [
      ['tok-flag', ['--token', token.token], {}],
      ['tok-file', ['--token-file', tokenFile], {}],
      ['tok-env', [], { KEDGE_TOKEN: token.token }],
    ];
    for (const [name, args, env] of ways) {
      const e = await join(name, args, { env });
      const shown = cmdline(e.proc);
      assert.ok(!shown.includes(secret), `${e.name}: /proc/${e.proc.pid}/cmdline shows the token: ${shown}`);
      assert.ok(!shown.includes(token.token.split('.')[0]!), `${e.name}: token id shown: ${shown}`);
      assert.match(shown, new RegExp(`^kedge edge run --data-dir ${e.dataDir}`), `${e.name}: ${shown}`);
      if (name === 'tok-flag') assert.match(e.proc.currentOutput, /--token is visible to other local users \(ps\)/);
      await e.proc.stop();
    }
  });

  it('kedge edge run --data-dir D runs the node as join set it up; a contradicting flag is an error naming the stored value', async () => {
    const e = await join('run-as-joined', ['--token', token.token]);
    await e.proc.stop();
    // Only the data dir. (KEDGE_CONTAINERD_SOCK points nowhere: a run that forgot `--runtime none` would fail on it
    // rather than start a containerd here.)
    const env = { KEDGE_CONTAINERD_SOCK: path.join(e.dataDir, 'no-such-containerd.sock') };
    const run = await c.h.startKedge('run-as-joined-run', ['edge', 'run', '--data-dir', e.dataDir], { env, ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
    const nodes = await localGet<{ items: Array<{ metadata: { name: string } }> }>(e, '/api/v1/nodes');
    assert.equal(nodes.status, 200, 'the local API is on the port join was given');
    assert.doesNotMatch(run.currentOutput, /containerd|runtime/i);
    await run.stop();

    const refused = async (name: string, args: string[], pattern: RegExp) => {
      const p = c.h.process({ name, args, env });
      await p.start();
      const exit = await p.exited;
      assert.notEqual(exit.code, 0, `${args.join(' ')} must fail`);
      assert.match(p.currentOutput, pattern);
    };
    await refused('run-cri', ['edge', 'run', '--data-dir', e.dataDir, '--runtime', 'cri'], /--runtime cri contradicts this node's configuration: it was joined with --runtime none/);
    await refused('run-port', ['edge', 'run', '--data-dir', e.dataDir, '--local-api-port', '1'], new RegExp(`--local-api-port 1 contradicts .*--local-api-port ${e.localApiPort}`));
    await refused('run-sock', ['edge', 'run', '--data-dir', e.dataDir, '--cri-socket', '/run/other.sock'], /--cri-socket \/run\/other\.sock contradicts .*--runtime none/);
    await refused('import-none', ['edge', 'image', 'import', '--data-dir', e.dataDir, path.join(e.dataDir, 'image.tar')], /node run-as-joined runs with --runtime none .*no container runtime to import into/);
  });

  it('hub connection failures are logged at warn with their reason, once per reason per minute', async () => {
    const e = await join('offline', ['--token', token.token]);
    await e.link.cut();
    await e.proc.waitForLog(/disconnected from hub/, 30_000);
    const failed = () => e.proc.currentOutput.split('\n').filter((l) => l.includes('"could not connect to hub"'));
    await eventually('a warning with the reason', async () => failed().length > 0 || 'none yet', 30_000);
    const line = JSON.parse(failed()[0]!) as { level: number; reason: string };
    assert.equal(line.level, 40, 'warn');
    assert.match(line.reason, /ECONNREFUSED/);
    // --reconnect-max 1500: several more refused dials in 8 s, none of them logged again.
    const before = e.proc.currentOutput.length;
    await new Promise((r) => setTimeout(r, 8_000));
    assert.equal(failed().length, 1, `one line for repeated identical failures:\n${e.proc.currentOutput.slice(before, before + 2000)}`);
    await e.link.heal();
    await e.proc.waitForLog(/connected to hub[\s\S]*connected to hub/, 60_000);
    await e.proc.stop();
  });

  it('a revoked node (its Node deleted) stops reconnecting, and kedge edge run exits non-zero saying it must join again', async () => {
    const e = await join('revoked', ['--token', token.token]);
    await e.proc.stop();
    const run = await c.h.startKedge('revoked-run', ['edge', 'run', '--data-dir', e.dataDir], { ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
    await c.kubectl(['delete', 'node', 'revoked']);
    const exit = await Promise.race([run.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 60_000))]);
    if (exit === 'still running') assert.fail(`the agent kept running:\n${run.currentOutput.slice(-2000)}`);
    assert.equal(exit.code, 1);
    assert.match(run.currentOutput, /node revoked was removed from the cluster or its certificate is no longer accepted.*must join again with a new bootstrap token/);
  });

  it('a copied data dir: the second agent logs at error that another agent is connected, and backs off for a minute or more', async () => {
    // --local-api-port 0: both agents run on this one machine (a real copy runs elsewhere).
    const e = await join('copied', ['--token', token.token], { extra: ['--local-api-port', '0'] });
    const copyDir = c.h.tempDir('copied-copy');
    copyDataDir(e.dataDir, copyDir);
    const copy = await c.h.startKedge('copied-copy', ['edge', 'run', '--data-dir', copyDir], {});
    const line = await copy.waitForLog(/\{[^\n]*another agent is connected as node copied: a copied data dir\?[^\n]*\}/, 60_000);
    const logged = JSON.parse(line[0]) as { level: number; retryInSeconds: number };
    assert.equal(logged.level, 50, 'error');
    assert.ok(logged.retryInSeconds >= 60, `retries in ${logged.retryInSeconds} s`);
    // No fight for the session: no second attempt from the copy, the first agent never lost its session.
    await new Promise((r) => setTimeout(r, 15_000));
    assert.equal(copy.currentOutput.match(/another agent is connected as node copied/g)?.length, 1);
    assert.equal(e.proc.currentOutput.match(/"msg":"connected to hub"/g)?.length, 1);
    assert.doesNotMatch(e.proc.currentOutput, /disconnected from hub/);
    await copy.stop();
    await e.proc.stop();
  });

  it('the Node reports the OS image from os-release and ephemeral-storage from the data dir\'s disk, as the kubelet', async () => {
    const e = await join('facts', ['--token', token.token]);
    // "connected to hub" comes before the agent's first Node status report has been written through the hub.
    let node: NodeJson | undefined;
    await eventually('the Node\'s first status', async () => {
      node = JSON.parse(await c.kubectl(['get', 'node', 'facts', '-o', 'json'])) as NodeJson;
      return node.status?.nodeInfo !== undefined || 'no status.nodeInfo yet';
    }, 30_000);
    if (!node) throw new Error('unreachable');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    assert.ok(pretty);
    assert.equal(node.status.nodeInfo.osImage, pretty);
    assert.equal(node.status.nodeInfo.containerRuntimeVersion, '', '--runtime none: no runtime to report');
    const st = statfsSync(e.dataDir);
    const disk = st.blocks * st.bsize;
    assert.equal(quantityBytes(node.status.capacity['ephemeral-storage']!), disk);
    assert.equal(quantityBytes(node.status.allocatable['ephemeral-storage']!), disk - Math.floor(disk * 0.1), 'minus the hard eviction threshold nodefs.available<10%');
    await e.proc.stop();
  });
});
