/**
 * Test-only: a tiny HTTP server answering the discovery and OpenAPI requests the real kubectl
 * makes, plus a hook for everything else, so schema behaviour can be checked with kubectl
 * before (and independently of) the full API server.
 */
import http from 'node:http';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OpenApiPublisher } from '../openapi-documents.js';
import { gvKey, type ApiResourceInfo } from '../resource-info.js';

export interface RecordedRequest { method: string; url: string; contentType?: string; accept?: string; userAgent?: string; body: string }
export type Handler = (req: RecordedRequest, res: http.ServerResponse) => boolean;

export class FakeDiscoveryServer {
  readonly requests: RecordedRequest[] = [];
  readonly publisher: OpenApiPublisher;
  private server?: http.Server;
  private cacheDir = mkdtempSync(path.join(tmpdir(), 'kedge-kubectl-cache-'));
  port = 0;
  handler: Handler = () => false;

  constructor(readonly resources: ApiResourceInfo[]) {
    this.publisher = new OpenApiPublisher(() => this.resources);
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle({ method: req.method ?? 'GET', url: req.url ?? '/', contentType: req.headers['content-type'], userAgent: req.headers['user-agent'], accept: req.headers.accept, body: Buffer.concat(chunks).toString() }, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    rmSync(this.cacheDir, { recursive: true, force: true });
  }

  /** Run the real kubectl against this server. */
  kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile('/usr/bin/kubectl', [`--server=http://127.0.0.1:${this.port}`, `--cache-dir=${this.cacheDir}`, '--kubeconfig=/dev/null', ...args],
        { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      if (stdin !== undefined) child.stdin?.end(stdin);
    });
  }

  private json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
  }

  private handle(req: RecordedRequest, res: http.ServerResponse): void {
    this.requests.push(req);
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    if (p === '/api') return this.json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (p === '/apis') {
      const groups = [...new Set(this.resources.filter((r) => r.group).map((r) => r.group))].map((name) => {
        const versions = [...new Set(this.resources.filter((r) => r.group === name).map((r) => r.version))].map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
        return { name, versions, preferredVersion: versions[0] };
      });
      return this.json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
    }
    const gv = /^\/(api\/[^/]+|apis\/[^/]+\/[^/]+)$/.exec(p);
    if (gv) {
      const mine = this.resources.filter((r) => gvKey(r.group, r.version) === gv[1]);
      if (mine.length) {
        const resources = mine.flatMap((r) => [
          { name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
          ...(r.subresources ?? []).map((s) => ({ name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: s === 'scale' ? 'Scale' : r.kind, verbs: ['get', 'patch', 'update'] })),
        ]);
        return this.json(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv[1].replace(/^apis?\//, ''), resources });
      }
    }
    if (p === '/openapi/v3') return this.json(res, 200, this.publisher.v3Index().body);
    if (p.startsWith('/openapi/v3/')) {
      const doc = this.publisher.v3GroupVersionByKey(p.slice('/openapi/v3/'.length));
      if (doc) return this.json(res, 200, doc.body);
    }
    if (p === '/openapi/v2') {
      if ((req.accept ?? '').includes('protobuf')) {
        res.writeHead(200, { 'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' });
        res.end(this.publisher.v2Protobuf().body);
        return;
      }
      return this.json(res, 200, this.publisher.v2().body);
    }
    if (this.handler(req, res)) return;
    this.json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
  }
}

export const BUILTIN_SAMPLE: ApiResourceInfo[] = [
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, subresources: ['status', 'scale'] },
];
