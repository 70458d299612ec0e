import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IKeyValue } from 'etcd3';
import { firstWithoutPrevKv } from './etcd.js';

// etcd revision N is Kedge revision N - 1 (etcd starts at 1 with an empty store).
const kv = (version: string, etcdRev: string): IKeyValue =>
  ({ key: Buffer.from('/k'), value: Buffer.from('v'), create_revision: '2', mod_revision: etcdRev, version, lease: '0' });

test('an update or delete after the cursor that etcd sent without prev_kv (compacted under a replay) is found', () => {
  const prev = kv('1', '2');
  const created = { type: 'Put', kv: kv('1', '2') };
  const updated = { type: 'Put', kv: kv('2', '3'), prev_kv: prev };
  const deleted = { type: 'Delete', kv: kv('0', '4'), prev_kv: prev };
  assert.equal(firstWithoutPrevKv([created, updated, deleted], 0), -1, 'a create has no previous value; the others carry theirs');
  assert.equal(firstWithoutPrevKv([created, { type: 'Put', kv: kv('2', '3') }, deleted], 0), 1, 'an update without it');
  assert.equal(firstWithoutPrevKv([created, updated, { type: 'Delete', kv: kv('0', '4') }], 0), 2, 'a delete without it');
  // A re-started etcd watch replays the event at the cursor (Kedge revision 3 here), which the queue drops.
  const atCursor = { type: 'Delete', kv: kv('0', '4') };
  assert.equal(firstWithoutPrevKv([atCursor], 3), -1, 'the event at the cursor is not a hole');
  assert.equal(firstWithoutPrevKv([atCursor], 2), 0, 'the same event after the cursor is');
});
