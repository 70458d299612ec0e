import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1Secret } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../../common/logger.js';
import { ensureCertificateAuthority, ensureServiceAccountKeyPair, pkiDir } from '../../../pki/index.js';
import type { ServerComponent } from '../../run.js';
import { serialInformerWorker } from '../serial-informer-worker.js';
import { ServiceAccountTokenIssuer } from './service-account-token.js';
import { loadClientNodeKubeConfig } from '../../../common/client-node-config.js';

/**
 * Upstream's token controller for legacy Secret-based tokens: a Secret of type kubernetes.io/service-account-token
 * annotated kubernetes.io/service-account.name gets data.token (a non-expiring JWT), data["ca.crt"] and
 * data.namespace. A Secret naming a missing ServiceAccount, or one whose UID annotation no longer matches, is
 * deleted, as upstream does. Old manifests and tutorials that create such Secrets keep working.
 */
export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
export const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid';

export interface LegacyTokenControllerOptions {
  kubeConfig: KubeConfig;
  issuer: ServiceAccountTokenIssuer;
  caCertPem: string;
  log?: Logger;
}

const needsToken = (s: V1Secret): boolean =>
  s.type === SERVICE_ACCOUNT_TOKEN_TYPE && !!s.metadata?.annotations?.[SA_NAME_ANNOTATION] && !s.data?.token && !s.metadata?.deletionTimestamp;

export async function startLegacyTokenController(opts: LegacyTokenControllerOptions): Promise<() => Promise<void>> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  // Only token Secrets are watched (field selector), so the controller does not mirror every Secret in memory.
  const fieldSelector = `type=${SERVICE_ACCOUNT_TOKEN_TYPE}`;
  const informer = new ListWatch<V1Secret>('/api/v1/secrets', new Watch(opts.kubeConfig), () => core.listSecretForAllNamespaces({ fieldSelector }), false, undefined, fieldSelector);
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  const populate = async (namespace: string, name: string): Promise<void> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      let secret: V1Secret;
      try {
        secret = await core.readNamespacedSecret({ namespace, name });
      } catch {
        return;
      }
      if (!needsToken(secret)) return;
      const saName = secret.metadata!.annotations![SA_NAME_ANNOTATION]!;
      const sa = await core.readNamespacedServiceAccount({ namespace, name: saName }).catch(() => null);
      const wantUid = secret.metadata?.annotations?.[SA_UID_ANNOTATION];
      const ageMs = Date.now() - new Date(secret.metadata?.creationTimestamp ?? 0).getTime();
      if (!sa && ageMs < 10_000) {
        // Manifests often create the Secret and its ServiceAccount together: give the account a moment to appear.
        setTimeout(() => worker.enqueue(secret), 1000).unref();
        return;
      }
      if (!sa || (wantUid && wantUid !== sa.metadata?.uid)) {
        opts.log?.info({ secret: `${namespace}/${name}`, serviceAccount: saName }, 'deleting token secret of a missing service account');
        await core.deleteNamespacedSecret({ namespace, name }).catch(() => undefined);
        return;
      }
      const uid = sa.metadata?.uid ?? '';
      const token = opts.issuer.issueLegacy({ namespace, serviceAccountName: saName, serviceAccountUid: uid, secretName: name });
      const body: V1Secret = {
        ...secret,
        metadata: { ...secret.metadata, annotations: { ...secret.metadata?.annotations, [SA_UID_ANNOTATION]: uid } },
        data: { ...(secret.data ?? {}), token: b64(token), 'ca.crt': b64(opts.caCertPem), namespace: b64(namespace) },
      };
      try {
        await core.replaceNamespacedSecret({ namespace, name, body });
        opts.log?.info({ secret: `${namespace}/${name}`, serviceAccount: saName }, 'populated service account token secret');
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409) {
          opts.log?.warn({ err, secret: `${namespace}/${name}` }, 'writing token secret failed');
          return;
        }
      }
    }
  };

  const worker = serialInformerWorker(informer, {
    keyOf: (secret) => (needsToken(secret) ? `${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}` : undefined),
    process: (key) => {
      const [namespace = '', name = ''] = key.split('/');
      return populate(namespace, name);
    },
    log: opts.log,
    what: 'token secret',
  });
  await worker.start();
  return worker.stop;
}

/** `kedge server` component, signing with the server's service account key (DATA_DIR/pki/sa.key). */
export function legacyTokenComponent(log?: Logger): ServerComponent {
  return async ({ kubeconfigPath, dataDir }) => {
    const kubeConfig = loadClientNodeKubeConfig(kubeconfigPath);
    const key = await ensureServiceAccountKeyPair(pkiDir(dataDir));
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    return startLegacyTokenController({ kubeConfig, issuer: new ServiceAccountTokenIssuer(key), caCertPem: ca.certPem, log: log ?? createLogger('tokens') });
  };
}
