/**
 * A minimal JSON client for the hub's hot write path (Lease renewals, Node/pod status): plain
 * `https.request` with the kubeconfig's own connection settings, JSON in and out, no typed model.
 *
 * Why not client-node's typed APIs here: every call runs ObjectSerializer over the whole object both ways
 * (V1Lease/V1Node ↔ JSON, Date fields converted), re-applies the kubeconfig (certificate buffers decoded
 * again) and goes through node-fetch — measured by bench/heartbeats.ts as the larger part of the hub's CPU
 * per renewal. Credentials, trust, proxies and the keep-alive agent still come from client-node's
 * KubeConfig (`applyToHTTPSOptions`), so any kubeconfig `kedge cloud --kubeconfig` accepts works here.
 * Inside `kedge server` the KubeConfig is a loopback one (src/common/kubeconfig.ts): plain HTTP on the
 * server's Unix socket with an in-memory token, no TLS on either end.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { loopbackAgent, loopbackOf, sharedSecureContext, tlsMaterialKey } from '../common/kubeconfig.js';

/** A non-2xx answer; `code` and `body` have the shape client-node's ApiException has, so callers treat both alike. */
export class JsonApiError extends Error {
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

interface Connection {
  url: URL;
  options: https.RequestOptions;
}

/** Connection settings are re-read from the kubeconfig this often (token files and exec credentials rotate). */
const REFRESH_MS = 60_000;
/** A request that gets no answer in this time fails (the caller retries); the hub must never hang on the API. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Connections to the API server for status writes. Past this many requests in flight, requests wait for a
 * connection instead of opening more: a burst (the hub allows 256 writes in flight) must not open and then
 * drop hundreds of TLS connections — each a handshake on both sides, measured as a fifth of the writer's CPU.
 */
const MAX_SOCKETS = 32;

export class JsonApi {
  private conn?: { ready: Promise<Connection>; at: number };

  constructor(private readonly kc: KubeConfig) {}

  private agent?: { key: string; agent: http.Agent };

  private connection(): Promise<Connection> {
    if (this.conn && Date.now() - this.conn.at < REFRESH_MS) return this.conn.ready;
    const ready = (async (): Promise<Connection> => {
      const cluster = this.kc.getCurrentCluster();
      if (!cluster) throw new Error('kubeconfig has no current cluster');
      const options: https.RequestOptions = {};
      // Fills ca/cert/key, Authorization (token, exec, auth providers), basic auth and `agent` (the shared
      // keep-alive agent from src/common/kubeconfig.ts, or a proxy agent).
      await this.kc.applyToHTTPSOptions(options as Parameters<KubeConfig['applyToHTTPSOptions']>[0]);
      const url = new URL(cluster.server);
      const loopback = loopbackOf(this.kc);
      if (loopback) options.agent = this.boundedAgent(`unix\u0000${loopback.socketPath}`, () => loopbackAgent(loopback.socketPath, { maxSockets: MAX_SOCKETS }));
      else if (url.protocol === 'https:' && !cluster.proxyUrl) options.agent = this.boundedAgent(directTlsKey(options), () => directTlsAgent(options));
      return { url, options };
    })();
    const entry = { ready, at: Date.now() };
    this.conn = entry;
    // A failed read is not cached: the next request tries again.
    ready.catch(() => { if (this.conn === entry) this.conn = undefined; });
    return ready;
  }

  /**
   * Our own keep-alive pool (proxies keep client-node's agent): bounded, so bursts queue rather than churn
   * connections. The kubeconfig's shared agent cannot carry the bound: its watches each hold a socket.
   * Replaced when the credentials or the transport change.
   */
  private boundedAgent(key: string, create: () => http.Agent): http.Agent {
    if (this.agent?.key === key) return this.agent.agent;
    this.agent?.agent.destroy();
    const agent = create();
    this.agent = { key, agent };
    return agent;
  }

  /** `method path` with an optional JSON body; resolves to the parsed JSON answer, rejects with JsonApiError on non-2xx. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const { url, options } = await this.connection();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const mod = url.protocol === 'http:' ? http : https;
    const base = url.pathname.replace(/\/$/, '');
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(
        {
          ...options,
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          method,
          path: base + path,
          headers: {
            ...(options.headers as Record<string, string> | undefined),
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code < 200 || code >= 300) return reject(new JsonApiError(code, text, method, path));
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch (err) {
              reject(new Error(`${method} ${path}: invalid JSON in answer: ${(err as Error).message}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** Direct TLS to the API server: equal for equal credentials, trust and server name. */
function directTlsKey(o: https.RequestOptions): string {
  return `tls\u0000${tlsMaterialKey(o)}\u0000${String(o.servername ?? '')}\u0000${String(o.rejectUnauthorized ?? '')}`;
}

/** A bounded TLS pool whose connections share the process's one SecureContext for these credentials. */
function directTlsAgent(o: https.RequestOptions): https.Agent {
  return new https.Agent({
    keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS, scheduling: 'lifo',
    ca: o.ca, cert: o.cert, key: o.key, servername: o.servername, rejectUnauthorized: o.rejectUnauthorized,
    secureContext: sharedSecureContext(o),
  } as https.AgentOptions);
}

/** Path segment escaping for object names and namespaces. */
export const seg = (s: string): string => encodeURIComponent(s);
