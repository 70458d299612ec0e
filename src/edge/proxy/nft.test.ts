import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runNft } from './nft.js';

test('runNft: an nft that exits without reading its script rejects with the exit code; the broken pipe does not escape', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-nft-'));
  try {
    const bin = path.join(dir, 'nft');
    writeFileSync(bin, '#!/bin/sh\necho refused >&2\nexit 1\n');
    chmodSync(bin, 0o755);
    // Larger than a pipe buffer, so the write is still pending when the process has gone.
    const script = 'add table ip x\n'.repeat(20_000);
    for (let i = 0; i < 5; i++) await assert.rejects(runNft(script, bin), /nft -f failed \(exit 1\): refused/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
