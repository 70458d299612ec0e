import { CertificatesV1Api, KubeConfig, makeInformer, type V1CertificateSigningRequest } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../../common/logger.js';
import { ensureCertificateAuthority, pkiDir, type CertificateAuthority } from '../../../pki/index.js';
import type { ServerComponent } from '../../run.js';
import { needsSigning, signCsrObject } from './signers.js';

/**
 * The cluster CA's CSR signer (upstream: kube-controller-manager's csrsigning controller): watches
 * CertificateSigningRequests and, once one for a kubernetes.io/* client or kubelet signer is Approved, writes the
 * signed certificate (or a Failed condition) through the status subresource. Talks to the API through client-node
 * like every controller, so `kubectl certificate approve` is all an operator does to onboard a user.
 */
export interface CsrSignerOptions {
  kubeConfig: KubeConfig;
  ca: CertificateAuthority;
  log?: Logger;
}

export async function startCsrSigner(opts: CsrSignerOptions): Promise<() => Promise<void>> {
  const api = opts.kubeConfig.makeApiClient(CertificatesV1Api);
  const informer = makeInformer<V1CertificateSigningRequest>(
    opts.kubeConfig, '/apis/certificates.k8s.io/v1/certificatesigningrequests', () => api.listCertificateSigningRequest(),
  );
  const queue = new Set<string>();
  let running: Promise<void> | null = null;
  let stopped = false;

  const processOne = async (name: string): Promise<void> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      let csr: V1CertificateSigningRequest;
      try {
        csr = await api.readCertificateSigningRequest({ name });
      } catch {
        return; // deleted meanwhile
      }
      if (!needsSigning(csr)) return;
      const outcome = await signCsrObject(opts.ca, csr);
      const now = new Date();
      const status = { ...(csr.status ?? {}) };
      if (outcome.kind === 'signed') {
        status.certificate = Buffer.from(outcome.certificatePem).toString('base64');
      } else {
        status.conditions = [...(status.conditions ?? []), { type: 'Failed', status: 'True', reason: outcome.reason, message: outcome.message, lastUpdateTime: now, lastTransitionTime: now }];
      }
      try {
        await api.replaceCertificateSigningRequestStatus({ name, body: { ...csr, status } });
        opts.log?.info({ csr: name, signer: csr.spec?.signerName, outcome: outcome.kind }, 'certificate signing request processed');
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409) {
          opts.log?.warn({ err, csr: name }, 'writing CSR status failed');
          return;
        }
      }
    }
  };

  const drain = (): void => {
    if (running || stopped) return;
    running = (async () => {
      while (queue.size > 0 && !stopped) {
        const name = queue.values().next().value as string;
        queue.delete(name);
        await processOne(name).catch((err) => opts.log?.warn({ err, csr: name }, 'CSR signing failed'));
      }
    })().finally(() => {
      running = null;
      if (queue.size > 0) drain();
    });
  };
  const enqueue = (csr: V1CertificateSigningRequest): void => {
    if (!needsSigning(csr) || !csr.metadata?.name) return;
    queue.add(csr.metadata.name);
    drain();
  };
  informer.on('add', enqueue);
  informer.on('update', enqueue);
  informer.on('error', () => {
    // The informer stops on errors (e.g. the server restarting); try again shortly.
    if (!stopped) setTimeout(() => { if (!stopped) void informer.start().catch(() => undefined); }, 2000).unref();
  });
  await informer.start();
  return async () => {
    stopped = true;
    await informer.stop();
    await running;
  };
}

/** `kedge server` component: signs with the embedded control plane's CA (DATA_DIR/pki/ca.{crt,key}). */
export function csrSigningComponent(log?: Logger): ServerComponent {
  return async ({ kubeconfigPath, dataDir }) => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    return startCsrSigner({ kubeConfig, ca, log: log ?? createLogger('csrsigning') });
  };
}
