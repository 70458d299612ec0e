/**
 * Upstream-style OpenAPI definition names (`io.k8s.api.core.v1.Container`) for client-node model
 * classes (`V1Container`). kubectl prints the last dotted segment as a field's type in
 * `kubectl explain`, so the names matter for users, not for correctness. The Go package of a
 * model is not recorded in client-node, so it is inferred: meta types by name, group-prefixed
 * models from their prefix, others from the served kind whose name they start with
 * (`DeploymentSpec` → apps), defaulting to core.
 */
const META = new Set([
  'ObjectMeta', 'ListMeta', 'LabelSelector', 'LabelSelectorRequirement', 'OwnerReference', 'ManagedFieldsEntry',
  'Status', 'StatusDetails', 'StatusCause', 'Condition', 'DeleteOptions', 'Preconditions', 'WatchEvent',
  'APIResource', 'APIResourceList', 'APIGroup', 'APIGroupList', 'APIVersions', 'GroupVersionForDiscovery',
  'ServerAddressByClientCIDR', 'FieldSelectorRequirement',
]);

function packageOfGroup(group: string): string {
  if (group === '') return 'io.k8s.api.core';
  if (group === 'apiextensions.k8s.io') return 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions';
  if (group === 'apiregistration.k8s.io') return 'io.k8s.kube-aggregator.pkg.apis.apiregistration';
  return `io.k8s.api.${group.split('.')[0]}`;
}

const VERSIONED = /^(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$/;
const GROUP_PREFIXED = /^([A-Z][a-z]+)(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$/;

export class DefinitionNamer {
  /** kind → group, longest kinds first so `ReplicaSetSpec` matches ReplicaSet, not a shorter kind. */
  private readonly kinds: Array<{ kind: string; group: string }>;
  constructor(served: Array<{ group: string; kind: string }>) {
    this.kinds = [...served].sort((a, b) => b.kind.length - a.kind.length);
  }

  name(model: string): string {
    const gp = GROUP_PREFIXED.exec(model);
    if (gp && !VERSIONED.test(model)) {
      const group = gp[1].toLowerCase() === 'core' ? '' : gp[1].toLowerCase();
      return `${packageOfGroup(group)}.${gp[2].toLowerCase()}.${gp[3]}`;
    }
    const m = VERSIONED.exec(model);
    if (!m) return model;
    const [, ver, bare] = m;
    const v = ver.toLowerCase();
    if (META.has(bare)) return `io.k8s.apimachinery.pkg.apis.meta.${v}.${bare}`;
    if (bare === 'JSONSchemaProps' || bare.startsWith('CustomResource') || bare === 'JSON' || bare === 'ExternalDocumentation' || bare === 'ValidationRule' || bare === 'SelectableField') {
      return `${packageOfGroup('apiextensions.k8s.io')}.${v}.${bare}`;
    }
    for (const k of this.kinds) {
      if (bare.startsWith(k.kind)) return `${packageOfGroup(k.group)}.${v}.${bare}`;
    }
    return `${packageOfGroup('')}.${v}.${bare}`;
  }
}
