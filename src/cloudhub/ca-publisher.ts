/**
 * The hub tells the cluster which CA it serves with: a ConfigMap kube-system/kedge-cloudhub with `ca.crt`.
 * `kedge token create --kubeconfig` reads it (through the same authenticated API the token is written to) and
 * prints that CA's hash, so the hash an edge pins is the hub's — `kedge cloud` has a CA of its own, not the
 * cluster's — for `kedge server` and `kedge cloud` alike. Only the certificate is published, never the key.
 */
import type { Logger } from '../common/logger.js';
import type { KubeClient } from '../common/kube-client.js';

export const HUB_CA_CONFIGMAP = { namespace: 'kube-system', name: 'kedge-cloudhub', key: 'ca.crt' } as const;

const path = `/api/v1/namespaces/${HUB_CA_CONFIGMAP.namespace}/configmaps`;

/** Creates or updates the ConfigMap; a failure is logged (the hub still serves; `token create --ca-cert` remains). */
export async function publishHubCa(api: KubeClient, caCertPem: string, log: Logger): Promise<void> {
  const body = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: HUB_CA_CONFIGMAP.name, namespace: HUB_CA_CONFIGMAP.namespace, labels: { 'app.kubernetes.io/managed-by': 'kedge' } },
    data: { [HUB_CA_CONFIGMAP.key]: caCertPem },
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const cur = await api.request<{ metadata: { resourceVersion?: string }; data?: Record<string, string> }>('GET', `${path}/${HUB_CA_CONFIGMAP.name}`).catch((err: { code?: number }) => {
        if (err.code === 404) return undefined;
        throw err;
      });
      if (!cur) await api.request('POST', path, body);
      else if (cur.data?.[HUB_CA_CONFIGMAP.key] !== caCertPem) {
        await api.request('PUT', `${path}/${HUB_CA_CONFIGMAP.name}`, { ...body, metadata: { ...body.metadata, resourceVersion: cur.metadata.resourceVersion } });
      }
      return;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409) continue;
      log.warn({ err: String(err) }, `could not publish the hub CA in ${HUB_CA_CONFIGMAP.namespace}/${HUB_CA_CONFIGMAP.name}; \`kedge token create\` then needs --ca-cert`);
      return;
    }
  }
}
