/**
 * Tenancy admission (every write, after the gate): marks what a write makes as its tenant's, and refuses what
 * the request path could not see — a namespaced object whose body names another tenant's namespace (POST to the
 * all-namespace path), a member's attempt to relabel an object into another tenant.
 * - an object in a tenant's namespace carries tenancy.kedge.io/tenant=<tenant>, whoever writes it (controllers too);
 * - a cluster-scoped object a member creates or updates carries its tenant's label (row 6);
 * - a namespace another tenant's spec lists cannot be created by a member (AlreadyExists, as a taken name).
 */
import { alreadyExists, forbidden } from '../../apimachinery/status.js';
import type { KubeObject } from '../../apimachinery/object.js';
import { isShared, nodeAdmitsTenant, nodeTenant, TENANT_LABEL } from '../../common/tenancy.js';
import type { ResourceDef, StrategyContext } from '../registry.js';
import { ADMIN_GROUP, clusterKindOf } from './directory.js';
import type { TenancyGate } from './gate.js';

export async function admitTenancy(gate: TenancyGate, def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext): Promise<void> {
  const dir = gate.directory;
  const md = (obj.metadata ??= {});
  const gr = { group: def.group, resource: def.resource };
  if (def.namespaced) {
    const ns = md.namespace ?? ctx.namespace;
    const owner = await dir.namespaceOwner(ns);
    const member = await dir.tenantOf(ctx.user);
    if (member !== undefined && owner !== member) {
      throw forbidden(gr, md.name ?? '', `User "${ctx.user.username}" cannot ${old ? 'update' : 'create'} resource "${def.resource}" in API group "${def.group}" in the namespace "${ns}": namespace "${ns}" is not in tenant "${member}"`);
    }
    if (owner !== undefined && md.labels?.[TENANT_LABEL] !== owner) md.labels = { ...(md.labels ?? {}), [TENANT_LABEL]: owner };
    if (def.group === '' && def.resource === 'pods') await admitPodNode(gate, obj, old, owner, ctx);
    return;
  }
  const member = await dir.tenantOf(ctx.user);
  if (member === undefined) return;
  const kind = clusterKindOf(def.group, def.resource);
  if (kind === 'tenants') throw forbidden(gr, md.name ?? '', `members of tenant "${member}" cannot change Tenants`);
  if (!old && kind === 'namespaces') {
    const listedFor = (await dir.snapshot()).listedNamespaces.get(md.name ?? '');
    if (listedFor !== undefined && listedFor !== member) throw alreadyExists(gr, md.name ?? '');
  }
  if (md.labels?.[TENANT_LABEL] !== member) md.labels = { ...(md.labels ?? {}), [TENANT_LABEL]: member };
}

/**
 * A pod's node, however it is set (the scheduler's binding, or `spec.nodeName` written directly, which bypasses
 * the scheduler): a tenant's pod only on its nodes or the shared ones its Tenant allows; a pod of no tenant never
 * on a tenant's node. Administrators (system:masters) may place pods anywhere. Whether the node exists is not
 * consulted for the answer (a missing node is refused like a foreign one).
 */
async function admitPodNode(gate: TenancyGate, pod: KubeObject, old: KubeObject | null, podTenant: string | undefined, ctx: StrategyContext): Promise<void> {
  const nodeName = (pod as { spec?: { nodeName?: string } }).spec?.nodeName;
  if (!nodeName || nodeName === (old as { spec?: { nodeName?: string } } | null)?.spec?.nodeName) return;
  if (ctx.user.groups.includes(ADMIN_GROUP)) return;
  const s = await gate.directory.snapshot();
  if (s.tenants.size === 0) return;
  const node = await gate.directory.nodeObject(nodeName);
  const owner = node ? nodeTenant(node, s.tenants.values()) : undefined;
  const allowsShared = podTenant !== undefined && s.tenants.get(podTenant)?.spec?.sharedNodes === true;
  if (node && nodeAdmitsTenant(owner, isShared(node), podTenant, allowsShared)) return;
  if (!node && podTenant === undefined) return; // a pod of no tenant on a node not (yet) registered: as upstream
  const name = pod.metadata?.name ?? '';
  throw forbidden({ group: '', resource: 'pods' }, name, `node "${nodeName}" is not available to ${podTenant === undefined ? 'pods of no tenant' : `tenant "${podTenant}"`}`);
}
