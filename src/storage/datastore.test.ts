import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatastoreEndpointError, parseDatastoreEndpoint, redactEndpoint } from './datastore.js';

test('--datastore-endpoint: sqlite by default, etcd URL lists, postgres URLs', () => {
  assert.deepEqual(parseDatastoreEndpoint(undefined), { kind: 'sqlite' });
  assert.deepEqual(parseDatastoreEndpoint('sqlite'), { kind: 'sqlite' });
  assert.deepEqual(parseDatastoreEndpoint('http://127.0.0.1:2379'), { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'] });
  assert.deepEqual(parseDatastoreEndpoint('https://a:2379,https://b:2379', { cafile: 'ca.pem', certfile: 'c.pem', keyfile: 'k.pem' }), {
    kind: 'etcd',
    endpoints: ['https://a:2379', 'https://b:2379'],
    tls: { cafile: 'ca.pem', certfile: 'c.pem', keyfile: 'k.pem' },
  });
  assert.deepEqual(parseDatastoreEndpoint('https://root:s%40cret@a:2379'), {
    kind: 'etcd',
    endpoints: ['https://a:2379'],
    auth: { username: 'root', password: 's@cret' },
    tls: {},
  });
  const pg = 'postgres://kedge:pw@db.example:5432/kedge?sslmode=verify-full';
  assert.deepEqual(parseDatastoreEndpoint(pg), { kind: 'postgres', connectionString: pg });
  assert.equal(parseDatastoreEndpoint('postgresql://u@h/db').kind, 'postgres');
});

test('--datastore-endpoint: bad values name the flag and what is expected, without the password', () => {
  const bad: [string, RegExp][] = [
    ['mysql://u:p@h/db', /unknown scheme/],
    ['etcd', /unknown scheme/],
    ['http://127.0.0.1', /has no port/],
    ['http://a:2379,https://b:2379', /mixes http/],
    ['postgres://u:secret@h:5432', /no database name/],
    ['http://a:2379/v3', /no path/],
  ];
  for (const [value, why] of bad) {
    assert.throws(() => parseDatastoreEndpoint(value), (err: Error) => {
      assert.ok(err instanceof DatastoreEndpointError);
      assert.match(err.message, /^invalid --datastore-endpoint /);
      assert.match(err.message, why);
      assert.match(err.message, /want "sqlite", an etcd URL list/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  }
  assert.throws(() => parseDatastoreEndpoint('http://a:2379', { cafile: 'ca.pem' }), /use https/);
  assert.throws(() => parseDatastoreEndpoint('https://a:2379', { certfile: 'c.pem' }), /go together/);
  assert.throws(() => parseDatastoreEndpoint('sqlite', { cafile: 'ca.pem' }), /etcd --datastore-endpoint only/);
  assert.throws(() => parseDatastoreEndpoint('postgres://u@h/db', { cafile: 'ca.pem' }), /sslrootcert/);
  assert.equal(redactEndpoint('postgres://kedge:hunter2@h:5432/db'), 'postgres://kedge:***@h:5432/db');
});
