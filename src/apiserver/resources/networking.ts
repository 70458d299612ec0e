/**
 * networking.k8s.io/v1 Ingress, IngressClass, NetworkPolicy: stored and validated with upstream's defaults and
 * messages. Nothing routes Ingress traffic and NetworkPolicy is not enforced yet (README, compatibility).
 */
import type { FieldError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import { isValidPortNumber, validateNameValue } from '../validation.js';
import { age, builtin, col, selectorString, table, type Obj } from './helpers.js';

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];

function validateBackend(b: Obj | undefined, field: string, errs: FieldError[]): void {
  if (!b) return;
  const svc = b.service as Obj | undefined;
  if (svc && b.resource) errs.push({ type: 'Invalid', field, value: '', detail: 'cannot set both resource and service backends' });
  else if (!svc && !b.resource) errs.push({ type: 'Invalid', field, value: '', detail: 'resource or service backend is required' });
  if (svc) {
    if (!svc.name) errs.push({ type: 'Required', field: `${field}.service.name` });
    else for (const m of validateNameValue(svc.name, 'dns1035')) errs.push({ type: 'Invalid', field: `${field}.service.name`, value: svc.name, detail: m });
    const port = (svc.port ?? {}) as Obj;
    if (port.name && port.number) errs.push({ type: 'Invalid', field: `${field}.service.port`, value: port, detail: 'cannot set both port name & port number' });
    else if (port.number !== undefined) {
      if (!isValidPortNumber(port.number)) errs.push({ type: 'Invalid', field: `${field}.service.port.number`, value: port.number, detail: 'must be between 1 and 65535, inclusive' });
    } else if (!port.name) errs.push({ type: 'Required', field: `${field}.service.port`, detail: 'port name or number is required' });
  }
}

function validateIngress(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const s = (o.spec ?? {}) as Obj;
  const rules = (s.rules ?? []) as Obj[];
  if (!s.defaultBackend && !rules.length) errs.push({ type: 'Invalid', field: 'spec.rules', value: [], detail: 'either `defaultBackend` or `rules` must be specified' });
  validateBackend(s.defaultBackend, 'spec.defaultBackend', errs);
  rules.forEach((r, i) => {
    if (r.host) {
      const host = String(r.host);
      const bare = host.startsWith('*.') ? host.slice(2) : host;
      if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) errs.push({ type: 'Invalid', field: `spec.rules[${i}].host`, value: host, detail: 'must be a DNS name, not an IP address' });
      else for (const m of validateNameValue(bare, 'subdomain')) errs.push({ type: 'Invalid', field: `spec.rules[${i}].host`, value: host, detail: host.startsWith('*.') ? m.replace('a lowercase RFC 1123 subdomain', "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which") : m });
    }
    const paths = (r.http?.paths ?? []) as Obj[];
    if (r.http && !paths.length) errs.push({ type: 'Required', field: `spec.rules[${i}].http.paths` });
    paths.forEach((p, j) => {
      const f = `spec.rules[${i}].http.paths[${j}]`;
      if (!p.pathType) errs.push({ type: 'Required', field: `${f}.pathType`, detail: 'pathType must be specified' });
      else if (!PATH_TYPES.includes(p.pathType)) errs.push({ type: 'NotSupported', field: `${f}.pathType`, value: p.pathType, supported: PATH_TYPES });
      if (p.pathType && p.pathType !== 'ImplementationSpecific' && (typeof p.path !== 'string' || !p.path.startsWith('/'))) {
        errs.push({ type: 'Invalid', field: `${f}.path`, value: p.path ?? '', detail: 'must be an absolute path' });
      }
      if (!p.backend) errs.push({ type: 'Required', field: `${f}.backend` });
      validateBackend(p.backend, `${f}.backend`, errs);
    });
  });
  return errs;
}

function ingressHosts(i: Obj): string {
  const hosts = ((i.spec?.rules ?? []) as Obj[]).map((r) => r.host || '*');
  if (!hosts.length) return '*';
  return hosts.length > 4 ? `${hosts.slice(0, 4).join(',')} + ${hosts.length - 4} more...` : hosts.join(',');
}

function ingressAddress(i: Obj): string {
  return ((i.status?.loadBalancer?.ingress ?? []) as Obj[]).map((x) => x.ip || x.hostname).filter(Boolean).join(',');
}

export const ingressesDef: ResourceDef = builtin({
  group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', kind: 'Ingress', singular: 'ingress', namespaced: true,
  shortNames: ['ing'], subresources: ['status'],
  strategy: {
    prepareForCreate(obj) { (obj as Obj).status = {}; },
    validate: (o) => validateIngress(o as Obj),
  },
  table: table([col('Class'), col('Hosts'), col('Address'), col('Ports'), col('Age')], (i, now) => [
    i.spec?.ingressClassName ?? '<none>', ingressHosts(i), ingressAddress(i), (i.spec?.tls ?? []).length ? '80, 443' : '80', age(i, now)]),
});

export const ingressClassesDef: ResourceDef = builtin({
  group: 'networking.k8s.io', version: 'v1', resource: 'ingressclasses', kind: 'IngressClass', singular: 'ingressclass', namespaced: false,
  strategy: {
    validate(obj) {
      const s = ((obj as Obj).spec ?? {}) as Obj;
      const errs: FieldError[] = [];
      if (s.controller && String(s.controller).length > 250) errs.push({ type: 'TooLong', field: 'spec.controller', detail: 'must have at most 250 bytes' });
      const p = s.parameters as Obj | undefined;
      if (p) {
        if (!p.kind) errs.push({ type: 'Required', field: 'spec.parameters.kind', detail: 'kind is required' });
        if (!p.name) errs.push({ type: 'Required', field: 'spec.parameters.name', detail: 'name is required' });
        if (p.scope && !['Cluster', 'Namespace'].includes(p.scope)) errs.push({ type: 'NotSupported', field: 'spec.parameters.scope', value: p.scope, supported: ['Cluster', 'Namespace'] });
        if (p.scope === 'Namespace' && !p.namespace) errs.push({ type: 'Required', field: 'spec.parameters.namespace', detail: '`parameters.scope` is set to \'Namespace\'' });
      }
      return errs;
    },
    validateUpdate(obj, old) {
      const n = (obj as Obj).spec?.controller;
      const o = (old as Obj).spec?.controller;
      return n !== o ? [{ type: 'Invalid', field: 'spec.controller', value: n, detail: 'field is immutable' }] : [];
    },
  },
  table: table([col('Controller'), col('Parameters'), col('Age')], (c, now) => {
    const p = c.spec?.parameters as Obj | undefined;
    const params = p ? `${p.kind}.${p.apiGroup ?? ''}/${p.name}` : '<none>';
    return [c.spec?.controller ?? '', params, age(c, now)];
  }),
});

function validateNetworkPolicy(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const s = (o.spec ?? {}) as Obj;
  for (const [i, t] of ((s.policyTypes ?? []) as string[]).entries()) {
    if (t !== 'Ingress' && t !== 'Egress') errs.push({ type: 'NotSupported', field: `spec.policyTypes[${i}]`, value: t, supported: ['Egress', 'Ingress'] });
  }
  const checkPorts = (ports: Obj[], field: string) => ports.forEach((p, i) => {
    if (p.protocol && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) errs.push({ type: 'NotSupported', field: `${field}[${i}].protocol`, value: p.protocol, supported: ['SCTP', 'TCP', 'UDP'] });
    if (typeof p.port === 'number' && !isValidPortNumber(p.port)) errs.push({ type: 'Invalid', field: `${field}[${i}].port`, value: p.port, detail: 'must be between 1 and 65535, inclusive' });
    if (p.endPort !== undefined && typeof p.port !== 'number') errs.push({ type: 'Required', field: `${field}[${i}].port`, detail: 'must be specified when endPort is specified' });
    else if (p.endPort !== undefined && p.endPort < p.port) errs.push({ type: 'Invalid', field: `${field}[${i}].endPort`, value: p.endPort, detail: 'must be greater than or equal to `port`' });
  });
  const checkPeers = (peers: Obj[], field: string) => peers.forEach((p, i) => {
    const set = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => p[k] !== undefined && p[k] !== null);
    if (!set.length) errs.push({ type: 'Required', field: `${field}[${i}]`, detail: 'must specify a peer' });
    if (p.ipBlock && set.length > 1) errs.push({ type: 'Forbidden', field: `${field}[${i}]`, detail: 'may not specify both ipBlock and another peer' });
    if (p.ipBlock && !p.ipBlock.cidr) errs.push({ type: 'Required', field: `${field}[${i}].ipBlock.cidr` });
  });
  ((s.ingress ?? []) as Obj[]).forEach((r, i) => { checkPorts(r.ports ?? [], `spec.ingress[${i}].ports`); checkPeers(r.from ?? [], `spec.ingress[${i}].from`); });
  ((s.egress ?? []) as Obj[]).forEach((r, i) => { checkPorts(r.ports ?? [], `spec.egress[${i}].ports`); checkPeers(r.to ?? [], `spec.egress[${i}].to`); });
  return errs;
}

export const networkPoliciesDef: ResourceDef = builtin({
  group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', singular: 'networkpolicy', namespaced: true,
  shortNames: ['netpol'],
  strategy: {
    defaults(obj) {
      const s = ((obj as Obj).spec ??= {}) as Obj;
      s.podSelector ??= {};
      // Upstream: policyTypes defaults to Ingress, plus Egress when egress rules are present.
      if (!(s.policyTypes ?? []).length) s.policyTypes = (s.egress ?? []).length ? ['Ingress', 'Egress'] : ['Ingress'];
      for (const r of [...((s.ingress ?? []) as Obj[]), ...((s.egress ?? []) as Obj[])]) for (const p of (r.ports ?? []) as Obj[]) p.protocol ??= 'TCP';
    },
    validate: (o) => validateNetworkPolicy(o as Obj),
  },
  table: table([col('Pod-Selector'), col('Age')], (n, now) => {
    const sel = selectorString(n.spec?.podSelector);
    return [sel === '<none>' ? '<none>' : sel, age(n, now)];
  }),
});
