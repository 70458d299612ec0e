import { createLogger } from '../../common/logger.js';
import { defaultControllerOptions, type ControllerContext, type ControllerOptions } from '../controller.js';
import { ApiEventRecorder } from '../events.js';
import { ControllerMetrics } from '../metrics.js';
import type { FakeCluster } from './fake-cluster.js';

/** A ControllerContext over the in-memory fake, for unit tests. */
export function fakeContext(fake: FakeCluster, options: Partial<ControllerOptions> = {}): ControllerContext {
  return {
    api: fake,
    informers: fake,
    events: new ApiEventRecorder(fake, 'test'),
    metrics: new ControllerMetrics(),
    log: createLogger('test', process.env.KEDGE_LOG_LEVEL ?? 'silent'),
    options: { ...defaultControllerOptions, workers: 1, ...options },
    synced: Promise.resolve(),
  };
}

/** Polls until cond() holds or fails the test after timeoutMs. */
export async function eventually(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
