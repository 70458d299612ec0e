import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { jsonTextTooDeep, yamlTextTooDeep } from './json-depth.js';

test('YAML nesting is bounded before the parser recurses: block maps, compact sequences, flow collections', () => {
  const block = (d: number) => Array.from({ length: d }, (_, i) => `${' '.repeat(i)}a:\n`).join('') + `${' '.repeat(d)}b: 1\n`;
  assert.equal(yamlTextTooDeep(block(150), 200), false);
  assert.equal(yamlTextTooDeep(block(1500), 200), true);
  assert.equal(yamlTextTooDeep(`${'- '.repeat(3000)}1\n`, 200), true);
  assert.equal(yamlTextTooDeep(`${'{"a":'.repeat(300)}1${'}'.repeat(300)}`, 200), true);
  assert.equal(jsonTextTooDeep('{"a":"[[[[[[[[["}', 3), false, 'brackets in strings do not count');
  // A real manifest passes, comments and blank lines included, and parses to what YAML says.
  const manifest = 'apiVersion: apps/v1\nkind: Deployment\n# comment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        args:\n        - - nested\n\n        image: busybox\n';
  assert.equal(yamlTextTooDeep(manifest, 20), false);
  assert.ok(YAML.parse(manifest));
});
