/**
 * OpenYurt's YurtAppSet (apps.openyurt.io): v1beta1 stored, v1alpha1 served. Conversion follows OpenYurt's
 * (pools from each topology pool's `apps.openyurt.io/nodepool In [...]` term, its replicas as a replicas tweak),
 * and goes further where OpenYurt drops data: a v1alpha1 pool's container-image changes in `patch` become
 * containerImages tweaks and its tolerations a JSON-patch tweak, so a v1alpha1 manifest deploys what it says.
 * The v1alpha1 topology is also kept in an annotation so a read back through v1alpha1 returns it unchanged.
 */
import type { KubeObject } from '../../../apimachinery/object.js';
import type { FieldError } from '../../../apimachinery/status.js';
import { APPS_OPENYURT_GROUP } from './nodepool.js';
import { ageColumn, s, versionOf, type BuiltinKind, type Crd } from './kinds.js';

export const NODEPOOL_LABEL_KEY = 'apps.openyurt.io/nodepool';
/** The v1alpha1 spec.topology / spec.selector, as JSON, carried on the stored v1beta1 object. */
export const YURTAPPSET_V1ALPHA1_ANNOTATION = 'yurtappset.kedge.io/v1alpha1-topology';

type Json = Record<string, unknown>;
type Obj = KubeObject & { spec?: Json; status?: Json };
interface Tweak { pools?: string[]; nodepoolSelector?: unknown; tweaks: { replicas?: number; containerImages?: Array<{ name: string; targetImage: string }>; patches?: Array<{ path: string; operation: string; value?: unknown }> } }
interface AlphaPool { name: string; nodeSelectorTerm?: { matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }; tolerations?: unknown[]; replicas?: number; patch?: Json }

const template = () => s.obj({ metadata: s.free(), spec: s.free() }, { required: ['spec'] });
const workloadTemplate = () => s.obj({ deploymentTemplate: template(), statefulSetTemplate: template() });
const conditions = () => s.arr(s.condition());

const v1beta1Schema = s.root(
  s.obj({
    workload: s.obj({
      workloadTemplate: workloadTemplate(),
      workloadTweaks: s.arr(s.obj({
        nodepoolSelector: s.labelSelector(),
        pools: s.arr(s.str()),
        tweaks: s.obj({
          replicas: s.int(),
          containerImages: s.arr(s.obj({ name: s.str(), targetImage: s.str() }, { required: ['name', 'targetImage'] })),
          patches: s.arr(s.obj({ path: s.str(), operation: s.str({ enum: ['add', 'remove', 'replace'] }), value: s.anyValue() }, { required: ['operation', 'path'] })),
        }),
      }, { required: ['tweaks'] })),
    }, { required: ['workloadTemplate'] }),
    nodepoolSelector: s.labelSelector(),
    pools: s.arr(s.str()),
    revisionHistoryLimit: s.int(),
  }, { required: ['workload'] }),
  s.obj({
    observedGeneration: s.int64(), collisionCount: s.int(), currentRevision: s.str(), conditions: conditions(),
    readyWorkloads: s.int(), updatedWorkloads: s.int(), totalWorkloads: s.int(),
  }),
);

const v1alpha1Schema = s.root(
  s.obj({
    selector: s.labelSelector(),
    workloadTemplate: workloadTemplate(),
    topology: s.obj({
      pools: s.arr(s.obj({
        name: s.str(),
        nodeSelectorTerm: s.free(),
        tolerations: s.arr(s.free()),
        replicas: s.int(),
        patch: s.free(),
      }, { required: ['name'] })),
    }),
    revisionHistoryLimit: s.int(),
  }),
  s.obj({
    observedGeneration: s.int64(), collisionCount: s.int(), currentRevision: s.str(), conditions: conditions(),
    workloadSummary: s.arr(s.obj({ availableCondition: s.str(), replicas: s.int(), readyReplicas: s.int(), workloadName: s.str() })),
    overriderRef: s.str(), poolReplicas: { type: 'object', additionalProperties: s.int() },
    readyReplicas: s.int(), replicas: s.int(), templateType: s.str(),
  }),
);

const yurtAppSetCrd: Crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'yurtappsets.apps.openyurt.io' },
  spec: {
    group: APPS_OPENYURT_GROUP,
    scope: 'Namespaced',
    names: { plural: 'yurtappsets', singular: 'yurtappset', kind: 'YurtAppSet', listKind: 'YurtAppSetList', shortNames: ['yas'], categories: ['yurt'] },
    versions: [
      {
        name: 'v1alpha1', served: true, storage: false, deprecated: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'READY', type: 'integer', jsonPath: '.status.readyReplicas', description: 'The number of pods ready.' },
          { name: 'WorkloadTemplate', type: 'string', jsonPath: '.status.templateType', description: 'The WorkloadTemplate Type.' },
          { ...ageColumn, name: 'AGE' },
        ],
        schema: { openAPIV3Schema: v1alpha1Schema },
      },
      {
        name: 'v1beta1', served: true, storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'TOTAL', type: 'integer', jsonPath: '.status.totalWorkloads', description: 'The total number of workloads.' },
          { name: 'READY', type: 'integer', jsonPath: '.status.readyWorkloads', description: 'The number of workloads ready.' },
          { name: 'UPDATED', type: 'integer', jsonPath: '.status.updatedWorkloads', description: 'The number of workloads updated.' },
          { ...ageColumn, name: 'AGE' },
        ],
        schema: { openAPIV3Schema: v1beta1Schema },
      },
    ],
  },
};

/** The pools a v1alpha1 topology pool names: `apps.openyurt.io/nodepool In [..]` values, else the pool's own name. */
function poolsOfAlphaPool(p: AlphaPool): string[] {
  const exprs = p.nodeSelectorTerm?.matchExpressions ?? [];
  const term = exprs.find((e) => e.key === NODEPOOL_LABEL_KEY && e.operator === 'In');
  return term?.values?.length ? term.values : [p.name];
}

function templateOf(spec: Json): { kind: 'deploymentTemplate' | 'statefulSetTemplate'; tpl: Json } | undefined {
  const wt = (spec.workloadTemplate ?? (spec.workload as Json | undefined)?.workloadTemplate) as Json | undefined;
  if (wt?.deploymentTemplate) return { kind: 'deploymentTemplate', tpl: wt.deploymentTemplate as Json };
  if (wt?.statefulSetTemplate) return { kind: 'statefulSetTemplate', tpl: wt.statefulSetTemplate as Json };
  return undefined;
}

function alphaToBeta(obj: Obj): Obj {
  const out = structuredClone(obj);
  out.apiVersion = `${APPS_OPENYURT_GROUP}/v1beta1`;
  const spec = out.spec ?? {};
  const alphaPools = (((spec.topology as Json | undefined)?.pools ?? []) as AlphaPool[]);
  const pools: string[] = [];
  const tweaks: Tweak[] = [];
  const found = templateOf(spec);
  const podSpec = (((found?.tpl.spec as Json | undefined)?.template as Json | undefined)?.spec ?? {}) as Json;
  for (const p of alphaPools) {
    const names = poolsOfAlphaPool(p);
    pools.push(...names);
    const t: Tweak['tweaks'] = {};
    const patchSpec = (p.patch?.spec ?? {}) as Json;
    const replicas = typeof patchSpec.replicas === 'number' ? patchSpec.replicas : p.replicas;
    if (typeof replicas === 'number') t.replicas = replicas;
    const patchedContainers = ((((patchSpec.template as Json | undefined)?.spec as Json | undefined)?.containers ?? []) as Array<{ name?: string; image?: string }>);
    const images = patchedContainers.filter((c) => c.name && c.image).map((c) => ({ name: c.name!, targetImage: c.image! }));
    if (images.length) t.containerImages = images;
    if (p.tolerations?.length) {
      t.patches = [{ path: '/spec/template/spec/tolerations', operation: 'add', value: [...((podSpec.tolerations as unknown[] | undefined) ?? []), ...p.tolerations] }];
    }
    if (Object.keys(t).length) tweaks.push({ pools: names, tweaks: t });
  }
  // v1alpha1 keeps the selector beside the template; a workload needs it in its own spec (OpenYurt's v1alpha1
  // controller put it there when it created the workload).
  if (found && spec.selector && !(found.tpl.spec as Json | undefined)?.selector) found.tpl.spec = { ...((found.tpl.spec as Json | undefined) ?? {}), selector: spec.selector };
  const workload: Json = { workloadTemplate: found ? { [found.kind]: found.tpl } : {} };
  if (tweaks.length) workload.workloadTweaks = tweaks;
  const beta: Json = { workload, pools };
  if (spec.revisionHistoryLimit !== undefined) beta.revisionHistoryLimit = spec.revisionHistoryLimit;
  out.spec = beta;
  const md = (out.metadata ??= {});
  md.annotations = { ...(md.annotations ?? {}), [YURTAPPSET_V1ALPHA1_ANNOTATION]: JSON.stringify({ selector: spec.selector, topology: spec.topology ?? {} }) };
  if (out.status) out.status = alphaStatusToBeta(out.status);
  return out;
}

function alphaStatusToBeta(st: Json): Json {
  const summaries = (st.workloadSummary ?? []) as Array<{ replicas?: number; readyReplicas?: number }>;
  const out: Json = {
    currentRevision: st.currentRevision ?? '',
    totalWorkloads: Object.keys((st.poolReplicas as Json | undefined) ?? {}).length,
    readyWorkloads: summaries.filter((w) => (w.readyReplicas ?? 0) === (w.replicas ?? 0)).length,
    updatedWorkloads: 0,
    conditions: st.conditions ?? [],
  };
  if (st.observedGeneration !== undefined) out.observedGeneration = st.observedGeneration;
  if (st.collisionCount !== undefined) out.collisionCount = st.collisionCount;
  return out;
}

function betaToAlpha(obj: Obj): Obj {
  const out = structuredClone(obj);
  out.apiVersion = `${APPS_OPENYURT_GROUP}/v1alpha1`;
  const spec = out.spec ?? {};
  const found = templateOf(spec);
  const tplSpec = (found?.tpl.spec ?? {}) as Json;
  const defaultReplicas = typeof tplSpec.replicas === 'number' ? tplSpec.replicas : 0;
  const md = (out.metadata ??= {});
  const carried = md.annotations?.[YURTAPPSET_V1ALPHA1_ANNOTATION];
  if (carried !== undefined) {
    delete md.annotations![YURTAPPSET_V1ALPHA1_ANNOTATION];
    if (Object.keys(md.annotations!).length === 0) delete md.annotations;
  }
  let alpha: Json | undefined;
  try {
    alpha = carried ? (JSON.parse(carried) as Json) : undefined;
  } catch {
    alpha = undefined;
  }
  const tweaks = (((spec.workload as Json | undefined)?.workloadTweaks ?? []) as Tweak[]);
  const pools = ((spec.pools ?? []) as string[]).map((name): AlphaPool => {
    let replicas = defaultReplicas;
    for (const t of tweaks) if (t.pools?.includes(name) && typeof t.tweaks?.replicas === 'number') replicas = t.tweaks.replicas;
    return { name, nodeSelectorTerm: { matchExpressions: [{ key: NODEPOOL_LABEL_KEY, operator: 'In', values: [name] }] }, replicas };
  });
  out.spec = {
    selector: alpha?.selector ?? (tplSpec.selector as Json | undefined) ?? {},
    workloadTemplate: found ? { [found.kind]: found.tpl } : {},
    topology: (alpha?.topology as Json | undefined) ?? { pools },
    ...(spec.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: spec.revisionHistoryLimit } : {}),
  };
  if (out.status) {
    const st = out.status;
    const poolReplicas: Record<string, number> = {};
    for (const p of pools) poolReplicas[p.name] = p.replicas ?? 0;
    out.status = {
      currentRevision: st.currentRevision ?? '',
      conditions: st.conditions ?? [],
      poolReplicas,
      replicas: Number(st.totalWorkloads ?? 0) * defaultReplicas,
      readyReplicas: Number(st.readyWorkloads ?? 0) * defaultReplicas,
      templateType: found?.kind === 'statefulSetTemplate' ? 'StatefulSet' : 'Deployment',
      ...(st.observedGeneration !== undefined ? { observedGeneration: st.observedGeneration } : {}),
    };
  }
  return out;
}

function validateYurtAppSet(obj: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const wt = ((obj.spec?.workload as Json | undefined)?.workloadTemplate ?? {}) as Json;
  const both = !!wt.deploymentTemplate && !!wt.statefulSetTemplate;
  if (both) errs.push({ type: 'Invalid', field: 'spec.workload.workloadTemplate', value: 'deploymentTemplate+statefulSetTemplate', detail: 'only one of deploymentTemplate and statefulSetTemplate may be set' });
  if (!wt.deploymentTemplate && !wt.statefulSetTemplate) errs.push({ type: 'Required', field: 'spec.workload.workloadTemplate', detail: 'one of deploymentTemplate or statefulSetTemplate is required' });
  if (!obj.spec?.pools && !obj.spec?.nodepoolSelector) errs.push({ type: 'Required', field: 'spec.pools', detail: 'pools or nodepoolSelector is required' });
  const tweaks = (((obj.spec?.workload as Json | undefined)?.workloadTweaks ?? []) as Tweak[]);
  tweaks.forEach((t, i) => {
    for (const [j, p] of (t.tweaks?.patches ?? []).entries()) {
      if (typeof p.path !== 'string' || !p.path.startsWith('/')) errs.push({ type: 'Invalid', field: `spec.workload.workloadTweaks[${i}].tweaks.patches[${j}].path`, value: p.path, detail: 'must be a JSON pointer starting with /' });
    }
  });
  return errs;
}

export const yurtAppSetKind: BuiltinKind = {
  crd: yurtAppSetCrd,
  convert(obj, toVersion) {
    if (versionOf(obj) === toVersion) return obj;
    if (toVersion === 'v1beta1') return alphaToBeta(obj as Obj);
    if (toVersion === 'v1alpha1') return betaToAlpha(obj as Obj);
    throw new Error(`YurtAppSet: no conversion to ${toVersion}`);
  },
  defaults(obj) {
    const spec = ((obj as Obj).spec ??= {});
    spec.revisionHistoryLimit ??= 10;
  },
  validate: (obj) => validateYurtAppSet(obj as Obj),
  validateUpdate: (obj) => validateYurtAppSet(obj as Obj),
};
