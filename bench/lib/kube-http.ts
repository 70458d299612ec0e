/**
 * A thin Kubernetes API client for load generation: raw node:https with a keep-alive agent, so a
 * benchmark measures the server rather than a client library's overhead. Credentials come from a
 * kubeconfig (via @kubernetes/client-node's KubeConfig, as kubectl's users would have them).
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeHttpOptions {
  /** e.g. https://127.0.0.1:6443 (http:// allowed, for stub servers in unit tests) */
  server: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  headers?: Record<string, string>;
  /** sockets kept open to the server (one per concurrent request) */
  maxSockets?: number;
}

export interface RawResponse {
  status: number;
  body: string;
  bytes: number;
}

export interface ListTraversal {
  items: number;
  pages: number;
  bytes: number;
  resourceVersion: string;
  pageMs: number[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    body: string,
  ) {
    let message = body.slice(0, 300);
    try {
      const s = JSON.parse(body) as { reason?: string; message?: string };
      message = `${s.reason ?? ''}: ${s.message ?? ''}`;
    } catch {
      // not a Status
    }
    super(`${method} ${path} -> ${status} ${message}`);
  }
}

export interface WatchHandle {
  /** resolves once the server answered the watch request (headers received) */
  established: Promise<void>;
  /** resolves when the stream ends (server closed, or close() called) */
  ended: Promise<void>;
  close(): void;
}

export type WatchEventHandler = (type: string, object: { metadata?: { name?: string; resourceVersion?: string } } & Record<string, unknown>) => void;

export class KubeHttp {
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly mod: typeof http | typeof https;

  constructor(private readonly opts: KubeHttpOptions) {
    this.url = new URL(opts.server);
    const secure = this.url.protocol === 'https:';
    this.mod = secure ? https : http;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
    this.agent = secure ? new https.Agent({ ...agentOpts, ca: opts.ca, cert: opts.cert, key: opts.key }) : new http.Agent(agentOpts);
  }

  /** Build a client from a kubeconfig file's current context (client certs or bearer token). */
  static async fromKubeconfig(file: string, maxSockets?: number): Promise<KubeHttp> {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${file}: no current cluster`);
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    return new KubeHttp({
      server: cluster.server,
      ca: o.ca as Buffer | undefined,
      cert: o.cert as Buffer | undefined,
      key: o.key as Buffer | undefined,
      headers,
      ...(maxSockets !== undefined ? { maxSockets } : {}),
    });
  }

  get server(): string {
    return this.opts.server;
  }

  request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = this.mod.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          method,
          path,
          agent: this.agent,
          headers: {
            ...this.opts.headers,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, body: buf.toString('utf8'), bytes: buf.length });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Request expecting 2xx and a JSON body; throws ApiError otherwise. */
  async json<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const r = await this.request(method, path, body, contentType);
    if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, method, path, r.body);
    return JSON.parse(r.body) as T;
  }

  /** Create unless it exists already (409 is fine): for namespaces and fixtures. */
  async ensure(path: string, body: unknown): Promise<void> {
    const r = await this.request('POST', path, body);
    if (r.status !== 201 && r.status !== 200 && r.status !== 409) throw new ApiError(r.status, 'POST', path, r.body);
  }

  /** Walk a collection with limit/continue; `limit` 0 = one unpaginated request. */
  async listAll(collectionPath: string, limit = 0): Promise<ListTraversal> {
    const out: ListTraversal = { items: 0, pages: 0, bytes: 0, resourceVersion: '', pageMs: [] };
    let cont = '';
    do {
      const q = new URLSearchParams();
      if (limit > 0) q.set('limit', String(limit));
      if (cont) q.set('continue', cont);
      const qs = q.toString();
      const path = qs ? `${collectionPath}${collectionPath.includes('?') ? '&' : '?'}${qs}` : collectionPath;
      const t0 = performance.now();
      const r = await this.request('GET', path);
      if (r.status !== 200) throw new ApiError(r.status, 'GET', path, r.body);
      const list = JSON.parse(r.body) as { items?: unknown[]; metadata?: { continue?: string; resourceVersion?: string } };
      out.pageMs.push(performance.now() - t0);
      out.pages++;
      out.items += list.items?.length ?? 0;
      out.bytes += r.bytes;
      out.resourceVersion ||= list.metadata?.resourceVersion ?? '';
      cont = list.metadata?.continue ?? '';
    } while (cont);
    return out;
  }

  /**
   * Open a watch (newline-delimited JSON events, as the API server streams them) on
   * `collectionPath` from `resourceVersion`; every event is parsed and handed to `onEvent`.
   */
  watch(collectionPath: string, resourceVersion: string, onEvent: WatchEventHandler, extraQuery = ''): WatchHandle {
    const q = `watch=1&resourceVersion=${encodeURIComponent(resourceVersion)}${extraQuery ? `&${extraQuery}` : ''}`;
    const path = `${collectionPath}${collectionPath.includes('?') ? '&' : '?'}${q}`;
    let req: http.ClientRequest | null = null;
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    const established = new Promise<void>((resolve, reject) => {
      req = this.mod.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          method: 'GET',
          path,
          // a watch holds its socket for its whole life: never take one from the request pool
          agent: false,
          ca: this.opts.ca,
          cert: this.opts.cert,
          key: this.opts.key,
          headers: { ...this.opts.headers, accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              reject(new ApiError(res.statusCode ?? 0, 'GET', path, Buffer.concat(chunks).toString('utf8')));
              resolveEnded();
            });
            return;
          }
          resolve();
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            pending += chunk;
            let nl: number;
            while ((nl = pending.indexOf('\n')) >= 0) {
              const line = pending.slice(0, nl).trim();
              pending = pending.slice(nl + 1);
              if (!line) continue;
              const ev = JSON.parse(line) as { type: string; object: Parameters<WatchEventHandler>[1] };
              onEvent(ev.type, ev.object);
            }
          });
          res.on('end', resolveEnded);
          res.on('error', resolveEnded);
          res.on('close', resolveEnded);
        },
      );
      req.on('error', (e) => {
        reject(e);
        resolveEnded();
      });
      req.end();
    });
    established.catch(() => {});
    return {
      established,
      ended,
      close: () => {
        (req as http.ClientRequest | null)?.destroy();
        resolveEnded();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
