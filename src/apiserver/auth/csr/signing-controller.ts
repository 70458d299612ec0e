import { CertificatesV1Api, KubeConfig, makeInformer, type V1CertificateSigningRequest } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../../common/logger.js';
import { ensureCertificateAuthority, pkiDir, type CertificateAuthority } from '../../../pki/index.js';
import type { ServerComponent } from '../../run.js';
import { serialInformerWorker } from '../serial-informer-worker.js';
import { needsSigning, signCsrObject } from './signers.js';
import { loadClientNodeKubeConfig } from '../../../common/client-node-config.js';

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

  const worker = serialInformerWorker(informer, {
    keyOf: (csr) => (needsSigning(csr) ? csr.metadata?.name : undefined),
    process: processOne,
    log: opts.log,
    what: 'CSR signing',
  });
  await worker.start();
  return worker.stop;
}

/** `kedge server` component: signs with the embedded control plane's CA (DATA_DIR/pki/ca.{crt,key}). */
export function csrSigningComponent(log?: Logger): ServerComponent {
  return async ({ kubeconfigPath, dataDir }) => {
    const kubeConfig = loadClientNodeKubeConfig(kubeconfigPath);
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    return startCsrSigner({ kubeConfig, ca, log: log ?? createLogger('csrsigning') });
  };
}
