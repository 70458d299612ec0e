import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { inX509Worker, loaderArgs, x509WorkerRunning, X509_WORKER_IDLE_MS } from './x509-worker.js';
import { isSignedBy } from './inspect.js';

test('X.509 operations run in the worker process: results as in-process, errors keep their message, the worker ends when idle', async () => {
  const ca = await inX509Worker('createCertificateAuthority', 'worker-ca');
  assert.match(new X509Certificate(ca.certPem).subject, /CN=worker-ca/);
  // A burst shares one worker.
  const [a, b] = await Promise.all([
    inX509Worker('issueServerCertificate', ca, 'hub', ['127.0.0.1', 'hub.example']),
    inX509Worker('issueServerCertificate', ca, 'hub2', ['::1']),
  ]);
  assert.ok(isSignedBy(a.certPem, ca.certPem) && isSignedBy(b.certPem, ca.certPem));
  assert.match(new X509Certificate(a.certPem).subjectAltName ?? '', /DNS:hub\.example/);
  await assert.rejects(inX509Worker('parseCertificateRequest', 'not a CSR'), (err: Error) => err.message.length > 0 && !/exited/.test(err.message));
  assert.equal(x509WorkerRunning(), true);
  const deadline = Date.now() + X509_WORKER_IDLE_MS + 30_000;
  while (x509WorkerRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(x509WorkerRunning(), false, 'the idle worker ended');
  // And comes back for the next request.
  assert.ok(isSignedBy((await inX509Worker('issueServerCertificate', ca, 'again', [])).certPem, ca.certPem));
});

test('the worker gets only the parent\'s module loaders, not its other flags', () => {
  assert.deepEqual(loaderArgs(['--max-semi-space-size=1', '--import', 'tsx', '--inspect', '--import=file:///r.mjs', '--test']), ['--import', 'tsx', '--import=file:///r.mjs']);
});
