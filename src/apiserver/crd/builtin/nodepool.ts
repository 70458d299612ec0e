/**
 * OpenYurt's NodePool (apps.openyurt.io): v1beta2 stored, v1beta1 served, converted both ways. v1beta1 has no
 * place for v1beta2's interConnectivity / leader-election / poolScopeMetadata fields: a v1beta1 read carries them
 * in one annotation so a read-modify-write through v1beta1 (kubectl apply of a v1beta1 manifest) keeps them.
 * Admission as OpenYurt's NodePool webhook rules it: type Edge|Cloud, a name usable as a label value,
 * type / hostNetwork / interConnectivity immutable, no deletion while nodes are in the pool.
 */
import type { KubeObject } from '../../../apimachinery/object.js';
import { forbidden, type FieldError } from '../../../apimachinery/status.js';
import { NODEPOOL_NAME } from '../../../common/node-restriction.js';
import { ageColumn, s, versionOf, type BuiltinKind, type Crd } from './kinds.js';

export const APPS_OPENYURT_GROUP = 'apps.openyurt.io';
/** v1beta2-only spec fields, as JSON, on a NodePool read through v1beta1. */
export const NODEPOOL_V1BETA2_FIELDS_ANNOTATION = 'nodepool.kedge.io/v1beta2-fields';
const V1BETA2_ONLY = ['interConnectivity', 'leaderElectionStrategy', 'leaderNodeLabelSelector', 'enableLeaderElection', 'poolScopeMetadata', 'leaderReplicas'] as const;

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

const commonSpec = {
  type: s.str({ enum: ['Edge', 'Cloud'] }),
  hostNetwork: s.bool(),
  labels: s.strMap(),
  annotations: s.strMap(),
  taints: s.arr(s.taint()),
};
const commonStatus = { readyNodeNum: s.int(), unreadyNodeNum: s.int(), nodes: s.arr(s.str()) };
/** `kubectl get np`: type, ready/unready counts (then Age; v1beta2 adds the leader columns under -o wide). */
const poolColumns = [
  { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'The type of nodepool' },
  { name: 'ReadyNodes', type: 'integer', jsonPath: '.status.readyNodeNum', description: 'The number of ready nodes in the pool' },
  { name: 'NotReadyNodes', type: 'integer', jsonPath: '.status.unreadyNodeNum' },
];
const gvr = s.obj({ group: s.str(), version: s.str(), resource: s.str() }, { required: ['group', 'resource', 'version'] });

const nodePoolCrd: Crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'nodepools.apps.openyurt.io' },
  spec: {
    group: APPS_OPENYURT_GROUP,
    scope: 'Cluster',
    names: { plural: 'nodepools', singular: 'nodepool', kind: 'NodePool', listKind: 'NodePoolList', shortNames: ['np'], categories: ['yurt'] },
    versions: [
      {
        name: 'v1beta1', served: true, storage: false,
        subresources: { status: {} },
        additionalPrinterColumns: [...poolColumns, ageColumn],
        schema: { openAPIV3Schema: s.root(s.obj(commonSpec), s.obj(commonStatus)) },
      },
      {
        name: 'v1beta2', served: true, storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          ...poolColumns,
          { name: 'LeaderNodes', type: 'integer', jsonPath: '.status.leaderNum', description: 'The leader node of the nodepool', priority: 1 },
          { name: 'LeaderElectionAge', type: 'date', jsonPath: '.status.leaderLastElectedTime', description: 'The time when the leader yurthub is elected', priority: 1 },
          ageColumn,
        ],
        schema: {
          openAPIV3Schema: s.root(
            s.obj({
              ...commonSpec,
              interConnectivity: s.bool(),
              leaderElectionStrategy: s.str({ enum: ['random', 'mark'] }),
              leaderNodeLabelSelector: s.strMap(),
              enableLeaderElection: s.bool(),
              poolScopeMetadata: s.arr(gvr),
              leaderReplicas: s.int({ minimum: 1, maximum: 100 }),
            }),
            s.obj({
              ...commonStatus,
              leaderEndpoints: s.arr(s.obj({ nodeName: s.str(), address: s.str() }, { required: ['address', 'nodeName'] })),
              leaderNum: s.int(),
              leaderLastElectedTime: s.str({ format: 'date-time' }),
              conditions: s.arr(s.condition()),
            }),
          ),
        },
      },
    ],
  },
};

/** What OpenYurt's conversion fills in for a pool that never had v1beta2 fields. */
function v1beta2Defaults(): Record<string, unknown> {
  return { interConnectivity: false, leaderElectionStrategy: 'random', leaderReplicas: 1 };
}

function toV1beta2(obj: Obj): Obj {
  const out = structuredClone(obj);
  out.apiVersion = `${APPS_OPENYURT_GROUP}/v1beta2`;
  const md = (out.metadata ??= {});
  const carried = md.annotations?.[NODEPOOL_V1BETA2_FIELDS_ANNOTATION];
  let extra: Record<string, unknown> = v1beta2Defaults();
  if (carried !== undefined) {
    try {
      const parsed = JSON.parse(carried) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) extra = parsed as Record<string, unknown>;
    } catch {
      // An edited, unparsable annotation: keep OpenYurt's defaults rather than fail every read.
    }
    delete md.annotations![NODEPOOL_V1BETA2_FIELDS_ANNOTATION];
    if (Object.keys(md.annotations!).length === 0) delete md.annotations;
  }
  out.spec = { ...(out.spec ?? {}) };
  for (const k of V1BETA2_ONLY) if (extra[k] !== undefined) out.spec[k] = extra[k];
  return out;
}

function toV1beta1(obj: Obj): Obj {
  const out = structuredClone(obj);
  out.apiVersion = `${APPS_OPENYURT_GROUP}/v1beta1`;
  const spec = { ...(out.spec ?? {}) };
  const extra: Record<string, unknown> = {};
  for (const k of V1BETA2_ONLY) {
    if (spec[k] !== undefined) extra[k] = spec[k];
    delete spec[k];
  }
  out.spec = spec;
  if (out.status) {
    const { leaderEndpoints: _e, leaderNum: _n, leaderLastElectedTime: _t, conditions: _c, ...rest } = out.status;
    out.status = rest;
  }
  if (Object.keys(extra).length > 0) {
    const md = (out.metadata ??= {});
    md.annotations = { ...(md.annotations ?? {}), [NODEPOOL_V1BETA2_FIELDS_ANNOTATION]: JSON.stringify(extra) };
  }
  return out;
}

function validateNodePool(np: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const name = np.metadata?.name ?? '';
  if (!NODEPOOL_NAME.test(name)) {
    errs.push({ type: 'Invalid', field: 'metadata.name', value: name, detail: 'a NodePool name is the value of its nodes\' apps.openyurt.io/nodepool label: at most 63 characters, alphanumerics, \'-\', \'_\' or \'.\', starting and ending with an alphanumeric' });
  }
  const spec = np.spec ?? {};
  if (spec.type !== 'Edge' && spec.type !== 'Cloud') errs.push({ type: 'NotSupported', field: 'spec.type', value: spec.type, detail: 'supported values: "Cloud", "Edge"' });
  if (spec.enableLeaderElection === true && spec.leaderElectionStrategy === 'mark' && Object.keys((spec.leaderNodeLabelSelector as object | undefined) ?? {}).length === 0) {
    errs.push({ type: 'Required', field: 'spec.leaderNodeLabelSelector', detail: 'leaderNodeLabelSelector must be set when leaderElectionStrategy is mark' });
  }
  return errs;
}

function validateNodePoolUpdate(np: Obj, old: Obj): FieldError[] {
  const errs = validateNodePool(np);
  const spec = np.spec ?? {};
  const prev = old.spec ?? {};
  for (const field of ['type', 'hostNetwork', 'interConnectivity'] as const) {
    if ((spec[field] ?? defaultOf(field)) !== (prev[field] ?? defaultOf(field))) {
      errs.push({ type: 'Forbidden', field: `spec.${field}`, detail: `${field} of a NodePool cannot be changed after creation` });
    }
  }
  return errs;
}

function defaultOf(field: 'type' | 'hostNetwork' | 'interConnectivity'): unknown {
  return field === 'type' ? 'Edge' : false;
}

export const nodePoolKind: BuiltinKind = {
  crd: nodePoolCrd,
  convert(obj, toVersion) {
    if (versionOf(obj) === toVersion) return obj;
    if (toVersion === 'v1beta1') return toV1beta1(obj as Obj);
    if (toVersion === 'v1beta2') return toV1beta2(obj as Obj);
    throw new Error(`NodePool: no conversion to ${toVersion}`);
  },
  defaults(obj) {
    const spec = ((obj as Obj).spec ??= {});
    spec.type ??= 'Edge';
    spec.leaderElectionStrategy ??= 'random';
    spec.leaderReplicas ??= 1;
    spec.poolScopeMetadata ??= [
      { group: '', version: 'v1', resource: 'services' },
      { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' },
    ];
  },
  validate: (obj) => validateNodePool(obj as Obj),
  validateUpdate: (obj, old) => validateNodePoolUpdate(obj as Obj, old as Obj),
  beforeDelete(obj) {
    const nodes = ((obj as Obj).status?.nodes as string[] | undefined) ?? [];
    if (nodes.length > 0) {
      const name = obj.metadata?.name ?? '';
      const listed = `${nodes.slice(0, 5).join(', ')}${nodes.length > 5 ? ', …' : ''}`;
      throw forbidden({ group: APPS_OPENYURT_GROUP, resource: 'nodepools' }, name,
        `nodepool ${name} cannot be deleted while it has nodes (${listed}); remove their apps.openyurt.io/nodepool label first`);
    }
  },
};
