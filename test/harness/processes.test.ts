import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { Harness, freePort } from './processes.js';
import { parseStatCpuSeconds, ProcSampler } from './procstat.js';

const h = new Harness('harness-selftest');
after(() => h.cleanup());

/** A node program given as source text. */
const nodeScript = (name: string, source: string, extra: Partial<Parameters<Harness['process']>[0]> = {}) => ({
  name,
  command: process.execPath,
  args: ['-e', source],
  ...extra,
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('waits for a log line, captures output to the log file, samples RSS and CPU', { timeout: 30_000 }, async () => {
  const p = await h.start(
    nodeScript('logger', `console.log('booting'); setTimeout(() => console.error('listening on :1234'), 200); setInterval(() => {}, 1000);`, {
      ready: { logLine: /listening on :(\d+)/ },
    }),
  );
  const m = await p.waitForLog(/listening on :(\d+)/);
  assert.equal(m[1], '1234');
  const s = p.sample();
  assert.equal(s.pid, p.pid);
  assert.ok(s.rssBytes > 1 << 20, `rss ${s.rssBytes}`);
  assert.ok(s.peakRssBytes >= s.rssBytes);
  assert.ok(s.cpuSeconds > 0);
  assert.ok(s.threads >= 1);
  await p.stop();
  const log = readFileSync(p.logFile, 'utf8');
  assert.match(log, /booting/);
  assert.match(log, /listening on :1234/);
});

test('waits for a URL to answer', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const p = await h.start(
    nodeScript(
      'web',
      `setTimeout(() => require('http').createServer((q, r) => r.end('ok')).listen(${port}, '127.0.0.1'), 300);`,
      { ready: { url: `http://127.0.0.1:${port}/healthz` } },
    ),
  );
  const res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(await res.text(), 'ok');
  await p.kill9();
});

test('a process that dies before it is ready fails start() with its output', { timeout: 30_000 }, async () => {
  const p = h.process(nodeScript('crasher', `console.error('fatal: bad flag'); process.exit(3);`, { ready: { logLine: 'ready' } }));
  await assert.rejects(p.start(), /crasher: exited without logging .*fatal: bad flag/s);
  assert.deepEqual(await p.exited, { code: 3, signal: null });
});

test('readiness is bounded by its timeout', { timeout: 30_000 }, async () => {
  const p = h.process(nodeScript('silent', `setInterval(() => {}, 1000);`, { ready: { logLine: 'never', timeoutMs: 300 } }));
  await assert.rejects(p.start(), /no log line \/never\/ within 300 ms/);
  await p.kill9();
});

test('kill9 kills the process and the helpers it spawned', { timeout: 30_000 }, async () => {
  const p = await h.start(
    nodeScript(
      'parent',
      `const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
       console.log('child ' + c.pid); setInterval(() => {}, 1000);`,
      { ready: { logLine: /child \d+/ } },
    ),
  );
  const childPid = Number((await p.waitForLog(/child (\d+)/))[1]);
  assert.ok(alive(childPid));
  const exit = await p.kill9();
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(p.running, false);
  for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(childPid), false);
});

test('stop is graceful (SIGTERM), and falls back to SIGKILL for a process ignoring it', { timeout: 30_000 }, async () => {
  const polite = await h.start(
    nodeScript('polite', `process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);`, {
      ready: { logLine: 'up' },
    }),
  );
  assert.deepEqual(await polite.stop(), { code: 0, signal: null });
  assert.match(polite.currentOutput, /bye/);
  const stubborn = await h.start(
    nodeScript('stubborn', `process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000);`, {
      ready: { logLine: 'up' },
    }),
  );
  const exit = await stubborn.stop(300);
  assert.equal(exit.signal, 'SIGKILL');
  assert.match(stubborn.currentOutput, /ignored/);
});

test('restart runs the same command again with a new pid, appending to the same log', { timeout: 30_000 }, async () => {
  const p = await h.start(
    nodeScript('restarter', `console.log('run at ' + process.pid); setInterval(() => {}, 1000);`, { ready: { logLine: 'run at' } }),
  );
  const first = p.pid;
  await p.restart({ kill9: true });
  assert.notEqual(p.pid, first);
  assert.ok(p.running);
  assert.doesNotMatch(p.currentOutput, new RegExp(`run at ${first}\\b`));
  await p.stop();
  const log = readFileSync(p.logFile, 'utf8');
  assert.match(log, new RegExp(`run at ${first}\\b`));
  assert.equal(log.match(/=== start #/g)?.length, 2);
});

test('starts the real kedge CLI', { timeout: 60_000 }, async () => {
  const p = await h.startKedge('kedge-version', ['--version'], { ready: { logLine: /\d+\.\d+\.\d+/ } });
  assert.equal((await p.exited).code, 0);
});

test('cleanup kills what is left and removes temp dirs', { timeout: 30_000 }, async () => {
  const own = new Harness('cleanup');
  const dir = own.tempDir('data');
  const p = await own.start(nodeScript('left-running', `console.log('up'); setInterval(() => {}, 1000);`, { ready: { logLine: 'up' } }));
  const pid = p.pid;
  await own.cleanup();
  assert.equal(existsSync(dir), false);
  assert.equal(alive(pid), false);
});

test('freePort returns a bindable port', async () => {
  const port = await freePort();
  const srv = net.createServer().listen(port, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  srv.close();
});

test('CPU time is parsed from /proc/PID/stat even when the command name has spaces and parentheses', () => {
  // fields 14/15 (utime/stime) = 250 and 50 ticks
  const fields = ['S', '1', '1', '1', '0', '-1', '4194560', '100', '0', '0', '0', '250', '50', '0', '0', '20'];
  const stat = `1234 (we ird) name) ${fields.join(' ')}`;
  assert.equal(parseStatCpuSeconds(stat), 3);
});

test('ProcSampler reports the peak RSS and CPU of a window', { timeout: 30_000 }, async () => {
  const p = await h.start(
    nodeScript('busy', `console.log('up'); const a = []; const t = Date.now(); while (Date.now() - t < 600) a.push(new Array(1000).fill(1)); setInterval(() => {}, 1000);`, {
      ready: { logLine: 'up' },
    }),
  );
  const sampler = new ProcSampler(p.pid, 50).start();
  await new Promise((r) => setTimeout(r, 400));
  const r = sampler.stop();
  assert.ok(r.samples >= 2);
  assert.ok(r.peakRssBytes >= r.lastRssBytes);
  assert.ok(r.avgCpuCores > 0, 'a spinning process uses CPU');
  await p.kill9();
});

test('a test process ended by SIGTERM takes the processes it started down with it', { timeout: 30_000 }, async () => {
  // A node process using the harness starts a child, then gets SIGTERM (as from a runner's timeout).
  const harnessUrl = new URL('./processes.ts', import.meta.url).href;
  const script = `
    const { Harness } = await import(${JSON.stringify(harnessUrl)});
    const h = new Harness('sigterm');
    const p = await h.start({ name: 'orphan-candidate', command: process.execPath, args: ['-e', "console.log('up'); setInterval(() => {}, 1000)"], ready: { logLine: 'up' } });
    console.log('child ' + p.pid);
    setInterval(() => {}, 1000);`;
  const parent = await h.start({
    name: 'harness-user',
    command: process.execPath,
    args: ['--import', 'tsx', '--input-type=module', '-e', script],
    ready: { logLine: /child \d+/ },
  });
  const childPid = Number((await parent.waitForLog(/child (\d+)/))[1]);
  assert.ok(alive(childPid));
  process.kill(parent.pid, 'SIGTERM');
  assert.equal((await parent.exited).signal, 'SIGTERM');
  for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(childPid), false, 'the child was killed with its parent');
});
