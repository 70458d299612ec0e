/**
 * Image pulls with imagePullPolicy, pull secrets (kubernetes.io/dockerconfigjson and dockercfg) and
 * the kubelet's per-image back-off: a failed pull reports ErrImagePull, and until the back-off
 * expires the container waits with ImagePullBackOff instead of hammering the registry.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { AuthConfig, ContainerRuntime } from '../../runtime/types.js';
import type { Store } from '../../storage/types.js';
import { getSecret } from './store-objects.js';
import { Backoff } from './backoff.js';

export type PullResult = { ok: true; imageRef: string; pulled: boolean } | { ok: false; reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName'; message: string };

export function effectivePullPolicy(c: V1Container): string {
  if (c.imagePullPolicy) return c.imagePullPolicy;
  const img = c.image ?? '';
  const tag = img.includes('@') ? 'digest' : img.slice(img.lastIndexOf('/') + 1).split(':')[1];
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function registryHost(image: string): string {
  const first = image.split('/')[0]!;
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

async function pullAuth(store: Store, pod: V1Pod, image: string): Promise<AuthConfig | undefined> {
  const host = registryHost(image);
  for (const ref of pod.spec?.imagePullSecrets ?? []) {
    const s = await getSecret(store, pod.metadata?.namespace ?? 'default', ref.name!);
    if (!s?.data) continue;
    const raw = s.data['.dockerconfigjson'] ?? s.data['.dockercfg'];
    if (!raw) continue;
    try {
      const parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
      const auths: Record<string, { username?: string; password?: string; auth?: string }> = parsed.auths ?? parsed;
      for (const [server, a] of Object.entries(auths)) {
        const sh = server.replace(/^https?:\/\//, '').split('/')[0]!;
        if (sh === host || (host === 'docker.io' && /(^|\.)docker\.io$/.test(sh))) return { username: a.username, password: a.password, auth: a.auth, serverAddress: server };
      }
    } catch {
      /* a malformed pull secret is ignored, as the kubelet does */
    }
  }
  return undefined;
}

export class ImagePuller {
  private readonly backoff: Backoff;

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly store: Store,
    baseMs: number,
    maxMs: number,
  ) {
    this.backoff = new Backoff(baseMs, maxMs);
  }

  async ensure(pod: V1Pod, c: V1Container, onPulling: () => void): Promise<PullResult> {
    const image = c.image ?? '';
    if (!image || /\s/.test(image)) return { ok: false, reason: 'InvalidImageName', message: `Failed to apply default image tag "${image}": invalid reference format` };
    const policy = effectivePullPolicy(c);
    const key = `${pod.metadata?.uid}/${image}`;
    if (policy !== 'Always') {
      const present = await this.runtime.imageStatus(image).catch(() => null);
      if (present) return { ok: true, imageRef: present.id, pulled: false };
      if (policy === 'Never') return { ok: false, reason: 'ErrImageNeverPull', message: `Container image "${image}" is not present with pull policy of Never` };
    }
    if (this.backoff.inBackoff(key)) return { ok: false, reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` };
    onPulling();
    try {
      const auth = await pullAuth(this.store, pod, image);
      const ref = await this.runtime.pullImage(image, auth);
      this.backoff.reset(key);
      return { ok: true, imageRef: ref, pulled: true };
    } catch (e) {
      this.backoff.next(key);
      return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${image}": ${(e as Error).message}` };
    }
  }

  forgetPod(uid: string): void {
    this.backoff.forgetPrefix(`${uid}/`);
  }
}
