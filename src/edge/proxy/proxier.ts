/**
 * The node's service proxy: mirrors Services, EndpointSlices and Nodes from the local store (so it works with the
 * cloud gone and right after an offline restart), and after each batch of changes (coalesced for `batchMs`) brings
 * the kernel in line: one `nft -f` transaction for the service rules (nft.ts), then the pool's pod routes
 * (pod-routes.ts). A failed apply is retried with backoff, and the next nft apply replaces the whole table.
 *
 * Rules and routes stay when the agent stops, as kube-proxy's do: pods keep reaching Services while the agent
 * restarts. `kedge edge cleanup` removes them (cleanup()).
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import { StoreMirror } from '../store-mirror.js';
import { cleanupScript, renderState, runNft, transaction, type NftState } from './nft.js';
import { installedRoutes, ROUTE_PROTO, syncRoutes, wantedRoutes } from './pod-routes.js';
import { serviceProxyPorts, slicesByService } from './rules.js';
import { ProxyMetrics } from './metrics.js';
import { SyncLoop } from '../sync-loop.js';

export interface ServiceProxyOptions {
  store: Store;
  nodeName: string;
  log: Logger;
  /** Coalescing window for changes (default 100 ms). */
  batchMs?: number;
  /** Path of the nft binary (default `nft` from PATH). */
  nftPath?: string;
  /** Install pod routes to the pool's peers (default true). */
  podRoutes?: boolean;
  /**
   * Re-check the pod routes this often even without a store change (default 30 s, as kube-proxy's iptables sync
   * period): the kernel drops routes via a link that goes down, and nothing in the store changes when it comes back.
   */
  resyncMs?: number;
  /** Registry for the proxy's metrics (metrics.ts); omitted: none. */
  metrics?: import('prom-client').Registry;
}

export class ServiceProxy {
  private readonly services: StoreMirror<V1Service>;
  private readonly slices: StoreMirror<V1EndpointSlice>;
  private readonly nodes: StoreMirror<V1Node>;
  private applied: NftState | null = null;
  private readonly loop: SyncLoop;
  /** Syncs done (tests, metrics). */
  syncs = 0;
  private readonly metrics: ProxyMetrics | undefined;
  private resync: NodeJS.Timeout | undefined;

  constructor(private readonly o: ServiceProxyOptions) {
    this.loop = new SyncLoop({
      batchMs: o.batchMs ?? 100,
      sync: () => this.sync(),
      onFailure: (err, retryInMs) => {
        this.metrics?.failures.inc();
        this.applied = null;
        this.o.log.error({ err: String(err), retryInMs }, 'service proxy: apply failed; retrying');
      },
    });
    const onChange = () => this.loop.schedule();
    this.services = new StoreMirror({ store: o.store, prefix: '/registry/services/', log: o.log, onChange });
    this.slices = new StoreMirror({ store: o.store, prefix: '/registry/endpointslices.discovery.k8s.io/', log: o.log, onChange });
    this.nodes = new StoreMirror({ store: o.store, prefix: '/registry/nodes/', log: o.log, onChange });
    this.metrics = o.metrics ? new ProxyMetrics(o.metrics) : undefined;
  }

  /** Loads the store and applies once (the first apply's failure is logged, then retried). */
  async start(): Promise<void> {
    await Promise.all([this.services.start(), this.slices.start(), this.nodes.start()]);
    await this.loop.force();
    // A sync whose nft state is unchanged runs no nft; syncRoutes re-adds what the kernel dropped.
    this.resync = setInterval(() => this.loop.schedule(), this.o.resyncMs ?? 30_000);
    this.resync.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.resync);
    this.services.stop();
    this.slices.stop();
    this.nodes.stop();
    await this.loop.stop();
  }

  /** Wait until every change seen so far is applied (tests). */
  settle(): Promise<void> {
    return this.loop.now();
  }

  private self(): V1Node | undefined {
    for (const n of this.nodes.items.values()) if (n.metadata?.name === this.o.nodeName) return n;
    return undefined;
  }

  private async sync(): Promise<void> {
    const started = Date.now();
    const end = this.metrics?.syncDuration.startTimer();
    const ports = serviceProxyPorts(this.services.items.values(), slicesByService(this.slices.items.values()), this.o.nodeName);
    const next = renderState(ports, { podCidr: this.self()?.spec?.podCIDR });
    const script = transaction(this.applied, next);
    if (script) await runNft(script, this.o.nftPath);
    if (script) this.metrics?.transactions.inc();
    this.applied = next;
    let routes: { added: unknown[]; removed: unknown[] } = { added: [], removed: [] };
    if (this.o.podRoutes !== false) {
      const want = wantedRoutes(this.nodes.items.values(), this.o.nodeName);
      routes = await syncRoutes(want);
      this.metrics?.podRoutes.set(want.length);
    }
    this.syncs++;
    end?.();
    this.metrics?.servicePorts.set(ports.length);
    this.metrics?.lastSync.set(Date.now() / 1000);
    if (script || routes.added.length || routes.removed.length) {
      this.o.log.info({ servicePorts: ports.length, chains: next.chains.size, nftLines: script?.split('\n').length ?? 0, routesAdded: routes.added, routesRemoved: routes.removed, ms: Date.now() - started }, 'service proxy synced');
    }
  }
}

/** Removes the proxy's table and the pod routes the agent installed (`kedge edge cleanup`). */
export async function cleanupServiceProxy(nftPath = 'nft'): Promise<{ routes: number }> {
  await runNft(cleanupScript(), nftPath);
  const routes = await installedRoutes();
  await syncRoutes([]);
  return { routes: routes.length };
}

export { ROUTE_PROTO };
