/** Shared by the API server acceptance suites: start the real `kedge server`, run the stock kubectl against it. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Harness, type ManagedProcess } from '../harness/processes.js';

export interface KubectlResult { code: number; stdout: string; stderr: string }

export class KedgeServerEnv {
  readonly h = new Harness('apiserver');
  dir = '';
  server!: ManagedProcess;

  async start(): Promise<void> {
    this.dir = this.h.tempDir('data');
    // A fixed (free) port, so a restart serves the same URL and admin.kubeconfig can stay as it is.
    const port = await this.h.freePort();
    this.server = await this.h.startKedge('kedge-server', ['server', '--data-dir', this.dir, '--secure-port', String(port), '--hub-port', '-1', '--disable-controllers'], {
      ready: { logLine: /kedge server ready/, timeoutMs: 60_000 },
    });
  }

  get kubeconfig(): string {
    return path.join(this.dir, 'admin.kubeconfig');
  }

  kubectl(args: string[], stdin?: string, timeoutMs = 30_000): Promise<KubectlResult> {
    return new Promise((resolve) => {
      const child = execFile('/usr/bin/kubectl', [`--kubeconfig=${this.kubeconfig}`, `--cache-dir=${path.join(this.dir, 'kubectl-cache')}`, ...args],
        { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }));
      if (stdin !== undefined) child.stdin?.end(stdin);
    });
  }

  async ok(args: string[], stdin?: string): Promise<string> {
    const r = await this.kubectl(args, stdin);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  async fails(args: string[], stdin?: string): Promise<string> {
    const r = await this.kubectl(args, stdin);
    assert.notEqual(r.code, 0, `kubectl ${args.join(' ')} unexpectedly succeeded: ${r.stdout}`);
    return r.stderr.trim();
  }

  async json<T = Record<string, any>>(args: string[]): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return JSON.parse(await this.ok([...args, '-o', 'json'])) as T;
  }

  async cleanup(): Promise<void> {
    await this.h.cleanup();
  }
}

export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
