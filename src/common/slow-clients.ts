/**
 * Read deadlines for every HTTP(S) server Kedge runs (API server, cloud hub, the edge's local API), so a
 * client that trickles its request — slow-loris headers, a body one byte at a time, a TCP connection that
 * never starts its TLS handshake — is dropped instead of holding a socket and its memory for ever.
 *
 * Values follow kube-apiserver's secure serving (k8s.io/apiserver secure_serving.go): ReadHeaderTimeout 32 s
 * ("just shy of requestTimeoutUpperBound"), and its 60 s --request-timeout for receiving the rest of the
 * request. Node applies `requestTimeout` only while a request is being received (the parser is "active"),
 * so long-running responses — watches, log streams, upgraded WebSockets — are not cut by it.
 */
import type { ServerOptions as HttpsServerOptions } from 'node:https';

export interface SlowClientLimits {
  /** The request line and headers must have arrived this long after the request started. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must have arrived this long after it started. */
  requestTimeoutMs: number;
  /** TLS servers: the handshake must be done this long after the TCP connection. */
  handshakeTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_SLOW_CLIENT_LIMITS: SlowClientLimits = {
  headersTimeoutMs: 32_000,
  requestTimeoutMs: 60_000,
  handshakeTimeoutMs: 32_000,
  keepAliveTimeoutMs: 65_000,
};

/** Options for http.createServer / https.createServer that enforce `limits`. */
export function slowClientServerOptions(limits: Partial<SlowClientLimits> = {}): Pick<HttpsServerOptions,
  'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval' | 'keepAliveTimeout' | 'handshakeTimeout'> {
  const l = { ...DEFAULT_SLOW_CLIENT_LIMITS, ...limits };
  return {
    headersTimeout: l.headersTimeoutMs,
    // Node requires requestTimeout ≥ headersTimeout.
    requestTimeout: Math.max(l.requestTimeoutMs, l.headersTimeoutMs),
    // How often expired requests are looked for (Node's default is 30 s, which would nearly double a deadline).
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(l.headersTimeoutMs / 4))),
    keepAliveTimeout: l.keepAliveTimeoutMs,
    handshakeTimeout: l.handshakeTimeoutMs,
  };
}
