import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeartbeatGate, TlsSessionKeeper, backoffDelay } from './hub-client.js';

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

test('a heartbeat goes out only after a whole period without hearing from the hub', () => {
  let heard = 7; // bumped on every frame or ping from the hub
  const gate = new HeartbeatGate(heard);
  assert.equal(gate.due(heard), true, 'nothing heard since the link opened: beat');
  heard++; // a lease ack arrived
  assert.equal(gate.due(heard), false, 'heard during the period: the link is alive, no beat');
  assert.equal(gate.due(heard), true, 'quiet for the next whole period: beat again');
  assert.equal(gate.due(heard), true, 'still quiet: every period beats (the dead-link timer counts the silence)');
  heard += 3;
  assert.equal(gate.due(heard), false);
});
