/**
 * Turns client-node models into OpenAPI schema objects, in the two dialects kubectl reads:
 * v3 (`#/components/schemas/…`, references wrapped in `allOf` so a description can sit beside
 * them, as upstream does) and Swagger 2.0 (`#/definitions/…`, `$ref` with siblings).
 */
import { loadModel, parseTypeRef, type ModelProperty, type TypeRef } from './model-catalog.js';
import { fieldMeta } from './patch-meta.js';
import type { DefinitionNamer } from './definition-names.js';

export type Dialect = 'v3' | 'v2';
export type JsonSchema = Record<string, unknown>;
export interface GVK { group: string; version: string; kind: string }

export const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

export class SchemaSetBuilder {
  readonly schemas: Record<string, JsonSchema> = {};
  private readonly refPrefix: string;
  private readonly gvks = new Map<string, GVK[]>();

  constructor(private readonly dialect: Dialect, private readonly namer: DefinitionNamer) {
    this.refPrefix = dialect === 'v3' ? '#/components/schemas/' : '#/definitions/';
  }

  ref(defName: string): JsonSchema {
    return { $ref: this.refPrefix + defName };
  }

  /** Add a model (and everything it references); returns its definition name. */
  addModel(model: string, gvk?: GVK): string {
    const defName = this.namer.name(model);
    if (gvk) {
      const list = this.gvks.get(defName) ?? [];
      if (!list.some((g) => g.group === gvk.group && g.version === gvk.version && g.kind === gvk.kind)) list.push(gvk);
      this.gvks.set(defName, list);
      if (this.schemas[defName]) this.schemas[defName]['x-kubernetes-group-version-kind'] = list;
    }
    if (this.schemas[defName]) return defName;
    const info = loadModel(model);
    const schema: JsonSchema = { type: 'object' };
    this.schemas[defName] = schema; // placeholder first: models are recursive (JSONSchemaProps)
    if (!info) return defName;
    if (info.description) schema.description = info.description;
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const p of info.properties) {
      properties[p.name] = this.propertySchema(model, p);
      if (p.required) required.push(p.name);
    }
    schema.properties = properties;
    if (required.length) schema.required = required;
    const g = this.gvks.get(defName);
    if (g) schema['x-kubernetes-group-version-kind'] = g;
    return defName;
  }

  /** Add a raw schema under a fixed name (custom resources). */
  addRaw(defName: string, schema: JsonSchema): void {
    this.schemas[defName] = schema;
  }

  private propertySchema(model: string, p: ModelProperty): JsonSchema {
    const s = this.typeSchema(parseTypeRef(p.type), p.format, p.description);
    const meta = fieldMeta(model, p.name);
    if (meta) {
      if (meta.patchStrategy) s['x-kubernetes-patch-strategy'] = meta.patchStrategy;
      if (meta.patchMergeKey) s['x-kubernetes-patch-merge-key'] = meta.patchMergeKey;
      if (meta.listType) s['x-kubernetes-list-type'] = meta.listType;
      if (meta.listMapKeys) s['x-kubernetes-list-map-keys'] = meta.listMapKeys;
      if (meta.mapType) s['x-kubernetes-map-type'] = meta.mapType;
    }
    return s;
  }

  private typeSchema(t: TypeRef, format: string, description?: string): JsonSchema {
    const withDesc = (s: JsonSchema): JsonSchema => (description ? { description, ...s } : s);
    switch (t.kind) {
      case 'array':
        return withDesc({ type: 'array', items: this.typeSchema(t.items, format) });
      case 'map':
        return withDesc({ type: 'object', additionalProperties: this.typeSchema(t.values, format) });
      case 'model': {
        const def = this.addModel(t.name);
        if (this.dialect === 'v3') return withDesc({ allOf: [this.ref(def)], default: {} });
        return withDesc(this.ref(def));
      }
      case 'primitive':
        switch (t.type) {
          case 'string': return withDesc(format === 'byte' ? { type: 'string', format: 'byte' } : { type: 'string' });
          case 'boolean': return withDesc({ type: 'boolean' });
          case 'number':
            if (format === 'int32' || format === 'int64') return withDesc({ type: 'integer', format });
            return withDesc({ type: 'number', format: format || 'double' });
          case 'date': return withDesc({ type: 'string', format: 'date-time' });
          case 'int-or-string':
            // v3 as upstream: no `type`, so kubectl explain prints <IntOrString> instead of <string>.
            this.schemas[INT_OR_STRING] ??= this.dialect === 'v3'
              ? { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true }
              : { type: 'string', format: 'int-or-string' };
            return this.dialect === 'v3' ? withDesc({ allOf: [this.ref(INT_OR_STRING)] }) : withDesc(this.ref(INT_OR_STRING));
          case 'object':
          case 'any':
            return withDesc({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
        }
    }
  }
}
