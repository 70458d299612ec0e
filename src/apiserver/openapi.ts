/** Serves /openapi/v2 and /openapi/v3 from the schema package's OpenApiPublisher, fed with the registry's resources. */
import { requestUrl } from '../common/request-url.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import { notAcceptable, pathNotFound } from '../apimachinery/status.js';
import { OpenApiPublisher, OPENAPI_V2_PROTOBUF_RESPONSE, type ApiResourceInfo, type PublishedDocument } from './schema/index.js';
import type { OpenApiSource } from './handler.js';
import type { Registry } from './registry.js';
import { sendStatus } from './respond.js';

function send(req: IncomingMessage, res: ServerResponse, doc: PublishedDocument, hashParam: string | null, contentType = 'application/json'): void {
  const headers: Record<string, string | number> = { 'Content-Type': contentType, ETag: `"${doc.hash}"`, 'Content-Length': doc.body.length };
  if (hashParam && hashParam === doc.hash) headers['Cache-Control'] = 'public, immutable';
  else headers['Cache-Control'] = 'no-cache, private';
  if (req.headers['if-none-match'] === `"${doc.hash}"`) { res.writeHead(304, headers); res.end(); return; }
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : doc.body);
}

function acceptsJson(req: IncomingMessage): boolean {
  const a = req.headers.accept;
  if (!a) return true;
  return a.split(',').some((p) => { const t = p.split(';')[0]!.trim(); return t === 'application/json' || t === '*/*' || t === 'application/*'; });
}

export async function createOpenApiSource(registry: Registry, log: Logger): Promise<OpenApiSource> {
  const resources = (): ApiResourceInfo[] => registry.all().map((d) => ({
    group: d.group, version: d.version, kind: d.kind, plural: d.resource, namespaced: d.namespaced,
    subresources: d.subresources, ...(d.openAPIV3Schema ? { schema: d.openAPIV3Schema } : {}),
  }) as ApiResourceInfo);
  const publisher = new OpenApiPublisher(resources);
  registry.onChange(() => publisher.invalidate());
  return {
    v2(req, res) {
      // client-go's discovery client (kubectl) asks for gnostic protobuf only.
      if ((req.headers.accept ?? '').includes('protobuf')) return send(req, res, publisher.v2Protobuf(), null, OPENAPI_V2_PROTOBUF_RESPONSE);
      if (!acceptsJson(req)) return sendStatus(req, res, notAcceptable(['application/json']));
      try { send(req, res, publisher.v2(), null); } catch (err) { log.error({ err }, 'openapi v2'); throw err; }
    },
    v3(req, res, path) {
      const hash = requestUrl(req.url)?.searchParams.get('hash') ?? null;
      if (!path) return send(req, res, publisher.v3Index(), null);
      const doc = publisher.v3GroupVersionByKey(path);
      if (!doc) return sendStatus(req, res, pathNotFound());
      send(req, res, doc, hash);
    },
  };
}
