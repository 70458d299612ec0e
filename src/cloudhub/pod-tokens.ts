/**
 * Projected service account tokens for edge pods (the kubelet's token manager, done by the hub because edges
 * have no API credentials of their own). For each pod bound to a node whose volumes carry projected
 * serviceAccountToken sources, the hub asks the TokenRequest API (serviceaccounts/token, boundObjectRef = the
 * Pod) for one token per source and puts a synthetic `kedge.io/v1 PodToken` object into the shared cache under
 * `/registry/podtokens.kedge.io/<ns>/<pod>`. `podReferences` names that key for such pods, so it joins exactly the
 * pod's node's desired set (node authorization for reads) and is deleted there when the pod goes. Tokens are
 * refreshed at 80 % of their lifetime (a new resourceVersion, so the edge re-applies and rewrites the file).
 */
import type { AuthenticationV1TokenRequest, V1Pod } from '@kubernetes/client-node';
import { seg, type KubeClient } from '../common/kube-client.js';
import type { Logger } from '../common/logger.js';
import { objectKey } from '../protocol/keys.js';
import type { CachedObject, SharedCache } from './cache.js';

export const PODTOKENS_RESOURCE = 'podtokens.kedge.io';
const DEFAULT_EXPIRATION_SECONDS = 3600;
const REFRESH_FRACTION = 0.8;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

export interface PodTokenEntry { volume: string; path: string; audience?: string; token: string; expirationTimestamp: string }

/** The projected serviceAccountToken sources of a pod (volume name, file path, audience, lifetime). */
export function tokenSources(pod: V1Pod): Array<{ volume: string; path: string; audience?: string; expirationSeconds: number }> {
  const out = [];
  for (const v of pod.spec?.volumes ?? []) {
    for (const s of v.projected?.sources ?? []) {
      const t = s.serviceAccountToken;
      if (t) out.push({ volume: v.name, path: t.path, audience: t.audience || undefined, expirationSeconds: t.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS });
    }
  }
  return out;
}

export function podTokenKey(namespace: string, pod: string): string {
  return objectKey(PODTOKENS_RESOURCE, namespace, pod);
}

/** Asks the API for one token: `(namespace, serviceAccount, spec) → {token, expirationTimestamp}`. */
export type TokenRequester = (namespace: string, serviceAccount: string, spec: {
  audiences: string[]; expirationSeconds: number; boundObjectRef: { kind: 'Pod'; apiVersion: 'v1'; name: string; uid: string };
}) => Promise<{ token: string; expirationTimestamp: Date }>;

export function clientTokenRequester(client: KubeClient): TokenRequester {
  return async (namespace, name, spec) => {
    const r = await client.request<AuthenticationV1TokenRequest>('POST', `/api/v1/namespaces/${seg(namespace)}/serviceaccounts/${seg(name)}/token`, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec,
    });
    if (!r.status?.token) throw new Error('TokenRequest returned no token');
    return { token: r.status.token, expirationTimestamp: new Date(r.status.expirationTimestamp) };
  };
}

interface Tracked { uid: string; timer?: NodeJS.Timeout; failures: number; version: number }

export class PodTokenManager {
  private readonly tracked = new Map<string, Tracked>();
  private stopped = false;
  private version = 0;

  constructor(private readonly cache: SharedCache, private readonly request: TokenRequester, private readonly log: Logger,
    private readonly now: () => number = Date.now) {
    cache.onChange((resource, type, _key, obj) => { if (resource === 'pods') this.onPod(type, obj as unknown as V1Pod); });
  }

  private wants(pod: V1Pod): boolean {
    return !!pod.spec?.nodeName && !!pod.metadata?.uid && tokenSources(pod).length > 0
      && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
  }

  private onPod(type: 'upsert' | 'delete', pod: V1Pod): void {
    const ns = pod.metadata?.namespace ?? 'default';
    const key = podTokenKey(ns, pod.metadata!.name!);
    const cur = this.tracked.get(key);
    if (type === 'delete' || !this.wants(pod)) return this.drop(key);
    if (cur && cur.uid === pod.metadata!.uid) return; // already issued (or in flight) for this pod
    if (cur) this.drop(key); // same name, new pod: the old pod's token must not survive
    const t: Tracked = { uid: pod.metadata!.uid!, failures: 0, version: 0 };
    this.tracked.set(key, t);
    this.schedule(key, t, 0);
  }

  private drop(key: string): void {
    const t = this.tracked.get(key);
    if (t?.timer) clearTimeout(t.timer);
    this.tracked.delete(key);
    const obj = this.cache.get(key);
    if (obj) this.cache.inject(PODTOKENS_RESOURCE, 'delete', obj);
  }

  private schedule(key: string, t: Tracked, delayMs: number): void {
    if (this.stopped) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => void this.issue(key, t), delayMs);
    t.timer.unref?.();
  }

  /** Requests every token of the pod, publishes them together, and schedules the refresh. */
  private async issue(key: string, t: Tracked): Promise<void> {
    const [, , , ns, name] = key.split('/');
    const pod = this.cache.get(objectKey('pods', ns, name!)) as unknown as V1Pod | undefined;
    if (!pod || pod.metadata?.uid !== t.uid || this.tracked.get(key) !== t) return;
    try {
      const sa = pod.spec?.serviceAccountName || 'default';
      const tokens: PodTokenEntry[] = [];
      let earliest = Infinity;
      let lifetime = Infinity;
      for (const s of tokenSources(pod)) {
        const r = await this.request(ns!, sa, {
          audiences: s.audience ? [s.audience] : [], expirationSeconds: s.expirationSeconds,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: name!, uid: t.uid },
        });
        tokens.push({ volume: s.volume, path: s.path, audience: s.audience, token: r.token, expirationTimestamp: r.expirationTimestamp.toISOString() });
        earliest = Math.min(earliest, r.expirationTimestamp.getTime());
        lifetime = Math.min(lifetime, r.expirationTimestamp.getTime() - this.now());
      }
      if (this.tracked.get(key) !== t || this.stopped) return; // the pod went while we asked
      t.failures = 0;
      const obj = {
        apiVersion: 'kedge.io/v1', kind: 'PodToken',
        metadata: { name, namespace: ns, uid: t.uid, resourceVersion: String(++this.version) },
        podUID: t.uid, tokens,
      };
      this.cache.inject(PODTOKENS_RESOURCE, 'upsert', obj as unknown as CachedObject);
      this.schedule(key, t, Math.max(RETRY_MIN_MS, lifetime * REFRESH_FRACTION));
      this.log.debug({ pod: `${ns}/${name}`, expires: new Date(earliest).toISOString() }, 'pod token issued');
    } catch (err) {
      t.failures++;
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (t.failures - 1));
      this.log.warn({ pod: `${ns}/${name}`, err: String(err), retryMs: delay }, 'pod token request failed');
      this.schedule(key, t, delay);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.tracked.values()) if (t.timer) clearTimeout(t.timer);
  }
}
