/**
 * KubeEdge's device API types and value rules, for the hub and the edge (the wire carries these objects). Defined in
 * src/common/devices.ts so the API server's admission uses the same rules.
 */
export * from '../common/devices.js';
