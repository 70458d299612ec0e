import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';

export interface SerialInformerWorker<T> {
  /** Queue an object's key (deduplicated while it waits). */
  enqueue(obj: T): void;
  start(): Promise<void>;
  /** Stop the informer and wait for the item in progress. */
  stop(): Promise<void>;
}

/**
 * The small control loop the auth controllers share: objects the informer adds or updates are keyed, queued once,
 * and processed one at a time; the informer is restarted after errors (it stops on them, e.g. while the server
 * restarts). One item at a time is enough for these low-rate controllers and keeps their writes ordered.
 */
export function serialInformerWorker<T extends KubernetesObject>(
  informer: Informer<T>,
  opts: { keyOf(obj: T): string | undefined; process(key: string): Promise<void>; log?: Logger; what: string },
): SerialInformerWorker<T> {
  const queue = new Set<string>();
  let running: Promise<void> | null = null;
  let stopped = false;

  const drain = (): void => {
    if (running || stopped) return;
    running = (async () => {
      while (queue.size > 0 && !stopped) {
        const key = queue.values().next().value as string;
        queue.delete(key);
        await opts.process(key).catch((err: unknown) => opts.log?.warn({ err, key }, `${opts.what} failed`));
      }
    })().finally(() => {
      running = null;
      if (queue.size > 0) drain();
    });
  };
  const enqueue = (obj: T): void => {
    const key = opts.keyOf(obj);
    if (key === undefined) return;
    queue.add(key);
    drain();
  };
  informer.on('add', enqueue);
  informer.on('update', enqueue);
  informer.on('error', () => {
    if (!stopped) setTimeout(() => { if (!stopped) void informer.start().catch(() => undefined); }, 2000).unref();
  });
  return {
    enqueue,
    start: () => informer.start(),
    stop: async () => {
      stopped = true;
      await informer.stop();
      await running;
    },
  };
}
