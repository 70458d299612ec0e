/**
 * KubeEdge's device API on `kedge server`: the devices.kubeedge.io/v1beta1 CRDs (src/common/device-crds.ts)
 * installed at start, and an admission step that checks a Device against its DeviceModel (which the CRD schema
 * alone cannot: it needs another object). Refused, with field errors worded as kube-apiserver's:
 *  - a Device naming no model, or a model that does not exist in its namespace;
 *  - a property (or a method's property) the model does not have, or listed twice;
 *  - a desired value of the wrong type for the model, or outside its minimum/maximum;
 *  - a desired value on a ReadOnly property (access-mode violation);
 *  - a DeviceModel with duplicate properties, or minimum/maximum that are not numbers or cross.
 * Status writes (the `status` subresource, DeviceStatus objects) are not checked against the model: reported values
 * are what the device said.
 */
import { deviceCrds } from '../common/device-crds.js';
import { installBuiltinCrds, type InstallDeps } from './crd/builtin/index.js';
import { invalid, type FieldError } from '../apimachinery/status.js';
import type { KubeObject } from '../apimachinery/object.js';
import type { ResourceDef, StrategyContext } from './registry.js';
import { DEVICES_GROUP, propertyValueProblem, type Device, type DeviceModel, type ModelProperty } from '../common/devices.js';

const NUMERIC = new Set(['INT', 'FLOAT', 'DOUBLE']);

/** Where a DeviceModel is stored (custom resources: /registry/<group>/<plural>/<ns>/<name>). */
export function deviceModelKey(namespace: string, name: string): string {
  return `/registry/${DEVICES_GROUP}/devicemodels/${namespace}/${name}`;
}

/** Field errors of a DeviceModel's spec. */
export function deviceModelProblems(model: DeviceModel): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  (model.spec?.properties ?? []).forEach((p, i) => {
    const f = `spec.properties[${i}]`;
    if (!p.name) errs.push({ type: 'Required', field: `${f}.name`, detail: 'a property needs a name' });
    else if (seen.has(p.name)) errs.push({ type: 'Duplicate', field: `${f}.name`, value: p.name });
    seen.add(p.name);
    if (!p.type) errs.push({ type: 'Required', field: `${f}.type`, detail: 'one of INT, FLOAT, DOUBLE, STRING, BOOLEAN, BYTES' });
    const bound = (which: 'minimum' | 'maximum'): number | undefined => {
      const v = p[which];
      if (v === undefined || v === '') return undefined;
      if (!NUMERIC.has(p.type)) {
        errs.push({ type: 'Invalid', field: `${f}.${which}`, value: v, detail: `only INT, FLOAT and DOUBLE properties have a ${which}` });
        return undefined;
      }
      const problem = propertyValueProblem({ type: p.type }, v);
      if (problem) errs.push({ type: 'Invalid', field: `${f}.${which}`, value: v, detail: problem });
      return problem ? undefined : Number(v);
    };
    const min = bound('minimum');
    const max = bound('maximum');
    if (min !== undefined && max !== undefined && min > max) errs.push({ type: 'Invalid', field: `${f}.minimum`, value: p.minimum, detail: `must not be greater than maximum ${p.maximum}` });
  });
  return errs;
}

/** Field errors of a Device checked against its model (undefined: the model does not exist). */
export function deviceProblems(device: Device, model: DeviceModel | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const modelName = device.spec?.deviceModelRef?.name;
  if (!modelName) return [{ type: 'Required', field: 'spec.deviceModelRef.name', detail: 'a Device must name its DeviceModel' }];
  const ns = device.metadata?.namespace ?? 'default';
  if (!model) return [{ type: 'Invalid', field: 'spec.deviceModelRef.name', value: modelName, detail: `DeviceModel "${modelName}" not found in namespace "${ns}"` }];
  const props = new Map<string, ModelProperty>((model.spec?.properties ?? []).map((p) => [p.name, p]));
  const known = [...props.keys()].join(', ') || 'none';
  const seen = new Set<string>();
  (device.spec.properties ?? []).forEach((p, i) => {
    const f = `spec.properties[${i}]`;
    if (!p.name) {
      errs.push({ type: 'Required', field: `${f}.name`, detail: 'a property needs a name' });
      return;
    }
    if (seen.has(p.name)) errs.push({ type: 'Duplicate', field: `${f}.name`, value: p.name });
    seen.add(p.name);
    const mp = props.get(p.name);
    if (!mp) {
      errs.push({ type: 'Invalid', field: `${f}.name`, value: p.name, detail: `not a property of DeviceModel "${modelName}" (its properties: ${known})` });
      return;
    }
    const desired = p.desired?.value;
    if (desired === undefined || desired === '') return;
    if (mp.accessMode === 'ReadOnly') {
      errs.push({ type: 'Forbidden', field: `${f}.desired.value`, detail: `property "${p.name}" is ReadOnly in DeviceModel "${modelName}": it cannot have a desired value` });
      return;
    }
    const problem = propertyValueProblem(mp, desired);
    if (problem) errs.push({ type: 'Invalid', field: `${f}.desired.value`, value: desired, detail: problem });
  });
  const methods = new Set<string>();
  (device.spec.methods ?? []).forEach((m, i) => {
    if (m.name && methods.has(m.name)) errs.push({ type: 'Duplicate', field: `spec.methods[${i}].name`, value: m.name });
    methods.add(m.name);
    (m.propertyNames ?? []).forEach((pn, j) => {
      if (!props.has(pn)) errs.push({ type: 'Invalid', field: `spec.methods[${i}].propertyNames[${j}]`, value: pn, detail: `not a property of DeviceModel "${modelName}" (its properties: ${known})` });
    });
  });
  return errs;
}

/**
 * The admission step for devices.kubeedge.io writes (called from the ObjectStore's admit hook). `getModel` reads a
 * stored DeviceModel. Main-resource writes only: status writes carry reports, not intent.
 */
export async function admitDeviceObject(
  def: ResourceDef, obj: KubeObject, ctx: StrategyContext, getModel: (namespace: string, name: string) => Promise<DeviceModel | null>,
): Promise<void> {
  if (def.group !== DEVICES_GROUP || ctx.subresource) return;
  const name = obj.metadata?.name ?? '';
  if (def.resource === 'devicemodels') {
    const errs = deviceModelProblems(obj as unknown as DeviceModel);
    if (errs.length) throw invalid(def.kind, def.group, name, errs);
    return;
  }
  if (def.resource !== 'devices') return;
  const device = obj as unknown as Device;
  device.spec ??= {};
  const modelName = device.spec.deviceModelRef?.name;
  const model = modelName ? await getModel(obj.metadata?.namespace ?? ctx.namespace, modelName) : null;
  const errs = deviceProblems(device, model ?? undefined);
  if (errs.length) throw invalid(def.kind, def.group, name, errs);
}

/** Create the device CRDs if absent, update a copy Kedge installed from an older revision (one installer: crd/builtin). */
export async function installDeviceCrds(o: InstallDeps): Promise<void> {
  if (!o.registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')) return;
  await installBuiltinCrds(o, deviceCrds());
}
