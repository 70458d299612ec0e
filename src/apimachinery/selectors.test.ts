import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelSelectorFromObject, parseLabelSelector } from './labels.js';
import { parseFieldSelector } from './fields.js';
import { StatusError } from './status.js';

test('label selector string forms match as upstream', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['', { a: '1' }, true],
    ['app=web', { app: 'web' }, true],
    ['app==web', { app: 'db' }, false],
    ['app!=web', {}, true],
    ['app!=web', { app: 'web' }, false],
    ['env in (prod, staging)', { env: 'staging' }, true],
    ['env in (prod,staging)', { env: 'dev' }, false],
    ['env notin (prod)', {}, true],
    ['tier', { tier: '' }, true],
    ['!canary', { canary: 'true' }, false],
    ['app=web,tier!=db,!canary', { app: 'web', tier: 'fe' }, true],
    ['replicas>2', { replicas: '3' }, true],
    ['replicas<2', { replicas: '3' }, false],
    ['example.com/role=edge', { 'example.com/role': 'edge' }, true],
  ];
  for (const [sel, labels, want] of cases) assert.equal(parseLabelSelector(sel).matches(labels), want, `${sel} vs ${JSON.stringify(labels)}`);
});

test('bad label selectors are 400 BadRequest', () => {
  for (const bad of ['app=', 'a b', 'x in a', 'x in (a', '=x', 'a=b=c', 'Bad Key=1']) {
    if (bad === 'app=') { assert.equal(parseLabelSelector(bad).matches({ app: '' }), true); continue; }
    assert.throws(() => parseLabelSelector(bad), (e: unknown) => e instanceof StatusError && e.code === 400 && e.reason === 'BadRequest', bad);
  }
});

test('object selectors: matchLabels + matchExpressions; nil matches nothing', () => {
  const s = labelSelectorFromObject({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }, { key: 'x', operator: 'DoesNotExist' }] });
  assert.equal(s.matches({ app: 'web', env: 'prod' }), true);
  assert.equal(s.matches({ app: 'web', env: 'dev' }), false);
  assert.equal(s.matches({ app: 'web', x: '1' }), false);
  assert.equal(labelSelectorFromObject(undefined).matches({}), false);
  assert.equal(labelSelectorFromObject({}).matches({ any: 'thing' }), true);
});

test('field selectors: =, ==, !=, escapes, unsupported fields', () => {
  const fields: Record<string, string> = { 'metadata.name': 'a,b', 'status.phase': 'Running', 'spec.nodeName': '' };
  const get = (f: string) => fields[f];
  assert.equal(parseFieldSelector('status.phase=Running').matches(get), true);
  assert.equal(parseFieldSelector('status.phase==Pending').matches(get), false);
  assert.equal(parseFieldSelector('status.phase!=Pending,spec.nodeName=').matches(get), true);
  assert.equal(parseFieldSelector('metadata.name=a\\,b').matches(get), true);
  assert.equal(parseFieldSelector('metadata.name=a').exactValue('metadata.name'), 'a');
  assert.throws(() => parseFieldSelector('spec.foo=1', (f) => f.startsWith('status.')), /field label not supported: spec.foo/);
  assert.throws(() => parseFieldSelector('nonsense'), (e: unknown) => e instanceof StatusError && e.code === 400);
});
