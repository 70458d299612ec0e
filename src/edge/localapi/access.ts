/**
 * Who may read what from the edge's local API (docs/design/security.md §4).
 *
 * Any process on the node can open 127.0.0.1:10550, and a web page can make the browser do it (DNS
 * rebinding: a name the attacker controls resolves to 127.0.0.1). So:
 *  - Host check: a TCP request must be addressed to localhost, 127.0.0.1, [::1], the node's name or the
 *    configured listen address, whatever the port; anything else is refused before any data is read.
 *  - Public reads, open to anyone on the node: discovery, /version, health, and the objects a node-local proxy
 *    or DNS needs that hold no secrets — Nodes, Services, EndpointSlices.
 *  - Everything else (Pods, ConfigMaps, ServiceAccounts, Secrets always) needs a credential:
 *      · the node's local-API token (DATA_DIR/local-api.token, mode 0600 — root and the agent's user only), or
 *        a connection on the 0600 Unix socket DATA_DIR/local-api.sock: may read everything the node holds;
 *      · a pod's own service account token, as the hub delivered it for a pod on this node (PodToken, bound to
 *        that pod's UID, not expired, for the API audience): may read its own Pod, its ServiceAccount and the
 *        ConfigMaps and Secrets its spec references — exactly what the pod already sees through its volumes
 *        and env. Verified from the local store alone, so it works while the cloud is unreachable.
 *  - A credential that matches nothing is 401; a known caller reading beyond its rights is 403, worded as
 *    kube-apiserver words it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { forbidden, unauthorized, type StatusError } from '../../apimachinery/status.js';
import { objectKey } from '../../protocol/keys.js';
import { podReferences } from '../../protocol/pod-references.js';

/** Readable without credentials: what kube-proxy / CoreDNS-like node-local clients need, nothing secret. */
export const PUBLIC_RESOURCES: ReadonlySet<string> = new Set(['nodes', 'services', 'endpointslices.discovery.k8s.io']);

export const LOCAL_ADMIN_USER = 'kedge:local-api-admin';
const ANONYMOUS_USER = 'system:anonymous';
const PODTOKENS_PREFIX = '/registry/podtokens.kedge.io/';

export type Caller =
  | { kind: 'anonymous'; user: string }
  | { kind: 'admin'; user: string }
  | { kind: 'pod'; user: string; namespace: string; pod: string; readable: ReadonlySet<string> };

/** What a request asks for, in store terms. */
export interface ReadRequest {
  verb: 'get' | 'list' | 'watch';
  /** Store resource segment (`secrets`, `endpointslices.discovery.k8s.io`). */
  resource: string;
  group: string;
  plural: string;
  namespaced: boolean;
  namespace?: string;
  /** The object's name: the path's, or the one a list/watch pins with fieldSelector metadata.name=. */
  name?: string;
}

/** The hostname of a Host header (`[::1]:10550` → `::1`), lower-cased. */
function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** The Host check against DNS rebinding; returns the refusal message or undefined when allowed. */
export function hostRefusal(hostHeader: string | undefined, nodeName: string, listenHost: string): string | undefined {
  if (hostHeader === undefined) return undefined; // HTTP/1.0 without Host: no browser sends that
  const allowed = new Set(['localhost', '127.0.0.1', '::1', nodeName.toLowerCase()]);
  if (listenHost !== '0.0.0.0' && listenHost !== '::') allowed.add(listenHost.toLowerCase());
  if (allowed.has(hostnameOf(hostHeader))) return undefined;
  return `host ${JSON.stringify(hostHeader)} is not allowed: the local API answers only requests addressed to localhost, 127.0.0.1, [::1] or the node's name "${nodeName}" (DNS rebinding protection)`;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

interface PodTokenObject {
  metadata?: { namespace?: string; name?: string };
  podUID?: string;
  tokens?: { audience?: string; token: string; expirationTimestamp: string }[];
}

export class LocalApiAccess {
  private readonly adminDigest: Buffer;

  constructor(private readonly feed: WatchCacheFeed, adminToken: string, private readonly now: () => number = Date.now) {
    this.adminDigest = digest(adminToken);
  }

  /** The caller of `req`; `viaSocket` requests are the node's own (the socket file is 0600). */
  async authenticate(req: IncomingMessage, viaSocket: boolean): Promise<Caller> {
    if (viaSocket) return { kind: 'admin', user: LOCAL_ADMIN_USER };
    const header = req.headers.authorization;
    if (header === undefined) return { kind: 'anonymous', user: ANONYMOUS_USER };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw unauthorized();
    const presented = digest(m[1]!);
    if (timingSafeEqual(presented, this.adminDigest)) return { kind: 'admin', user: LOCAL_ADMIN_USER };
    const pod = await this.podFor(presented);
    if (!pod) throw unauthorized();
    return pod;
  }

  /** The pod on this node whose delivered service account token `presented` (a sha256) is, if still valid. */
  private async podFor(presented: Buffer): Promise<Caller | undefined> {
    const tokens = await this.feed.cache(PODTOKENS_PREFIX);
    for (const item of tokens.items.values()) {
      const pt = item.obj as unknown as PodTokenObject;
      const match = (pt.tokens ?? []).find((t) => timingSafeEqual(digest(t.token), presented));
      if (!match) continue;
      // A token for another audience (a projected source with `audience:`) is meant for someone else.
      if (match.audience) return undefined;
      if (!(Date.parse(match.expirationTimestamp) > this.now())) return undefined;
      const namespace = pt.metadata?.namespace ?? '';
      const name = pt.metadata?.name ?? '';
      const pods = await this.feed.cache('/registry/pods/');
      const pod = pods.get(objectKey('pods', namespace, name))?.obj as unknown as V1Pod | undefined;
      // Bound to the pod's UID: a token outlives nothing it was issued for.
      if (!pod || !pt.podUID || pod.metadata?.uid !== pt.podUID) return undefined;
      const readable = new Set([objectKey('pods', namespace, name), ...podReferences(pod)]);
      const sa = pod.spec?.serviceAccountName || 'default';
      return { kind: 'pod', user: `system:serviceaccount:${namespace}:${sa}`, namespace, pod: name, readable };
    }
    return undefined;
  }

  /** Throws upstream's 403 when `caller` may not make `r`. */
  authorize(caller: Caller, r: ReadRequest): void {
    if (PUBLIC_RESOURCES.has(r.resource) || caller.kind === 'admin') return;
    if (caller.kind === 'pod' && r.name && (!r.namespaced || r.namespace)) {
      if (caller.readable.has(objectKey(r.resource, r.namespaced ? r.namespace : undefined, r.name))) return;
    }
    throw this.refusal(caller, r);
  }

  private refusal(caller: Caller, r: ReadRequest): StatusError {
    const scope = r.namespace ? `in the namespace "${r.namespace}"` : 'at the cluster scope';
    const why = `User "${caller.user}" cannot ${r.verb} resource "${r.plural}" in API group "${r.group}" ${scope}`
      + (caller.kind === 'anonymous' ? ': the local API serves this only with a credential (the node\'s local-api.token, its Unix socket, or a pod\'s own service account token)' : '');
    return forbidden({ group: r.group, resource: r.plural }, r.verb === 'get' ? r.name ?? '' : '', why);
  }
}
