/**
 * Registry definitions for the custom resources of one CRD: one ResourceDef per served version,
 * with a strategy that defaults from the schema, prunes unknown fields, validates against the
 * schema, and a Table built from additionalPrinterColumns.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { KubeObject } from '../../apimachinery/object.js';
import type { ResourceDef, Strategy, SubresourceKind, TableDef } from '../registry.js';
import { nameColumn } from '../table.js';
import { unknownFieldsOfCustomResource, type StructuralSchema } from '../schema/unknown-fields.js';
import { applyDefaults } from './defaulting.js';
import { compileValidator } from './schema-validator.js';
import { cellValue, parseJsonPath, printerColumnsOf } from './printer-columns.js';
import { builtinKindFor, type BuiltinKind } from './builtin/index.js';
import { storageVersionOf } from './builtin/kinds.js';

type Crd = V1CustomResourceDefinition;

/** Where a CRD's objects live: all versions share one prefix (conversion strategy None). */
export function customResourceStoragePrefix(crd: Crd): string {
  return `/registry/${crd.spec.group}/${crd.spec.names.plural}/`;
}

function tableFor(columns: ReturnType<typeof printerColumnsOf>): TableDef {
  const compiled = columns.map((c) => parseJsonPath(c.jsonPath));
  return {
    columns: [nameColumn, ...columns.map((c) => ({ name: c.name, type: c.type, format: c.format, description: c.description ?? '', priority: c.priority ?? 0 }))],
    cells: (obj, now) => [obj.metadata?.name ?? '', ...columns.map((c, i) => cellValue(obj, c, now, compiled[i]))],
  };
}

/**
 * Kubernetes version priority (upstream's version.CompareKubeAwareVersionStrings): GA before beta
 * before alpha, higher numbers first, other names last alphabetically. Discovery's preferred
 * version is the first one, so registration follows this order.
 */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    return [m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  if (pa[0] !== pb[0]) return pb[0] - pa[0];
  if (pa[1] !== pb[1]) return pb[1] - pa[1];
  return pb[2] - pa[2];
}

/**
 * The conversion and admission of a built-in kind (builtin/), as the strategy hooks of one served version. Kedge
 * converts in-process where upstream would call the project's conversion webhook; every hook of the kind sees
 * the storage version's shape, whichever version the client used.
 */
function builtinHooks(kind: BuiltinKind, version: string, storageVersion: string): { convert?: ResourceDef['convert']; strategy: Strategy } {
  const convert = kind.convert;
  const toStorage = (o: KubeObject): KubeObject => (convert ? convert(o, storageVersion) : o);
  const fromStorage = (o: KubeObject): KubeObject => (convert ? convert(o, version) : o);
  return {
    convert: convert ? { fromStorage, toStorage } : undefined,
    strategy: {
      defaults(obj) {
        if (!kind.defaults) return;
        const stored = structuredClone(toStorage(obj));
        kind.defaults(stored);
        const back = fromStorage(stored);
        for (const k of Object.keys(obj)) delete (obj as Record<string, unknown>)[k];
        Object.assign(obj, back);
      },
      validate: (obj) => kind.validate?.(toStorage(obj)) ?? [],
      validateUpdate: (obj, old, ctx) => (ctx.subresource === '' ? kind.validateUpdate?.(toStorage(obj), toStorage(old)) ?? [] : []),
      beforeDelete: (obj) => kind.beforeDelete?.(toStorage(obj)),
    },
  };
}

export function customResourceDefs(crd: Crd): ResourceDef[] {
  const { group, names, scope } = crd.spec;
  const served = crd.spec.versions.filter((v) => v.served).sort((a, b) => compareKubeVersions(a.name, b.name));
  const builtin = builtinKindFor(group, names.kind);
  const storageVersion = storageVersionOf(crd);
  return served.map((v): ResourceDef => {
    const hooks = builtin ? builtinHooks(builtin, v.name, storageVersion) : undefined;
    const schema = (v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }) as StructuralSchema;
    // Compiled on first use: big CRDs (operators ship megabyte schemas) cost nothing until used.
    let compiled: ReturnType<typeof compileValidator> | undefined;
    const validator = (obj: KubeObject) => (compiled ??= compileValidator(schema))(obj);
    const subresources: SubresourceKind[] = [];
    if (v.subresources?.status) subresources.push('status');
    if (v.subresources?.scale) subresources.push('scale');
    const prune = (obj: KubeObject): void => { unknownFieldsOfCustomResource(obj, schema, { prune: true }); };
    return {
      group,
      version: v.name,
      resource: names.plural,
      kind: names.kind,
      singular: names.singular || names.kind.toLowerCase(),
      namespaced: scope === 'Namespaced',
      shortNames: names.shortNames,
      categories: names.categories,
      subresources,
      scale: v.subresources?.scale
        ? { specReplicasPath: v.subresources.scale.specReplicasPath, statusReplicasPath: v.subresources.scale.statusReplicasPath, labelSelectorPath: v.subresources.scale.labelSelectorPath }
        : undefined,
      storagePrefix: customResourceStoragePrefix(crd),
      tracksGeneration: true,
      openAPIV3Schema: schema,
      source: 'crd',
      convert: hooks?.convert,
      table: tableFor(printerColumnsOf(v.additionalPrinterColumns)),
      strategy: {
        defaults(obj) {
          applyDefaults(obj, schema);
          hooks?.strategy.defaults?.(obj);
        },
        prepareForCreate(obj) {
          prune(obj);
        },
        prepareForUpdate(obj) {
          prune(obj);
        },
        validate: (obj, ctx) => [...validator(obj), ...(hooks?.strategy.validate?.(obj, ctx) ?? [])],
        validateUpdate: (obj, old, ctx) => [...validator(obj), ...(hooks?.strategy.validateUpdate?.(obj, old, ctx) ?? [])],
        beforeDelete: hooks?.strategy.beforeDelete,
      },
    };
  });
}
