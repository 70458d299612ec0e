/**
 * Defaulting and validation of CustomResourceDefinition objects, worded as upstream's
 * apiextensions validation (`spec.versions: Invalid value: …: must have exactly one version
 * marked as storage version`, structural-schema errors, printer column and scale paths).
 */
import type { V1CustomResourceDefinition, V1CustomResourceDefinitionVersion } from '@kubernetes/client-node';
import type { FieldError } from '../../apimachinery/status.js';
import type { StructuralSchema } from '../schema/unknown-fields.js';
import { parseJsonPath } from './printer-columns.js';

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

type Crd = V1CustomResourceDefinition;

/** Upstream's defaults: singular and listKind from kind, conversion None, printer column priority. */
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Upstream's defaults: singular and listKind from kind, conversion None, printer column priority. */
export function defaultCrd(crd: Crd): void {
  if (!isObj(crd.spec)) return;
  const names = crd.spec.names as unknown;
  if (isObj(names) && typeof names.kind === 'string' && names.kind) {
    names.singular ||= names.kind.toLowerCase();
    names.listKind ||= `${names.kind}List`;
  }
  crd.spec.conversion ??= { strategy: 'None' };
  for (const v of Array.isArray(crd.spec.versions) ? crd.spec.versions : []) {
    if (!isObj(v)) continue;
    for (const c of Array.isArray(v.additionalPrinterColumns) ? v.additionalPrinterColumns : []) if (isObj(c)) c.priority ??= 0;
  }
}

export function validateCrd(crd: Crd): FieldError[] {
  const errs: FieldError[] = [];
  const spec = crd.spec;
  if (!isObj(spec)) return [{ type: 'Required', field: 'spec' }];
  const rawNames = spec.names as unknown;
  if (rawNames !== undefined && !isObj(rawNames)) errs.push({ type: 'Invalid', field: 'spec.names', value: rawNames, detail: 'must be an object' });
  const names = (isObj(rawNames) ? rawNames : {}) as unknown as Crd['spec']['names'];
  for (const k of ['plural', 'singular', 'kind', 'listKind'] as const) {
    if (names[k] !== undefined && typeof names[k] !== 'string') {
      errs.push({ type: 'Invalid', field: `spec.names.${k}`, value: names[k], detail: 'must be a string' });
      delete (names as unknown as Record<string, unknown>)[k];
    }
  }
  if (names.shortNames !== undefined && !(Array.isArray(names.shortNames) && names.shortNames.every((x) => typeof x === 'string'))) {
    errs.push({ type: 'Invalid', field: 'spec.names.shortNames', value: names.shortNames, detail: 'must be a list of strings' });
    names.shortNames = undefined;
  }
  const group = str(spec.group) ?? '';
  if (!group) errs.push({ type: 'Required', field: 'spec.group' });
  else if (!DNS1123_SUBDOMAIN.test(group)) errs.push({ type: 'Invalid', field: 'spec.group', value: group, detail: SUBDOMAIN_MSG });
  else if (!group.includes('.')) errs.push({ type: 'Invalid', field: 'spec.group', value: group, detail: 'should be a domain with at least one dot' });
  const expectedName = `${names.plural ?? ''}.${group}`;
  if (crd.metadata?.name !== expectedName) {
    errs.push({ type: 'Invalid', field: 'metadata.name', value: crd.metadata?.name ?? '', detail: 'must be spec.names.plural+"."+spec.group' });
  }
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') errs.push({ type: 'NotSupported', field: 'spec.scope', value: spec.scope ?? '', supported: ['Cluster', 'Namespaced'] });

  if (!names.plural) errs.push({ type: 'Required', field: 'spec.names.plural' });
  else if (!DNS1123_LABEL.test(names.plural)) errs.push({ type: 'Invalid', field: 'spec.names.plural', value: names.plural, detail: LABEL_MSG });
  if (names.singular && !DNS1123_LABEL.test(names.singular)) errs.push({ type: 'Invalid', field: 'spec.names.singular', value: names.singular, detail: LABEL_MSG });
  if (!names.kind) errs.push({ type: 'Required', field: 'spec.names.kind' });
  else if (!DNS1123_LABEL.test(names.kind.toLowerCase())) errs.push({ type: 'Invalid', field: 'spec.names.kind', value: names.kind, detail: 'may have mixed case, but should otherwise match: [a-z0-9]([-a-z0-9]*[a-z0-9])?' });
  if (names.listKind && !DNS1123_LABEL.test(names.listKind.toLowerCase())) errs.push({ type: 'Invalid', field: 'spec.names.listKind', value: names.listKind, detail: 'may have mixed case, but should otherwise match: [a-z0-9]([-a-z0-9]*[a-z0-9])?' });
  if (names.kind && names.listKind && names.kind === names.listKind) errs.push({ type: 'Invalid', field: 'spec.names.listKind', value: names.listKind, detail: 'kind and listKind may not be the same' });
  (names.shortNames ?? []).forEach((s, i) => {
    if (!DNS1123_LABEL.test(s)) errs.push({ type: 'Invalid', field: `spec.names.shortNames[${i}]`, value: s, detail: LABEL_MSG });
  });

  if ((spec as { preserveUnknownFields?: boolean }).preserveUnknownFields === true) {
    errs.push({ type: 'Invalid', field: 'spec.preserveUnknownFields', value: true, detail: 'cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead' });
  }
  if (spec.versions !== undefined && !(Array.isArray(spec.versions) && spec.versions.every(isObj))) {
    return [...errs, { type: 'Invalid', field: 'spec.versions', value: spec.versions, detail: 'must be a list of version objects' }];
  }
  const versions = spec.versions ?? [];
  if (versions.length === 0) errs.push({ type: 'Invalid', field: 'spec.versions', value: versions, detail: 'must have exactly one version marked as storage version' });
  else {
    const storage = versions.filter((v) => v.storage).length;
    if (storage !== 1) errs.push({ type: 'Invalid', field: 'spec.versions', value: versions, detail: 'must have exactly one version marked as storage version' });
    if (!versions.some((v) => v.served)) errs.push({ type: 'Invalid', field: 'spec.versions', value: versions, detail: 'must have at least one version marked as served' });
  }
  const seen = new Set<string>();
  versions.forEach((v, i) => {
    const base = `spec.versions[${i}]`;
    if (v.name !== undefined && typeof v.name !== 'string') { errs.push({ type: 'Invalid', field: `${base}.name`, value: v.name, detail: 'must be a string' }); return; }
    if (!v.name) errs.push({ type: 'Required', field: `${base}.name` });
    else if (!DNS1035_LABEL.test(v.name)) errs.push({ type: 'Invalid', field: `${base}.name`, value: v.name, detail: DNS1035_MSG });
    else if (seen.has(v.name)) errs.push({ type: 'Duplicate', field: `${base}.name`, value: v.name });
    seen.add(v.name ?? '');
    errs.push(...validateVersion(v, base));
  });
  return errs;
}

function validateVersion(v: V1CustomResourceDefinitionVersion, base: string): FieldError[] {
  const errs: FieldError[] = [];
  const rawSchema = isObj(v.schema) ? (v.schema as Record<string, unknown>).openAPIV3Schema : undefined;
  const schema = isObj(rawSchema) ? (rawSchema as StructuralSchema) : undefined;
  if (!schema) errs.push({ type: 'Required', field: `${base}.schema.openAPIV3Schema`, detail: 'schemas are required' });
  else {
    const root = `${base}.schema.openAPIV3Schema`;
    if (schema.type !== 'object') {
      if (!schema.type) errs.push({ type: 'Required', field: `${root}.type`, detail: 'must not be empty at the root' });
      else errs.push({ type: 'Invalid', field: `${root}.type`, value: schema.type, detail: 'must be object at the root' });
    }
    errs.push(...structuralErrors(schema, root, true));
  }
  if (v.additionalPrinterColumns !== undefined && !(Array.isArray(v.additionalPrinterColumns) && v.additionalPrinterColumns.every(isObj))) {
    errs.push({ type: 'Invalid', field: `${base}.additionalPrinterColumns`, value: v.additionalPrinterColumns, detail: 'must be a list of column objects' });
    return errs;
  }
  (v.additionalPrinterColumns ?? []).forEach((c, j) => {
    const f = `${base}.additionalPrinterColumns[${j}]`;
    if (!c.name) errs.push({ type: 'Required', field: `${f}.name` });
    if (!['integer', 'number', 'string', 'boolean', 'date'].includes(c.type)) errs.push({ type: 'NotSupported', field: `${f}.type`, value: c.type ?? '', supported: ['boolean', 'date', 'integer', 'number', 'string'] });
    if (!c.jsonPath) errs.push({ type: 'Required', field: `${f}.JSONPath` });
    else if (typeof c.jsonPath !== 'string') errs.push({ type: 'Invalid', field: `${f}.JSONPath`, value: c.jsonPath, detail: 'must be a simple json path starting with .' });
    else {
      try {
        if (!c.jsonPath.startsWith('.')) throw new Error();
        parseJsonPath(c.jsonPath);
      } catch {
        errs.push({ type: 'Invalid', field: `${f}.JSONPath`, value: c.jsonPath, detail: 'must be a simple json path starting with .' });
      }
    }
  });
  const scale = isObj(v.subresources) ? (v.subresources as Record<string, unknown>).scale as NonNullable<V1CustomResourceDefinitionVersion['subresources']>['scale'] : undefined;
  if (scale !== undefined && !isObj(scale)) errs.push({ type: 'Invalid', field: `${base}.subresources.scale`, value: scale, detail: 'must be an object' });
  else if (scale) {
    for (const k of ['specReplicasPath', 'statusReplicasPath', 'labelSelectorPath'] as const) {
      if (scale[k] !== undefined && typeof scale[k] !== 'string') { errs.push({ type: 'Invalid', field: `${base}.subresources.scale.${k}`, value: scale[k], detail: 'must be a string' }); return errs; }
    }
    const f = `${base}.subresources.scale`;
    if (!scale.specReplicasPath) errs.push({ type: 'Required', field: `${f}.specReplicasPath` });
    else if (!scale.specReplicasPath.startsWith('.spec.')) errs.push({ type: 'Invalid', field: `${f}.specReplicasPath`, value: scale.specReplicasPath, detail: 'should be a json path under .spec' });
    if (!scale.statusReplicasPath) errs.push({ type: 'Required', field: `${f}.statusReplicasPath` });
    else if (!scale.statusReplicasPath.startsWith('.status.')) errs.push({ type: 'Invalid', field: `${f}.statusReplicasPath`, value: scale.statusReplicasPath, detail: 'should be a json path under .status' });
    if (scale.labelSelectorPath && !/^\.(spec|status)\./.test(scale.labelSelectorPath)) {
      errs.push({ type: 'Invalid', field: `${f}.labelSelectorPath`, value: scale.labelSelectorPath, detail: 'should be a json path under either .spec or .status' });
    }
  }
  return errs;
}

/** The structural-schema rules that matter in practice: every specified node has a type, no properties + additionalProperties. */
function structuralErrors(s: StructuralSchema, path: string, isRoot: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObj(s)) return [{ type: 'Invalid', field: path, value: s, detail: 'must be a schema object' }];
  if (s.type !== undefined && typeof s.type !== 'string') return [{ type: 'Invalid', field: `${path}.type`, value: s.type, detail: 'must be a string' }];
  if (s.properties !== undefined && !isObj(s.properties)) return [{ type: 'Invalid', field: `${path}.properties`, value: s.properties, detail: 'must be an object' }];
  if (s.items !== undefined && !isObj(s.items)) return [{ type: 'Invalid', field: `${path}.items`, value: s.items, detail: 'must be a schema object' }];
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  if (!isRoot && !s.type && !preserve && !intOrString && !s['x-kubernetes-embedded-resource']) {
    errs.push({ type: 'Required', field: `${path}.type`, detail: 'must not be empty for specified object fields' });
  }
  if (s.properties && s.additionalProperties !== undefined && s.additionalProperties !== false) {
    errs.push({ type: 'Forbidden', field: `${path}.additionalProperties`, detail: 'additionalProperties and properties are mutual exclusive' });
  }
  if (s.type === 'array' && !s.items) errs.push({ type: 'Required', field: `${path}.items`, detail: 'must be specified' });
  const listType = s['x-kubernetes-list-type'];
  if (listType !== undefined && s.type !== 'array') errs.push({ type: 'Invalid', field: `${path}.x-kubernetes-list-type`, value: listType, detail: 'must only be used on array types' });
  if (listType !== undefined && !['atomic', 'set', 'map'].includes(String(listType))) errs.push({ type: 'NotSupported', field: `${path}.x-kubernetes-list-type`, value: listType, supported: ['atomic', 'map', 'set'] });
  const mapKeys = s['x-kubernetes-list-map-keys'] as string[] | undefined;
  if (listType === 'map' && !(mapKeys && mapKeys.length)) errs.push({ type: 'Required', field: `${path}.x-kubernetes-list-map-keys`, detail: 'must not be empty if x-kubernetes-list-type is map' });
  if (mapKeys && mapKeys.length && listType !== 'map') errs.push({ type: 'Invalid', field: `${path}.x-kubernetes-list-type`, value: listType ?? '', detail: 'must be map if x-kubernetes-list-map-keys is non-empty' });
  for (const [k, child] of Object.entries(s.properties ?? {})) errs.push(...structuralErrors(child, `${path}.properties[${k}]`, false));
  if (s.items && typeof s.items === 'object') {
    const items = s.items;
    if (!items.type && !items['x-kubernetes-preserve-unknown-fields'] && !items['x-kubernetes-int-or-string']) {
      errs.push({ type: 'Required', field: `${path}.items.type`, detail: 'must not be empty for specified array items' });
    }
    for (const [k, child] of Object.entries(items.properties ?? {})) errs.push(...structuralErrors(child, `${path}.items.properties[${k}]`, false));
    if (typeof items.additionalProperties === 'object') errs.push(...structuralErrors(items.additionalProperties, `${path}.items.additionalProperties`, false));
  }
  if (typeof s.additionalProperties === 'object') errs.push(...structuralErrors(s.additionalProperties, `${path}.additionalProperties`, false));
  return errs;
}

export function validateCrdUpdate(next: Crd, old: Crd): FieldError[] {
  const errs = validateCrd(next);
  if (!isObj(old.spec)) return errs;
  if (next.spec?.scope !== old.spec?.scope) errs.push({ type: 'Invalid', field: 'spec.scope', value: next.spec?.scope ?? '', detail: 'field is immutable' });
  if (next.spec?.group !== old.spec?.group) errs.push({ type: 'Invalid', field: 'spec.group', value: next.spec?.group ?? '', detail: 'field is immutable' });
  return errs;
}
