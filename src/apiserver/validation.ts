/** Object-meta validation with upstream's wording (names, labels, annotations, finalizers, ownerReferences). */
import type { FieldError } from '../apimachinery/status.js';
import type { KubeObject } from '../apimachinery/object.js';
import { compareQuantities, formatQuantity, milliValue, tryParseQuantity, QUANTITY_FORMAT_ERROR } from '../common/quantity.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
export const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
export const DNS1035_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

export function validateNameValue(name: string, kind: 'subdomain' | 'label' | 'dns1035' | 'pathSegment'): string[] {
  const out: string[] = [];
  switch (kind) {
    case 'label':
      if (name.length > 63) out.push('must be no more than 63 characters');
      if (!DNS1123_LABEL.test(name)) out.push(LABEL_MSG);
      break;
    case 'dns1035':
      if (name.length > 63) out.push('must be no more than 63 characters');
      if (!DNS1035_LABEL.test(name)) out.push(DNS1035_MSG);
      break;
    case 'pathSegment':
      if (name === '.' || name === '..') out.push(`may not be '${name}'`);
      for (const bad of ['/', '%']) if (name.includes(bad)) out.push(`may not contain '${bad}'`);
      break;
    default:
      if (name.length > 253) out.push('must be no more than 253 characters');
      if (!DNS1123_SUBDOMAIN.test(name)) out.push(SUBDOMAIN_MSG);
  }
  return out;
}

/** Upstream's IsQualifiedName: an optional DNS-subdomain prefix and a name part of at most 63 characters. */
function validateQualifiedKey(key: string, field: string, errs: FieldError[]): void {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    if (prefix.length === 0) errs.push({ type: 'Invalid', field, value: key, detail: 'prefix part must be non-empty' });
    else for (const msg of validateNameValue(prefix, 'subdomain')) errs.push({ type: 'Invalid', field, value: key, detail: `prefix part ${msg}` });
  }
  if (!name) errs.push({ type: 'Invalid', field, value: key, detail: 'name part must be non-empty' });
  else {
    if (name.length > 63) errs.push({ type: 'Invalid', field, value: key, detail: 'name part must be no more than 63 characters' });
    if (!QUALIFIED_NAME.test(name)) errs.push({ type: 'Invalid', field, value: key, detail: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" });
  }
}

export function validateObjectMeta(obj: KubeObject, nameKind: 'subdomain' | 'label' | 'dns1035' | 'pathSegment', namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const md = obj.metadata ?? {};
  if (!md.name) {
    errs.push({ type: 'Required', field: 'metadata.name', detail: 'name or generateName is required' });
  } else {
    for (const msg of validateNameValue(md.name, nameKind)) errs.push({ type: 'Invalid', field: 'metadata.name', value: md.name, detail: msg });
  }
  if (namespaced && !md.namespace) errs.push({ type: 'Required', field: 'metadata.namespace' });
  if (!namespaced && md.namespace) errs.push({ type: 'Forbidden', field: 'metadata.namespace', detail: 'not allowed on this type' });
  if (md.labels !== undefined && md.labels !== null) {
    if (typeof md.labels !== 'object') errs.push({ type: 'Invalid', field: 'metadata.labels', value: md.labels, detail: 'must be a map' });
    else for (const [k, v] of Object.entries(md.labels)) {
      validateQualifiedKey(k, 'metadata.labels', errs);
      // Upstream's IsValidLabelValue: the length and the pattern are separate findings.
      if (typeof v === 'string' && v.length > 63) errs.push({ type: 'Invalid', field: 'metadata.labels', value: v, detail: 'must be no more than 63 characters' });
      if (typeof v !== 'string' || !LABEL_VALUE.test(v)) {
        errs.push({ type: 'Invalid', field: 'metadata.labels', value: v, detail: "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" });
      }
    }
  }
  if (md.annotations !== undefined && md.annotations !== null) {
    let total = 0;
    for (const [k, v] of Object.entries(md.annotations)) {
      validateQualifiedKey(k.toLowerCase(), 'metadata.annotations', errs);
      total += k.length + String(v).length;
    }
    if (total > 256 * 1024) errs.push({ type: 'TooLong', field: 'metadata.annotations', detail: 'may not be more than 262144 bytes' });
  }
  (md.finalizers ?? []).forEach((f, i) => {
    if (typeof f !== 'string' || !f) errs.push({ type: 'Invalid', field: `metadata.finalizers[${i}]`, value: f, detail: 'name part must be non-empty' });
  });
  (md.ownerReferences ?? []).forEach((r, i) => {
    const p = `metadata.ownerReferences[${i}]`;
    if (!r.apiVersion) errs.push({ type: 'Invalid', field: `${p}.apiVersion`, value: r.apiVersion ?? '', detail: 'version must not be empty' });
    if (!r.kind) errs.push({ type: 'Invalid', field: `${p}.kind`, value: r.kind ?? '', detail: 'kind must not be empty' });
    if (!r.name) errs.push({ type: 'Invalid', field: `${p}.name`, value: r.name ?? '', detail: 'name must not be empty' });
    if (!r.uid) errs.push({ type: 'Invalid', field: `${p}.uid`, value: r.uid ?? '', detail: 'uid must not be empty' });
  });
  if ((md.ownerReferences ?? []).filter((r) => r.controller).length > 1) {
    errs.push({ type: 'Invalid', field: 'metadata.ownerReferences', value: md.ownerReferences, detail: 'Only one reference can have Controller set to true' });
  }
  return errs;
}

/** Immutable metadata on update, as upstream's ValidateObjectMetaUpdate. */
export function validateObjectMetaUpdate(obj: KubeObject, old: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const n = obj.metadata ?? {};
  const o = old.metadata ?? {};
  if (n.name !== o.name) errs.push({ type: 'Invalid', field: 'metadata.name', value: n.name, detail: 'field is immutable' });
  if ((n.namespace ?? '') !== (o.namespace ?? '')) errs.push({ type: 'Invalid', field: 'metadata.namespace', value: n.namespace, detail: 'field is immutable' });
  return errs;
}

/** Containers: names (DNS label, unique) and images required, as the most common pod errors read upstream. */
export function validatePodSpec(spec: Record<string, unknown> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!spec || typeof spec !== 'object') return [{ type: 'Required', field: path }];
  const containers = spec.containers as Record<string, unknown>[] | undefined;
  if (!Array.isArray(containers) || containers.length === 0) {
    errs.push({ type: 'Required', field: `${path}.containers` });
  }
  const names = new Set<string>();
  for (const [listName, list] of [['initContainers', spec.initContainers], ['containers', containers]] as const) {
    if (!Array.isArray(list)) continue;
    list.forEach((c: Record<string, unknown>, i: number) => {
      const p = `${path}.${listName}[${i}]`;
      const name = c?.name as string | undefined;
      if (!name) errs.push({ type: 'Required', field: `${p}.name` });
      else {
        for (const m of validateNameValue(name, 'label')) errs.push({ type: 'Invalid', field: `${p}.name`, value: name, detail: m });
        if (names.has(name)) errs.push({ type: 'Duplicate', field: `${p}.name`, value: name });
        names.add(name);
      }
      if (!c?.image) errs.push({ type: 'Required', field: `${p}.image` });
      errs.push(...validateContainerPorts(c?.ports, `${p}.ports`), ...validateResourceRequirements(c?.resources, `${p}.resources`));
    });
  }
  const rp = spec.restartPolicy as string | undefined;
  if (rp && !['Always', 'OnFailure', 'Never'].includes(rp)) {
    errs.push({ type: 'NotSupported', field: `${path}.restartPolicy`, value: rp, supported: ['Always', 'OnFailure', 'Never'] });
  }
  return errs;
}

const PORT_RANGE_MSG = 'must be between 1 and 65535, inclusive';

export function isValidPortNumber(port: unknown): boolean {
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535;
}

/** Container ports as upstream's validateContainerPorts: containerPort required and in range, hostPort in range when set. */
function validateContainerPorts(ports: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(ports)) return errs;
  ports.forEach((port: Record<string, unknown> | null, i: number) => {
    const p = `${path}[${i}]`;
    const containerPort = port?.containerPort;
    if (containerPort === undefined || containerPort === null || containerPort === 0) errs.push({ type: 'Required', field: `${p}.containerPort` });
    else if (!isValidPortNumber(containerPort)) errs.push({ type: 'Invalid', field: `${p}.containerPort`, value: containerPort, detail: PORT_RANGE_MSG });
    const hostPort = port?.hostPort;
    if (hostPort !== undefined && hostPort !== null && hostPort !== 0 && !isValidPortNumber(hostPort)) {
      errs.push({ type: 'Invalid', field: `${p}.hostPort`, value: hostPort, detail: PORT_RANGE_MSG });
    }
  });
  return errs;
}

const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
const isNativeResource = (name: string): boolean => !name.includes('/') || name.startsWith('kubernetes.io/') || name.includes('.kubernetes.io/');
/** Extended resources and hugepages cannot be overcommitted: their request must equal the limit. */
const overcommitAllowed = (name: string): boolean => isNativeResource(name) && !name.startsWith('hugepages-');
/** Resources counted in whole units (extended resources, e.g. nvidia.com/gpu). */
const isIntegerResource = (name: string): boolean => !isNativeResource(name);

/** A container's requests and limits, as upstream's ValidateResourceRequirements (values already canonical). */
export function validateResourceRequirements(resources: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!resources || typeof resources !== 'object') return errs;
  const { limits, requests } = resources as { limits?: Record<string, unknown> | null; requests?: Record<string, unknown> | null };
  const checkList = (list: Record<string, unknown> | null | undefined, listPath: string) => {
    for (const [name, raw] of Object.entries(list ?? {})) {
      const field = `${listPath}[${name}]`;
      if (!name.includes('/') && !STANDARD_CONTAINER_RESOURCES.has(name) && !name.startsWith('hugepages-')) {
        errs.push({ type: 'Invalid', field, value: name, detail: 'must be a standard resource for containers' });
      }
      const q = tryParseQuantity(raw);
      if (!q) { errs.push({ type: 'Invalid', field, value: raw, detail: QUANTITY_FORMAT_ERROR }); continue; }
      if (q.mantissa < 0n) errs.push({ type: 'Invalid', field, value: formatQuantity(q), detail: 'must be greater than or equal to 0' });
      if (isIntegerResource(name) && milliValue(q) % 1000n !== 0n) errs.push({ type: 'Invalid', field, value: formatQuantity(q), detail: 'must be an integer' });
    }
  };
  checkList(limits, `${path}.limits`);
  checkList(requests, `${path}.requests`);
  for (const [name, raw] of Object.entries(requests ?? {})) {
    const request = tryParseQuantity(raw);
    const limit = tryParseQuantity(limits?.[name]);
    if (!request || !limit) continue;
    const order = compareQuantities(request, limit);
    if (order !== 0 && !overcommitAllowed(name)) {
      errs.push({ type: 'Invalid', field: `${path}.requests`, value: formatQuantity(request), detail: `must be equal to ${name} limit of ${formatQuantity(limit)}` });
    } else if (order > 0) {
      errs.push({ type: 'Invalid', field: `${path}.requests`, value: formatQuantity(request), detail: `must be less than or equal to ${name} limit of ${formatQuantity(limit)}` });
    }
  }
  return errs;
}

/** ConfigMap and Secret payloads are capped at 1 MiB, as upstream (core.MaxSecretSize). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/** Upstream's IsConfigMapKey, for ConfigMap data/binaryData and Secret data keys. */
export function validateConfigKey(key: string, field: string): FieldError[] {
  const msgs: string[] = [];
  if (key.length > 253) msgs.push('must be no more than 253 characters');
  if (!CONFIG_KEY.test(key)) msgs.push(CONFIG_KEY_MSG);
  if (key === '.') msgs.push("must not be '.'");
  else if (key === '..') msgs.push("must not be '..'");
  else if (key.startsWith('..')) msgs.push("must not start with '..'");
  return msgs.map((detail) => ({ type: 'Invalid', field, value: key, detail }));
}

/** The 1 MiB cap: `[]: Too long: must have at most 1048576 bytes` for ConfigMaps (the whole object), `data: …` for Secrets. */
export function payloadTooLong(totalBytes: number, field: string): FieldError[] {
  return totalBytes > MAX_PAYLOAD_BYTES ? [{ type: 'TooLong', field, detail: `must have at most ${MAX_PAYLOAD_BYTES} bytes` }] : [];
}
