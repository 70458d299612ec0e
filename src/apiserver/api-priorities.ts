/**
 * Where each API group/version stands, as kube-apiserver's aggregator ranks them: its APIServices' group priority
 * (higher first) and version priority. Discovery (`/apis`, aggregated discovery) lists groups in this order, ties
 * broken by name, so kubectl resolves a plural served by two groups (a CRD named like a built-in) to the same group
 * as against kube-apiserver; the APIService objects carry the same numbers.
 */
/** kube-apiserver's apiVersionPriorities (group priority minimum, version priority). */
const PRIORITIES: Record<string, [number, number]> = {
  'v1': [18000, 1],
  'apiregistration.k8s.io/v1': [18000, 15], // kube-aggregator's own group
  'apps/v1': [17800, 15],
  'events.k8s.io/v1': [17750, 15],
  'authentication.k8s.io/v1': [17700, 15],
  'authorization.k8s.io/v1': [17600, 15],
  'autoscaling/v2': [17500, 30],
  'autoscaling/v1': [17500, 15],
  'batch/v1': [17400, 15],
  'certificates.k8s.io/v1': [17300, 15],
  'networking.k8s.io/v1': [17200, 15],
  'policy/v1': [17100, 15],
  'rbac.authorization.k8s.io/v1': [17000, 15],
  'storage.k8s.io/v1': [16800, 15],
  'admissionregistration.k8s.io/v1': [16700, 15],
  'apiextensions.k8s.io/v1': [16700, 15],
  'scheduling.k8s.io/v1': [16600, 15],
  'coordination.k8s.io/v1': [16500, 15],
  'node.k8s.io/v1': [16300, 15],
  'discovery.k8s.io/v1': [16200, 15],
  'flowcontrol.apiserver.k8s.io/v1': [16100, 21],
  // metrics-server registers this one itself; Kedge serves it in-process.
  'metrics.k8s.io/v1beta1': [100, 100],
};

/** Custom resource groups: upstream's CRD registration uses 1000 and the version's position. */
const CRD_GROUP_PRIORITY = 1000;

/** The APIService priorities of group/version `gv` (`v1` for core); `index` is the version's place in its group. */
export function apiServicePriority(gv: string, custom: boolean, index: number): { groupPriorityMinimum: number; versionPriority: number } {
  const known = PRIORITIES[gv];
  if (known) return { groupPriorityMinimum: known[0], versionPriority: known[1] };
  return { groupPriorityMinimum: CRD_GROUP_PRIORITY, versionPriority: custom ? 100 - index : 15 };
}

/** Groups in the aggregator's order: highest group priority (of any of its versions) first, then by name. */
export function sortGroupsByPriority<G extends { name: string; versions: string[] }>(groups: G[]): G[] {
  const priority = (g: G) => Math.max(...g.versions.map((v, i) => apiServicePriority(g.name ? `${g.name}/${v}` : v, false, i).groupPriorityMinimum));
  return [...groups].sort((a, b) => priority(b) - priority(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
