/**
 * `kedge server` runs the hub in-process: this adapts startCloudHub to the server's component hook
 * (`({ kubeconfigPath, dataDir }) => stop`). The hub signs node certificates with the control plane's CA
 * (DATA_DIR/pki/ca.{crt,key}), so `kedge token create` prints the hash of the CA edges must pin, and talks
 * to the API through the admin kubeconfig like any other client.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../common/logger.js';
import { ensureCertificateAuthority, pkiDir } from '../pki/index.js';
import { startCloudHub, type CloudHub } from './hub.js';

export interface HubComponentOptions {
  port: number;
  bindAddress: string;
  hosts?: string[];
  pingIntervalMs?: number;
}

export function cloudHubComponent(o: HubComponentOptions) {
  return async (ctx: { kubeconfigPath: string; dataDir: string }): Promise<() => Promise<void>> => {
    const kc = new KubeConfig();
    kc.loadFromFile(ctx.kubeconfigPath);
    const dir = pkiDir(ctx.dataDir);
    const ca = await ensureCertificateAuthority(dir);
    const hub: CloudHub = await startCloudHub({
      kubeConfig: kc,
      ca,
      pkiDir: dir,
      host: o.bindAddress,
      port: o.port,
      hosts: [o.bindAddress, ...(o.hosts ?? [])],
      pingIntervalMs: o.pingIntervalMs,
      log: createLogger('cloudhub'),
    });
    return () => hub.stop();
  };
}
