/**
 * Private datastore engines for tests and benches, started and stopped by the test itself through a Harness:
 * an etcd (Debian's etcd-server) and a PostgreSQL cluster (initdb into a temp dir). Both listen on 127.0.0.1
 * on ports the OS picked. scripts/install-system-deps.sh installs the engines (scripts/test.sh calls it).
 *
 * PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the `postgres` system user and is
 * started through runuser; as anyone else it runs as that user.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Harness, ManagedProcess } from './processes.js';

export interface RunningEtcd {
  endpoint: string;
  process: ManagedProcess;
  dataDir: string;
  /** With `tls: true`: PEM files for the client (CA, client certificate and key). */
  tlsFiles?: { cafile: string; certfile: string; keyfile: string };
}

export interface EtcdOptions {
  dataDir?: string;
  name?: string;
  clientPort?: number;
  /** Serve clients over TLS and require a client certificate (etcd's --client-cert-auth), from a fresh test CA. */
  tls?: boolean;
}

/** Start an etcd on `dataDir` (fresh, or an existing one to restart on its data). */
export async function startEtcd(h: Harness, o: EtcdOptions = {}): Promise<RunningEtcd> {
  const dataDir = o.dataDir ?? h.tempDir('etcd');
  const client = o.clientPort ?? (await h.freePort());
  const peer = await h.freePort();
  const clientUrl = `${o.tls ? 'https' : 'http'}://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const tlsArgs: string[] = [];
  let tlsFiles: RunningEtcd['tlsFiles'];
  if (o.tls) {
    const { createCertificateAuthority, issueServerCertificate, issueClientCertificate } = await import('../../src/pki/certificates.js');
    const ca = await createCertificateAuthority('etcd-test-ca');
    const serving = await issueServerCertificate(ca, 'etcd', ['127.0.0.1', 'localhost']);
    const clientCert = await issueClientCertificate(ca, 'kedge');
    const dir = h.tempDir('etcd-tls');
    const file = (name: string, pem: string) => {
      const p = path.join(dir, name);
      writeFileSync(p, pem, { mode: 0o600 });
      return p;
    };
    const cafile = file('ca.pem', ca.certPem);
    tlsArgs.push('--cert-file', file('server.pem', serving.certPem), '--key-file', file('server-key.pem', serving.keyPem), '--trusted-ca-file', cafile, '--client-cert-auth');
    tlsFiles = { cafile, certfile: file('client.pem', clientCert.certPem), keyfile: file('client-key.pem', clientCert.keyPem) };
  }
  const proc = await h.start({
    command: process.env.KEDGE_ETCD_BIN ?? 'etcd',
    args: [
      '--name', 'default',
      '--data-dir', path.join(dataDir, 'data'),
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `default=${peerUrl}`,
      ...tlsArgs,
      '--log-level', o.tls ? 'info' : 'warn',
    ],
    name: o.name ?? 'etcd',
    // Over TLS /health wants a client certificate: wait for etcd's own log line instead.
    ready: o.tls ? { logLine: /serving client requests on|ready to serve client requests/, timeoutMs: 60_000 } : { url: `${clientUrl}/health`, ok: (s) => s === 200, timeoutMs: 60_000 },
  });
  return { endpoint: clientUrl, process: proc, dataDir, ...(tlsFiles ? { tlsFiles } : {}) };
}

export interface RunningPostgres {
  /** postgres://kedge:PASSWORD@127.0.0.1:PORT/ (append a database name). */
  baseUrl: string;
  process: ManagedProcess;
  /** Create a database and return its URL. */
  createDatabase(name: string): Promise<string>;
}

const PG_BIN = process.env.KEDGE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;

function runAsPostgres(cmd: string, args: string[]): { command: string; args: string[] } {
  return asRoot ? { command: 'runuser', args: ['-u', 'postgres', '--', cmd, ...args] } : { command: cmd, args };
}

/**
 * initdb + postgres on a free port; password auth (scram) over TCP for user `kedge`.
 * `durable: false` turns fsync off (test speed); benches keep PostgreSQL's defaults.
 */
export async function startPostgres(h: Harness, opts: { durable?: boolean; name?: string } = {}): Promise<RunningPostgres> {
  const dir = h.tempDir('pg');
  const dataDir = path.join(dir, 'data');
  const sockDir = dir;
  const password = `pw-${process.pid}-${Date.now()}`;
  const pwFile = path.join(dir, 'pwfile');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (asRoot) {
    const ids = execFileSync('id', ['-u', 'postgres']).toString().trim();
    const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
    chownSync(dir, Number(ids), Number(gid));
    chownSync(pwFile, Number(ids), Number(gid));
  }
  const init = runAsPostgres(path.join(PG_BIN, 'initdb'), [
    '-D', dataDir, '-U', 'kedge', '--pwfile', pwFile, '--auth-local', 'trust', '--auth-host', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C.UTF-8', '--no-sync',
  ]);
  execFileSync(init.command, init.args, { stdio: 'pipe' });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) throw new Error('initdb did not create a cluster');
  const port = await h.freePort();
  const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'];
  if (opts.durable === false) settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const run = runAsPostgres(path.join(PG_BIN, 'postgres'), ['-D', dataDir, '-k', sockDir, '-p', String(port), ...settings]);
  const proc = await h.start({
    name: opts.name ?? 'postgres',
    command: run.command,
    args: run.args,
    ready: { logLine: 'database system is ready to accept connections', timeoutMs: 60_000 },
  });
  const baseUrl = `postgres://kedge:${encodeURIComponent(password)}@127.0.0.1:${port}/`;
  return {
    baseUrl,
    process: proc,
    async createDatabase(name: string): Promise<string> {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: baseUrl + 'postgres' });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return baseUrl + name;
    },
  };
}
