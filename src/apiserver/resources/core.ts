/** core/v1 resources other than pods: namespaces, nodes, configmaps, secrets, services, endpoints, events, serviceaccounts. */
import { isDeepStrictEqual } from 'node:util';
import { forbidden, type FieldError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import { payloadTooLong, validateConfigKey } from '../validation.js';
import { age, builtin, col, mapSelectorString, str, table, type Obj } from './helpers.js';
import { NODEPOOL_LABEL } from '../../common/node-restriction.js';

export const namespacesDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', singular: 'namespace', namespaced: false,
  shortNames: ['ns'], subresources: ['status', 'finalize'], nameValidation: 'label', tracksGeneration: false,
  strategy: {
    defaults(obj) {
      const o = obj as Obj;
      o.spec ??= {};
      o.status ??= {};
      o.status.phase ??= 'Active';
      // Upstream labels every namespace with its own name (immutable), used by namespaceSelectors.
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
    },
    prepareForCreate(obj) {
      const o = obj as Obj;
      o.spec = { ...(o.spec ?? {}), finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
    },
    pendingFinalization: (obj) => ((obj as Obj).spec?.finalizers ?? []).length > 0,
    beforeDelete(obj) {
      // Upstream's NamespaceLifecycle admission: these namespaces are immortal.
      const name = obj.metadata?.name ?? '';
      if (['default', 'kube-system', 'kube-public'].includes(name)) throw forbidden({ group: '', resource: 'namespaces' }, name, 'this namespace may not be deleted');
    },
    prepareForUpdate(obj, old, ctx) {
      // spec.finalizers change only through /finalize.
      if (ctx.subresource !== 'finalize') (obj as Obj).spec = (old as Obj).spec;
    },
  },
  fields: { 'status.phase': (o) => (o as Obj).status?.phase },
  table: table([col('Status'), col('Age')], (o, now) => [o.status?.phase ?? '', age(o, now)]),
});

function nodeStatus(n: Obj): string {
  const conds = (n.status?.conditions ?? []) as Obj[];
  const ready = conds.find((c) => c.type === 'Ready');
  // As upstream printNode: Ready=True → Ready, any other Ready status (False or Unknown) → NotReady, no condition → Unknown.
  let s = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  if (n.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

function nodeRoles(n: Obj): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries((n.metadata?.labels ?? {}) as Record<string, string>)) {
    if (k.startsWith('node-role.kubernetes.io/')) { const r = k.slice('node-role.kubernetes.io/'.length); if (r) roles.add(r); }
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function nodeAddress(n: Obj, type: string): string {
  return str(((n.status?.addresses ?? []) as Obj[]).find((a) => a.type === type)?.address);
}

/**
 * OpenYurt's node webhook rule: the pool label may be added or removed, never changed in place, so a node's
 * workloads are taken down by the pool it leaves before the pool it joins places new ones.
 */
function validateNodePoolLabelUpdate(n: Obj, old: Obj): FieldError[] {
  const was = ((old.metadata?.labels ?? {}) as Record<string, string>)[NODEPOOL_LABEL];
  const is = ((n.metadata?.labels ?? {}) as Record<string, string>)[NODEPOOL_LABEL];
  if (was === undefined || is === undefined || was === is) return [];
  return [{
    type: 'Forbidden', field: `metadata.labels[${NODEPOOL_LABEL}]`,
    detail: `the node pool of a node cannot be changed in place (from "${was}" to "${is}"): remove the label, then add the new pool`,
  }];
}

export const nodesDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'nodes', kind: 'Node', singular: 'node', namespaced: false,
  shortNames: ['no'], subresources: ['status', 'proxy'], tracksGeneration: false,
  // A node's own request is NodeRestriction's to refuse, with its 403: upstream runs that plugin in the mutating
  // admission phase, before validation and before OpenYurt's validating webhook this rule comes from.
  strategy: { validateUpdate: (obj, old, ctx) => (ctx.subresource === '' && !ctx.user.groups.includes('system:nodes') ? validateNodePoolLabelUpdate(obj as Obj, old as Obj) : []) },
  fields: { 'spec.unschedulable': (o) => String((o as Obj).spec?.unschedulable ?? false) },
  table: table(
    [col('Status'), col('Roles'), col('Age'), col('Version'), col('Internal-IP', 'string', 1), col('External-IP', 'string', 1), col('OS-Image', 'string', 1), col('Kernel-Version', 'string', 1), col('Container-Runtime', 'string', 1)],
    (n, now) => {
      const info = (n.status?.nodeInfo ?? {}) as Obj;
      return [nodeStatus(n), nodeRoles(n), age(n, now), info.kubeletVersion ?? '', nodeAddress(n, 'InternalIP'), nodeAddress(n, 'ExternalIP'),
        str(info.osImage, '<unknown>'), str(info.kernelVersion, '<unknown>'), str(info.containerRuntimeVersion, '<unknown>')];
    },
  ),
});

/** Upstream's ValidateConfigMap: keys, no key in both maps, 1 MiB of values in total (the error names the whole object). */
function validateConfigMap(cm: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const data = (cm.data ?? {}) as Record<string, unknown>;
  const binaryData = (cm.binaryData ?? {}) as Record<string, unknown>;
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    errs.push(...validateConfigKey(key, `data[${key}]`));
    if (key in binaryData) errs.push({ type: 'Invalid', field: `data[${key}]`, value: key, detail: 'duplicate of key present in binaryData' });
    total += Buffer.byteLength(String(value ?? ''), 'utf8');
  }
  for (const [key, value] of Object.entries(binaryData)) {
    errs.push(...validateConfigKey(key, `binaryData[${key}]`));
    total += Buffer.from(String(value ?? ''), 'base64').length;
  }
  return [...errs, ...payloadTooLong(total, '[]')];
}

/** Upstream's ValidateSecret (size and keys); stringData counts too, since upstream merges it into data when decoding. */
function validateSecret(secret: Obj): FieldError[] {
  const sizes = new Map<string, number>();
  for (const [key, value] of Object.entries((secret.data ?? {}) as Record<string, unknown>)) sizes.set(key, Buffer.from(String(value ?? ''), 'base64').length);
  for (const [key, value] of Object.entries((secret.stringData ?? {}) as Record<string, unknown>)) sizes.set(key, Buffer.byteLength(String(value ?? ''), 'utf8'));
  const errs = [...sizes.keys()].flatMap((key) => validateConfigKey(key, `data[${key}]`));
  errs.push(...validateSecretType(secret, sizes));
  return [...errs, ...payloadTooLong([...sizes.values()].reduce((a, b) => a + b, 0), 'data')];
}

/** The keys (or annotation) each built-in Secret type requires, as upstream's ValidateSecret. */
function validateSecretType(secret: Obj, keys: Map<string, number>): FieldError[] {
  const required = (key: string): FieldError[] => (keys.has(key) ? [] : [{ type: 'Required', field: `data[${key}]`, detail: '' }]);
  const json = (key: string): FieldError[] => {
    if (!keys.has(key)) return required(key);
    const raw = secret.stringData?.[key] ?? Buffer.from(String(secret.data?.[key] ?? ''), 'base64').toString('utf8');
    try { JSON.parse(raw); return []; } catch (err) { return [{ type: 'Invalid', field: `data[${key}]`, value: '<secret contents redacted>', detail: (err as Error).message }]; }
  };
  switch (secret.type) {
    case 'kubernetes.io/service-account-token':
      return secret.metadata?.annotations?.['kubernetes.io/service-account.name'] ? [] : [{ type: 'Required', field: 'metadata.annotations[kubernetes.io/service-account.name]', detail: '' }];
    case 'kubernetes.io/dockercfg': return json('.dockercfg');
    case 'kubernetes.io/dockerconfigjson': return json('.dockerconfigjson');
    case 'kubernetes.io/basic-auth': return keys.has('username') || keys.has('password') ? [] : [...required('username'), ...required('password')];
    case 'kubernetes.io/ssh-auth': return required('ssh-privatekey');
    case 'kubernetes.io/tls': return [...required('tls.crt'), ...required('tls.key')];
    default: return [];
  }
}

/** `immutable: true` freezes the payload and itself: it cannot be unset, as upstream's ConfigMap/Secret update validation. */
function validateImmutable(obj: Obj, old: Obj, payload: string[]): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  const detail = 'field is immutable when `immutable` is set';
  if (obj.immutable !== true) errs.push({ type: 'Forbidden', field: 'immutable', detail });
  for (const f of payload) if (!isDeepStrictEqual(obj[f] ?? {}, old[f] ?? {})) errs.push({ type: 'Forbidden', field: f, detail });
  return errs;
}

export const configMapsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', singular: 'configmap', namespaced: true,
  shortNames: ['cm'], tracksGeneration: false,
  strategy: {
    validate: (obj) => validateConfigMap(obj as Obj),
    validateUpdate: (obj, old) => [...validateConfigMap(obj as Obj), ...validateImmutable(obj as Obj, old as Obj, ['data', 'binaryData'])],
  },
  table: table([col('Data', 'integer'), col('Age')], (o, now) => [Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, age(o, now)]),
});

export const secretsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'secrets', kind: 'Secret', singular: 'secret', namespaced: true, tracksGeneration: false,
  strategy: {
    defaults(obj) { (obj as Obj).type ??= 'Opaque'; },
    // Base64 of data is checked when the body is decoded (schema/decode-types.ts), as upstream's decoder does.
    validate: (obj) => validateSecret(obj as Obj),
    validateUpdate(obj, old) {
      const errs = [...validateSecret(obj as Obj), ...validateImmutable(obj as Obj, old as Obj, ['data'])];
      if ((obj as Obj).type !== (old as Obj).type) errs.push({ type: 'Invalid', field: 'type', value: (obj as Obj).type, detail: 'field is immutable' });
      return errs;
    },
    prepareForCreate(obj) {
      // stringData is write-only: merged into data (base64) at write time, as upstream.
      const o = obj as Obj;
      if (o.stringData) {
        o.data ??= {};
        for (const [k, v] of Object.entries(o.stringData as Record<string, string>)) o.data[k] = Buffer.from(String(v)).toString('base64');
        delete o.stringData;
      }
    },
    prepareForUpdate(obj) {
      const o = obj as Obj;
      if (o.stringData) {
        o.data ??= {};
        for (const [k, v] of Object.entries(o.stringData as Record<string, string>)) o.data[k] = Buffer.from(String(v)).toString('base64');
        delete o.stringData;
      }
    },
  },
  fields: { type: (o) => (o as Obj).type },
  table: table([col('Type'), col('Data', 'integer'), col('Age')], (o, now) => [o.type ?? '', Object.keys(o.data ?? {}).length, age(o, now)]),
});

export function servicePorts(s: Obj): string {
  const ports = (s.spec?.ports ?? []) as Obj[];
  if (!ports.length) return '<none>';
  return ports.map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`)).join(',');
}

function serviceExternalIp(s: Obj): string {
  const spec = s.spec ?? {};
  const external = (spec.externalIPs ?? []) as string[];
  if (spec.type === 'ExternalName') return spec.externalName ?? '<none>';
  if (spec.type === 'LoadBalancer') {
    const ing = ((s.status?.loadBalancer?.ingress ?? []) as Obj[]).map((i) => i.ip || i.hostname).filter(Boolean);
    const all = [...ing, ...external];
    return all.length ? all.join(',') : '<pending>';
  }
  return external.length ? external.join(',') : '<none>';
}

/** The service table; the allocating strategy is attached in services.ts. */
export const servicesTable = table(
  [col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), col('Age'), col('Selector', 'string', 1)],
  (s, now) => [s.spec?.type ?? 'ClusterIP', str(s.spec?.clusterIP), serviceExternalIp(s), servicePorts(s), age(s, now), mapSelectorString(s.spec?.selector)],
);

export const endpointsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'endpoints', kind: 'Endpoints', singular: 'endpoints', namespaced: true, shortNames: ['ep'], tracksGeneration: false,
  table: table([col('Endpoints'), col('Age')], (e, now) => {
    const eps: string[] = [];
    for (const sub of (e.subsets ?? []) as Obj[]) {
      for (const a of (sub.addresses ?? []) as Obj[]) {
        const ports = (sub.ports ?? []) as Obj[];
        if (!ports.length) eps.push(a.ip);
        for (const p of ports) eps.push(`${a.ip}:${p.port}`);
      }
    }
    const text = eps.length > 3 ? `${eps.slice(0, 3).join(',')} + ${eps.length - 3} more...` : eps.join(',');
    return [text || '<none>', age(e, now)];
  }),
});

export const coreEventsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'events', kind: 'Event', singular: 'event', namespaced: true, shortNames: ['ev'], tracksGeneration: false,
  fields: {
    'involvedObject.kind': (o) => (o as Obj).involvedObject?.kind ?? '',
    'involvedObject.namespace': (o) => (o as Obj).involvedObject?.namespace ?? '',
    'involvedObject.name': (o) => (o as Obj).involvedObject?.name ?? '',
    'involvedObject.uid': (o) => (o as Obj).involvedObject?.uid ?? '',
    'involvedObject.apiVersion': (o) => (o as Obj).involvedObject?.apiVersion ?? '',
    'involvedObject.resourceVersion': (o) => (o as Obj).involvedObject?.resourceVersion ?? '',
    'involvedObject.fieldPath': (o) => (o as Obj).involvedObject?.fieldPath ?? '',
    reason: (o) => (o as Obj).reason ?? '',
    reportingComponent: (o) => (o as Obj).reportingComponent ?? '',
    source: (o) => (o as Obj).source?.component ?? '',
    type: (o) => (o as Obj).type ?? '',
  },
  table: {
    columns: [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Subobject', 'string', 1), col('Source', 'string', 1), col('Message'), col('First Seen', 'string', 1), col('Count', 'string', 1), { name: 'Name', type: 'string', format: 'name', priority: 1 }],
    cells(e0, now) {
      const e = e0 as Obj;
      const last = e.lastTimestamp || e.eventTime || e.metadata?.creationTimestamp;
      const first = e.firstTimestamp || e.eventTime || e.metadata?.creationTimestamp;
      const since = (t: string | undefined) => (t ? age({ metadata: { creationTimestamp: t } } as never, now) : '<unknown>');
      const io = e.involvedObject ?? {};
      return [since(last), e.type ?? '', e.reason ?? '', `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`, io.fieldPath ?? '',
        [e.source?.component, e.source?.host].filter(Boolean).join(', '), e.message ?? '', since(first), String(e.count ?? 1), e.metadata?.name ?? ''];
    },
  },
});

export const serviceAccountsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', singular: 'serviceaccount', namespaced: true,
  shortNames: ['sa'], subresources: ['token'], tracksGeneration: false,
  table: table([col('Secrets', 'integer'), col('Age')], (o, now) => [((o.secrets ?? []) as unknown[]).length, age(o, now)]),
});

export { mapSelectorString };
