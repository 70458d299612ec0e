/**
 * Pod Security admission (upstream's built-in PodSecurity plugin, Pod Security Standards "latest"): a namespace's
 * `pod-security.kubernetes.io/enforce` label (privileged | baseline | restricted) refuses pods that violate its level
 * with 403 `violates PodSecurity "<level>:<version>": <check> (<detail>), …`; the `warn` label returns the same
 * findings as `would violate PodSecurity …` warnings and lets the pod in. Checks, their reasons and detail texts,
 * and their order (baseline checks by ID, then restricted ones, restricted overriding their baseline counterparts)
 * follow k8s.io/pod-security-admission. Raising a namespace's enforce level warns about the existing pods the new
 * level would refuse (`existingPodWarnings`). The `audit` label is accepted but Kedge has no audit log to annotate;
 * `*-version` labels are named in messages, the checks are always `latest`'s.
 */
import type { Obj } from '../resources/helpers.js';

export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';
const LEVELS: readonly string[] = ['privileged', 'baseline', 'restricted'];
export const POD_SECURITY_LABEL_PREFIX = 'pod-security.kubernetes.io/';

interface Container { name: string; securityContext?: Obj; ports?: Obj[] }
interface Finding { reason: string; detail: string }
type Check = (spec: Obj, containers: Container[]) => Finding | undefined;

/** `container "a"` or `containers "a", "b"` as upstream's helpers word them. */
const named = (what: string, names: string[]) => `${what}${names.length > 1 ? 's' : ''} ${names.map((n) => JSON.stringify(n)).join(', ')}`;
const where = (containers: Container[], bad: (c: Container) => boolean) => containers.filter(bad).map((c) => c.name);

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const RESTRICTED_VOLUME_SOURCES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

function capabilityAdds(containers: Container[], allowed: (cap: string) => boolean): string[] {
  const out: string[] = [];
  for (const c of containers) {
    const bad = ((c.securityContext?.capabilities?.add ?? []) as string[]).filter((cap) => !allowed(cap));
    if (bad.length) out.push(`${named('container', [c.name])} must not include ${bad.map((b) => JSON.stringify(b)).join(', ')} in securityContext.capabilities.add`);
  }
  return out;
}

const BASELINE: [string, Check][] = [
  ['capabilities_baseline', (_s, cs) => {
    const details = capabilityAdds(cs, (cap) => BASELINE_CAPABILITIES.has(cap));
    return details.length ? { reason: 'non-default capabilities', detail: details.join('; ') } : undefined;
  }],
  ['hostNamespaces', (s) => {
    const on = ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => s[k] === true).map((k) => `${k}=true`);
    return on.length ? { reason: 'host namespaces', detail: on.join(', ') } : undefined;
  }],
  ['hostPathVolumes', (s) => {
    const names = ((s.volumes ?? []) as Obj[]).filter((v) => v.hostPath).map((v) => v.name as string);
    return names.length ? { reason: 'hostPath volumes', detail: named('volume', names) } : undefined;
  }],
  ['hostPorts', (_s, cs) => {
    const users = cs.filter((c) => (c.ports ?? []).some((p) => p.hostPort));
    if (!users.length) return undefined;
    const ports = [...new Set(users.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => String(p.hostPort))))];
    return { reason: 'hostPort', detail: `${named('container', users.map((c) => c.name))} ${users.length > 1 ? 'use' : 'uses'} ${ports.length > 1 ? 'hostPorts' : 'hostPort'} ${ports.join(', ')}` };
  }],
  ['privileged', (_s, cs) => {
    const names = where(cs, (c) => c.securityContext?.privileged === true);
    return names.length ? { reason: 'privileged', detail: `${named('container', names)} must not set securityContext.privileged=true` } : undefined;
  }],
  ['procMount', (_s, cs) => {
    const names = where(cs, (c) => c.securityContext?.procMount !== undefined && c.securityContext.procMount !== 'Default');
    return names.length ? { reason: 'procMount', detail: `${named('container', names)} must not set securityContext.procMount to "Unmasked"` } : undefined;
  }],
  ['seccompProfile_baseline', (s, cs) => {
    const bad: string[] = [];
    if (s.securityContext?.seccompProfile?.type === 'Unconfined') bad.push('pod');
    const names = where(cs, (c) => c.securityContext?.seccompProfile?.type === 'Unconfined');
    if (names.length) bad.push(named('container', names));
    return bad.length ? { reason: 'seccompProfile', detail: `${bad.join(' and ')} must not set securityContext.seccompProfile.type to "Unconfined"` } : undefined;
  }],
  ['sysctls', (s) => {
    const bad = ((s.securityContext?.sysctls ?? []) as Obj[]).map((x) => x.name as string).filter((n) => !SAFE_SYSCTLS.has(n));
    return bad.length ? { reason: 'forbidden sysctls', detail: bad.join(', ') } : undefined;
  }],
];

const RESTRICTED: [string, Check][] = [
  ['allowPrivilegeEscalation', (_s, cs) => {
    const names = where(cs, (c) => c.securityContext?.allowPrivilegeEscalation !== false);
    return names.length ? { reason: 'allowPrivilegeEscalation != false', detail: `${named('container', names)} must set securityContext.allowPrivilegeEscalation=false` } : undefined;
  }],
  ['capabilities_restricted', (_s, cs) => {
    const details: string[] = [];
    const noDrop = where(cs, (c) => !((c.securityContext?.capabilities?.drop ?? []) as string[]).includes('ALL'));
    if (noDrop.length) details.push(`${named('container', noDrop)} must set securityContext.capabilities.drop=["ALL"]`);
    details.push(...capabilityAdds(cs, (cap) => cap === 'NET_BIND_SERVICE'));
    return details.length ? { reason: 'unrestricted capabilities', detail: details.join('; ') } : undefined;
  }],
  ['restrictedVolumes', (s) => {
    const bad = ((s.volumes ?? []) as Obj[]).map((v) => ({ name: v.name as string, type: Object.keys(v).find((k) => k !== 'name') ?? '' })).filter((v) => v.type && !RESTRICTED_VOLUME_SOURCES.has(v.type));
    if (!bad.length) return undefined;
    const types = [...new Set(bad.map((v) => v.type))];
    return { reason: 'restricted volume types', detail: `${named('volume', bad.map((v) => v.name))} ${bad.length > 1 ? 'use' : 'uses'} restricted volume ${types.length > 1 ? 'types' : 'type'} ${types.map((t) => JSON.stringify(t)).join(', ')}` };
  }],
  ['runAsNonRoot', (s, cs) => {
    if (s.securityContext?.runAsNonRoot === false) return { reason: 'runAsNonRoot != true', detail: 'pod must not set securityContext.runAsNonRoot=false' };
    const explicitFalse = where(cs, (c) => c.securityContext?.runAsNonRoot === false);
    if (explicitFalse.length) return { reason: 'runAsNonRoot != true', detail: `${named('container', explicitFalse)} must not set securityContext.runAsNonRoot=false` };
    if (s.securityContext?.runAsNonRoot === true) return undefined;
    const unset = where(cs, (c) => c.securityContext?.runAsNonRoot !== true);
    return unset.length ? { reason: 'runAsNonRoot != true', detail: `pod or ${named('container', unset)} must set securityContext.runAsNonRoot=true` } : undefined;
  }],
  ['runAsUser', (s, cs) => {
    const bad: string[] = [];
    if (s.securityContext?.runAsUser === 0) bad.push('pod');
    const names = where(cs, (c) => c.securityContext?.runAsUser === 0);
    if (names.length) bad.push(named('container', names));
    return bad.length ? { reason: 'runAsUser=0', detail: `${bad.join(' and ')} must not set runAsUser=0` } : undefined;
  }],
  ['seccompProfile_restricted', (s, cs) => {
    const ok = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
    const podType = s.securityContext?.seccompProfile?.type;
    if (podType !== undefined && !ok(podType)) return { reason: 'seccompProfile', detail: `pod must not set securityContext.seccompProfile.type to ${JSON.stringify(podType)}` };
    const badSet = where(cs, (c) => c.securityContext?.seccompProfile?.type !== undefined && !ok(c.securityContext.seccompProfile.type));
    if (badSet.length) return { reason: 'seccompProfile', detail: `${named('container', badSet)} must not set securityContext.seccompProfile.type to "Unconfined"` };
    if (ok(podType)) return undefined;
    const unset = where(cs, (c) => c.securityContext?.seccompProfile?.type === undefined);
    return unset.length ? { reason: 'seccompProfile', detail: `pod or ${named('container', unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` } : undefined;
  }],
];

/** Restricted checks that replace a baseline one (upstream's OverrideCheckIDs). */
const OVERRIDDEN_AT_RESTRICTED = new Set(['capabilities_baseline', 'hostPathVolumes', 'seccompProfile_baseline']);

/** The findings of `level` for a pod spec, in upstream's order. */
function findings(spec: Obj, level: PodSecurityLevel): Finding[] {
  if (level === 'privileged') return [];
  const checks = level === 'baseline' ? BASELINE : [...BASELINE.filter(([id]) => !OVERRIDDEN_AT_RESTRICTED.has(id)), ...RESTRICTED];
  const containers = [...((spec.initContainers ?? []) as Container[]), ...((spec.containers ?? []) as Container[]), ...((spec.ephemeralContainers ?? []) as Container[])];
  const out: Finding[] = [];
  for (const [, check] of checks) {
    const f = check(spec, containers);
    if (f) out.push(f);
  }
  return out;
}

/** The findings of `level` for a pod spec, in upstream's order, as `reason (detail)` texts. */
export function podSecurityViolations(spec: Obj, level: PodSecurityLevel): string[] {
  return findings(spec, level).map((f) => `${f.reason} (${f.detail})`);
}

/**
 * Upstream's warnings when a namespace's enforce level changes (a namespace update): the existing pods that the new
 * level would refuse, pods with the same reasons on one line (`web-1 (and 2 other pods): reason, reason`), under the
 * heading `existing pods in namespace "ns" violate the new PodSecurity enforce level "level:version"`.
 */
export function existingPodWarnings(namespace: string, oldLabels: Record<string, string> | undefined, newLabels: Record<string, string> | undefined, pods: Obj[]): string[] {
  const next = namespacePolicy(newLabels, 'enforce');
  const prev = namespacePolicy(oldLabels, 'enforce');
  if (!next || next.level === 'privileged' || (prev && prev.level === next.level && prev.version === next.version)) return [];
  const byReasons = new Map<string, string[]>();
  for (const pod of [...pods].sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)))) {
    const reasons = findings(pod.spec ?? {}, next.level).map((f) => f.reason).join(', ');
    if (!reasons) continue;
    byReasons.set(reasons, [...(byReasons.get(reasons) ?? []), String(pod.metadata?.name)]);
  }
  if (!byReasons.size) return [];
  const out = [`existing pods in namespace ${JSON.stringify(namespace)} violate the new PodSecurity enforce level "${next.level}:${next.version}"`];
  for (const [reasons, names] of byReasons) {
    const others = names.length - 1;
    out.push(`${names[0]}${others ? ` (and ${others} other pod${others > 1 ? 's' : ''})` : ''}: ${reasons}`);
  }
  return out;
}

export interface PodSecurityPolicy { level: PodSecurityLevel; version: string }

/** The namespace's policy for one mode (enforce, warn, audit); an unknown level is treated as restricted, as upstream. */
export function namespacePolicy(labels: Record<string, string> | undefined, mode: 'enforce' | 'warn' | 'audit'): PodSecurityPolicy | undefined {
  const level = labels?.[`${POD_SECURITY_LABEL_PREFIX}${mode}`];
  if (level === undefined) return undefined;
  const version = labels?.[`${POD_SECURITY_LABEL_PREFIX}${mode}-version`] || 'latest';
  return { level: (LEVELS.includes(level) ? level : 'restricted') as PodSecurityLevel, version };
}

/**
 * What admission does with a pod created in a namespace with these labels: `refuse` is the 403's message tail
 * (`violates PodSecurity …`), `warnings` are the Warning texts (`would violate PodSecurity …`).
 */
export function evaluatePodSecurity(spec: Obj, namespaceLabels: Record<string, string> | undefined): { refuse?: string; warnings: string[] } {
  const out: { refuse?: string; warnings: string[] } = { warnings: [] };
  const enforce = namespacePolicy(namespaceLabels, 'enforce');
  if (enforce) {
    const v = podSecurityViolations(spec, enforce.level);
    if (v.length) out.refuse = `violates PodSecurity "${enforce.level}:${enforce.version}": ${v.join(', ')}`;
  }
  const warn = namespacePolicy(namespaceLabels, 'warn');
  if (warn && !out.refuse) {
    const v = podSecurityViolations(spec, warn.level);
    if (v.length) out.warnings.push(`would violate PodSecurity "${warn.level}:${warn.version}": ${v.join(', ')}`);
  }
  return out;
}
