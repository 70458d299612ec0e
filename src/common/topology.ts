/** Upstream's topology names, shared by the EndpointSlice controller (sets hints) and the hub's endpoint filter (reads them). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Topology-aware routing: `Auto` asks the EndpointSlice controller for zone hints. */
export const TOPOLOGY_MODE_ANNOTATION = 'service.kubernetes.io/topology-mode';
