/**
 * The hub client's connection lifecycle against a scripted hub (TLS + WebSocket in this process): failures
 * logged at warn once per reason, a duplicate-session refusal backs off for a minute or more, a revoked node
 * stops for good.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../pki/index.js';
import { CloseCode } from '../protocol/close-codes.js';
import { SUBPROTOCOL } from '../protocol/index.js';
import { DUPLICATE_SESSION_BACKOFF, HubClient, duplicateSessionDelay } from './hub-client.js';
import type { LocalStore } from './local-store.js';

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  suppressedRepeats?: number;
  retryInSeconds?: number;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const WARN = 40;
const ERROR = 50;
const noStore = { readCursor: async () => undefined } as unknown as LocalStore;

async function credentials() {
  const ca = await createCertificateAuthority('hub-ca');
  const serving = await issueServerCertificate(ca, 'hub', ['127.0.0.1']);
  const client = await issueClientCertificate(ca, 'system:node:n1', ['system:nodes']);
  return { ca, serving, creds: { caCertPem: ca.certPem, certPem: client.certPem, keyPem: client.keyPem } };
}

/** A hub that accepts the WebSocket and closes it at once with `code`; counts sessions. */
async function closingHub(code: number, reason: string) {
  const { serving, creds } = await credentials();
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem });
  const wss = new WebSocketServer({ server, handleProtocols: () => SUBPROTOCOL });
  let sessions = 0;
  wss.on('connection', (ws) => {
    sessions++;
    ws.close(code, reason);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    creds,
    sessions: () => sessions,
    close: async () => {
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A hub client with the usual fast back-off (5-10 ms) and a log to look at; stopped after the test. */
function startClient(t: { after(fn: () => Promise<void>): void }, hubUrl: string, creds: { caCertPem: string; certPem: string; keyPem: string }) {
  const { log, lines } = capturingLogger();
  const client = new HubClient({ hubUrl, nodeName: 'n1', credentials: () => creds, store: noStore, log, backoff: { initialMs: 5, maxMs: 10 } });
  t.after(() => client.stop());
  return { client, lines };
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('a hub that cannot be reached is logged at warn with the reason, once per reason per minute, not once per retry', async (t) => {
  const { creds } = await credentials();
  // A port nobody listens on.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { client, lines } = startClient(t, `https://127.0.0.1:${port}`, creds);
  client.start();
  const attempts = () => lines.filter((l) => l.msg === 'could not connect to hub').length;
  await until('10 failed dials', () => attempts() >= 10);
  const warns = lines.filter((l) => l.msg === 'could not connect to hub' && l.level === WARN);
  assert.equal(warns.length, 1, 'one warning for ten identical failures');
  assert.match(warns[0]!.reason ?? '', /ECONNREFUSED/);
});

test('a refused handshake (HTTP 401) is logged with the hub\'s words at once, without waiting for the handshake timeout', async (t) => {
  const { serving, creds } = await credentials();
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem });
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nno client certificate\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { client, lines } = startClient(t, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, creds);
  const started = Date.now();
  client.start();
  await until('a warning', () => lines.some((l) => l.level === WARN && l.msg === 'could not connect to hub'), 8_000);
  assert.ok(Date.now() - started < 8_000);
  assert.match(lines.find((l) => l.level === WARN)!.reason ?? '', /HTTP 401: no client certificate/);
});

test('a duplicate-session refusal (4009) is logged at error and retried only after a minute or more, growing', async (t) => {
  const hub = await closingHub(CloseCode.DuplicateSession, 'another agent holds the session of node n1');
  t.after(() => hub.close());
  const { client, lines } = startClient(t, hub.url, hub.creds);
  client.start();
  await until('the error line', () => lines.some((l) => l.level === ERROR));
  const err = lines.find((l) => l.level === ERROR)!;
  assert.match(err.msg, /another agent is connected as node n1: a copied data dir\?/);
  assert.ok(client.nextDialDelayMs >= 60_000, `next dial in ${client.nextDialDelayMs} ms`);
  await sleep(500);
  assert.equal(hub.sessions(), 1, 'no fast reconnect (the usual back-off here is 5-10 ms)');
  // The delay grows per refusal and never drops below the floor, whatever the jitter.
  for (let n = 0; n < 8; n++) {
    assert.ok(duplicateSessionDelay(n, DUPLICATE_SESSION_BACKOFF, () => 0) >= 60_000);
    assert.ok(duplicateSessionDelay(n + 1, DUPLICATE_SESSION_BACKOFF, () => 0) >= duplicateSessionDelay(n, DUPLICATE_SESSION_BACKOFF, () => 0));
  }
  assert.equal(duplicateSessionDelay(1, DUPLICATE_SESSION_BACKOFF, () => 0), 120_000);
});

test('a revoked node (4003) stops reconnecting and says it must join again', async (t) => {
  const hub = await closingHub(CloseCode.Revoked, 'node n1 was deleted');
  t.after(() => hub.close());
  const { client, lines } = startClient(t, hub.url, hub.creds);
  const revoked = new Promise<string>((r) => client.once('revoked', r));
  client.start();
  const message = await revoked;
  assert.match(message, /node n1 .*must join again with a new bootstrap token/);
  assert.match(message, /node n1 was deleted/);
  assert.ok(lines.some((l) => l.level === ERROR && /must join again/.test(l.msg)));
  await sleep(500);
  assert.equal(hub.sessions(), 1, 'never redialled');
});
