/** A SPDY session to a pod subresource (exec, portforward) through the API server, as kubectl's SPDY executor opens it. */
import tls from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { upgradeToSpdy } from '../../src/common/spdy/upgrade.js';
import type { SpdySession } from '../../src/common/spdy/session.js';

export type PodStreamOpener = (pod: string, kind: 'exec' | 'portforward', query: URLSearchParams) => Promise<SpdySession>;

export async function apiSpdyOpener(kubeconfig: string, apiPort: number, namespace = 'default'): Promise<PodStreamOpener> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const https: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  await kc.applyToHTTPSOptions(https);
  return async (pod, kind, q) => {
    const url = new URL(`http://127.0.0.1:${apiPort}/api/v1/namespaces/${namespace}/pods/${pod}/${kind}?${q}`);
    const { session } = await upgradeToSpdy({
      url,
      protocols: kind === 'exec' ? ['v4.channel.k8s.io'] : ['portforward.k8s.io'],
      connect: () => tls.connect({ host: '127.0.0.1', port: apiPort, ca: https.ca, cert: https.cert, key: https.key, servername: 'localhost' }),
    });
    return session;
  };
}
