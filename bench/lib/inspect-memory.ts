/**
 * Asks a Node process started with `--inspect=127.0.0.1:0` for its memory over the DevTools protocol:
 * `process.memoryUsage()` as it is, then again after a full garbage collection (HeapProfiler.collectGarbage).
 * The difference says how much of a process's growth is garbage not yet collected, and RSS minus the settled
 * heap what V8 and the allocator keep committed (or native memory). Measurement only (bench/fleet.ts).
 * Only the main thread's isolate is measured: worker threads (the hub's) have their own heaps.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface SettledMemory {
  before: MemorySample;
  afterGc: MemorySample;
}

/** The inspector's WebSocket URL, from the "Debugger listening on ws://…" line in the process's log. */
export function inspectorUrl(logFile: string): string | undefined {
  const m = /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'));
  return m?.[1];
}

export async function settledMemory(wsUrl: string, timeoutMs = 60_000): Promise<SettledMemory> {
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const call = (method: string, params: object = {}): Promise<{ result?: { result?: { value?: unknown } } }> =>
    new Promise((resolve, reject) => {
      const my = ++id;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (data: WebSocket.RawData) => {
        const msg = JSON.parse(String(data)) as { id?: number; error?: { message: string } };
        if (msg.id !== my) return;
        ws.off('message', onMessage);
        clearTimeout(timer);
        if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
        else resolve(msg as { result?: { result?: { value?: unknown } } });
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  const usage = async (): Promise<MemorySample> => {
    const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    return JSON.parse(String(r.result?.result?.value)) as MemorySample;
  };
  try {
    const before = await usage();
    await call('HeapProfiler.collectGarbage');
    const afterGc = await usage();
    return { before, afterGc };
  } finally {
    ws.close();
  }
}
