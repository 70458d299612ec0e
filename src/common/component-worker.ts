/** Worker-thread entry for worker-component.ts: start one component, stop it when asked. */
import { parentPort, workerData } from 'node:worker_threads';
import { useLoopbackFor, type LoopbackTransport } from './kubeconfig.js';

interface Data {
  moduleUrl: string;
  factory: string;
  options: unknown;
  ctx: { kubeconfigPath: string; dataDir: string; loopback?: LoopbackTransport };
}

type Component = (ctx: Data['ctx']) => Promise<() => Promise<void> | void>;

const data = workerData as Data;
const port = parentPort!;
try {
  // The component's loadKubeClient(kubeconfigPath) in this thread then speaks to the server's loopback socket.
  if (data.ctx.loopback) useLoopbackFor(data.ctx.kubeconfigPath, data.ctx.loopback);
  const mod = (await import(data.moduleUrl)) as Record<string, unknown>;
  const factory = mod[data.factory];
  if (typeof factory !== 'function') throw new Error(`${data.moduleUrl} exports no function ${data.factory}`);
  const stop = await (factory(data.options) as Component)(data.ctx);
  port.on('message', (m: { type?: string }) => {
    if (m.type !== 'stop') return;
    void Promise.resolve(stop())
      .catch(() => {})
      .finally(() => {
        port.postMessage({ type: 'stopped' });
        port.close();
      });
  });
  port.postMessage({ type: 'started' });
} catch (err) {
  port.postMessage({ type: 'failed', error: String((err as Error).stack ?? err) });
  port.close();
}
