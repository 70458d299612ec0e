/** DMI Device + DeviceModel messages (from the edge) → the MapperDevice a mapper runs, checked. */
import { decodeCustomizedValue, type DeviceMessage, type DeviceModelMessage } from '../protocol/dmi/index.js';
import { propertyType } from './values.js';
import type { MapperDevice, MapperProperty } from './types.js';

export const DEFAULT_COLLECT_CYCLE_MS = 1_000;
/** A cycle shorter than this would only load the device and the edge; longer than a day is a mistake. */
export const MIN_CYCLE_MS = 100;
export const MAX_CYCLE_MS = 24 * 3600_000;

/**
 * KubeEdge documents collectCycle/reportCycle in milliseconds, but some of its published examples give
 * nanoseconds (10000000000 for 10 s, Go's time.Duration). A value of a billion or more is read as nanoseconds.
 */
export function cycleMs(raw: number | undefined, fallback: number): number {
  let ms = Number(raw ?? 0);
  if (!Number.isFinite(ms) || ms <= 0) return fallback;
  if (ms >= 1e9) ms = ms / 1e6;
  return Math.min(MAX_CYCLE_MS, Math.max(MIN_CYCLE_MS, Math.round(ms)));
}

export const modelKey = (namespace: string | undefined, name: string | undefined) => `${namespace || 'default'}/${name ?? ''}`;

export function decodeDevice(d: DeviceMessage, models: ReadonlyMap<string, DeviceModelMessage>): MapperDevice {
  const name = d.name ?? '';
  if (!name) throw new Error('device has no name');
  const namespace = d.namespace || 'default';
  const spec = d.spec ?? {};
  const model = models.get(modelKey(namespace, spec.deviceModelReference));
  const modelProps = new Map((model?.spec?.properties ?? []).map((p) => [p.name ?? '', p]));
  const properties: MapperProperty[] = [];
  for (const p of spec.properties ?? []) {
    const pname = p.name ?? '';
    if (!pname) throw new Error('a property has no name');
    const mp = modelProps.get(pname);
    const collectCycleMs = cycleMs(p.collectCycle, DEFAULT_COLLECT_CYCLE_MS);
    const desired = p.desired?.value;
    properties.push({
      name: pname,
      type: propertyType(mp?.type),
      // Without the model's word, a property the cloud sets a desired value for is writable.
      accessMode: mp?.accessMode === 'ReadOnly' ? 'ReadOnly' : mp?.accessMode === 'ReadWrite' || desired ? 'ReadWrite' : 'ReadOnly',
      visitor: decodeCustomizedValue(p.visitors?.configData).data,
      collectCycleMs,
      reportCycleMs: cycleMs(p.reportCycle, collectCycleMs),
      reportToCloud: p.reportToCloud ?? false,
      ...(desired ? { desired } : {}),
      ...(p.pushMethod && (p.pushMethod.mqtt || p.pushMethod.http) ? { pushMethod: p.pushMethod } : {}),
    });
  }
  return {
    namespace,
    name,
    model: spec.deviceModelReference ?? '',
    protocolConfig: decodeCustomizedValue(spec.protocol?.configData).data,
    properties,
  };
}
