/**
 * Discovery documents, derived from the registry at request time: /api, /apis, /api/v1, /apis/G, /apis/G/V, and
 * aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) for clients that ask for it.
 */
import { groupVersion, verbsOf, type Registry, type ResourceDef } from './registry.js';
import { sortGroupsByPriority } from './api-priorities.js';

function subresourceVerbs(sub: string): string[] {
  switch (sub) {
    case 'status': case 'scale': return ['get', 'patch', 'update'];
    case 'approval': case 'finalize': return ['get', 'patch', 'update'];
    case 'binding': case 'eviction': case 'token': return ['create'];
    case 'log': return ['get'];
    case 'exec': case 'attach': case 'portforward': return ['create', 'get'];
    case 'proxy': return ['create', 'delete', 'get', 'patch', 'update'];
    default: return ['get'];
  }
}

function subresourceKind(def: ResourceDef, sub: string): { group: string; version: string; kind: string } {
  switch (sub) {
    case 'scale': return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
    case 'binding': return { group: '', version: 'v1', kind: 'Binding' };
    case 'eviction': return { group: 'policy', version: 'v1', kind: 'Eviction' };
    case 'token': return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };
    case 'log': case 'exec': case 'attach': case 'portforward': case 'proxy':
      return { group: '', version: 'v1', kind: sub === 'log' ? 'Pod' : `${def.kind}${sub === 'exec' ? 'ExecOptions' : sub === 'attach' ? 'AttachOptions' : sub === 'portforward' ? 'PortForwardOptions' : 'ProxyOptions'}` };
    default: return { group: def.group, version: def.version, kind: def.kind };
  }
}

export function apiResourceList(registry: Registry, group: string, version: string): Record<string, unknown> | null {
  const defs = registry.resourcesIn(group, version);
  if (!defs.length) return null;
  const resources: Record<string, unknown>[] = [];
  for (const d of defs.sort((a, b) => a.resource.localeCompare(b.resource))) {
    const r: Record<string, unknown> = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: verbsOf(d) };
    if (d.shortNames?.length) r.shortNames = d.shortNames;
    if (d.categories?.length) r.categories = d.categories;
    resources.push(r);
    for (const sub of d.subresources ?? []) {
      const k = subresourceKind(d, sub);
      const sr: Record<string, unknown> = { name: `${d.resource}/${sub}`, singularName: '', namespaced: d.namespaced, kind: k.kind, verbs: subresourceVerbs(sub) };
      if (k.group !== d.group || k.version !== d.version) { sr.group = k.group; sr.version = k.version; }
      resources.push(sr);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupEntry(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(registry: Registry): Record<string, unknown> {
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: sortGroupsByPriority(registry.groups()).filter((g) => g.name !== '').map((g) => groupEntry(g.name, g.versions)),
  };
}

export function apiGroup(registry: Registry, name: string): Record<string, unknown> | null {
  const g = sortGroupsByPriority(registry.groups()).find((x) => x.name === name && name !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g.name, g.versions) } : null;
}

/** apidiscovery.k8s.io APIGroupDiscoveryList for /api (core only) or /apis (all named groups). */
export function aggregatedDiscovery(registry: Registry, legacy: boolean, version: 'v2' | 'v2beta1'): Record<string, unknown> {
  const groups = sortGroupsByPriority(registry.groups()).filter((g) => (legacy ? g.name === '' : g.name !== ''));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: groups.map((g) => ({
      metadata: { name: g.name, creationTimestamp: null },
      versions: g.versions.map((v) => ({
        version: v,
        resources: registry.resourcesIn(g.name, v).sort((a, b) => a.resource.localeCompare(b.resource)).map((d) => {
          const r: Record<string, unknown> = {
            resource: d.resource,
            responseKind: { group: d.group, version: d.version, kind: d.kind },
            scope: d.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: d.singular,
            verbs: verbsOf(d),
          };
          if (d.shortNames?.length) r.shortNames = d.shortNames;
          if (d.categories?.length) r.categories = d.categories;
          if (d.subresources?.length) {
            r.subresources = d.subresources.map((s) => ({ subresource: s, responseKind: subresourceKind(d, s), verbs: subresourceVerbs(s) }));
          }
          return r;
        }),
        freshness: 'Current',
      })),
    })),
  };
}

export function versionInfo(): Record<string, string> {
  return {
    major: '1', minor: '32', gitVersion: 'v1.32.0+kedge', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z', goVersion: `node${process.versions.node}`, compiler: 'tsc', platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}
