/** KubeEdge's Device Management Interface (DMI) v1beta1: proto loading, clients, message types, configData codec. */
export * from './types.js';
export * from './load.js';
export * from './any.js';
export * from './convert.js';
