/**
 * Where the API server reaches a node's kubelet API (docs/design/tunnel.md): shared by the edge (which reports
 * and serves the port), the hub (whose CONNECT proxy carries it) and the API server (which dials it).
 */

/** The port a node reports as `status.daemonEndpoints.kubeletEndpoint.Port` (upstream's default); the only one the tunnel carries. */
export const KUBELET_PORT = 10250;

/** The hub's CONNECT proxy to edge kubelets, a Unix socket (0600) in the server's data dir. */
export const KUBELET_PROXY_SOCKET_NAME = 'kubelet-proxy.sock';
