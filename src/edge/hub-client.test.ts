import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { HeartbeatGate, TlsContextKeeper, TlsSessionKeeper, awaitAnswerDeadline, backoffDelay } from './hub-client.js';
import { ensureCertificateAuthority, issueClientCertificate } from '../pki/index.js';

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

test('one TLS context per set of credentials: reused by every dial, replaced when the certificate rotates', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-tls-context-'));
  try {
    const ca = await ensureCertificateAuthority(dir);
    const first = await issueClientCertificate(ca, 'system:node:n1', ['system:nodes']);
    const rotated = await issueClientCertificate(ca, 'system:node:n1', ['system:nodes']);
    const a = { caCertPem: ca.certPem, certPem: first.certPem, keyPem: first.keyPem };
    const k = new TlsContextKeeper();
    const ctx = k.forCredentials(a);
    assert.equal(k.forCredentials({ ...a }), ctx, 'same PEMs (a new object): the same context, nothing parsed again');
    const b = { caCertPem: ca.certPem, certPem: rotated.certPem, keyPem: rotated.keyPem };
    const ctxB = k.forCredentials(b);
    assert.notEqual(ctxB, ctx, 'a rotated certificate gets a context of its own');
    assert.equal(k.forCredentials(b), ctxB);
    assert.throws(() => k.forCredentials({ ...a, keyPem: 'not a key' }), 'a bad key fails the dial, as tls.connect would');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

/** The deadline decides after one I/O poll (setImmediate, left real here). */
const immediate = () => new Promise((r) => setImmediate(r));

test('a read through the hub waits while frames keep arriving, and fails after a quiet spell or the overall cap', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  let heard = 0;
  const expired: number[] = [];
  // The hub is slow but alive: a frame every 20 s, answer not yet there after 90 s.
  awaitAnswerDeadline(() => heard, 30_000, 300_000, (ms) => expired.push(ms));
  for (let i = 0; i < 4; i++) {
    heard++;
    t.mock.timers.tick(20_000);
  }
  await immediate();
  assert.deepEqual(expired, [], 'still waiting at 80 s: the link moves');
  // Then silence: fails one quiet period after the last check that saw a frame.
  t.mock.timers.tick(30_000);
  t.mock.timers.tick(30_000);
  await immediate();
  assert.equal(expired.length, 1);
  assert.ok(expired[0]! > 80_000 && expired[0]! <= 150_000, `failed after ${expired[0]} ms (last frame at 60 s)`);
  // A link that keeps moving but never answers: the overall cap.
  const capped: number[] = [];
  awaitAnswerDeadline(() => heard, 30_000, 100_000, (ms) => capped.push(ms));
  for (let i = 0; i < 12; i++) {
    heard++;
    t.mock.timers.tick(10_000);
    await immediate();
  }
  assert.deepEqual(capped, [100_000]);
  // Cancelled (answered): never expires.
  const never: number[] = [];
  const cancel = awaitAnswerDeadline(() => heard, 30_000, 100_000, (ms) => never.push(ms));
  cancel();
  t.mock.timers.tick(200_000);
  await immediate();
  assert.deepEqual(never, []);
});
