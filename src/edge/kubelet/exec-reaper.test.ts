import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecReaper, type Proc, type ProcessTable } from './exec-reaper.js';

/** A container's processes as /proc shows them: exec'd ones are children of the shim (pid 1, outside the cgroup). */
class FakeTable implements ProcessTable {
  readonly procs = new Map<number, Proc & { cmdline: string; comm: string }>();
  readonly killed: number[] = [];
  private tick = 1000;
  constructor(private readonly containerId: string) {}
  /** runc's init for an exec: it becomes the command a moment later (same pid and start). */
  startInit(pid: number): void {
    this.procs.set(pid, { pid, start: String(this.tick++), ppid: 1, cmdline: 'runc\0init', comm: 'runc:[2:INIT]' });
  }
  becomes(pid: number, command: string[]): void {
    const p = this.procs.get(pid)!;
    p.cmdline = command.join('\0');
    p.comm = command[0]!;
  }
  inContainer(containerId: string): Proc[] {
    return containerId === this.containerId ? [...this.procs.values()].map(({ pid, start, ppid }) => ({ pid, start, ppid })) : [];
  }
  cmdline = (pid: number) => this.procs.get(pid)?.cmdline;
  comm = (pid: number) => this.procs.get(pid)?.comm;
  status(pid: number) {
    const p = this.procs.get(pid);
    return p && { state: 'S', pgrp: 7, start: p.start };
  }
  kill(pid: number): void {
    this.killed.push(pid);
    this.procs.delete(pid);
  }
}

const LOOP = ['sh', '-c', 'while :; do sleep 1; done'];

// Two execs of one command opened together: A began, A's runc init (10) started, B began (so 10 is in B's
// snapshot), B's init (11) ran the command first and A's poll took it. When 10 runs the command too, B may not take
// it; before the exchange B found nothing and 10 was left running after the cut.
for (const when of ['by a poll', 'when the holder ends', 'when the waiting one ends'] as const) {
  test(`two sessions with one command started together: both processes are killed (exchange ${when})`, async () => {
    const table = new FakeTable(`c-${when}`);
    const a = new ExecReaper(`c-${when}`, LOOP, table);
    table.startInit(10);
    const b = new ExecReaper(`c-${when}`, LOOP, table);
    table.startInit(11);
    table.becomes(11, LOOP);
    await sleep(150); // A's poll takes 11, the only process running the command
    table.becomes(10, LOOP);
    if (when === 'by a poll') await sleep(150);
    if (when === 'when the waiting one ends') {
      b.end();
      a.end();
    } else {
      a.end();
      b.end();
    }
    assert.deepEqual([...table.killed].sort(), [10, 11]);
  });
}

test('a process there before the session began is not taken, nor one started by a container process', async () => {
  const table = new FakeTable('c-own');
  table.startInit(20);
  table.becomes(20, LOOP); // an earlier exec whose session is not tracked
  const s = new ExecReaper('c-own', LOOP, table);
  table.procs.set(21, { pid: 21, start: '5000', ppid: 20, cmdline: LOOP.join('\0'), comm: 'sh' }); // the container's own child
  await sleep(150);
  s.end();
  assert.deepEqual(table.killed, []);
});

test('one session with a shell that replaced its program: that process is killed at the end', async () => {
  const table = new FakeTable('c-replaced');
  const s = new ExecReaper('c-replaced', ['sh', '-c', 'echo hi; exec sleep 100'], table);
  table.startInit(30);
  table.becomes(30, ['sleep', '100']); // the poll never saw the shell
  await sleep(250);
  s.end();
  assert.deepEqual(table.killed, [30]);
});
