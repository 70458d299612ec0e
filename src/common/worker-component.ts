/**
 * Runs a `kedge server` component (a factory returning `({ kubeconfigPath, dataDir }) => stop`) on its own
 * worker thread. Components that talk to the API only through a kubeconfig (the cloud hub) share nothing
 * with the API server but the process, so a thread of their own lets one `kedge server` process use a
 * second core: at fleet scale the API server and the hub each saturate one (bench/RESULTS.md, fleet).
 * A worker that dies takes the process down (exit 1), as an uncaught error in-process would.
 * The server's loopback transport (socket + in-memory token, src/common/kubeconfig.ts) travels in workerData,
 * so the component's `loadKubeClient(kubeconfigPath)` in the worker uses it too.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from './logger.js';
import type { LoopbackTransport } from './kubeconfig.js';

export interface WorkerComponentSpec {
  /** Shown in logs and thread names. */
  name: string;
  /** URL of the module exporting the factory (e.g. `new URL('../cloudhub/component.js', import.meta.url).href`). */
  moduleUrl: string;
  /** Name of the exported factory; it is called with `options` inside the worker. */
  factory: string;
  /** Structured-cloneable options for the factory. */
  options: unknown;
}

type WorkerMessage = { type: 'started' } | { type: 'stopped' } | { type: 'failed'; error: string };

/** Built code runs `.js`; from source (tsx, tests) the sibling `.ts` is what exists. */
function runnableUrl(url: string): string {
  if (!url.startsWith('file:') || !url.endsWith('.js') || existsSync(fileURLToPath(url))) return url;
  return url.replace(/\.js$/, '.ts');
}

export function workerThreadComponent(spec: WorkerComponentSpec, log: Logger) {
  return async (ctx: { kubeconfigPath: string; dataDir: string; loopback?: LoopbackTransport }): Promise<() => Promise<void>> => {
    const entry = runnableUrl(new URL('./component-worker.js', import.meta.url).href);
    // From source the worker needs tsx's loader registered first (a worker does not run the parent's --import).
    const worker = new Worker(entry.endsWith('.ts') ? `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })` : new URL(entry), {
      eval: entry.endsWith('.ts'),
      name: spec.name,
      workerData: { moduleUrl: runnableUrl(spec.moduleUrl), factory: spec.factory, options: spec.options, ctx: { kubeconfigPath: ctx.kubeconfigPath, dataDir: ctx.dataDir, loopback: ctx.loopback } },
    });
    let stopping = false;
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type === 'started') resolve();
        else if (m.type === 'failed') reject(new Error(`${spec.name} failed to start: ${m.error}`));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      void exited.then((code) => reject(new Error(`${spec.name} thread exited (code ${code}) before it started`)));
    });
    worker.on('error', (err) => {
      log.fatal({ component: spec.name, err: String(err.stack ?? err) }, 'component thread crashed; exiting');
      process.exit(1);
    });
    void exited.then((code) => {
      if (stopping) return;
      log.fatal({ component: spec.name, code }, 'component thread exited unexpectedly; exiting');
      process.exit(1);
    });
    log.info({ component: spec.name, threadId: worker.threadId }, 'component running on its own thread');
    return async () => {
      stopping = true;
      const stopped = new Promise<void>((resolve) => worker.on('message', (m: WorkerMessage) => m.type === 'stopped' && resolve()));
      worker.postMessage({ type: 'stop' });
      await Promise.race([stopped, exited, new Promise((r) => setTimeout(r, 8_000).unref())]);
      await worker.terminate();
    };
  };
}
