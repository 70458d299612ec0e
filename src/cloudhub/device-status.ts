/**
 * The up path for KubeEdge devices: an edge node's device report (status kind `device`) becomes the Device's
 * DeviceStatus (KubeEdge v1.23+: one per Device, same namespace and name, owner-referenced to it, twins in
 * `.status`), and the Device's own `.status.state`/`lastOnlineTime` (the `kubectl get devices` STATE column).
 *
 * Node authorization (as NodeRestriction would rule it for a kubelet): a node writes the status of Devices bound to
 * it (`spec.nodeName`) only, and only the Device with the uid it names. Never backwards: each reported value carries
 * `metadata.timestamp` (ms, set at the edge when the device reported it); a twin in the cloud with a newer timestamp
 * is kept, so a report buffered offline and replayed after reconnect cannot overwrite a newer value.
 */
import { seg, type KubeClient } from '../common/kube-client.js';
import {
  DEVICES_API_VERSION, DEVICES_GROUP, DEVICES_VERSION, TWIN_TIMESTAMP_KEY,
  type Device, type DeviceStatus, type DeviceStatusFields, type Twin,
} from '../protocol/devices.js';

export interface DeviceWriteResult {
  ok: boolean;
  reason?: string;
  retry?: boolean;
}

export type DeviceLookup = (namespace: string, name: string) => Device | undefined;

const base = `/apis/${DEVICES_GROUP}/${DEVICES_VERSION}`;
const devicePath = (ns: string, name: string) => `${base}/namespaces/${seg(ns)}/devices/${seg(name)}`;
const statusesPath = (ns: string) => `${base}/namespaces/${seg(ns)}/devicestatuses`;
const statusPath = (ns: string, name: string) => `${statusesPath(ns)}/${seg(name)}`;
const CONFLICT_RETRIES = 5;

function timestampOf(t: Twin | undefined): number {
  const v = Number(t?.reported?.metadata?.[TWIN_TIMESTAMP_KEY]);
  return Number.isFinite(v) ? v : -1;
}

/**
 * The cloud's twins after a report: per property, the reported value with the newer timestamp wins (the cloud's on a
 * tie: the write is then a no-op); properties the report does not mention are kept.
 */
export function mergeReportedTwins(current: Twin[] | undefined, incoming: Twin[] | undefined): Twin[] {
  const out = new Map<string, Twin>();
  for (const t of current ?? []) if (t?.propertyName) out.set(t.propertyName, t);
  for (const t of incoming ?? []) {
    if (!t?.propertyName) continue;
    const have = out.get(t.propertyName);
    if (have && timestampOf(have) >= timestampOf(t)) {
      // The cloud's reported value is as new or newer; the edge's observedDesired is still news.
      if (t.observedDesired) out.set(t.propertyName, { ...have, observedDesired: t.observedDesired });
      continue;
    }
    out.set(t.propertyName, t);
  }
  return [...out.values()].sort((a, b) => a.propertyName.localeCompare(b.propertyName));
}

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

function isTwinArray(v: unknown): v is Twin[] {
  return Array.isArray(v) && v.every((t) => t && typeof t === 'object' && typeof (t as Twin).propertyName === 'string'
    && (!(t as Twin).reported || typeof (t as Twin).reported!.value === 'string'));
}

export class DeviceStatusWriter {
  constructor(private readonly api: KubeClient, private readonly lookup: DeviceLookup) {}

  async write(node: string, body: { namespace?: unknown; name?: unknown; uid?: unknown; status?: unknown }): Promise<DeviceWriteResult> {
    const { namespace, name, uid } = body;
    const status = body.status as DeviceStatusFields | undefined;
    if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string' || !status || typeof status !== 'object') {
      return { ok: false, reason: 'device status needs namespace, name, uid and status', retry: false };
    }
    if (status.twins !== undefined && !isTwinArray(status.twins)) return { ok: false, reason: 'device status twins must be [{propertyName, reported:{value}}]', retry: false };
    const cached = this.lookup(namespace, name);
    if (!cached || cached.spec?.nodeName !== node) return { ok: false, reason: `forbidden: device ${namespace}/${name} is not bound to node ${node}`, retry: false };
    if (cached.metadata.uid !== uid) return { ok: false, reason: `device ${namespace}/${name} uid changed; status dropped`, retry: false };
    await this.writeDeviceStatusObject(cached, status);
    await this.writeDeviceState(cached, status);
    return { ok: true };
  }

  /** Create-or-merge the DeviceStatus named after the device, owned by it. */
  private async writeDeviceStatusObject(device: Device, status: DeviceStatusFields): Promise<void> {
    const ns = device.metadata.namespace!;
    const name = device.metadata.name!;
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      let cur: DeviceStatus | undefined;
      try {
        cur = await this.api.request<DeviceStatus>('GET', statusPath(ns, name));
      } catch (err) {
        if (httpCode(err) !== 404) throw err;
      }
      // A DeviceStatus left over from an earlier device of the same name belongs to that one: replace it.
      if (cur && !cur.metadata.ownerReferences?.some((r) => r.uid === device.metadata.uid)) {
        await this.api.request('DELETE', statusPath(ns, name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: cur.metadata.uid } }).catch((err) => {
          if (httpCode(err) !== 404 && httpCode(err) !== 409) throw err;
        });
        continue;
      }
      if (!cur) {
        try {
          cur = await this.api.request<DeviceStatus>('POST', statusesPath(ns), {
            apiVersion: DEVICES_API_VERSION,
            kind: 'DeviceStatus',
            metadata: {
              name, namespace: ns,
              ownerReferences: [{ apiVersion: DEVICES_API_VERSION, kind: 'Device', name, uid: device.metadata.uid!, controller: true, blockOwnerDeletion: true }],
            },
            spec: {},
          });
        } catch (err) {
          if (httpCode(err) === 409) continue;
          throw err;
        }
      }
      const prev = cur.status ?? {};
      const next: DeviceStatusFields = { ...prev, twins: mergeReportedTwins(prev.twins, status.twins) };
      if (status.state !== undefined) next.state = status.state;
      if (status.lastOnlineTime !== undefined && (!prev.lastOnlineTime || status.lastOnlineTime > prev.lastOnlineTime)) next.lastOnlineTime = status.lastOnlineTime;
      if (JSON.stringify(next) === JSON.stringify(prev)) return;
      const { managedFields: _mf, ...metadata } = cur.metadata as DeviceStatus['metadata'] & { managedFields?: unknown };
      try {
        await this.api.request('PUT', `${statusPath(ns, name)}/status`, { ...cur, metadata, status: next });
        return;
      } catch (err) {
        if (httpCode(err) !== 409 && httpCode(err) !== 404) throw err;
      }
    }
    throw Object.assign(new Error(`conflict: DeviceStatus ${ns}/${name} kept changing`), { code: 409 });
  }

  /** The Device's own status carries state and lastOnlineTime only (what `kubectl get devices` shows). */
  private async writeDeviceState(device: Device, status: DeviceStatusFields): Promise<void> {
    if (status.state === undefined) return;
    const ns = device.metadata.namespace!;
    const name = device.metadata.name!;
    let cur: Device = device;
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      const prev = cur.status ?? {};
      const lastOnlineTime = status.lastOnlineTime && (!prev.lastOnlineTime || status.lastOnlineTime > prev.lastOnlineTime) ? status.lastOnlineTime : prev.lastOnlineTime;
      if (prev.state === status.state && prev.lastOnlineTime === lastOnlineTime) return;
      const { managedFields: _mf, ...metadata } = cur.metadata as Device['metadata'] & { managedFields?: unknown };
      try {
        await this.api.request('PUT', `${devicePath(ns, name)}/status`, { ...cur, metadata, status: { ...prev, state: status.state, ...(lastOnlineTime ? { lastOnlineTime } : {}) } });
        return;
      } catch (err) {
        const code = httpCode(err);
        if (code === 404) return;
        if (code !== 409) throw err;
        cur = await this.api.request<Device>('GET', devicePath(ns, name));
        if (cur.metadata.uid !== device.metadata.uid) return;
      }
    }
  }

  /** A deleted Device's DeviceStatus goes with it (ownerReferences say so; this does it where no GC watches them). */
  async deleteStatusOf(device: Device): Promise<void> {
    const ns = device.metadata.namespace!;
    const name = device.metadata.name!;
    let cur: DeviceStatus;
    try {
      cur = await this.api.request<DeviceStatus>('GET', statusPath(ns, name));
    } catch (err) {
      if (httpCode(err) === 404) return;
      throw err;
    }
    if (!cur.metadata.ownerReferences?.some((r) => r.uid === device.metadata.uid)) return;
    await this.api.request('DELETE', statusPath(ns, name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: cur.metadata.uid } }).catch((err) => {
      if (httpCode(err) !== 404 && httpCode(err) !== 409) throw err;
    });
  }
}
