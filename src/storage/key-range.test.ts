import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefixRange } from './key-range.js';

/** Reference: sort by UTF-8 bytes, as SQLite's BINARY collation does. */
const utf8Less = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0;

function inRange(key: string, prefix: string): boolean {
  const r = prefixRange(prefix);
  return !utf8Less(key, r.start) && (r.end === null || utf8Less(key, r.end));
}

test('the range holds exactly the keys that start with the prefix', () => {
  const prefixes = ['/a/', '/a', '', 'z', '/ns/\u00e9', '/x\uffff', '/\u{1f600}', '/\ud7ff'];
  const keys = ['/a/', '/a/b', '/a0', '/ab/c', '/b', '/a', '', 'z', 'z\u{10ffff}', '{', '/ns/\u00e9/p', '/ns/\u00ea',
    '/x\uffff/1', '/x\u{10000}', '/\u{1f600}/q', '/\u{1f601}', '/\ud7ff/k', '/\ue000'];
  for (const prefix of prefixes) {
    for (const key of keys) assert.equal(inRange(key, prefix), key.startsWith(prefix), `key ${JSON.stringify(key)} prefix ${JSON.stringify(prefix)}`);
  }
});

test('prefixes without a successor have an open end', () => {
  assert.deepEqual(prefixRange(''), { start: '', end: null });
  assert.deepEqual(prefixRange('\u{10ffff}\u{10ffff}'), { start: '\u{10ffff}\u{10ffff}', end: null });
  assert.deepEqual(prefixRange('a\u{10ffff}'), { start: 'a\u{10ffff}', end: 'b' });
});
