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
  /** The same for each worker thread (its own isolate and heap; rss is the process's), by thread title. */
  workers: Array<{ title: string; before: MemorySample; afterGc: MemorySample }>;
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
  type Reply = { id?: number; error?: { message: string }; result?: { result?: { value?: unknown } } };
  let id = 0;
  const pending = new Map<number, (msg: Reply) => void>();
  const attached: Array<{ sessionId: string; title: string }> = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as Reply & { method?: string; params?: { sessionId: string; message?: string; workerInfo?: { title: string } } };
    if (msg.method === 'NodeWorker.attachedToWorker') attached.push({ sessionId: msg.params!.sessionId, title: msg.params!.workerInfo?.title ?? '' });
    else if (msg.method === 'NodeWorker.receivedMessageFromWorker') {
      const inner = JSON.parse(msg.params!.message!) as Reply;
      if (inner.id !== undefined) pending.get(inner.id)?.(inner);
    } else if (msg.id !== undefined) pending.get(msg.id)?.(msg);
  });
  /** A DevTools call on the main thread, or (with sessionId) relayed to a worker's session. */
  const call = (method: string, params: object = {}, sessionId?: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const my = ++id;
      const timer = setTimeout(() => { pending.delete(my); reject(new Error(`${method}: no answer within ${timeoutMs} ms`)); }, timeoutMs);
      pending.set(my, (msg) => {
        pending.delete(my);
        clearTimeout(timer);
        if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
        else resolve(msg);
      });
      const text = JSON.stringify({ id: my, method, params });
      if (sessionId) ws.send(JSON.stringify({ id: ++id, method: 'NodeWorker.sendMessageToWorker', params: { sessionId, message: text } }));
      else ws.send(text);
    });
  const usage = async (sessionId?: string): Promise<MemorySample> => {
    const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }, sessionId);
    return JSON.parse(String(r.result?.result?.value)) as MemorySample;
  };
  const settle = async (sessionId?: string) => {
    const before = await usage(sessionId);
    await call('HeapProfiler.collectGarbage', {}, sessionId);
    return { before, afterGc: await usage(sessionId) };
  };
  try {
    const main = await settle();
    // Worker threads: attach (they keep running), then ask each the same.
    await call('NodeWorker.enable', { waitForDebuggerOnStart: false });
    await new Promise((r) => setTimeout(r, 500));
    const workers: SettledMemory['workers'] = [];
    for (const w of attached) workers.push({ title: w.title, ...(await settle(w.sessionId)) });
    return { ...main, workers };
  } finally {
    ws.close();
  }
}
