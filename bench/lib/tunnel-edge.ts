/**
 * The edge of bench:tunnel, in a child process of its own (forked over IPC): a real EdgeAgent — hub client,
 * tunnel, kubelet server, local store — joined with a bootstrap token through the parent's fault-proxy link.
 * Its pod manager runs no containers: pods are only synced (what the bench times) and every container's log is a
 * firehose (`readLogs` writes 200-byte lines as fast as the reader takes them, back-pressure awaited), so
 * `kubectl logs -f` streams push the tunnel as hard as a chatty container could. Port-forward goes to a stand-in
 * of containerd's streaming server whose pod port answers each request with `portForwardBytes` bytes
 * (portforward-source.ts). Reports, in epoch ms, when each object was applied to the edge's store.
 */
import { EdgeAgent } from '../../src/edge/agent.js';
import { joinCluster } from '../../src/edge/join.js';
import type { LogOptions } from '../../src/edge/podmanager/logs.js';
import { StreamingTargetNotFound } from '../../src/edge/podmanager/streaming.js';
import { startPortForwardSource } from './portforward-source.js';

export interface TunnelEdgeInit {
  hubUrl: string;
  token: string;
  caCertHash: string;
  nodeName: string;
  dataDir: string;
  /** Bytes per second each followed log produces (0 = as fast as the reader takes them). */
  logBytesPerSecond: number;
  /** Report each synced pod's status with its sync time in status.message (the up path under load). */
  reportStatus: boolean;
  /** Bytes each port-forward request gets back. */
  portForwardBytes: number;
}

export type TunnelEdgeEvent = { ready: true } | { applied: [key: string, atMs: number][] } | { logBytes: number };

const LINE = `${'x'.repeat(180)}\n`;

let rate = 0;

async function firehose(_ns: string, _pod: string, _c: string, opts: LogOptions, write: (chunk: string) => unknown): Promise<void> {
  let seq = 0;
  const started = Date.now();
  let sent = 0;
  const batch = () => {
    let s = '';
    for (let i = 0; i < 40; i++) s += `seq-${++seq} ${LINE}`;
    return s;
  };
  while (!opts.signal?.aborted) {
    const chunk = batch();
    const r = write(chunk);
    logBytes += chunk.length;
    sent += chunk.length;
    if (r instanceof Promise) await r;
    // Paced: sleep until this many bytes are due; unpaced: yield to I/O between batches.
    const dueAt = rate > 0 ? started + (sent / rate) * 1000 : 0;
    await new Promise((resolve) => (dueAt > Date.now() ? setTimeout(resolve, dueAt - Date.now()) : setImmediate(resolve)));
  }
}

let logBytes = 0;

async function main(init: TunnelEdgeInit): Promise<void> {
  rate = init.logBytesPerSecond;
  const credentials = await joinCluster({ server: init.hubUrl, token: init.token, caCertHash: init.caCertHash, nodeName: init.nodeName, dataDir: init.dataDir });
  const agent = new EdgeAgent({
    nodeName: init.nodeName,
    dataDir: init.dataDir,
    hubUrl: init.hubUrl,
    credentials,
    podManager: async () => {
      const source = await startPortForwardSource(init.portForwardBytes);
      return {
        stop: () => source.close(),
        readLogs: firehose,
        streamingUrl: async (_ns, _pod, req) => {
          if (req.kind !== 'portforward') throw new StreamingTargetNotFound('this bench edge serves port-forward only');
          return { url: source.url };
        },
      };
    },
  });
  await agent.start();
  // The hub client dials after start() returns: subscribing now misses nothing.
  let pending: [string, number][] = [];
  agent.hub.on('applied', (key, kind) => {
    const at = performance.timeOrigin + performance.now();
    pending.push([key, at]);
    const m = /^\/registry\/pods\/([^/]+)\/(probe-[^/]+)$/.exec(key);
    if (!init.reportStatus || kind !== 'upsert' || !m) return;
    void agent.store.get(key).then((kv) => {
      const uid = kv ? (JSON.parse(kv.value) as { metadata?: { uid?: string } }).metadata?.uid : undefined;
      if (uid) agent.reporter.setPodStatus(m[1]!, m[2]!, uid, { phase: 'Pending', message: `synced-at=${Math.round(performance.timeOrigin + performance.now())}` });
    });
  });
  const flush = setInterval(() => {
    if (pending.length > 0) process.send?.({ applied: pending } satisfies TunnelEdgeEvent);
    pending = [];
    process.send?.({ logBytes } satisfies TunnelEdgeEvent);
  }, 50);
  agent.hub.once('connected', () => process.send?.({ ready: true } satisfies TunnelEdgeEvent));
  process.on('message', (m: { stop?: boolean }) => {
    if (!m.stop) return;
    clearInterval(flush);
    void agent.stop().finally(() => process.exit(0));
  });
}

process.once('message', (init: TunnelEdgeInit) => {
  main(init).catch((err: unknown) => {
    process.stderr.write(`tunnel-edge: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
});
