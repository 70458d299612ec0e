/**
 * The built-in CRDs (OpenYurt's and SuperEdge's kinds here, KubeEdge's device API from src/common/device-crds.ts)
 * and their installation at server start. A CRD a user replaced with the project's own manifest is left alone:
 * its group/kind keeps Kedge's conversion and admission, as the project's webhooks would give it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../../common/logger.js';
import type { KubeObject } from '../../../apimachinery/object.js';
import { StatusError } from '../../../apimachinery/status.js';
import type { ObjectStore } from '../../objects.js';
import type { Registry, StrategyContext } from '../../registry.js';
import { BUILTIN_CRD_ANNOTATION } from '../../../common/device-crds.js';
import type { BuiltinKind, Crd } from './kinds.js';
import { nodePoolKind } from './nodepool.js';
import { yurtAppSetKind } from './yurtappset.js';
import { deploymentGridKind, serviceGridKind, statefulSetGridKind } from './superedge.js';
import { tenantKind } from './tenant.js';

export type { BuiltinKind } from './kinds.js';

export const builtinKinds: readonly BuiltinKind[] = [nodePoolKind, yurtAppSetKind, deploymentGridKind, statefulSetGridKind, serviceGridKind, tenantKind];

const byGroupKind = new Map(builtinKinds.map((k) => [`${k.crd.spec.group}/${k.crd.spec.names.kind}`, k]));

/** The conversion and admission hooks of a built-in group/kind, whichever CRD object serves it. */
export function builtinKindFor(group: string, kind: string): BuiltinKind | undefined {
  return byGroupKind.get(`${group}/${kind}`);
}

export interface InstallDeps {
  registry: Registry;
  objects: ObjectStore;
  systemContext: () => StrategyContext;
  log: Logger;
}

/** A built-in CRD's revision: the one it declares (BUILTIN_CRD_ANNOTATION), else a digest of its spec. */
function revisionOf(crd: Crd): string {
  return crd.metadata?.annotations?.[BUILTIN_CRD_ANNOTATION] ?? createHash('sha256').update(JSON.stringify(crd.spec)).digest('hex').slice(0, 16);
}

/**
 * Create each built-in CRD if absent, bring a copy Kedge installed from an older revision up to date, and leave a
 * CRD Kedge did not install (an operator's own copy of the project's manifest) untouched. Its resources are then
 * served by the CRD controller as for any CRD. Default: the pool kinds; the device API passes its own.
 */
export async function installBuiltinCrds(d: InstallDeps, crds: readonly Crd[] = builtinKinds.map((k) => k.crd)): Promise<void> {
  const def = d.registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  if (!def) throw new Error('CustomResourceDefinition resource is not registered');
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    const revision = revisionOf(crd);
    const want = structuredClone(crd) as unknown as KubeObject;
    want.metadata = { ...want.metadata, annotations: { ...(want.metadata?.annotations ?? {}), [BUILTIN_CRD_ANNOTATION]: revision } };
    let have: KubeObject | undefined;
    try {
      have = (await d.objects.get(def, '', name)).obj;
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 404)) throw err;
    }
    if (!have) {
      try {
        await d.objects.create(def, want, d.systemContext());
        d.log.info({ crd: name }, 'installed built-in CustomResourceDefinition');
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 409)) throw err;
      }
      continue;
    }
    const installed = have.metadata?.annotations?.[BUILTIN_CRD_ANNOTATION];
    if (installed === undefined) {
      d.log.info({ crd: name }, 'CustomResourceDefinition exists and was not installed by Kedge: left as it is');
      continue;
    }
    if (installed === revision) continue;
    await d.objects.update(def, '', name, d.systemContext(), (cur) => ({
      ...cur,
      metadata: { ...cur.metadata, annotations: { ...(cur.metadata?.annotations ?? {}), [BUILTIN_CRD_ANNOTATION]: revision } },
      spec: (want as { spec?: unknown }).spec,
    }) as KubeObject);
    d.log.info({ crd: name, from: installed, to: revision }, 'updated built-in CustomResourceDefinition');
  }
}
