/**
 * `kedge edge image import FILE` (the real binary) puts an image built here from busybox-static into a
 * private containerd, where CRI sees it and can run it; a bad file fails with a clear error and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { buildBusyboxArchive } from '../../src/runtime/image/busybox.js';
import { skipReason, startRuntime, type RuntimeFixture } from './env.js';

const skip = skipReason();
if (skip) console.log(`# skipping image import suite: ${skip}`);

describe('kedge edge image import', { skip, timeout: 300_000 }, () => {
  let fx: RuntimeFixture;
  before(async () => {
    fx = await startRuntime();
  });
  after(async () => {
    await fx?.stop();
  });

  const kedge = (args: string[]) => {
    const c = kedgeCommand(args);
    return spawnSync(c.command, c.args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  };

  it('imports an OCI archive so CRI can run it', async () => {
    const file = path.join(fx.dir, 'img.tar');
    writeFileSync(file, buildBusyboxArchive('kedge.local/imported:7'));
    assert.equal(await fx.runtime.imageStatus('kedge.local/imported:7'), null);
    const r = kedge(['edge', 'image', 'import', file, '--cri-socket', fx.socket]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /imported kedge\.local\/imported:7/);
    const img = await fx.runtime.imageStatus('kedge.local/imported:7');
    assert.ok(img?.id.startsWith('sha256:'));
    const sc = { metadata: { name: 'imp', uid: 'imp-uid', namespace: 'default' }, logDirectory: path.join(fx.dir, 'logs') };
    const sb = await fx.runtime.runPodSandbox(sc);
    const id = await fx.runtime.createContainer(sb, { metadata: { name: 'c' }, image: { image: 'kedge.local/imported:7' }, command: ['sleep', '60'], logPath: 'c.log' }, sc);
    await fx.runtime.startContainer(id);
    const out = await fx.runtime.execSync(id, ['sh', '-c', 'echo ok-$((1+1))'], 10);
    assert.equal(out.stdout.toString().trim(), 'ok-2');
    await fx.runtime.stopPodSandbox(sb);
    await fx.runtime.removePodSandbox(sb);
  });

  it('a file that is not an image archive fails clearly and imports nothing', async () => {
    const before = (await fx.runtime.listImages()).length;
    const bad = path.join(fx.dir, 'bad.tar');
    writeFileSync(bad, 'not a tarball');
    const r = kedge(['edge', 'image', 'import', bad, '--cri-socket', fx.socket]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /image import of .*bad\.tar failed/);
    assert.equal((await fx.runtime.listImages()).length, before);
  });
});
