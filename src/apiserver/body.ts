/** Request bodies: size limit (413), content types (415), JSON and YAML decoding (400 on malformed input). */
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { badRequest, requestEntityTooLarge, unsupportedMediaType } from '../apimachinery/status.js';
import { decodeProtobufObject, isProtobuf, type ProtobufDecodeOptions } from './protobuf.js';
import { jsonTextTooDeep, MAX_YAML_DEPTH, valueTooDeep, yamlTextTooDeep } from '../common/json-depth.js';

/** Upstream's default limit for a request body (3 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export const OBJECT_MEDIA_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
export const PATCH_MEDIA_TYPES = [
  'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml',
];

export function readBody(req: IncomingMessage, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxBytes) {
    req.resume();
    return Promise.reject(requestEntityTooLarge(maxBytes));
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0)); // already read: nothing more will come
  // Plain 'data'/'end' listeners: an async iterator per request showed up in write-path profiles.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: unknown, body?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        finish(requestEntityTooLarge(maxBytes));
        req.resume(); // drain the rest; the listeners are gone
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    const onError = (err: Error) => finish(err);
    const onClose = () => finish(new Error('request body aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Decode an object body (create/update/delete options). JSON or YAML; anything else is 415. */
export function decodeObjectBody(buf: Buffer, contentType: string, protobuf: ProtobufDecodeOptions = {}): unknown {
  if (isProtobuf(contentType)) return decodeProtobufObject(buf, protobuf);
  const text = buf.toString('utf8');
  if (contentType === '' || contentType === 'application/json' || contentType === '*/*') return parseJson(text);
  if (contentType === 'application/yaml' || contentType === 'application/x-yaml' || contentType === 'text/yaml') return parseYaml(text);
  throw unsupportedMediaType(contentType, OBJECT_MEDIA_TYPES);
}

/** Upstream's decoder error for a document nested past its limit (see common/json-depth.ts for ours). */
export const TOO_DEEP = 'exceeded max depth';

export function parseJson(text: string): unknown {
  if (jsonTextTooDeep(text)) throw badRequest(`couldn't get version/kind; json parse error: ${TOO_DEEP}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

export function parseYaml(text: string): unknown {
  if (yamlTextTooDeep(text)) throw badRequest(`error converting YAML to JSON: yaml: ${TOO_DEEP} of ${MAX_YAML_DEPTH}`);
  try {
    const docs = YAML.parseAllDocuments(text);
    if (docs.length !== 1) throw new Error(docs.length === 0 ? 'empty document' : 'expected a single YAML document');
    const doc = docs[0]!;
    if (doc.errors.length) throw doc.errors[0]!;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (valueTooDeep(value)) throw new Error(TOO_DEEP);
    return value;
  } catch (err) {
    // The YAML parser recurses into flow collections ({…}, […]): past its stack, the document is too deep.
    throw badRequest(`error converting YAML to JSON: ${err instanceof RangeError ? TOO_DEEP : (err as Error).message}`);
  }
}
