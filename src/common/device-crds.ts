/**
 * The CustomResourceDefinitions of KubeEdge's device API (devices.kubeedge.io/v1beta1: DeviceModel, Device and,
 * as KubeEdge v1.23+, DeviceStatus), with structural schemas written from KubeEdge's documented fields
 * (pkg/apis/devices/v1beta1) and printer columns that make `kubectl get devices` useful. `kedge server` installs
 * them at start (src/apiserver/devices.ts); they are plain CRDs, so `kedge cloud` users can apply the same objects to
 * their cluster (docs/design/devices.md). Shared here because both the API server and the CLI use them.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';

/** An OpenAPI v3 schema as it is on the wire (client-node's V1JSONSchemaProps renames `enum` and the x- fields). */
type V1JSONSchemaProps = { [field: string]: unknown };

/** Marks the CRDs Kedge installs itself: a CRD without it (a user's own copy of KubeEdge's) is left alone. */
export const BUILTIN_CRD_ANNOTATION = 'kedge.io/builtin-crd-revision';
/** Bump when the schemas below change: the server then updates its installed copies. */
export const DEVICE_CRDS_REVISION = '2';

const str = (description?: string): V1JSONSchemaProps => ({ type: 'string', ...(description ? { description } : {}) });
const int64 = (description?: string): V1JSONSchemaProps => ({ type: 'integer', format: 'int64', ...(description ? { description } : {}) });
const bool = (description?: string): V1JSONSchemaProps => ({ type: 'boolean', ...(description ? { description } : {}) });
const obj = (properties: Record<string, V1JSONSchemaProps>, extra: Partial<V1JSONSchemaProps> = {}): V1JSONSchemaProps => ({ type: 'object', properties, ...extra });
const arr = (items: V1JSONSchemaProps, description?: string): V1JSONSchemaProps => ({ type: 'array', items, ...(description ? { description } : {}) });
const stringMap = (): V1JSONSchemaProps => ({ type: 'object', additionalProperties: { type: 'string' } });
/** KubeEdge's CustomizedValue: any protocol-specific JSON object, kept as given. */
const freeForm = (description: string): V1JSONSchemaProps => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });

const twinProperty = (description: string): V1JSONSchemaProps =>
  obj({ value: str('The value for this property.'), metadata: { ...stringMap(), description: 'Additional metadata like the timestamp when the value was reported.' } }, { description, required: ['value'] });

const twin = obj({
  propertyName: str('The property name for which the desired/reported values are specified.'),
  reported: twinProperty('The reported property value.'),
  observedDesired: twinProperty('The desired value the edge (mapper) had received when it reported.'),
});

const deviceStatusFields = (): Record<string, V1JSONSchemaProps> => ({
  twins: arr(twin, 'Device twins: reported values of twin properties.'),
  state: str('The state of the device (online, offline, unknown, ...).'),
  lastOnlineTime: str('The last time the device was online.'),
  reportToCloud: bool('Whether the device status is reported to the cloud.'),
  reportCycle: int64('How often the mapper reports the device status (nanoseconds).'),
});

const pushMethod = obj({
  http: obj({ hostName: str(), port: int64(), requestPath: str(), timeout: int64() }),
  mqtt: obj({ address: str('Broker address, like mqtt://127.0.0.1:1883.'), topic: str(), qos: { type: 'integer', format: 'int32' }, retained: bool() }),
  otel: obj({ endpointURL: str() }),
  dbMethod: freeForm('Database push configuration (influxdb2, redis, TDEngine, mysql).'),
});

const deviceSpec = obj({
  deviceModelRef: obj({ name: str('Name of the DeviceModel in the same namespace.') }, { description: 'The device model used as a template to create the device instance.' }),
  nodeName: str('The node this device is bound to: its twin runs in that node\'s edge agent.'),
  protocol: obj({ protocolName: str('Unique protocol name.'), configData: freeForm('Any config data.') }, { description: 'The protocol configuration used to connect to the device.' }),
  properties: arr(obj({
    name: str('The device property name (must be a property of the model).'),
    desired: twinProperty('The desired property value.'),
    visitors: obj({ protocolName: str(), configData: freeForm('Protocol-specific access details.') }),
    reportCycle: int64('How often the mapper reports the value (nanoseconds).'),
    collectCycle: int64('How often the mapper collects from the device (nanoseconds).'),
    reportToCloud: bool('Whether the value is reported to the cloud.'),
    pushMethod,
  }), 'The device properties; names are unique.'),
  methods: arr(obj({ name: str(), description: str(), propertyNames: arr(str()) }), 'Methods of the device; names are unique.'),
});

const modelSpec = obj({
  protocol: str('Protocol name used by the device.'),
  properties: arr(obj({
    name: str('The device property name.'),
    description: str(),
    type: { type: 'string', enum: ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES'] },
    accessMode: { type: 'string', enum: ['ReadWrite', 'ReadOnly'] },
    minimum: str('Minimum value (INT, FLOAT, DOUBLE).'),
    maximum: str('Maximum value (INT, FLOAT, DOUBLE).'),
    unit: str(),
  }), 'The device properties.'),
});

const root = (spec: V1JSONSchemaProps, status?: V1JSONSchemaProps): V1JSONSchemaProps =>
  obj({ apiVersion: str(), kind: str(), spec, ...(status ? { status } : {}) });

function crd(plural: string, kind: string, schema: V1JSONSchemaProps, opts: { shortNames?: string[]; columns?: Array<{ name: string; jsonPath: string; type?: string }>; status: boolean }): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.devices.kubeedge.io`, annotations: { [BUILTIN_CRD_ANNOTATION]: DEVICE_CRDS_REVISION } },
    spec: {
      group: 'devices.kubeedge.io',
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, ...(opts.shortNames ? { shortNames: opts.shortNames } : {}) },
      versions: [{
        name: 'v1beta1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: schema as never },
        ...(opts.status ? { subresources: { status: {} } } : {}),
        additionalPrinterColumns: [...(opts.columns ?? []).map((c) => ({ name: c.name, jsonPath: c.jsonPath, type: c.type ?? 'string' })), { name: 'Age', jsonPath: '.metadata.creationTimestamp', type: 'date' }],
      }],
    },
  };
}

/** The CRDs as wire JSON (what kubectl would send), typed for convenience. */
export function deviceCrds(): V1CustomResourceDefinition[] {
  return [
    crd('devicemodels', 'DeviceModel', root(modelSpec), { status: false, columns: [{ name: 'Protocol', jsonPath: '.spec.protocol' }] }),
    crd('devices', 'Device', root(deviceSpec, obj(deviceStatusFields())), {
      status: true,
      columns: [
        { name: 'Node', jsonPath: '.spec.nodeName' },
        { name: 'Model', jsonPath: '.spec.deviceModelRef.name' },
        { name: 'Protocol', jsonPath: '.spec.protocol.protocolName' },
        { name: 'State', jsonPath: '.status.state' },
      ],
    }),
    crd('devicestatuses', 'DeviceStatus', root(obj({}, { 'x-kubernetes-preserve-unknown-fields': true }), obj({
      ...deviceStatusFields(),
      extensions: freeForm('Extension status information.'),
    })), {
      status: true,
      columns: [
        { name: 'State', jsonPath: '.status.state' },
        { name: 'Last-Online', jsonPath: '.status.lastOnlineTime' },
      ],
    }),
  ];
}
