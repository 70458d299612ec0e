import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StringPool } from './string-pool.js';

test('internAll keeps a decoded value equal, pools its short strings once, and stays bounded', () => {
  const pool = new StringPool(8, 16);
  const text = JSON.stringify({ a: 'x', b: ['x', 'y', { c: 'x', d: 1, e: null, f: true }], long: 'z'.repeat(17), g: { h: [] } });
  const v = pool.internAll(JSON.parse(text));
  assert.equal(JSON.stringify(v), text, 'same JSON after interning');
  // 'x' and 'y' are pooled once each; the 17-character string is longer than maxLength and not pooled.
  assert.equal(pool.size, 2);
  for (let i = 0; i < 100; i++) pool.intern(`unique-${i}`);
  assert.ok(pool.size <= 8, `the pool is emptied when full (size ${pool.size})`);
  assert.equal(pool.intern('x'), 'x');
});
