/**
 * `kedge server --event-ttl` end to end (src/apiserver/event-ttl.ts) on the real binary with the stock kubectl:
 * events of both APIs disappear one TTL after their last write and a `kubectl get events -w` sees them DELETED;
 * events written before a restart still expire after it; other objects stay; a bad value is refused by name.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Harness } from '../harness/processes.js';
import { eventually } from './kubectl-env.js';

const h = new Harness('apiserver-event-ttl');
after(() => h.cleanup());

interface Run { code: number; stdout: string; stderr: string }

function kubectl(dataDir: string, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/kubectl', [`--kubeconfig=${path.join(dataDir, 'admin.kubeconfig')}`, `--cache-dir=${path.join(dataDir, 'kubectl-cache')}`, ...args],
      { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(dataDir: string, args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(dataDir, args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function startServer(dataDir: string, port: number, ttl: string) {
  return h.startKedge(`kedge-server-${ttl}`, [
    'server', '--data-dir', dataDir, '--secure-port', String(port), '--hub-port', '-1', '--disable-controllers', '--event-ttl', ttl,
  ], { ready: { logLine: /kedge server ready/, timeoutMs: 60_000 } });
}

const coreEvent = (name: string) => `apiVersion: v1
kind: Event
metadata: {name: ${name}, namespace: default}
involvedObject: {kind: Pod, name: p1, namespace: default}
reason: Started
message: started container
type: Normal
`;

const exists = async (dataDir: string, what: string[]) => (await kubectl(dataDir, ['get', ...what, '-o', 'name'])).code === 0;

test('--event-ttl 2s: core and events.k8s.io events are deleted after the TTL, a watch sees DELETED; other objects stay', async () => {
  const dataDir = h.tempDir('data');
  await startServer(dataDir, await h.freePort(), '2s');
  const watch = await h.start({
    name: 'kubectl-watch-events', command: '/usr/bin/kubectl',
    args: [`--kubeconfig=${path.join(dataDir, 'admin.kubeconfig')}`, 'get', 'events', '-n', 'default', '-w', '--output-watch-events', '-o', 'json'],
  });
  await ok(dataDir, ['create', '-f', '-'], coreEvent('core-ev'));
  await ok(dataDir, ['create', '-f', '-'], `apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: v1-ev, namespace: default}
eventTime: "2026-11-23T04:00:00.000000Z"
regarding: {kind: Pod, name: p1, namespace: default}
reason: Pulled
note: pulled image
action: Pull
reportingController: test
reportingInstance: test-1
type: Normal
`);
  await ok(dataDir, ['create', 'configmap', 'keep-me', '-n', 'default', '--from-literal=a=b']);
  await eventually('both events expire', async () => !(await exists(dataDir, ['events', 'core-ev', '-n', 'default']))
    && !(await exists(dataDir, ['events.v1.events.k8s.io', 'v1-ev', '-n', 'default'])), 30_000);
  // kubectl prints one compact JSON watch event per line.
  await watch.waitForLog(/"type":"DELETED","object":\{[^\n]*"name":"core-ev"/, 15_000);
  await watch.waitForLog(/"type":"DELETED","object":\{[^\n]*"name":"v1-ev"/, 15_000);
  assert.ok(await exists(dataDir, ['configmap', 'keep-me', '-n', 'default']), 'the ConfigMap is untouched');
  assert.ok(await exists(dataDir, ['serviceaccount', 'default', '-n', 'default']), 'bootstrap objects are untouched');
  await watch.stop();
});

test('an event written before a restart still expires after it', async () => {
  const dataDir = h.tempDir('data');
  const port = await h.freePort();
  const first = await startServer(dataDir, port, '1h');
  await ok(dataDir, ['create', '-f', '-'], coreEvent('before-restart'));
  await first.stop();
  // Without the sweeper rebuilding its deadlines from the stored events, this one would never expire.
  await startServer(dataDir, port, '3s');
  await eventually('the pre-restart event expires', async () => !(await exists(dataDir, ['events', 'before-restart', '-n', 'default'])), 30_000);
});

test('a bad --event-ttl is refused with the flag name and the expected form', async () => {
  const p = h.process({ name: 'kedge-server-bad-ttl', args: ['server', '--data-dir', h.tempDir('data'), '--secure-port', '0', '--hub-port', '-1', '--event-ttl', '10x'] });
  await p.start();
  const exit = await p.exited;
  assert.equal(exit.code, 2);
  assert.match(p.currentOutput, /invalid --event-ttl "10x": want a duration such as 1h, 30m or 90s/);
});
