/**
 * `kedge server` runs the hub in-process: this adapts startCloudHub to the server's component hook
 * (`({ kubeconfigPath, dataDir }) => stop`). The hub signs node certificates with the control plane's CA
 * (DATA_DIR/pki/ca.{crt,key}), so `kedge token create` prints the hash of the CA edges must pin, and talks
 * to the API through the admin kubeconfig like any other client.
 */
import { createLogger } from '../common/logger.js';
import { watchLoopStalls } from '../common/loop-stall.js';
import { ensureCertificateAuthority, pkiDir } from '../pki/index.js';
import { startCloudHub, type CloudHub } from './hub.js';
import { loadKubeClient } from '../common/kubeconfig.js';
import path from 'node:path';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { KUBELET_PROXY_SOCKET_NAME } from './kubelet-proxy.js';

export interface HubComponentOptions {
  port: number;
  bindAddress: string;
  hosts?: string[];
  /** Publish this hub's load and shed nodes to less-loaded peers (rebalance.ts): servers on an external datastore. */
  balance?: boolean;
  /** How nodes of other servers' hubs reach this one (`--advertise-address`, else the hub's or API's bind address). */
  advertiseHost?: string;
  pingIntervalMs?: number;
  /** Lease renewal coalescing window (status-writer.ts); 0 = off. */
  leaseCoalesceMs?: number;
  /** Write Leases and statuses in node-write batches (only `kedge server` serves them; status-writer.ts). */
  batchNodeWrites?: boolean;
  /** Edges report their usage this often (`--metric-resolution`; hub.ts `usageIntervalMs`); absent: scraped through the tunnel. */
  usageIntervalMs?: number;
}

const isWildcard = (address: string): boolean => address === '0.0.0.0' || address === '::' || address === '';

/** A stable id for this server's hub Lease: host name and data dir, as a DNS label. */
function hubIdentity(dataDir: string): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'server';
  return `${host}-${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 8)}`;
}

export function cloudHubComponent(o: HubComponentOptions) {
  return async (ctx: { kubeconfigPath: string; dataDir: string }): Promise<() => Promise<void>> => {
    const client = loadKubeClient(ctx.kubeconfigPath);
    const dir = pkiDir(ctx.dataDir);
    const ca = await ensureCertificateAuthority(dir);
    const log = createLogger('cloudhub');
    const stopStallWatch = watchLoopStalls(log);
    let hub: CloudHub;
    try {
      hub = await startCloudHub({
        client,
        ca,
        pkiDir: dir,
        host: o.bindAddress,
        port: o.port,
        hosts: [o.bindAddress, ...(o.hosts ?? [])],
        pingIntervalMs: o.pingIntervalMs,
        leaseCoalesceMs: o.leaseCoalesceMs,
        batchNodeWrites: o.batchNodeWrites,
        usageIntervalMs: o.usageIntervalMs,
        // The API server (main thread) reaches edge kubelets through this socket (src/apiserver/node-dialer.ts).
        kubeletProxySocket: path.join(ctx.dataDir, KUBELET_PROXY_SOCKET_NAME),
        // Several servers share the datastore: each hub publishes its load and sheds nodes to the others.
        balance: o.balance ? { identity: hubIdentity(ctx.dataDir), advertiseHost: o.advertiseHost ?? (isWildcard(o.bindAddress) ? '127.0.0.1' : o.bindAddress) } : undefined,
        log,
      });
    } catch (err) {
      // The control plane must not die because the hub port is taken (e.g. several servers on one
      // machine in tests): it keeps serving the API, and the failure is logged loudly.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      log.error({ port: o.port, err: String(err) }, 'cloud hub port in use: the hub is NOT running (pass --hub-port)');
      return async () => stopStallWatch();
    }
    return async () => {
      stopStallWatch();
      await hub.stop();
    };
  };
}
