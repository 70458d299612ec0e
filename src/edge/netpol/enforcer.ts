/**
 * The node's NetworkPolicy enforcer: mirrors NetworkPolicies (as the hub ships them, peers resolved) and the node's
 * pods from the local store, so it keeps enforcing the last policy set with the cloud gone and right after an offline
 * restart; after each batch of changes (coalesced for `batchMs`) it replaces its nftables table in one `nft -f`
 * transaction when the rendered table changed (rules.ts). The first apply after a start replaces whatever a previous
 * run left, so a restart reconciles; a pod's chain goes with the pod. A failed apply is retried with backoff.
 *
 * Same-node pod-to-pod traffic crosses the CNI bridge without the IP hooks unless br_netfilter passes it to them
 * (`net.bridge.bridge-nf-call-iptables=1`, as kubenet and flannel require): the enforcer sets it at start.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import { StoreMirror } from '../store-mirror.js';
import { runNft } from '../proxy/nft.js';
import { netpolCleanupScript, netpolScript, renderNetpol } from './rules.js';
import { NETWORK_POLICY_RESOURCE } from '../../protocol/network-policy.js';

export interface NetpolEnforcerOptions {
  store: Store;
  nodeName: string;
  log: Logger;
  /** Coalescing window for changes (default 100 ms). */
  batchMs?: number;
  nftPath?: string;
}

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/** Makes bridged IPv4 traffic pass the IP hooks (br_netfilter); false when the kernel cannot. */
export function ensureBridgeNetfilter(log: Logger): boolean {
  try {
    readFileSync(BRIDGE_NF);
  } catch {
    try {
      execFileSync('modprobe', ['br_netfilter'], { stdio: 'ignore' });
    } catch {
      // reported below
    }
  }
  try {
    if (readFileSync(BRIDGE_NF, 'utf8').trim() !== '1') writeFileSync(BRIDGE_NF, '1');
    return true;
  } catch (err) {
    log.warn({ err: String(err) }, 'network policy: br_netfilter unavailable; traffic between pods on this node is not filtered');
    return false;
  }
}

export class NetpolEnforcer {
  private readonly policies: StoreMirror<V1NetworkPolicy>;
  private readonly pods: StoreMirror<V1Pod>;
  private applied: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private dirty = false;
  private stopped = false;
  private failures = 0;
  /** nft transactions run (tests, logs). */
  transactions = 0;

  constructor(private readonly o: NetpolEnforcerOptions) {
    const onChange = () => this.schedule();
    this.policies = new StoreMirror({ store: o.store, prefix: `/registry/${NETWORK_POLICY_RESOURCE}/`, log: o.log, onChange });
    this.pods = new StoreMirror({ store: o.store, prefix: '/registry/pods/', log: o.log, onChange });
  }

  async start(): Promise<void> {
    ensureBridgeNetfilter(this.o.log);
    await Promise.all([this.policies.start(), this.pods.start()]);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = true;
    await this.drain();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.policies.stop();
    this.pods.stop();
    await this.running;
  }

  private schedule(delay = this.o.batchMs ?? 100): void {
    this.dirty = true;
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, delay);
    this.timer.unref();
  }

  private drain(): Promise<void> {
    this.running = this.running.then(async () => {
      if (!this.dirty || this.stopped) return;
      this.dirty = false;
      try {
        await this.sync();
        this.failures = 0;
      } catch (err) {
        this.failures++;
        this.applied = null;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
        this.o.log.error({ err: String(err), retryInMs: delay }, 'network policy: apply failed; retrying');
        this.schedule(delay);
      }
    });
    return this.running;
  }

  private async sync(): Promise<void> {
    const started = Date.now();
    const st = renderNetpol(this.policies.items.values(), this.pods.items.values(), this.o.nodeName);
    const script = netpolScript(st);
    if (script === this.applied) return;
    await runNft(script, this.o.nftPath);
    this.applied = script;
    this.transactions++;
    this.o.log.info({ policies: st.policies, isolatedPods: st.isolatedPods, chains: st.chains.size, sets: st.sets.size, ms: Date.now() - started }, 'network policy synced');
  }
}

/** Removes the enforcer's table (`kedge edge cleanup`). */
export async function cleanupNetpol(nftPath = 'nft'): Promise<void> {
  await runNft(netpolCleanupScript(), nftPath);
}
