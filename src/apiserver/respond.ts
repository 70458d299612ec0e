/** Writing responses: JSON (or YAML when asked), Status errors, raw pre-serialized JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import type { StatusError } from '../apimachinery/status.js';

function wantsYaml(req: IncomingMessage): boolean {
  const a = req.headers.accept ?? '';
  return a.startsWith('application/yaml') && !a.includes('as=');
}

export function sendJson(req: IncomingMessage, res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  if (res.headersSent) { res.end(); return; }
  if (wantsYaml(req)) {
    const text = YAML.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/yaml', 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  sendRaw(req, res, code, JSON.stringify(body), contentType);
}

/** Send already-serialized JSON (lists stitched from cached object texts). */
export function sendRaw(req: IncomingMessage, res: ServerResponse, code: number, json: string, contentType = 'application/json'): void {
  if (res.headersSent) { res.end(); return; }
  if (wantsYaml(req)) { sendJson(req, res, code, JSON.parse(json)); return; }
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(json) });
  res.end(req.method === 'HEAD' ? undefined : json);
}

export function sendStatus(req: IncomingMessage, res: ServerResponse, err: StatusError): void {
  sendJson(req, res, err.code, err.status);
}
