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
import { SyncLoop } from '../sync-loop.js';
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
  /** Turn on br_netfilter's bridge-nf-call-iptables at start (default true; unit tests with a stand-in nft: false). */
  bridgeNetfilter?: boolean;
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
  private readonly loop: SyncLoop;
  /** nft transactions run (tests, logs). */
  transactions = 0;

  constructor(private readonly o: NetpolEnforcerOptions) {
    this.loop = new SyncLoop({
      batchMs: o.batchMs ?? 100,
      sync: () => this.sync(),
      onFailure: (err, retryInMs) => {
        this.applied = null;
        this.o.log.error({ err: String(err), retryInMs }, 'network policy: apply failed; retrying');
      },
    });
    const onChange = () => this.loop.schedule();
    this.policies = new StoreMirror({ store: o.store, prefix: `/registry/${NETWORK_POLICY_RESOURCE}/`, log: o.log, onChange });
    this.pods = new StoreMirror({ store: o.store, prefix: '/registry/pods/', log: o.log, onChange });
  }

  async start(): Promise<void> {
    if (this.o.bridgeNetfilter !== false) ensureBridgeNetfilter(this.o.log);
    await Promise.all([this.policies.start(), this.pods.start()]);
    await this.loop.force();
  }

  async stop(): Promise<void> {
    this.policies.stop();
    this.pods.stop();
    await this.loop.stop();
  }

  /** Wait until every change seen so far is applied (tests). */
  settle(): Promise<void> {
    return this.loop.now();
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
