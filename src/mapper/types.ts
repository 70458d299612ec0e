/** A device as a Kedge mapper runs it: DMI's Device + its model, decoded (configData as JSON) and checked. */
import type { JsonValue, PushMethodMessage } from '../protocol/dmi/index.js';
import type { PropertyType } from './values.js';

export interface MapperProperty {
  name: string;
  type: PropertyType;
  accessMode: 'ReadWrite' | 'ReadOnly';
  /** The property's visitors.configData (protocol-specific: register and offset, generator, ...). */
  visitor: Record<string, JsonValue>;
  collectCycleMs: number;
  reportCycleMs: number;
  reportToCloud: boolean;
  /** The desired value from the edge (cloud desired or edge-local expected), if any. */
  desired?: string;
  pushMethod?: PushMethodMessage;
}

export interface MapperDevice {
  namespace: string;
  name: string;
  model: string;
  /** spec.protocol.configData (address of the device, slave id, ...). */
  protocolConfig: Record<string, JsonValue>;
  properties: MapperProperty[];
}

/** One open connection to one device. Calls are made one at a time (the device runner serializes them). */
export interface DeviceDriver {
  /** The property's current value, as twin text; throws when the device does not answer. */
  read(property: MapperProperty): Promise<string>;
  /** Set the property on the device; throws when it cannot. */
  write(property: MapperProperty, value: string): Promise<void>;
  close(): Promise<void>;
}

/** A protocol a mapper speaks (`kedge mapper <protocol>`). */
export interface MapperProtocol {
  /** The protocolName of the devices it serves (Device spec.protocol.protocolName). */
  name: string;
  /** Throws with a clear message when the device's configData is not usable by this protocol. */
  check(device: MapperDevice): void;
  open(device: MapperDevice): DeviceDriver;
}
