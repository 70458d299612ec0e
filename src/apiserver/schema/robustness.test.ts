import { test } from 'node:test';
import assert from 'node:assert/strict';
import { strategicMergePatch, StrategicMergePatchError } from './strategic-merge-patch.js';
import { unknownFieldsOfBuiltin } from './unknown-fields.js';
import { serverSideApply, updateManagedFields, ApplyConflictError, ApplyBadRequestError } from './apply/server-side-apply.js';

/**
 * Hostile input must produce the documented errors (→ 400/409), never a TypeError (→ 500):
 * random JSON built from the field names and directives these functions react to.
 */
test('random patches, apply configurations and objects only raise the documented errors', () => {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const keys = ['spec', 'metadata', 'containers', 'name', 'image', 'ports', 'containerPort', 'labels', 'finalizers', 'env', 'value', '$patch',
    '$retainKeys', '$setElementOrder/containers', '$deleteFromPrimitiveList/finalizers', 'volumes', 'status', 'managedFields', 'fieldsV1'];
  const gen = (d: number): unknown => {
    const r = rnd();
    if (d > 4 || r < 0.25) return [null, 1, 'x', true, 'delete', 'replace', 'merge', 80][Math.floor(rnd() * 8)];
    if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 3) }, () => gen(d + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 1 + rnd() * 4; i++) o[keys[Math.floor(rnd() * keys.length)]] = gen(d + 1);
    return o;
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const target = { group: '', version: 'v1', kind: 'Pod', hasStatusSubresource: true };
  for (let i = 0; i < 3000; i++) {
    const a = gen(0);
    const b = gen(0);
    try { strategicMergePatch(a, b, target); } catch (e) { assert.ok(e instanceof StrategicMergePatchError, `SMP threw ${String(e)} for ${JSON.stringify([a, b])}`); }
    unknownFieldsOfBuiltin(a, '', 'v1', 'Pod');
    if (isObj(a) && isObj(b)) {
      try { serverSideApply({ live: a, applied: b, manager: 'm', force: i % 2 === 0, target }); } catch (e) {
        assert.ok(e instanceof ApplyConflictError || e instanceof ApplyBadRequestError, `apply threw ${String(e)} for ${JSON.stringify([a, b])}`);
      }
      updateManagedFields({ old: a, updated: b, manager: 'm', target });
    }
  }
});
