import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlsSessionKeeper, backoffDelay } from './hub-client.js';

const creds = (cert: string) => ({ caCertPem: 'CA', certPem: cert, keyPem: `key-of-${cert}` });

test('a kept TLS session is offered only with the credentials that created it', () => {
  const k = new TlsSessionKeeper();
  const a = creds('A');
  assert.equal(k.forCredentials(a), undefined, 'nothing kept yet');
  const ticket = Buffer.from('ticket');
  k.remember(a, ticket);
  assert.equal(k.forCredentials(creds('A')), ticket, 'same credentials (new object, same PEMs): offered');
  // Rotation: the ticket stands for certificate A, so it is dropped for good, not just skipped.
  assert.equal(k.forCredentials(creds('B')), undefined);
  assert.equal(k.holding, false);
  assert.equal(k.forCredentials(a), undefined);
  // A changed CA pin drops it too.
  k.remember(a, ticket);
  assert.equal(k.forCredentials({ ...a, caCertPem: 'CA2' }), undefined);
  k.remember(a, ticket);
  k.drop();
  assert.equal(k.forCredentials(a), undefined);
});

test('backoff is full jitter under a doubling cap', () => {
  assert.equal(backoffDelay(0, { initialMs: 500, maxMs: 30_000 }, () => 0.999), 499);
  assert.equal(backoffDelay(3, { initialMs: 500, maxMs: 30_000 }, () => 0.5), 2000);
  assert.equal(backoffDelay(20, { initialMs: 500, maxMs: 30_000 }, () => 0.5), 15_000);
});
