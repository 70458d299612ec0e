/**
 * Checks on what a mapper sends the edge over DMI. A mapper is a local process, but it is still a peer: a bad
 * request gets a gRPC error naming the problem (INVALID_ARGUMENT, NOT_FOUND) and changes nothing.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { MAX_SOCKET_PATH_BYTES } from '../../../common/unix-socket.js';
import { grpc, grpcError, type MapperInfoMessage, type ReportDeviceStatesRequest, type ReportDeviceStatusRequest } from '../../../protocol/dmi/index.js';

export const DMI_LIMITS = {
  /** One reported value: a reading, not a file (a BYTES property of a few KiB fits easily). */
  valueBytes: 64 * 1024,
  twinsPerReport: 1024,
  metadataEntries: 16,
  metadataBytes: 1024,
} as const;

/** The device states KubeEdge's device manager accepts from a mapper (compared lowercased, as it does). */
export const MAPPER_DEVICE_STATES = ['online', 'offline', 'ok', 'unknown', 'disconnected'] as const;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const PROTOCOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface MapperIdentity {
  name: string;
  protocol: string;
  version: string;
  apiVersion: string;
  /** Absolute path of the mapper's DeviceMapperService socket. */
  address: string;
}

const invalid = (msg: string) => grpcError(grpc.status.INVALID_ARGUMENT, msg);

/**
 * MapperRegister's MapperInfo, checked. The address must be an absolute path that is a Unix socket or nothing yet:
 * KubeEdge's mapper-framework registers (with a 1 s deadline, fatal on error) *before* it starts serving, so a
 * missing socket is normal at this point (the server waits for it: server.ts); a file of another kind is refused.
 */
export async function checkMapperInfo(m: MapperInfoMessage | null | undefined): Promise<MapperIdentity> {
  if (!m) throw invalid('MapperRegister: mapper is required');
  const name = m.name ?? '';
  const protocol = m.protocol ?? '';
  if (!name || name.length > 253 || /[\u0000-\u001f]/.test(name)) throw invalid(`MapperRegister: mapper.name ${JSON.stringify(name)} must be 1-253 printable characters`);
  if (!PROTOCOL_NAME.test(protocol)) throw invalid(`MapperRegister: mapper.protocol ${JSON.stringify(protocol)} must be 1-63 characters of letters, digits, '.', '_' or '-' (the protocolName of its devices)`);
  const raw = Buffer.from(m.address ?? []);
  const address = raw.toString('utf8');
  if (!address || raw.includes(0) || !path.isAbsolute(address) || raw.length > MAX_SOCKET_PATH_BYTES) {
    throw invalid(`MapperRegister: mapper.address ${JSON.stringify(address)} must be the absolute path of the mapper's Unix socket (at most ${MAX_SOCKET_PATH_BYTES} bytes)`);
  }
  const st = await lstat(address).catch(() => undefined);
  if (st && !st.isSocket()) throw grpcError(grpc.status.FAILED_PRECONDITION, `MapperRegister: mapper.address ${address} exists and is not a Unix socket`);
  return { name, protocol, version: (m.version ?? '').slice(0, 64), apiVersion: (m.api_version ?? '').slice(0, 64), address };
}

/** The device a report is about; KubeEdge mappers before v1.17 send no namespace, meaning "default". */
export function deviceKeyOf(req: { deviceName?: string; deviceNamespace?: string }, method: string): { namespace: string; name: string } {
  const name = req.deviceName ?? '';
  const namespace = req.deviceNamespace || 'default';
  if (!DNS_SUBDOMAIN.test(name)) throw invalid(`${method}: deviceName ${JSON.stringify(name.slice(0, 300))} is not a valid device name`);
  if (!DNS_SUBDOMAIN.test(namespace) || namespace.length > 63) throw invalid(`${method}: deviceNamespace ${JSON.stringify(namespace.slice(0, 300))} is not a valid namespace`);
  return { namespace, name };
}

export interface CheckedReport {
  propertyName: string;
  value: string;
  timestamp?: number;
  metadata?: Record<string, string>;
}

/**
 * ReportDeviceStatus's twins as reported values, each of a property the device's model has (`known`); anything
 * malformed or oversized fails the whole request.
 */
export function checkReportedTwins(req: ReportDeviceStatusRequest, known: ReadonlySet<string>, device: string): CheckedReport[] {
  const twins = req.reportedDevice?.twins ?? [];
  if (twins.length > DMI_LIMITS.twinsPerReport) throw invalid(`ReportDeviceStatus: ${twins.length} twins in one report (at most ${DMI_LIMITS.twinsPerReport})`);
  const out: CheckedReport[] = [];
  const unknown: string[] = [];
  for (const t of twins) {
    const propertyName = t.propertyName ?? '';
    if (!known.has(propertyName)) {
      unknown.push(propertyName);
      continue;
    }
    // A twin with no reported value carries nothing to record (mapper-framework sends observedDesired alongside).
    if (!t.reported) continue;
    const value = t.reported.value ?? '';
    if (Buffer.byteLength(value) > DMI_LIMITS.valueBytes) throw invalid(`ReportDeviceStatus: value of ${propertyName} is ${Buffer.byteLength(value)} bytes (at most ${DMI_LIMITS.valueBytes})`);
    const metadata = t.reported.metadata ?? {};
    const entries = Object.entries(metadata);
    if (entries.length > DMI_LIMITS.metadataEntries || entries.some(([k, v]) => k.length + v.length > DMI_LIMITS.metadataBytes)) {
      throw invalid(`ReportDeviceStatus: metadata of ${propertyName} is too large (at most ${DMI_LIMITS.metadataEntries} entries of ${DMI_LIMITS.metadataBytes} bytes)`);
    }
    const ts = Number(metadata.timestamp);
    const cleanMeta: Record<string, string> = {};
    for (const [k, v] of entries) if (k !== '__proto__') cleanMeta[k] = v;
    out.push({ propertyName, value, ...(Number.isFinite(ts) && ts > 0 ? { timestamp: ts } : {}), ...(entries.length ? { metadata: cleanMeta } : {}) });
  }
  if (unknown.length) {
    throw invalid(`ReportDeviceStatus: device ${device} has no propert${unknown.length > 1 ? 'ies' : 'y'} ${unknown.slice(0, 10).map((u) => JSON.stringify(u.slice(0, 100))).join(', ')} in its model`);
  }
  return out;
}

export function checkState(req: ReportDeviceStatesRequest): string {
  const state = (req.state ?? '').toLowerCase();
  if (!(MAPPER_DEVICE_STATES as readonly string[]).includes(state)) {
    throw invalid(`ReportDeviceStates: state ${JSON.stringify((req.state ?? '').slice(0, 100))} is not one of ${MAPPER_DEVICE_STATES.join(', ')}`);
  }
  return state;
}
