/**
 * Property-based fuzzing of the frame validator (issue 10, "Bad input, fuzzed"): whatever bytes arrive, the
 * decoder returns a frame of a known type that re-encodes to itself, or throws a ProtocolError — never another
 * exception, never a hang, never a polluted prototype. Valid frames, mutated one field at a time, are refused
 * whenever the mutation breaks the schema. Each property prints how many cases it ran
 * (`FUZZ_RUNS=N` runs more; a failure prints the seed and the shrunk counterexample).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEdgeToHub, decodeHubToEdge, encode, ProtocolError } from './validate.js';
import { MAX_EDGE_TO_HUB_BYTES, type EdgeToHub, type HubToEdge } from './messages.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

/** Counts what a property did, and prints it at the end (`fuzz: N cases, M refused, 0 crashes`). */
class Tally {
  cases = 0;
  refused = 0;
  constructor(readonly name: string) {}
  /** Decode `raw`; a ProtocolError is a refusal, any other exception fails the property. */
  decode<T>(decoder: (raw: Buffer | string) => T, raw: Buffer | string): T | ProtocolError {
    this.cases++;
    const started = performance.now();
    try {
      return decoder(raw);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.refused++;
      return err;
    } finally {
      // A decoder that takes long on a 2 MiB frame would stall every session of the hub.
      assert.ok(performance.now() - started < 2_000, `decoding took ${performance.now() - started} ms`);
    }
  }
  print(): void {
    console.log(`fuzz ${this.name}: ${this.cases} cases, ${this.refused} refused, 0 crashes`);
  }
}

const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

function assertNotPolluted(): void {
  for (const k of ['polluted', 'seq', 'type', 'isAdmin']) assert.equal(k in {}, false, `Object.prototype gained ${k}`);
}

/** An accepted frame is plain data: its own type, an ordinary prototype, and it re-encodes to an equal frame. */
function assertSound(frame: EdgeToHub | HubToEdge, types: readonly string[]): void {
  assert.ok(types.includes(frame.type), `accepted an unknown type ${String(frame.type)}`);
  assert.equal(Object.getPrototypeOf(frame), Object.prototype);
  assert.deepEqual(JSON.parse(encode(frame)), frame);
}

const EDGE_TYPES = ['hello', 'inventory', 'ack', 'status', 'get', 'heartbeat', 'error'];
const HUB_TYPES = ['welcome', 'upsert', 'patch', 'delete', 'synced', 'progress', 'status-ack', 'get-result', 'heartbeat', 'error'];

// ---- valid frames (the generators double as a check that the schema accepts what the edge really sends) ----
const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const seq = fc.nat({ max: 2 ** 40 });
const key = fc.tuple(fc.constantFrom('pods', 'secrets', 'configmaps', 'nodes', 'leases.coordination.k8s.io'), dnsLabel, dnsLabel)
  .map(([r, ns, n]) => (r === 'nodes' ? `/registry/${r}/${n}` : `/registry/${r}/${ns}/${n}`))
  .filter((k) => k.length >= 10);
const jsonObject = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

const validEdgeFrame: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record(
    { type: fc.constant('hello'), versions: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 16 }), node: dnsLabel, cursor: fc.record({ epoch: fc.string({ minLength: 1, maxLength: 64 }), seq, rev: seq }, { requiredKeys: ['epoch', 'seq'] }), agent: fc.string({ maxLength: 128 }) },
    { requiredKeys: ['type', 'versions', 'node'] },
  ),
  fc.record({ type: fc.constant('inventory'), done: fc.boolean(), items: fc.array(fc.record({ key, uid: fc.string({ maxLength: 128 }), rv: fc.string({ maxLength: 64 }) }), { maxLength: 5 }) }),
  fc.record({ type: fc.constant('ack'), seq }),
  fc.record({ type: fc.constant('status'), id: seq, kind: fc.constantFrom('node', 'lease', 'pod', 'event', 'pod-terminated'), body: jsonObject }),
  fc.record({ type: fc.constant('get'), id: seq, key }),
  fc.record({ type: fc.constant('heartbeat'), t: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  fc.record({ type: fc.constant('error'), code: fc.string({ maxLength: 64 }), message: fc.string({ maxLength: 200 }) }),
);

const validHubFrame: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constant('welcome'), version: fc.integer({ min: 1, max: 9 }), epoch: fc.string({ minLength: 1, maxLength: 64 }), resume: fc.boolean() }),
  fc.record({ type: fc.constant('upsert'), seq, key, object: fc.record({ metadata: fc.record({ name: dnsLabel, uid: fc.uuid(), resourceVersion: fc.nat().map(String) }), data: jsonObject }) }),
  fc.record({ type: fc.constant('patch'), seq, key, base: fc.nat().map(String), patch: jsonObject }),
  fc.record({ type: fc.constant('delete'), seq, key }),
  fc.record({ type: fc.constant('synced'), seq }),
  fc.record({ type: fc.constant('progress'), rev: seq }),
  fc.record({ type: fc.constant('status-ack'), id: seq, ok: fc.boolean(), reason: fc.string({ maxLength: 100 }), retry: fc.boolean() }, { requiredKeys: ['type', 'id', 'ok'] }),
  fc.record({ type: fc.constant('get-result'), id: seq, error: fc.record({ code: fc.integer({ min: 0, max: 999 }), reason: fc.string(), message: fc.string() }) }),
);

/** What a mutation did, and whether the schema must refuse the result. */
interface Mutation {
  describe: string;
  mustRefuse: boolean;
  apply(frame: Record<string, unknown>): unknown;
}

/** Required fields per type, whose removal must be refused. */
const REQUIRED: Record<string, string[]> = {
  hello: ['versions', 'node'], inventory: ['done', 'items'], ack: ['seq'], status: ['id', 'kind', 'body'], get: ['id', 'key'],
  heartbeat: ['t'], error: ['code', 'message'],
  welcome: ['version', 'epoch', 'resume'], upsert: ['seq', 'key', 'object'], patch: ['seq', 'key', 'base', 'patch'], delete: ['seq', 'key'],
  synced: ['seq'], progress: ['rev'], 'status-ack': ['id', 'ok'], 'get-result': ['id'],
};

/** A value of the wrong JSON type for a field (every field of every frame has exactly one JSON type). */
const wrongTypeFor = (v: unknown): fc.Arbitrary<unknown> =>
  fc.jsonValue({ maxDepth: 2 }).filter((w) => w !== null && typeof w !== typeof v && !(Array.isArray(w) && Array.isArray(v)) && !(typeof w === 'object' && typeof v === 'object' && !Array.isArray(w) && !Array.isArray(v)));

function mutationsOf(frame: Record<string, unknown>): fc.Arbitrary<Mutation> {
  const fields = Object.keys(frame).filter((k) => k !== 'type');
  const required = REQUIRED[frame.type as string] ?? [];
  const options: Array<fc.Arbitrary<Mutation>> = [
    // An unknown field at the top level, prototype-pollution names included.
    fc.tuple(fc.oneof(fc.constantFrom(...POLLUTION_KEYS), fc.string({ minLength: 1, maxLength: 10 })), fc.jsonValue({ maxDepth: 2 }))
      .filter(([k]) => !(k in frame) && !['type', ...Object.keys(REQUIRED).flatMap((t) => REQUIRED[t]!), 'cursor', 'agent', 'data', 'reason', 'retry', 'object', 'error'].includes(k))
      .map(([k, v]) => ({ describe: `add ${k}`, mustRefuse: true, apply: (f) => JSON.parse(`{${JSON.stringify(k)}:${JSON.stringify(v)},${JSON.stringify(f).slice(1)}`) as unknown })),
    // A string type that is not a message type of this direction (or not a string at all).
    fc.oneof(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 1 })).filter((t) => typeof t !== 'string' || ![...EDGE_TYPES, ...HUB_TYPES].includes(t))
      .map((t) => ({ describe: `type ${JSON.stringify(t)}`, mustRefuse: true, apply: (f) => ({ ...f, type: t }) })),
    // Not an object at all: the frame wrapped in an array, or nested one level down.
    fc.constantFrom<Mutation>(
      { describe: 'wrapped in an array', mustRefuse: true, apply: (f) => [f] },
      { describe: 'nested under a key', mustRefuse: true, apply: (f) => ({ frame: f }) },
    ),
  ];
  if (required.length > 0) {
    options.push(fc.constantFrom(...required).map((k) => ({ describe: `drop ${k}`, mustRefuse: true, apply: (f) => { const g = { ...f }; delete g[k]; return g; } })));
  }
  if (fields.length > 0) {
    options.push(fc.constantFrom(...fields).chain((k) => wrongTypeFor(frame[k]).map((w) => ({ describe: `${k} := ${JSON.stringify(w).slice(0, 40)}`, mustRefuse: true, apply: (f: Record<string, unknown>) => ({ ...f, [k]: w }) }))));
  }
  // A huge string where a string was (bounded fields must refuse it; unbounded ones may take it).
  const strings = fields.filter((k) => typeof frame[k] === 'string');
  if (strings.length > 0) {
    options.push(fc.constantFrom(...strings).map((k) => ({ describe: `${k} := 300 KiB string`, mustRefuse: k !== 'data', apply: (f: Record<string, unknown>) => ({ ...f, [k]: 'x'.repeat(300 * 1024) }) })));
  }
  // Integers out of range or not integers (every number field but heartbeat's `t` is a non-negative integer).
  const ints = fields.filter((k) => typeof frame[k] === 'number' && k !== 't');
  if (ints.length > 0) {
    options.push(fc.tuple(fc.constantFrom(...ints), fc.constantFrom(-1, 0.5, 2 ** 53 + 2, 1e308)).map(([k, n]) => ({ describe: `${k} := ${n}`, mustRefuse: true, apply: (f: Record<string, unknown>) => ({ ...f, [k]: n }) })));
  }
  return fc.oneof(...options);
}

test('edge→hub: arbitrary bytes and text are decoded or refused with a ProtocolError, never thrown past it', () => {
  const t = new Tally('edge→hub raw bytes');
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b))), (raw) => {
      const r = t.decode(decodeEdgeToHub, raw);
      if (!(r instanceof ProtocolError)) assertSound(r, EDGE_TYPES);
      assertNotPolluted();
    }),
    { numRuns: RUNS },
  );
  t.print();
});

test('both directions: arbitrary JSON (frames with a real type and random fields among it) is decoded soundly or refused', () => {
  const t = new Tally('arbitrary JSON');
  const withType = fc.tuple(fc.constantFrom(...EDGE_TYPES, ...HUB_TYPES), fc.dictionary(fc.oneof(fc.constantFrom(...POLLUTION_KEYS, 'seq', 'id', 'key', 'node', 'versions', 'body', 'kind', 'items', 'done'), fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }))
    .map(([type, rest]) => ({ ...rest, type }));
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), withType), (value) => {
      const raw = JSON.stringify(value) ?? 'null';
      for (const [decoder, types] of [[decodeEdgeToHub, EDGE_TYPES], [decodeHubToEdge, HUB_TYPES]] as const) {
        const r = t.decode<EdgeToHub | HubToEdge>(decoder, raw);
        if (!(r instanceof ProtocolError)) assertSound(r, types);
      }
      assertNotPolluted();
    }),
    { numRuns: RUNS },
  );
  t.print();
});

test('valid frames are accepted; each mutated one field at a time is refused when the mutation breaks the schema', () => {
  const t = new Tally('mutated frames');
  for (const [decoder, frames, types] of [[decodeEdgeToHub, validEdgeFrame, EDGE_TYPES], [decodeHubToEdge, validHubFrame, HUB_TYPES]] as const) {
    fc.assert(
      fc.property(frames.chain((f) => mutationsOf(f).map((m) => [f, m] as const)), ([frame, mutation]) => {
        const ok = t.decode<EdgeToHub | HubToEdge>(decoder, JSON.stringify(frame));
        assert.ok(!(ok instanceof ProtocolError), `valid frame refused: ${ok instanceof ProtocolError ? ok.message : ''}`);
        const mutated = mutation.apply(structuredClone(frame));
        const r = t.decode<EdgeToHub | HubToEdge>(decoder, JSON.stringify(mutated));
        if (r instanceof ProtocolError) assert.ok(['bad-message', 'unknown-type'].includes(r.code), r.code);
        else {
          assert.ok(!mutation.mustRefuse, `${mutation.describe}: accepted ${JSON.stringify(mutated).slice(0, 200)}`);
          assertSound(r, types);
        }
        assertNotPolluted();
      }),
      { numRuns: RUNS },
    );
  }
  t.print();
});

/** A large frame with a short name, so a failing case prints as its name rather than megabytes. */
const labelled = (name: string, raw: string) => ({ raw, [fc.toStringMethod]: () => `${name} (${raw.length} chars)` });

test('hostile shapes: deep nesting, huge frames, many keys and prototype keys are refused or bounded, in time', () => {
  const t = new Tally('hostile shapes');
  const deep = (depth: number, leaf: string) => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
  fc.assert(
    fc.property(
      fc.oneof(
        // Nesting far past what JSON.stringify/structuredClone survive (≈ 2-4k on the main thread), inside fields that take any object.
        fc.integer({ min: 1, max: 200_000 }).map((d) => labelled(`status body nested ${d} deep`, `{"type":"status","id":1,"kind":"node","body":${deep(d, '1')}}`)),
        fc.integer({ min: 1, max: 200_000 }).map((d) => labelled(`ack seq nested ${d} deep`, `{"type":"ack","seq":${deep(d, '1')}}`)),
        fc.integer({ min: 1, max: 400_000 }).map((d) => labelled(`array nested ${d} deep`, '['.repeat(d) + ']'.repeat(d))),
        // Frames at and just past the size bound.
        fc.integer({ min: -2, max: 2 }).map((d) => labelled(`error frame ${d} bytes from the bound`, `{"type":"error","code":"x","message":"${'m'.repeat(MAX_EDGE_TO_HUB_BYTES - 39 + d)}"}`)),
        // Many keys and many items.
        fc.integer({ min: 4_000, max: 6_000 }).map((n) => labelled(`inventory of ${n} items`, JSON.stringify({ type: 'inventory', done: true, items: Array.from({ length: n }, (_, i) => ({ key: `/registry/pods/ns/p${i}`, uid: 'u', rv: '1' })) }))),
        fc.integer({ min: 1, max: 50_000 }).map((n) => labelled(`ack with ${n} extra keys`, `{"type":"ack","seq":1,${Array.from({ length: n }, (_, i) => `"k${i}":0`).join(',')}}`)),
        fc.constantFrom(...POLLUTION_KEYS).map((k) => labelled(`ack with ${k}`, `{"type":"ack","seq":1,${JSON.stringify(k)}:{"polluted":true,"seq":2}}`)),
        fc.constantFrom(...POLLUTION_KEYS).map((k) => labelled(`status body with ${k}`, `{"type":"status","id":1,"kind":"node","body":{${JSON.stringify(k)}:{"polluted":true}}}`)),
      ),
      ({ raw }) => {
        const r = t.decode(decodeEdgeToHub, raw);
        if (!(r instanceof ProtocolError)) assertSound(r, EDGE_TYPES);
        assertNotPolluted();
      },
    ),
    {
      numRuns: Math.max(40, Math.floor(RUNS / 10)),
      // Regression: a status body nested 1,236 deep was accepted and could not be re-encoded (RangeError).
      examples: [[labelled('status body nested 1236 deep', `{"type":"status","id":1,"kind":"node","body":${deep(1236, '1')}}`)]],
    },
  );
  t.print();
});
