/**
 * Root-CA publisher (upstream's kube-controller-manager root-ca-cert-publisher, done in-process here because the
 * embedded API server knows its CA): every namespace holds ConfigMap `kube-root-ca.crt` with `ca.crt` = the cluster
 * CA, so the projected `kube-api-access-*` volume of every pod can be filled. Recreated when deleted, restored when
 * edited. Lives in the API server, so `kedge cloud` against another cluster is untouched (that cluster publishes its own).
 */
import type { KubeObject } from '../apimachinery/object.js';
import { StatusError } from '../apimachinery/status.js';
import type { Logger } from '../common/logger.js';
import type { ObjectStore } from './objects.js';
import type { ResourceDef, StrategyContext } from './registry.js';
import { ROOT_CA_CONFIGMAP } from './serviceaccount-admission.js';

export interface RootCaPublisherDeps {
  objects: ObjectStore;
  configMapDef: ResourceDef;
  systemContext: (ns: string) => StrategyContext;
  caPem: string;
  log: Logger;
}

export function rootCaConfigMap(namespace: string, caPem: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } },
    data: { 'ca.crt': caPem },
  } as KubeObject;
}

export function createRootCaPublisher(d: RootCaPublisherDeps) {
  /** Expected failures: it exists (409), the namespace is gone or terminating (404/403). */
  const benign = (err: unknown) => err instanceof StatusError && (err.code === 409 || err.code === 404 || err.code === 403);
  const ensure = async (ns: string): Promise<void> => {
    try {
      const cur = await d.objects.get(d.configMapDef, ns, ROOT_CA_CONFIGMAP).then((r) => r.obj as KubeObject & { data?: Record<string, string> }, () => null);
      if (!cur) {
        await d.objects.create(d.configMapDef, rootCaConfigMap(ns, d.caPem), d.systemContext(ns));
      } else if (cur.data?.['ca.crt'] !== d.caPem) {
        await d.objects.update(d.configMapDef, ns, ROOT_CA_CONFIGMAP, d.systemContext(ns), (o) => ({ ...o, data: { ...(o as { data?: object }).data, 'ca.crt': d.caPem } } as KubeObject));
      }
    } catch (err) {
      if (!benign(err)) d.log.warn({ err, ns }, 'root CA configmap');
    }
  };
  /** Strategy wrapper for configmaps: deleting or editing kube-root-ca.crt puts it back (after the write returns). */
  const wrapConfigMapDef = (def: ResourceDef): ResourceDef => ({
    ...def,
    strategy: {
      ...def.strategy,
      afterDelete: async (obj) => {
        await def.strategy.afterDelete?.(obj);
        if (obj.metadata?.name === ROOT_CA_CONFIGMAP) setImmediate(() => void ensure(obj.metadata!.namespace!));
      },
    },
  });
  return { ensure, wrapConfigMapDef };
}
