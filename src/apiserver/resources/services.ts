/** core/v1 services: ClusterIP and NodePort allocation (released on delete), defaults and validation. */
import type { FieldError } from '../../apimachinery/status.js';
import { invalid } from '../../apimachinery/status.js';
import type { KubeObject } from '../../apimachinery/object.js';
import type { ResourceDef } from '../registry.js';
import type { ClusterIpAllocator, NodePortAllocator } from '../ip-allocator.js';
import { servicesTable } from './core.js';
import { isValidPortNumber } from '../validation.js';
import { builtin, type Obj } from './helpers.js';

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];

function defaults(obj: KubeObject): void {
  const s = ((obj as Obj).spec ??= {}) as Obj;
  s.type ??= 'ClusterIP';
  s.sessionAffinity ??= 'None';
  if (s.type !== 'ExternalName') {
    s.ipFamilies ??= ['IPv4'];
    s.ipFamilyPolicy ??= 'SingleStack';
    s.internalTrafficPolicy ??= 'Cluster';
  }
  if (s.type === 'NodePort' || s.type === 'LoadBalancer') s.externalTrafficPolicy ??= 'Cluster';
  for (const p of (s.ports ?? []) as Obj[]) {
    p.protocol ??= 'TCP';
    if (p.targetPort === undefined) p.targetPort = p.port;
  }
}

function validate(obj: KubeObject): FieldError[] {
  const s = ((obj as Obj).spec ?? {}) as Obj;
  const errs: FieldError[] = [];
  if (!TYPES.includes(s.type)) errs.push({ type: 'NotSupported', field: 'spec.type', value: s.type, supported: TYPES });
  const ports = (s.ports ?? []) as Obj[];
  if (s.type !== 'ExternalName' && s.clusterIP !== 'None' && ports.length === 0) errs.push({ type: 'Required', field: 'spec.ports' });
  const names = new Set<string>();
  ports.forEach((p, i) => {
    if (!isValidPortNumber(p.port)) {
      errs.push({ type: 'Invalid', field: `spec.ports[${i}].port`, value: p.port, detail: 'must be between 1 and 65535, inclusive' });
    }
    // A numeric targetPort is a port number too (a string one names a container port).
    if (typeof p.targetPort === 'number' && p.targetPort !== 0 && !isValidPortNumber(p.targetPort)) {
      errs.push({ type: 'Invalid', field: `spec.ports[${i}].targetPort`, value: p.targetPort, detail: 'must be between 1 and 65535, inclusive' });
    }
    if (ports.length > 1 && !p.name) errs.push({ type: 'Required', field: `spec.ports[${i}].name` });
    if (p.name) {
      if (names.has(p.name)) errs.push({ type: 'Duplicate', field: `spec.ports[${i}].name`, value: p.name });
      names.add(p.name);
    }
    if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol)) errs.push({ type: 'NotSupported', field: `spec.ports[${i}].protocol`, value: p.protocol, supported: ['SCTP', 'TCP', 'UDP'] });
  });
  if (s.type === 'ExternalName' && !s.externalName) errs.push({ type: 'Required', field: 'spec.externalName' });
  return errs;
}

export function servicesDef(ips: ClusterIpAllocator, ports: NodePortAllocator): ResourceDef {
  const needsNodePorts = (s: Obj) => s.type === 'NodePort' || s.type === 'LoadBalancer';
  const release = (obj: KubeObject) => {
    const s = ((obj as Obj).spec ?? {}) as Obj;
    for (const ip of (s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : [])) as string[]) if (ip !== 'None') ips.release(ip);
    for (const p of (s.ports ?? []) as Obj[]) if (p.nodePort) ports.release(p.nodePort);
  };
  const allocateNodePorts = (obj: KubeObject, old?: Obj) => {
    const s = (obj as Obj).spec as Obj;
    const errs: FieldError[] = [];
    const oldPorts = new Set(((old?.spec?.ports ?? []) as Obj[]).map((p) => p.nodePort).filter(Boolean));
    ((s.ports ?? []) as Obj[]).forEach((p, i) => {
      if (!needsNodePorts(s)) { delete p.nodePort; return; }
      if (p.nodePort && oldPorts.has(p.nodePort)) return;
      if (p.nodePort) {
        const e = ports.allocate(p.nodePort);
        if (e) errs.push({ type: 'Invalid', field: `spec.ports[${i}].nodePort`, value: p.nodePort, detail: e });
      } else {
        const n = ports.allocateNext();
        if (n === null) errs.push({ type: 'Internal', field: `spec.ports[${i}].nodePort`, detail: 'range is full' });
        else p.nodePort = n;
      }
    });
    return errs;
  };
  return builtin({
    group: '', version: 'v1', resource: 'services', kind: 'Service', singular: 'service', namespaced: true,
    shortNames: ['svc'], categories: ['all'], subresources: ['status', 'proxy'], nameValidation: 'dns1035', tracksGeneration: false,
    table: servicesTable,
    strategy: {
      defaults,
      validate,
      prepareForCreate(obj) {
        const o = obj as Obj;
        const s = o.spec as Obj;
        o.status = { loadBalancer: {} };
        if (s.type === 'ExternalName') return;
        const errs: FieldError[] = [];
        if (s.clusterIP === 'None') {
          s.clusterIPs = ['None'];
        } else if (s.clusterIP) {
          const e = ips.allocate(s.clusterIP);
          if (e) errs.push({ type: 'Invalid', field: 'spec.clusterIPs', value: [s.clusterIP], detail: e });
          else s.clusterIPs = [s.clusterIP];
        } else {
          const ip = ips.allocateNext();
          if (!ip) errs.push({ type: 'Internal', field: 'spec.clusterIPs', detail: 'failed to allocate a serviceIP: range is full' });
          else { s.clusterIP = ip; s.clusterIPs = [ip]; }
        }
        errs.push(...allocateNodePorts(obj));
        if (errs.length) {
          release(obj);
          throw invalid('Service', '', o.metadata.name, errs);
        }
      },
      prepareForUpdate(obj, old) {
        const s = (obj as Obj).spec as Obj;
        const os = ((old as Obj).spec ?? {}) as Obj;
        // ClusterIP is immutable once allocated; an update that omits it keeps it.
        if (!s.clusterIP && os.clusterIP) { s.clusterIP = os.clusterIP; s.clusterIPs = os.clusterIPs; }
        if (s.clusterIP !== os.clusterIP && os.type !== 'ExternalName' && s.type !== 'ExternalName') {
          throw invalid('Service', '', (obj as Obj).metadata.name, [{ type: 'Invalid', field: 'spec.clusterIPs[0]', value: s.clusterIP, detail: 'may not change once set' }]);
        }
        // Keep node ports the client left out.
        for (const p of (s.ports ?? []) as Obj[]) {
          if (!p.nodePort) p.nodePort = ((os.ports ?? []) as Obj[]).find((q) => q.port === p.port && q.protocol === p.protocol)?.nodePort;
          if (!p.nodePort) delete p.nodePort;
        }
        const errs = allocateNodePorts(obj, old as Obj);
        if (errs.length) throw invalid('Service', '', (obj as Obj).metadata.name, errs);
        const kept = new Set(((s.ports ?? []) as Obj[]).map((p) => p.nodePort));
        for (const p of (os.ports ?? []) as Obj[]) if (p.nodePort && !kept.has(p.nodePort)) ports.release(p.nodePort);
      },
      abortCreate: release,
      afterDelete: release,
    },
  });
}
