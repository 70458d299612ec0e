/** Resources of the smaller API groups: coordination, discovery, events.k8s.io, rbac, certificates, apiextensions. */
import type { FieldError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import { age, builtin, col, str, table, type Obj } from './helpers.js';

export const leasesDef: ResourceDef = builtin({
  group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', singular: 'lease', namespaced: true, tracksGeneration: false,
  table: table([col('Holder'), col('Age')], (l, now) => [l.spec?.holderIdentity ?? '', age(l, now)]),
});

export const endpointSlicesDef: ResourceDef = builtin({
  group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', singular: 'endpointslice', namespaced: true, tracksGeneration: true,
  strategy: {
    validate(obj) {
      const o = obj as Obj;
      const errs: FieldError[] = [];
      if (!['IPv4', 'IPv6', 'FQDN'].includes(o.addressType)) errs.push({ type: 'NotSupported', field: 'addressType', value: o.addressType ?? '', supported: ['FQDN', 'IPv4', 'IPv6'] });
      return errs;
    },
  },
  table: table([col('AddressType'), col('Ports'), col('Endpoints'), col('Age')], (e, now) => {
    const ports = ((e.ports ?? []) as Obj[]).map((p) => p.port).filter((p) => p !== undefined);
    const addrs = ((e.endpoints ?? []) as Obj[]).flatMap((ep) => ep.addresses ?? []);
    const shown = addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
    return [e.addressType ?? '', ports.length ? ports.join(',') : '<unset>', shown || '<unset>', age(e, now)];
  }),
});

function defined(o: Obj): Obj {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** events.k8s.io/v1 ⇄ core/v1 Event field mapping (upstream's conversion; both versions are one stored object). */
export function eventToV1(e: Obj): Obj {
  return defined({
    apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: e.metadata, eventTime: e.eventTime ?? null,
    series: e.series ? defined({ count: e.series.count, lastObservedTime: e.series.lastObservedTime }) : undefined,
    reportingController: e.reportingComponent || undefined, reportingInstance: e.reportingInstance || undefined,
    action: e.action, reason: e.reason, regarding: e.involvedObject, related: e.related, note: e.message, type: e.type,
    deprecatedSource: e.source, deprecatedFirstTimestamp: e.firstTimestamp, deprecatedLastTimestamp: e.lastTimestamp, deprecatedCount: e.count,
  });
}

export function eventToCore(v: Obj): Obj {
  return defined({
    apiVersion: 'v1', kind: 'Event', metadata: v.metadata, involvedObject: v.regarding ?? {}, reason: v.reason, message: v.note,
    source: v.deprecatedSource, firstTimestamp: v.deprecatedFirstTimestamp, lastTimestamp: v.deprecatedLastTimestamp, count: v.deprecatedCount,
    type: v.type, eventTime: v.eventTime ?? undefined, series: v.series, action: v.action, related: v.related,
    reportingComponent: v.reportingController ?? '', reportingInstance: v.reportingInstance ?? '',
  });
}

export const eventsV1Def: ResourceDef = builtin({
  group: 'events.k8s.io', version: 'v1', resource: 'events', kind: 'Event', singular: 'event', namespaced: true, shortNames: ['ev'], tracksGeneration: false,
  storagePrefix: '/registry/core/events/',
  convert: { fromStorage: (o) => eventToV1(o as Obj), toStorage: (o) => eventToCore(o as Obj) },
  table: table([col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Message')], (e, now) => [
    age({ metadata: { creationTimestamp: e.series?.lastObservedTime ?? e.eventTime ?? e.metadata?.creationTimestamp } } as never, now),
    e.type ?? '', e.reason ?? '', `${String(e.regarding?.kind ?? '').toLowerCase()}/${e.regarding?.name ?? ''}`, e.note ?? '']),
});

const rbacBase = { group: 'rbac.authorization.k8s.io', version: 'v1', nameValidation: 'pathSegment' as const, tracksGeneration: false };

function validateRules(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  ((o.rules ?? []) as Obj[]).forEach((r, i) => {
    if (!(r.verbs ?? []).length) errs.push({ type: 'Required', field: `rules[${i}].verbs`, detail: 'verbs must contain at least one value' });
    if ((r.nonResourceURLs ?? []).length && o.metadata?.namespace) errs.push({ type: 'Invalid', field: `rules[${i}].nonResourceURLs`, value: r.nonResourceURLs, detail: 'namespaced rules cannot apply to non-resource URLs' });
    if (!(r.nonResourceURLs ?? []).length && !(r.resources ?? []).length) errs.push({ type: 'Required', field: `rules[${i}].resources`, detail: 'resource rules must supply at least one resource' });
    if ((r.resources ?? []).length && !(r.apiGroups ?? []).length) errs.push({ type: 'Required', field: `rules[${i}].apiGroups`, detail: 'resource rules must supply at least one api group' });
  });
  return errs;
}

function validateBinding(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const ref = o.roleRef ?? {};
  if (!ref.name) errs.push({ type: 'Required', field: 'roleRef.name' });
  if (!['Role', 'ClusterRole'].includes(ref.kind)) errs.push({ type: 'NotSupported', field: 'roleRef.kind', value: ref.kind ?? '', supported: ['ClusterRole', 'Role'] });
  if (ref.apiGroup !== 'rbac.authorization.k8s.io') errs.push({ type: 'NotSupported', field: 'roleRef.apiGroup', value: ref.apiGroup ?? '', supported: ['rbac.authorization.k8s.io'] });
  ((o.subjects ?? []) as Obj[]).forEach((s, i) => {
    if (!['User', 'Group', 'ServiceAccount'].includes(s.kind)) errs.push({ type: 'NotSupported', field: `subjects[${i}].kind`, value: s.kind ?? '', supported: ['Group', 'ServiceAccount', 'User'] });
    if (!s.name) errs.push({ type: 'Required', field: `subjects[${i}].name` });
  });
  return errs;
}

function bindingImmutable(n: Obj, o: Obj): FieldError[] {
  return JSON.stringify(n.roleRef) !== JSON.stringify(o.roleRef) ? [{ type: 'Invalid', field: 'roleRef', value: n.roleRef, detail: 'cannot change roleRef' }] : [];
}

const bindingTable = table([col('Role'), col('Age'), col('Users', 'string', 1), col('Groups', 'string', 1), col('ServiceAccounts', 'string', 1)], (b, now) => {
  const subs = (b.subjects ?? []) as Obj[];
  const of = (k: string) => subs.filter((s) => s.kind === k).map((s) => (k === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name)).join(', ');
  return [`${b.roleRef?.kind ?? ''}/${b.roleRef?.name ?? ''}`, age(b, now), of('User'), of('Group'), of('ServiceAccount')];
});
const roleTable = table([{ name: 'Created At', type: 'date' }], (r) => [r.metadata?.creationTimestamp ?? '']);

export const rolesDef: ResourceDef = builtin({ ...rbacBase, resource: 'roles', kind: 'Role', singular: 'role', namespaced: true, strategy: { validate: (o) => validateRules(o as Obj) }, table: roleTable });
export const clusterRolesDef: ResourceDef = builtin({ ...rbacBase, resource: 'clusterroles', kind: 'ClusterRole', singular: 'clusterrole', namespaced: false, strategy: { validate: (o) => ((o as Obj).aggregationRule ? [] : validateRules(o as Obj)) }, table: roleTable });
export const roleBindingsDef: ResourceDef = builtin({ ...rbacBase, resource: 'rolebindings', kind: 'RoleBinding', singular: 'rolebinding', namespaced: true,
  strategy: { validate: (o) => validateBinding(o as Obj), validateUpdate: (n, o) => [...validateBinding(n as Obj), ...bindingImmutable(n as Obj, o as Obj)] }, table: bindingTable });
export const clusterRoleBindingsDef: ResourceDef = builtin({ ...rbacBase, resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', singular: 'clusterrolebinding', namespaced: false,
  strategy: { validate: (o) => validateBinding(o as Obj), validateUpdate: (n, o) => [...validateBinding(n as Obj), ...bindingImmutable(n as Obj, o as Obj)] }, table: bindingTable });

function csrCondition(c: Obj): string {
  const conds = (c.status?.conditions ?? []) as Obj[];
  const parts: string[] = [];
  for (const t of ['Approved', 'Denied', 'Failed']) if (conds.some((x) => x.type === t)) parts.push(t);
  if (c.status?.certificate) parts.push('Issued');
  return parts.length ? parts.join(',') : 'Pending';
}

export const csrDef: ResourceDef = builtin({
  group: 'certificates.k8s.io', version: 'v1', resource: 'certificatesigningrequests', kind: 'CertificateSigningRequest', singular: 'certificatesigningrequest',
  namespaced: false, shortNames: ['csr'], subresources: ['status', 'approval'], tracksGeneration: false,
  strategy: {
    prepareForCreate(obj, ctx) {
      const o = obj as Obj;
      // The requester's identity is recorded from the authenticated user, never from the body.
      o.spec = { ...(o.spec ?? {}), username: ctx.user.username, groups: ctx.user.groups, uid: ctx.user.uid, extra: ctx.user.extra };
      if (!o.spec.uid) delete o.spec.uid;
      if (!o.spec.extra) delete o.spec.extra;
      o.status = {};
    },
    prepareForUpdate(obj, old, ctx) {
      const o = obj as Obj;
      o.spec = (old as Obj).spec;
      if (ctx.subresource === 'approval') {
        // The approval subresource changes only the Approved/Denied conditions.
        const conds = ((o.status?.conditions ?? []) as Obj[]);
        o.status = { ...((old as Obj).status ?? {}), conditions: conds };
      } else if (ctx.subresource === 'status') {
        const oldConds = (((old as Obj).status?.conditions ?? []) as Obj[]).filter((c) => c.type === 'Approved' || c.type === 'Denied');
        const newConds = (((o.status ?? {}).conditions ?? []) as Obj[]).filter((c) => c.type !== 'Approved' && c.type !== 'Denied');
        o.status = { ...(o.status ?? {}), conditions: [...oldConds, ...newConds] };
        if (!o.status.conditions.length) delete o.status.conditions;
      }
    },
    validate(obj) {
      const s = ((obj as Obj).spec ?? {}) as Obj;
      const errs: FieldError[] = [];
      if (!s.request) errs.push({ type: 'Required', field: 'spec.request' });
      if (!s.signerName) errs.push({ type: 'Required', field: 'spec.signerName' });
      if (!(s.usages ?? []).length) errs.push({ type: 'Required', field: 'spec.usages' });
      const conds = (((obj as Obj).status?.conditions ?? []) as Obj[]);
      if (conds.some((c) => c.type === 'Approved') && conds.some((c) => c.type === 'Denied')) {
        errs.push({ type: 'Invalid', field: 'status.conditions', value: conds, detail: 'Approved and Denied conditions are mutually exclusive' });
      }
      return errs;
    },
  },
  fields: { 'spec.signerName': (o) => (o as Obj).spec?.signerName },
  table: table([col('Age'), col('SignerName'), col('Requestor'), col('RequestedDuration'), col('Condition')], (c, now) => [
    age(c, now), c.spec?.signerName ?? '', c.spec?.username ?? '', c.spec?.expirationSeconds ? `${Math.round(c.spec.expirationSeconds / 60)}m` : '<none>', csrCondition(c)]),
});

export const crdDef: ResourceDef = builtin({
  group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', kind: 'CustomResourceDefinition', singular: 'customresourcedefinition',
  namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], subresources: ['status'],
  strategy: { prepareForCreate(obj) { (obj as Obj).status = { storedVersions: [], conditions: [], acceptedNames: { kind: '', plural: '' } }; } },
  table: table([{ name: 'Created At', type: 'date' }], (c) => [c.metadata?.creationTimestamp ?? '']),
});

export { str };
