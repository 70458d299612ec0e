import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Harness, type ManagedProcess } from '../harness/processes.js';
import { FakeNode, startFakeNodes, type FakeNodeOptions } from '../helpers/fake-nodes.js';

const run = promisify(execFile);

/** A real `kedge server` (controllers in-process) plus kubectl and fake nodes, for one test file. */
export class TestCluster {
  readonly harness: Harness;
  server!: ManagedProcess;
  kubeconfig!: string;
  kc!: KubeConfig;
  readonly nodes: FakeNode[] = [];

  constructor(label: string) {
    this.harness = new Harness(label);
  }

  async start(extraArgs: string[] = []): Promise<void> {
    const dir = this.harness.tempDir('data');
    // A fixed port, so a restarted server (kill -9 + start) is where the kubeconfig and fake nodes expect it.
    const port = await this.harness.freePort();
    this.server = await this.harness.startKedge(
      'kedge-server',
      ['server', '--data-dir', dir, '--secure-port', String(port), '--hub-port', '-1', ...extraArgs],
      { ready: { logLine: /kedge server ready/, timeoutMs: 60_000 }, env: { ...process.env, KEDGE_LOG_LEVEL: process.env.KEDGE_LOG_LEVEL ?? 'info' } },
    );
    this.kubeconfig = path.join(dir, 'admin.kubeconfig');
    this.kc = new KubeConfig();
    this.kc.loadFromFile(this.kubeconfig);
  }

  async addNodes(prefix: string, n: number, opts: FakeNodeOptions | ((i: number) => FakeNodeOptions) = {}): Promise<FakeNode[]> {
    const ns = await startFakeNodes(this.kc, prefix, n, opts);
    this.nodes.push(...ns);
    return ns;
  }

  node(name: string): FakeNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no fake node ${name}`);
    return n;
  }

  /** Runs /usr/bin/kubectl against the server; rejects with stderr on a non-zero exit. */
  async kubectl(args: string[], input?: string): Promise<string> {
    const child = run('/usr/bin/kubectl', args, { env: { ...process.env, KUBECONFIG: this.kubeconfig }, timeout: 120_000, maxBuffer: 32 << 20 });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    try {
      const { stdout } = await child;
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr || e.message}`);
    }
  }

  async json<T = any>(args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl([...args, '-o', 'json'])) as T;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()));
    await this.harness.cleanup();
  }
}

/** Polls fn until it returns a truthy value; fails with the last value seen after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false | null>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
