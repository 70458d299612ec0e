/**
 * Shared by the process-level fuzz suites: run counts, a tally printed per property, HTTPS requests with a
 * deadline (a hang is a failure, not a stuck test), the Status check every refusal must pass, and a
 * structural mutator that turns a valid JSON document into a near-valid one.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';

/** Cases per property: `FUZZ_RUNS=N` for a longer run; the defaults keep each suite well under a minute. */
export function fuzzRuns(byDefault: number): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : byDefault;
}

/** fast-check parameters: a fixed seed when FUZZ_SEED is set (a failure prints the seed it ran with). */
export function fuzzParams(numRuns: number): fc.Parameters<unknown> {
  const seed = Number(process.env.FUZZ_SEED);
  return { numRuns, ...(Number.isInteger(seed) ? { seed } : {}), includeErrorInReport: true };
}

/** What one property did; `print()` writes `fuzz NAME: N cases, M refused, 0 crashes` (a crash fails the property before). */
export class Tally {
  cases = 0;
  refused = 0;
  accepted = 0;
  readonly statuses = new Map<number, number>();
  constructor(readonly name: string) {}
  record(status: number): void {
    this.cases++;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (status >= 400 || status === 0) this.refused++;
    else this.accepted++;
  }
  print(): void {
    const codes = [...this.statuses].sort(([a], [b]) => a - b).map(([c, n]) => `${c}×${n}`).join(' ');
    console.log(`fuzz ${this.name}: ${this.cases} cases, ${this.refused} refused, 0 crashes (${codes})`);
  }
}

export interface Reply {
  /** 0 when the server closed the connection before answering (see `closedEarlyOver`). */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface TlsClient {
  ca: string;
  cert?: string;
  key?: string;
}

interface Kubeconfig {
  clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
  users: Array<{ user: { 'client-certificate-data': string; 'client-key-data': string } }>;
}

/** The API port and client credentials of an admin kubeconfig written by `kedge server`. */
export function adminTls(kubeconfigPath: string): { port: number; tls: TlsClient } {
  const kc = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as Kubeconfig;
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  const user = kc.users[0]!.user;
  return {
    port: Number(new URL(kc.clusters[0]!.cluster.server).port),
    tls: { ca: b64(kc.clusters[0]!.cluster['certificate-authority-data']), cert: b64(user['client-certificate-data']), key: b64(user['client-key-data']) },
  };
}

/** Request deadline: far above a loaded machine's slowest legitimate answer, far below a test timeout. */
export const DEADLINE_MS = 15_000;

/**
 * One HTTPS request; rejects when no complete answer arrives within `deadlineMs` (a hang), so the property
 * fails with the request that hung. `firstBytesOnly` resolves at the response head (a watch's head comes at once; its events may never come).
 */
export function request(
  port: number,
  tls: TlsClient,
  opts: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    deadlineMs?: number;
    firstBytesOnly?: boolean;
    /**
     * A body over this many bytes may be refused before it is read: the server answers 413 and closes
     * (`Connection: close`) while we are still writing, and Node's client then loses the answer to EPIPE. Such a
     * case resolves with status 0 instead of failing; under the limit a connection closed unanswered is a failure.
     */
    closedEarlyOver?: number;
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const deadline = opts.deadlineMs ?? DEADLINE_MS;
    // Node's client frames a GET/DELETE body only when told its length.
    const headers = { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) };
    let answered = false;
    const req = https.request(
      { host: '127.0.0.1', port, method: opts.method, path: opts.path, headers, ca: tls.ca, cert: tls.cert, key: tls.key, agent: false, servername: 'localhost' },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        const done = () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        };
        if (opts.firstBytesOnly && res.statusCode === 200) {
          done();
          req.destroy();
          return;
        }
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', done);
        // The server may answer (e.g. 413) and close before it read the whole body: what arrived is the answer.
        res.on('error', done);
        res.on('aborted', done);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${opts.method} ${opts.path.slice(0, 200)} within ${deadline} ms (hang)`));
    }, deadline);
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return;
      // A refusal sent while we were still writing the body: give the answer a moment to be parsed.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') {
        setTimeout(() => {
          if (answered) return;
          clearTimeout(timer);
          if (opts.body !== undefined && Buffer.byteLength(opts.body) > (opts.closedEarlyOver ?? Infinity)) resolve({ status: 0, headers: {}, text: '' });
          else reject(new Error(`${opts.method} ${opts.path.slice(0, 200)}: connection closed without an answer (${err.code})`));
        }, 1_000);
        return;
      }
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

export interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  code: number;
  message: string;
}

/**
 * The invariant of every answer to bad input: not a server error, and a refusal is a Kubernetes `Status`
 * (kind Status, status Failure, a reason, `code` equal to the HTTP status, a message). Returns the Status.
 */
export function assertClearRefusal(r: Reply, what: string, opts: { allowTooLargeResourceVersion?: boolean } = {}): StatusBody | undefined {
  // Upstream answers a read at a resourceVersion the store has not reached with 504 Timeout ("Too large resource
  // version") once its wait ran out: a Status, and the one 5xx a list may give for client input.
  const tooLargeRv = opts.allowTooLargeResourceVersion === true && r.status === 504 && /"reason":"Timeout"/.test(r.text) && /Too large resource version/.test(r.text);
  assert.ok(r.status > 0 && (r.status < 500 || tooLargeRv), `${what}: HTTP ${r.status} (server error): ${r.text.slice(0, 500)}`);
  if (r.status < 400) return undefined;
  let body: StatusBody;
  try {
    body = JSON.parse(r.text) as StatusBody;
  } catch {
    assert.fail(`${what}: HTTP ${r.status} with a body that is not JSON: ${r.text.slice(0, 300)}`);
  }
  assert.equal(body.kind, 'Status', `${what}: HTTP ${r.status} body is not a Status: ${r.text.slice(0, 300)}`);
  assert.equal(body.status, 'Failure', what);
  assert.equal(body.code, r.status, `${what}: Status.code ${body.code} differs from HTTP ${r.status}`);
  assert.ok(typeof body.reason === 'string' && body.reason.length > 0, `${what}: Status without a reason: ${r.text.slice(0, 300)}`);
  assert.ok(typeof body.message === 'string' && body.message.length > 0, `${what}: Status without a message`);
  return body;
}

/** A case that prints as a short description (a failing 5 MiB body would otherwise flood the report). */
export interface Labelled<T> {
  value: T;
  label: string;
}
export function labelled<T>(label: string, value: T): Labelled<T> & { [fc.toStringMethod]: () => string } {
  return { value, label, [fc.toStringMethod]: () => label };
}

export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

/** Every path in a JSON document (the root is []). */
function pathsOf(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((e, i) => pathsOf(e, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, e] of Object.entries(v)) pathsOf(e, [...at, k], out);
  return out;
}

function setAt(doc: Json, path: Path, f: (old: Json | undefined, parent: Json[] | Record<string, Json> | undefined, key: string | number | undefined) => Json | undefined): Json {
  if (path.length === 0) return f(doc, undefined, undefined) ?? null;
  const copy = structuredClone(doc);
  let parent = copy as Record<string, Json> | Json[];
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k] as Record<string, Json>;
  const key = path[path.length - 1]!;
  const next = f((parent as Record<string | number, Json>)[key], parent, key);
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else (parent as Record<string | number, Json>)[key] = next;
  return copy;
}

/** Stands in for a hostile value while the document is serialized; replaced by the value's raw JSON text. */
const PLACEHOLDER = '\u0000kedge-fuzz-hostile\u0000';
const PLACEHOLDER_JSON = JSON.stringify(PLACEHOLDER);

/**
 * Values that break typed fields and bounded sizes, as raw JSON text (a document nested 20,000 deep cannot go
 * through JSON.stringify on this side either), each with a short name for the report.
 */
export const hostileValue: fc.Arbitrary<{ name: string; text: string }> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => ({ name: `json ${JSON.stringify(v)?.slice(0, 30)}`, text: JSON.stringify(v) ?? 'null' })) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<{ name: string; text: string }>(
      ...[null, true, -1, 0.5, 2 ** 53 + 2, 1e308, -1e308, '', {}, [], '\u0000\ud83d\ude00\u202e', 'banana', 'three', '-1', '1e999', 'a/b', '../..']
        .map((v) => ({ name: JSON.stringify(v), text: JSON.stringify(v) })),
      { name: 'number 1e999 (overflows)', text: '1e999' },
      { name: 'number -0', text: '-0' },
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 * 1024 * 1024 }).map((n) => ({ name: `string of ${n} chars`, text: `"${'x'.repeat(n)}"` })) },
  { weight: 2, arbitrary: fc.integer({ min: 50, max: 20_000 }).map((d) => ({ name: `object nested ${d} deep`, text: '{"a":'.repeat(d) + '1' + '}'.repeat(d) })) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 20_000 }).map((d) => ({ name: `array nested ${d} deep`, text: '['.repeat(d) + ']'.repeat(d) })) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 100_000 }).map((n) => ({ name: `array of ${n} items`, text: JSON.stringify(Array.from({ length: n }, (_, i) => i)) })) },
);

/** The document with `hostile` at `path`, as JSON text. */
function withValueAt(doc: Json, path: Path, hostile: string): string {
  return JSON.stringify(setAt(doc, path, () => PLACEHOLDER)).replace(PLACEHOLDER_JSON, () => hostile);
}

/**
 * One structural mutation of a valid document, as JSON text: a field dropped, retyped, made huge or deep, an
 * unknown or a prototype-pollution key added, the document replaced. The case prints as what was done.
 */
export function mutationOf(doc: Json): fc.Arbitrary<Labelled<string>> {
  const paths = pathsOf(doc);
  const at = fc.constantFrom(...paths);
  const objectPaths = paths.filter((p) => {
    let v: Json = doc;
    for (const k of p) v = (v as Record<string | number, Json>)[k]!;
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  });
  const show = (p: Path) => '/' + p.join('/');
  return fc.oneof(
    at.filter((p) => p.length > 0).map((p) => labelled(`drop ${show(p)}`, JSON.stringify(setAt(doc, p, () => undefined)))),
    fc.tuple(at, hostileValue).map(([p, h]) => labelled(`${show(p)} := ${h.name}`, withValueAt(doc, p, h.text))),
    fc.tuple(fc.constantFrom(...objectPaths), fc.oneof(fc.constantFrom(...POLLUTION_KEYS), fc.string({ minLength: 1, maxLength: 12 })), fc.jsonValue({ maxDepth: 2 }))
      // Spliced as text: JSON.parse on the other side makes "__proto__" an own key, as it arrives over the wire.
      .map(([p, k, v]) => labelled(`add ${show([...p, k])}`, withValueAt(doc, p, `{${JSON.stringify(k)}:${JSON.stringify(v)},${JSON.stringify(objectAt(doc, p)).slice(1)}`.replace(/,\}$/, '}')))),
    fc.jsonValue().map((v) => labelled(`whole document := ${JSON.stringify(v)?.slice(0, 40)}`, JSON.stringify(v) ?? 'null')),
  );
}

function objectAt(doc: Json, p: Path): Json {
  let v: Json = doc;
  for (const k of p) v = (v as Record<string | number, Json>)[k]!;
  return v;
}
