/**
 * The built-in CRDs and their installation: at server start each is created if missing, and a stored one that
 * still carries Kedge's label is brought up to Kedge's current definition (an upgrade). A CRD a user replaced
 * with the project's own manifest (no label) is left alone: its group/kind keeps Kedge's conversion and
 * admission, as the project's webhooks would give it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../../common/logger.js';
import type { KubeObject } from '../../../apimachinery/object.js';
import { StatusError } from '../../../apimachinery/status.js';
import type { ObjectStore } from '../../objects.js';
import type { Registry, StrategyContext } from '../../registry.js';
import { BUILTIN_CRD_LABEL, type BuiltinKind } from './kinds.js';
import { nodePoolKind } from './nodepool.js';
import { yurtAppSetKind } from './yurtappset.js';
import { deploymentGridKind, serviceGridKind, statefulSetGridKind } from './superedge.js';

export { BUILTIN_CRD_LABEL, type BuiltinKind } from './kinds.js';

export const builtinKinds: readonly BuiltinKind[] = [nodePoolKind, yurtAppSetKind, deploymentGridKind, statefulSetGridKind, serviceGridKind];

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

/** The label value: a digest of Kedge's definition, so a start after an upgrade knows the stored one is older. */
function definitionDigest(k: BuiltinKind): string {
  return createHash('sha256').update(JSON.stringify(k.crd.spec)).digest('hex').slice(0, 16);
}

function desiredCrd(k: BuiltinKind): KubeObject {
  const crd = structuredClone(k.crd) as unknown as KubeObject;
  crd.metadata = { ...crd.metadata, labels: { [BUILTIN_CRD_LABEL]: definitionDigest(k) } };
  return crd;
}

/** Create (or upgrade) every built-in CRD; its resources are then served by the CRD controller as for any CRD. */
export async function installBuiltinCrds(d: InstallDeps): Promise<void> {
  const def = d.registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  if (!def) throw new Error('CustomResourceDefinition resource is not registered');
  for (const k of builtinKinds) {
    const name = k.crd.metadata!.name!;
    const want = desiredCrd(k);
    try {
      const { obj: have } = await d.objects.get(def, '', name);
      const digest = have.metadata?.labels?.[BUILTIN_CRD_LABEL];
      if (digest === undefined || digest === want.metadata!.labels![BUILTIN_CRD_LABEL]) continue;
      await d.objects.update(def, '', name, d.systemContext(), (cur) => ({
        ...cur,
        metadata: { ...cur.metadata, labels: { ...(cur.metadata?.labels ?? {}), ...want.metadata!.labels } },
        spec: (want as { spec?: unknown }).spec,
      }) as KubeObject);
      d.log.info({ crd: name }, 'built-in CustomResourceDefinition upgraded');
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 404)) throw err;
      await d.objects.create(def, want, d.systemContext());
      d.log.info({ crd: name }, 'built-in CustomResourceDefinition installed');
    }
  }
}
