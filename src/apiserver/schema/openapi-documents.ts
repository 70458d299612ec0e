/**
 * The OpenAPI documents the API server publishes: `/openapi/v3` (index), `/openapi/v3/<gv>`
 * (one document per group-version) and `/openapi/v2` (Swagger 2.0 JSON). Built lazily on first
 * request from the registry's resource list and cached as serialized bytes; call `invalidate()`
 * when the set of resources changes (a CRD was added or removed).
 *
 * kubectl relies on these details: the PATCH operation of each kind carries
 * `x-kubernetes-group-version-kind` and lists a `fieldValidation` parameter (that is how kubectl
 * decides to send `fieldValidation=Strict` instead of validating client-side); kind schemas carry
 * `x-kubernetes-group-version-kind` (how `kubectl explain` and client-side apply find them) and
 * the patch/list extensions strategic merge patch needs.
 */
import { createHash } from 'node:crypto';
import { DefinitionNamer } from './definition-names.js';
import { modelNameForKind } from './model-catalog.js';
import { SchemaSetBuilder, type Dialect, type JsonSchema, type GVK } from './openapi-schemas.js';
import { gvKey, type ApiResourceInfo } from './resource-info.js';
import { encodeSwaggerProtobuf } from './openapi-v2-protobuf.js';

export interface PublishedDocument {
  /** Serialized JSON. */
  body: Buffer;
  /** Upper-case hex SHA-512 of body (the `hash` query parameter and ETag upstream uses). */
  hash: string;
}

const K8S_VERSION = 'v1.32.0';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

function publish(doc: unknown): PublishedDocument {
  const body = Buffer.from(JSON.stringify(doc));
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
}

/** Definition name upstream gives a custom resource's schema: reversed group, version, kind. */
export function customResourceDefinitionName(group: string, version: string, kind: string): string {
  return `${group.split('.').reverse().join('.')}.${version}.${kind}`;
}

export class OpenApiPublisher {
  private v3Docs = new Map<string, PublishedDocument>();
  private v2Doc?: PublishedDocument;
  private v2Proto?: PublishedDocument;
  private index?: PublishedDocument;

  /** `resources` is called on each (re)build so it always reflects the registry. */
  constructor(private readonly resources: () => ApiResourceInfo[]) {}

  invalidate(): void {
    this.v3Docs.clear();
    this.v2Doc = undefined;
    this.v2Proto = undefined;
    this.index = undefined;
  }

  /** `/openapi/v3`: `{ paths: { "api/v1": { serverRelativeURL: "/openapi/v3/api/v1?hash=…" } } }`. */
  v3Index(): PublishedDocument {
    if (!this.index) {
      const paths: Record<string, { serverRelativeURL: string }> = {};
      const gvs = new Set(this.resources().map((r) => gvKey(r.group, r.version)));
      for (const key of [...gvs].sort()) {
        const doc = this.v3GroupVersionByKey(key);
        if (doc) paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${doc.hash}` };
      }
      this.index = publish({ paths });
    }
    return this.index;
  }

  /** `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; undefined when not served. */
  v3GroupVersion(group: string, version: string): PublishedDocument | undefined {
    return this.v3GroupVersionByKey(gvKey(group, version));
  }

  /** Same, addressed by the URL suffix after `/openapi/v3/` (`api/v1`, `apis/apps/v1`). */
  v3GroupVersionByKey(key: string): PublishedDocument | undefined {
    const cached = this.v3Docs.get(key);
    if (cached) return cached;
    const all = this.resources();
    const mine = all.filter((r) => gvKey(r.group, r.version) === key);
    if (mine.length === 0) return undefined;
    const doc = publish(this.buildDocument('v3', mine, all));
    this.v3Docs.set(key, doc);
    return doc;
  }

  /** `/openapi/v2`: every built-in and custom resource in one Swagger 2.0 document. */
  v2(): PublishedDocument {
    if (!this.v2Doc) {
      const all = this.resources();
      this.v2Doc = publish(this.buildDocument('v2', all, all));
    }
    return this.v2Doc;
  }

  /**
   * `/openapi/v2` for `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
   * (what client-go's discovery client asks for): the same document in gnostic's protobuf form.
   */
  v2Protobuf(): PublishedDocument {
    if (!this.v2Proto) {
      const body = encodeSwaggerProtobuf(JSON.parse(this.v2().body.toString()) as Record<string, unknown>);
      this.v2Proto = { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
    }
    return this.v2Proto;
  }

  private buildDocument(dialect: Dialect, resources: ApiResourceInfo[], all: ApiResourceInfo[]): unknown {
    const namer = new DefinitionNamer(all.filter((r) => !r.schema));
    const b = new SchemaSetBuilder(dialect, namer);
    const paths: Record<string, Record<string, unknown>> = {};
    const patchDef = `${META}.Patch`;
    b.addRaw(patchDef, { type: 'object', description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.' });
    const statusDef = b.addModel('V1Status', { group: '', version: 'v1', kind: 'Status' });
    const deleteOptionsDef = b.addModel('V1DeleteOptions');
    for (const r of resources) {
      const gvk: GVK = { group: r.group, version: r.version, kind: r.kind };
      let kindDef: string;
      let listDef: string;
      if (r.schema) {
        kindDef = customResourceDefinitionName(r.group, r.version, r.kind);
        listDef = `${kindDef}List`;
        const objectMeta = b.addModel('V1ObjectMeta');
        const listMeta = b.addModel('V1ListMeta');
        b.addRaw(kindDef, customResourceSchema(dialect, r.schema, gvk, b.ref(objectMeta)));
        b.addRaw(listDef, {
          type: 'object',
          required: ['items'],
          properties: {
            apiVersion: { type: 'string' },
            items: { type: 'array', items: b.ref(kindDef) },
            kind: { type: 'string' },
            metadata: b.ref(listMeta),
          },
          'x-kubernetes-group-version-kind': [{ ...gvk, kind: `${r.kind}List` }],
        });
      } else {
        const model = modelNameForKind(r.group, r.version, r.kind);
        if (!model) continue;
        kindDef = b.addModel(model, gvk);
        const listModel = modelNameForKind(r.group, r.version, `${r.kind}List`);
        listDef = listModel ? b.addModel(listModel, { ...gvk, kind: `${r.kind}List` }) : kindDef;
      }
      addResourcePaths(dialect, paths, r, gvk, b.ref(kindDef), b.ref(listDef), b.ref(statusDef), b.ref(patchDef), b.ref(deleteOptionsDef));
      for (const sub of r.subresources ?? []) {
        if (sub === 'status') addSubresourcePaths(dialect, paths, r, 'status', gvk, b.ref(kindDef), b.ref(patchDef));
        if (sub === 'scale') {
          const scaleGvk = { group: 'autoscaling', version: 'v1', kind: 'Scale' };
          const scaleDef = b.addModel('V1Scale', scaleGvk);
          addSubresourcePaths(dialect, paths, r, 'scale', scaleGvk, b.ref(scaleDef), b.ref(patchDef));
        }
      }
    }
    const info = { title: 'Kubernetes', version: K8S_VERSION };
    if (dialect === 'v3') {
      return {
        openapi: '3.0.0',
        info,
        paths,
        components: {
          schemas: sortKeys(b.schemas),
          securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
        },
      };
    }
    return {
      swagger: '2.0',
      info,
      paths,
      definitions: sortKeys(b.schemas),
      securityDefinitions: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
      security: [{ BearerToken: [] }],
    };
  }
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A custom resource's published schema: the CRD's schema plus the standard object fields. */
function customResourceSchema(dialect: Dialect, schema: Record<string, unknown>, gvk: GVK, objectMetaRef: JsonSchema): JsonSchema {
  const copy = structuredClone(schema) as JsonSchema;
  const props = { ...((copy.properties as Record<string, JsonSchema> | undefined) ?? {}) };
  props.apiVersion ??= { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' };
  props.kind ??= { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' };
  props.metadata = dialect === 'v3' ? { allOf: [objectMetaRef] } : objectMetaRef;
  copy.properties = props;
  copy.type ??= 'object';
  copy['x-kubernetes-group-version-kind'] = [gvk];
  return copy;
}

function param(dialect: Dialect, name: string, location: 'query' | 'path', description: string, type = 'string'): JsonSchema {
  const p: JsonSchema = { name, in: location, description };
  if (location === 'path') p.required = true;
  if (dialect === 'v3') p.schema = { type, uniqueItems: true };
  else { p.type = type; p.uniqueItems = true; }
  return p;
}

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
/** Custom resources take no strategic merge patch; kubectl reads this list to choose merge patch for them. */
const CR_PATCH_TYPES = PATCH_TYPES.filter((t) => t !== 'application/strategic-merge-patch+json');

function operation(
  dialect: Dialect, action: string, id: string, gvk: GVK, params: JsonSchema[], response: JsonSchema,
  body?: { schema: JsonSchema; types: string[] },
): JsonSchema {
  const op: JsonSchema = {
    description: `${action} ${gvk.kind}`,
    operationId: id,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
  };
  const parameters = [...params];
  if (dialect === 'v3') {
    op.responses = { '200': { description: 'OK', content: { 'application/json': { schema: response }, 'application/yaml': { schema: response } } } };
    if (body) op.requestBody = { content: Object.fromEntries(body.types.map((t) => [t, { schema: body.schema }])), required: true };
  } else {
    op.responses = { '200': { description: 'OK', schema: response } };
    op.consumes = body ? body.types : ['*/*'];
    op.produces = ['application/json', 'application/yaml'];
    if (body) parameters.push({ name: 'body', in: 'body', required: true, schema: body.schema });
  }
  op.parameters = parameters;
  return op;
}

function basePath(r: ApiResourceInfo): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}` : `${base}/${r.plural}`;
}

function opId(verb: string, r: ApiResourceInfo, suffix = ''): string {
  const group = r.group === '' ? 'Core' : r.group.split('.')[0].replace(/^./, (c) => c.toUpperCase());
  const ver = r.version.replace(/^./, (c) => c.toUpperCase());
  return `${verb}${group}${ver}${r.namespaced ? 'Namespaced' : ''}${r.kind}${suffix}`;
}

function writeParams(dialect: Dialect, withForce: boolean): JsonSchema[] {
  const ps = [
    param(dialect, 'dryRun', 'query', 'When present, indicates that modifications should not be persisted.'),
    param(dialect, 'fieldManager', 'query', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
    param(dialect, 'fieldValidation', 'query', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.'),
  ];
  if (withForce) ps.push(param(dialect, 'force', 'query', 'Force is going to "force" Apply requests.', 'boolean'));
  return ps;
}

function addResourcePaths(
  dialect: Dialect, paths: Record<string, Record<string, unknown>>, r: ApiResourceInfo, gvk: GVK,
  kindRef: JsonSchema, listRef: JsonSchema, statusRef: JsonSchema, patchRef: JsonSchema, deleteOptionsRef: JsonSchema,
): void {
  const collection = basePath(r);
  const nsParam = r.namespaced ? [param(dialect, 'namespace', 'path', 'object name and auth scope, such as for teams and projects')] : [];
  const nameParam = param(dialect, 'name', 'path', `name of the ${r.kind}`);
  const listParams = ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch'].map((n) =>
    param(dialect, n, 'query', n, n === 'limit' ? 'integer' : n === 'watch' ? 'boolean' : 'string'));
  paths[collection] = {
    get: operation(dialect, 'list', opId('list', r), gvk, [...nsParam, ...listParams], listRef),
    post: operation(dialect, 'post', opId('create', r), gvk, [...nsParam, ...writeParams(dialect, false)], kindRef, { schema: kindRef, types: ['*/*'] }),
    delete: operation(dialect, 'deletecollection', opId('deletecollection', r), gvk, [...nsParam, ...listParams], statusRef, { schema: deleteOptionsRef, types: ['*/*'] }),
  };
  paths[`${collection}/{name}`] = {
    get: operation(dialect, 'get', opId('read', r), gvk, [...nsParam, nameParam], kindRef),
    put: operation(dialect, 'put', opId('replace', r), gvk, [...nsParam, nameParam, ...writeParams(dialect, false)], kindRef, { schema: kindRef, types: ['*/*'] }),
    patch: operation(dialect, 'patch', opId('patch', r), gvk, [...nsParam, nameParam, ...writeParams(dialect, true)], kindRef, { schema: patchRef, types: r.schema ? CR_PATCH_TYPES : PATCH_TYPES }),
    delete: operation(dialect, 'delete', opId('delete', r), gvk, [...nsParam, nameParam, param(dialect, 'dryRun', 'query', 'dry run'), param(dialect, 'propagationPolicy', 'query', 'propagation policy')], statusRef, { schema: deleteOptionsRef, types: ['*/*'] }),
  };
}

function addSubresourcePaths(
  dialect: Dialect, paths: Record<string, Record<string, unknown>>, r: ApiResourceInfo, sub: string, gvk: GVK, ref: JsonSchema, patchRef: JsonSchema,
): void {
  const nsParam = r.namespaced ? [param(dialect, 'namespace', 'path', 'object name and auth scope, such as for teams and projects')] : [];
  const nameParam = param(dialect, 'name', 'path', `name of the ${gvk.kind}`);
  const suffix = sub.replace(/^./, (c) => c.toUpperCase());
  paths[`${basePath(r)}/{name}/${sub}`] = {
    get: operation(dialect, 'get', opId('read', r, suffix), gvk, [...nsParam, nameParam], ref),
    put: operation(dialect, 'put', opId('replace', r, suffix), gvk, [...nsParam, nameParam, ...writeParams(dialect, false)], ref, { schema: ref, types: ['*/*'] }),
    patch: operation(dialect, 'patch', opId('patch', r, suffix), gvk, [...nsParam, nameParam, ...writeParams(dialect, true)], ref, { schema: patchRef, types: r.schema && sub === 'status' ? CR_PATCH_TYPES : PATCH_TYPES }),
  };
}
