/**
 * `--datastore-endpoint`, as K3s names it: which engine `kedge server` keeps its objects in.
 *
 *   (absent) | sqlite                          embedded SQLite in the data dir (the default)
 *   http(s)://host:2379[,https://host2:2379]   etcd v3 (+ --datastore-cafile/-certfile/-keyfile for TLS;
 *                                              user:password@ in the first URL for etcd's password auth)
 *   postgres://user:pass@host:port/db?sslmode=…  PostgreSQL (postgresql:// too; sslmode etc. as libpq)
 *
 * Parsing is strict and up front (a typo is a flag error, not a connection timeout); opening an external engine
 * retries with backoff while it is unreachable, logging each attempt, and fails fast on errors retrying cannot
 * fix (bad credentials, missing database, unreadable certificate files).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../common/logger.js';
import type { SqliteStoreOptions } from './sqlite.js';
import type { Store } from './types.js';

export type DatastoreEndpoint =
  | { kind: 'sqlite' }
  | { kind: 'etcd'; endpoints: string[]; auth?: { username: string; password: string }; tls?: DatastoreTlsFiles }
  | { kind: 'postgres'; connectionString: string };

export interface DatastoreTlsFiles {
  cafile?: string;
  certfile?: string;
  keyfile?: string;
}

/** A flag value that is not a datastore endpoint: the message names the flag and what it expects. */
export class DatastoreEndpointError extends Error {}

const EXPECTED =
  'want "sqlite", an etcd URL list such as https://10.0.0.1:2379,https://10.0.0.2:2379, or postgres://user:password@host:5432/database?sslmode=verify-full';

export function parseDatastoreEndpoint(value: string | undefined, tls: DatastoreTlsFiles = {}): DatastoreEndpoint {
  const bad = (why: string): never => {
    throw new DatastoreEndpointError(`invalid --datastore-endpoint ${JSON.stringify(redactEndpoint(value ?? ''))}: ${why}; ${EXPECTED}`);
  };
  const hasTlsFiles = Boolean(tls.cafile || tls.certfile || tls.keyfile);
  if (value === undefined || value === '' || value === 'sqlite') {
    if (hasTlsFiles) throw new DatastoreEndpointError('--datastore-cafile/--datastore-certfile/--datastore-keyfile apply to an etcd --datastore-endpoint only');
    return { kind: 'sqlite' };
  }
  if (/^postgres(ql)?:\/\//.test(value)) {
    if (hasTlsFiles) throw new DatastoreEndpointError('for PostgreSQL, put TLS settings in the URL (sslmode, sslrootcert, sslcert, sslkey), not --datastore-cafile/-certfile/-keyfile');
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return bad('not a URL');
    }
    if (!url.hostname) bad('no host');
    if (url.pathname.length <= 1) bad('no database name');
    return { kind: 'postgres', connectionString: value };
  }
  if (/^https?:\/\//.test(value)) {
    const endpoints: string[] = [];
    let auth: { username: string; password: string } | undefined;
    for (const part of value.split(',')) {
      let url: URL;
      try {
        url = new URL(part.trim());
      } catch {
        return bad(`${JSON.stringify(redactEndpoint(part))} is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') bad(`${url.protocol} in an etcd endpoint list`);
      if (!url.port) bad(`${url.host} has no port (etcd clients use 2379)`);
      if (url.pathname !== '/' && url.pathname !== '') bad(`an etcd endpoint has no path (${url.pathname})`);
      if (url.username) auth = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
      endpoints.push(`${url.protocol}//${url.host}`);
    }
    const schemes = new Set(endpoints.map((e) => e.split(':')[0]));
    if (schemes.size > 1) bad('mixes http:// and https:// endpoints');
    if (hasTlsFiles && schemes.has('http')) bad('TLS files given for an http:// endpoint (use https://)');
    if (Boolean(tls.certfile) !== Boolean(tls.keyfile)) {
      throw new DatastoreEndpointError('--datastore-certfile and --datastore-keyfile go together (the client certificate and its key)');
    }
    return { kind: 'etcd', endpoints, ...(auth ? { auth } : {}), ...(schemes.has('https') ? { tls } : {}) };
  }
  return bad('unknown scheme');
}

/** The endpoint for logs: passwords replaced. */
export function redactEndpoint(value: string): string {
  return value.replace(/(\/\/[^:/@,]*:)[^@/,]*@/g, '$1***@');
}

export interface OpenDatastoreOptions {
  /** `kedge server`'s data dir: SQLite's state.db lives there. */
  dataDir: string;
  sqlite?: SqliteStoreOptions;
  logger: Logger;
  /** Give up after this long unreachable, ms (default: never; `kedge server` waits for its datastore, as K3s). */
  giveUpAfterMs?: number;
  /** First retry delay, ms (default 500; doubles up to 10 s). */
  retryDelayMs?: number;
}

/** A datastore error retrying cannot fix. */
export class DatastoreFatalError extends Error {}

/** Open the store the endpoint names, waiting (with backoff and a log line per attempt) while it is unreachable. */
export async function openDatastore(endpoint: DatastoreEndpoint, o: OpenDatastoreOptions): Promise<Store> {
  if (endpoint.kind === 'sqlite') {
    const { openSqliteStore } = await import('./sqlite.js');
    return openSqliteStore(path.join(o.dataDir, 'state.db'), o.sqlite);
  }
  const open = await opener(endpoint, o);
  const started = Date.now();
  let delay = o.retryDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      const store = await open();
      if (attempt > 1) o.logger.info({ datastore: endpoint.kind, attempts: attempt }, 'datastore reachable');
      return store;
    } catch (err) {
      const message = (err as Error).message;
      if (isPermanent(message)) throw new DatastoreFatalError(message);
      if (o.giveUpAfterMs !== undefined && Date.now() - started > o.giveUpAfterMs) throw err;
      o.logger.warn({ datastore: endpoint.kind, attempt, retryInMs: delay, err: message }, 'datastore unreachable; retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }
}

async function opener(endpoint: Exclude<DatastoreEndpoint, { kind: 'sqlite' }>, o: OpenDatastoreOptions): Promise<() => Promise<Store>> {
  if (endpoint.kind === 'postgres') {
    const { openPostgresStore } = await import('./postgres.js');
    return () => openPostgresStore({ connectionString: endpoint.connectionString, logger: o.logger });
  }
  const { openEtcdStore } = await import('./etcd.js');
  const read = (flag: string, file?: string): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new DatastoreFatalError(`cannot read ${flag} ${file}: ${(err as Error).message}`);
    }
  };
  const tls = endpoint.tls
    ? { ca: read('--datastore-cafile', endpoint.tls.cafile), cert: read('--datastore-certfile', endpoint.tls.certfile), key: read('--datastore-keyfile', endpoint.tls.keyfile) }
    : undefined;
  return () => openEtcdStore({ endpoints: endpoint.endpoints, tls, auth: endpoint.auth, logger: o.logger });
}

/** Credentials refused, database or role missing, certificates rejected: waiting does not help. */
function isPermanent(message: string): boolean {
  return /password authentication failed|no pg_hba\.conf entry|does not exist|authentication failed|invalid auth token|permission denied|certificate|self[- ]signed|SSL is not enabled|does not support SSL/i.test(message);
}
