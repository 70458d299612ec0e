/**
 * Kedge's one Kubernetes API client for long-running components (hub, controllers): JSON requests and watch
 * streams over `node:https`/`node:http`, credentials from a kubeconfig (src/common/kubeconfig-file.ts) or the
 * server's loopback socket (src/common/kubeconfig.ts).
 *
 * Why not @kubernetes/client-node at run time: importing it alone costs a process ~105 MiB RSS (its generated
 * models, serializers, node-fetch, openid-client, jose, …), more than KubeEdge's whole cloudcore (issue 19), and
 * every typed call runs ObjectSerializer over the object both ways. Its types are still what the code is
 * written against (`import type`). What it did for us is small: read a kubeconfig, send JSON with a bearer token
 * or client certificate, and read a newline-delimited watch stream.
 */
import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { readKubeconfigSync, type ResolvedKubeconfig } from './kubeconfig-file.js';
import tls from 'node:tls';

/** A non-2xx answer; `code` and `body` (the Status JSON as text) are what callers test, as with client-node's ApiException. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    method: string,
    path: string,
  ) {
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      /* not a Status */
    }
    super(`${method} ${path}: HTTP ${code}: ${message}`);
  }
}

/** Connection settings are re-read from the kubeconfig this often (token files and certificates rotate). */
const REFRESH_MS = 60_000;
/** A request that gets no answer in this time fails (the caller retries); a component must never hang on the API. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Connections for requests. Past this many in flight, requests wait for a connection instead of opening more: a
 * burst (the hub allows 256 status writes in flight) must not open and drop hundreds of TLS connections.
 * Watches use their own agent: each holds its connection for minutes.
 */
const MAX_REQUEST_SOCKETS = 32;
/**
 * Over the data dir's loopback Unix socket a connection costs no handshake, so the hub's 256 writes in flight get a
 * connection each. With 32, node-write batches (each open for its slowest item) held most of them at 10,000 nodes and
 * ~160 writes waited for a connection: `kedge_hub_api_requests_queued` (bench/RESULTS.md, session 10).
 */
const MAX_LOOPBACK_REQUEST_SOCKETS = 256;
/** A watch asks the server to end it after 5–10 minutes (as client-go's reflector), then resumes from its resourceVersion. */
const WATCH_TIMEOUT_MIN_S = 300;

interface Endpoint {
  url: URL;
  /** Request options shared by every call: TLS material, Authorization, the agents. */
  base: https.RequestOptions;
  requestAgent: http.Agent;
  watchAgent: http.Agent;
}

type Source = { kind: 'file'; file: string } | { kind: 'config'; config: ResolvedKubeconfig } | { kind: 'loopback'; transport: LoopbackTransport };

/** One event of a watch stream, as the API server sends it (`object` is wire JSON). */
export interface WatchEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: unknown }

/** A running watch: `done` settles when the stream ends (resolves on a normal end, rejects on an error). */
export interface WatchHandle { done: Promise<void>; abort(): void }

/** The URL loopback clients name; requests never resolve it: the agent dials the Unix socket. */
export const LOOPBACK_SERVER_URL = 'http://localhost';

/** How an in-process client reaches its own process's API server without TLS (src/apiserver/loopback.ts). */
export interface LoopbackTransport {
  /** Unix domain socket serving the API as plain HTTP (mode 0600, in the server's data dir). */
  socketPath: string;
  /** Bearer token the server accepts for the kubeconfig's identity; lives only in this process's memory. */
  token: string;
}

/** TLS material of a client connection. */
export type TlsMaterial = Pick<tls.SecureContextOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase'>;

/** Distinct credentials a thread keeps contexts for; rotation replaces them rarely, so a few suffice. */
const MAX_SECURE_CONTEXTS = 16;
const secureContexts = new Map<string, tls.SecureContext>();

/** A string that is equal for equal credentials and trust (the SecureContext cache key). */
export function tlsMaterialKey(o: TlsMaterial): string {
  return [o.ca, o.cert, o.key, o.pfx, o.passphrase].map((v) => String(v ?? '')).join('\u0000');
}

/**
 * One SecureContext per distinct credentials and trust in this thread. Without it Node builds one per TLS
 * connection (`tls.connect` parses the key and CA each time), which a reconnecting watch would pay.
 */
export function sharedSecureContext(o: TlsMaterial): tls.SecureContext {
  const key = tlsMaterialKey(o);
  let ctx = secureContexts.get(key);
  if (ctx) return ctx;
  ctx = tls.createSecureContext({ ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase });
  if (secureContexts.size >= MAX_SECURE_CONTEXTS) secureContexts.delete(secureContexts.keys().next().value!);
  secureContexts.set(key, ctx);
  return ctx;
}

export class KubeClient {
  private endpoint?: { value: Endpoint; at: number; key: string };

  private constructor(private readonly source: Source) {
    this.current(); // a kubeconfig that cannot be read fails here, at start, not on the first request
  }

  /** Requests waiting for one of the request agent's sockets (MAX_REQUEST_SOCKETS are in use): a queue, for metrics. */
  queuedRequests(): number {
    const pending = (this.endpoint?.value.requestAgent as (http.Agent & { requests?: Record<string, unknown[]> }) | undefined)?.requests ?? {};
    let n = 0;
    for (const q of Object.values(pending)) n += q.length;
    return n;
  }

  /** A client for the current context of a kubeconfig file. */
  static fromKubeconfigFile(file: string): KubeClient {
    return new KubeClient({ kind: 'file', file });
  }

  /** A client for settings already resolved (a kubeconfig's context read elsewhere, or built in memory). */
  static fromConfig(config: ResolvedKubeconfig): KubeClient {
    return new KubeClient({ kind: 'config', config });
  }

  /** A client for `kedge server`'s loopback socket (plain HTTP, bearer token). */
  static loopback(transport: LoopbackTransport): KubeClient {
    return new KubeClient({ kind: 'loopback', transport });
  }

  /** The loopback transport this client speaks over, if any. */
  get loopbackTransport(): LoopbackTransport | undefined {
    return this.source.kind === 'loopback' ? this.source.transport : undefined;
  }

  /** The API server's URL (for messages). */
  get server(): string {
    return this.current().url.href;
  }

  /** This moment's connection settings: re-read from the kubeconfig every REFRESH_MS, agents replaced when they changed. */
  private current(): Endpoint {
    if (this.endpoint && Date.now() - this.endpoint.at < REFRESH_MS) return this.endpoint.value;
    const next = this.resolve();
    if (this.endpoint?.key === next.key) {
      this.endpoint.at = Date.now();
      return this.endpoint.value;
    }
    const old = this.endpoint?.value;
    const value = next.build();
    this.endpoint = { value, at: Date.now(), key: next.key };
    // Idle sockets of the old credentials close now; busy ones (a watch) finish on their own.
    old?.requestAgent.destroy();
    return value;
  }

  private resolve(): { key: string; build: () => Endpoint } {
    if (this.source.kind === 'loopback') {
      const t = this.source.transport;
      return {
        key: `unix\u0000${t.socketPath}\u0000${t.token}`,
        build: () => ({
          url: new URL(LOOPBACK_SERVER_URL),
          base: { headers: { authorization: `Bearer ${t.token}` } },
          requestAgent: loopbackAgent(t.socketPath, { maxSockets: MAX_LOOPBACK_REQUEST_SOCKETS }),
          watchAgent: loopbackAgent(t.socketPath, {}),
        }),
      };
    }
    let kc: ResolvedKubeconfig;
    try {
      kc = this.source.kind === 'config' ? this.source.config : readKubeconfigSync(this.source.file);
    } catch (err) {
      // A kubeconfig being rewritten (rotation) keeps the last good settings; at start there are none.
      if (this.endpoint) return { key: this.endpoint.key, build: () => this.endpoint!.value };
      throw err;
    }
    const tlsMaterial = { ca: kc.caCertPem, cert: kc.clientCertPem, key: kc.clientKeyPem };
    const key = `${kc.server}\u0000${tlsMaterialKey(tlsMaterial)}\u0000${kc.token ?? ''}\u0000${kc.tlsServerName ?? ''}\u0000${kc.insecureSkipTlsVerify ? 1 : 0}`;
    return {
      key,
      build: () => {
        const url = new URL(kc.server);
        const base: https.RequestOptions = kc.token ? { headers: { authorization: `Bearer ${kc.token}` } } : {};
        if (url.protocol === 'http:') return { url, base, requestAgent: new http.Agent({ keepAlive: true, maxSockets: MAX_REQUEST_SOCKETS, maxFreeSockets: MAX_REQUEST_SOCKETS, scheduling: 'lifo' }), watchAgent: new http.Agent({ keepAlive: true }) };
        const tls: https.AgentOptions = {
          ...tlsMaterial,
          servername: kc.tlsServerName,
          rejectUnauthorized: !kc.insecureSkipTlsVerify,
          // One SecureContext per credentials in this thread: the key and CA are parsed once, not per connection.
          secureContext: sharedSecureContext(tlsMaterial),
        };
        return {
          url,
          base,
          requestAgent: new https.Agent({ ...tls, keepAlive: true, maxSockets: MAX_REQUEST_SOCKETS, maxFreeSockets: MAX_REQUEST_SOCKETS, scheduling: 'lifo' }),
          watchAgent: new https.Agent({ ...tls, keepAlive: true }),
        };
      },
    };
  }

  private options(e: Endpoint, method: string, path: string, agent: http.Agent, headers: Record<string, string | number>): http.RequestOptions {
    return {
      ...e.base,
      agent,
      protocol: e.url.protocol,
      hostname: e.url.hostname,
      port: e.url.port,
      method,
      path: e.url.pathname.replace(/\/$/, '') + path,
      headers: { ...(e.base.headers as Record<string, string> | undefined), 'user-agent': 'kedge', ...headers },
    };
  }

  /**
   * `method path` with an optional JSON body; resolves to the parsed JSON answer (undefined for an empty one),
   * rejects with KubeApiError on a non-2xx answer. `contentType` is the body's (patch types).
   */
  request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    let e: Endpoint;
    try {
      e = this.current();
    } catch (err) {
      return Promise.reject(err);
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const mod = e.url.protocol === 'http:' ? http : https;
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (payload !== undefined) Object.assign(headers, { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) });
    return new Promise<T>((resolve, reject) => {
      const req = mod.request({ ...this.options(e, method, path, e.requestAgent, headers), timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code < 200 || code >= 300) return reject(new KubeApiError(code, text, method, path));
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch (err) {
            reject(new Error(`${method} ${path}: invalid JSON in answer: ${(err as Error).message}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Watches `path` from `resourceVersion`: each event goes to `onEvent` in order. `done` resolves when the
   * server ends the stream (its timeout) and rejects on a non-2xx answer (KubeApiError: 410 means the
   * resourceVersion is too old) or a broken connection. An ERROR event is handed to `onEvent` like any other.
   */
  watch(path: string, query: Record<string, string>, onEvent: (ev: WatchEvent) => void): WatchHandle {
    let req: http.ClientRequest | undefined;
    let aborted = false;
    const done = new Promise<void>((resolve, reject) => {
      const e = this.current();
      const timeoutSeconds = String(WATCH_TIMEOUT_MIN_S + Math.floor(Math.random() * WATCH_TIMEOUT_MIN_S));
      const qs = new URLSearchParams({ ...query, watch: 'true', timeoutSeconds }).toString();
      const full = `${path}${path.includes('?') ? '&' : '?'}${qs}`;
      const mod = e.url.protocol === 'http:' ? http : https;
      req = mod.request(this.options(e, 'GET', full, e.watchAgent, { accept: 'application/json' }), (res) => {
        const code = res.statusCode ?? 0;
        if (code < 200 || code >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(new KubeApiError(code, Buffer.concat(chunks).toString('utf8'), 'GET', path)));
          res.on('error', reject);
          return;
        }
        const decoder = new StringDecoder('utf8');
        let partial = '';
        res.on('data', (chunk: Buffer) => {
          const lines = (partial + decoder.write(chunk)).split('\n');
          partial = lines.pop()!;
          for (const line of lines) {
            if (aborted || !line.trim()) continue;
            let ev: WatchEvent;
            try {
              ev = JSON.parse(line) as WatchEvent;
            } catch (err) {
              res.destroy(new Error(`watch ${path}: invalid JSON event: ${(err as Error).message}`));
              return;
            }
            onEvent(ev);
          }
        });
        res.on('error', (err) => (aborted ? resolve() : reject(err)));
        res.on('close', () => (aborted || res.complete ? resolve() : reject(new Error(`watch ${path}: connection closed mid-stream`))));
      });
      req.on('error', (err) => (aborted ? resolve() : reject(err)));
      req.end();
    });
    return {
      done,
      abort: () => {
        aborted = true;
        req?.destroy();
      },
    };
  }

  /** Closes idle connections (watches end by their own abort). */
  close(): void {
    this.endpoint?.value.requestAgent.destroy();
    this.endpoint?.value.watchAgent.destroy();
  }
}

/** A keep-alive HTTP agent whose every connection is to the Unix socket `socketPath`. */
export function loopbackAgent(socketPath: string, o: { maxSockets?: number }): http.Agent {
  // Agent options are merged into every connection's options, and `socketPath` makes it a Unix socket.
  return new http.Agent({ keepAlive: true, maxFreeSockets: o.maxSockets ?? 64, maxSockets: o.maxSockets, scheduling: 'lifo', socketPath } as http.AgentOptions);
}

/** Path segment escaping for object names and namespaces. */
export const seg = (s: string): string => encodeURIComponent(s);
