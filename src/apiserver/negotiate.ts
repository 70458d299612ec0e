/**
 * Accept-header negotiation: what representation the client wants (plain JSON, a Table, PartialObjectMetadata,
 * aggregated discovery). Protobuf-only clients get 406, as from a server that does not speak protobuf.
 */
import type { IncomingMessage } from 'node:http';
import { notAcceptable } from '../apimachinery/status.js';

export interface MediaRange {
  type: string;
  params: Record<string, string>;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  return header.split(',').map((part) => {
    const [type, ...ps] = part.split(';').map((s) => s.trim());
    const params: Record<string, string> = {};
    for (const p of ps) {
      const i = p.indexOf('=');
      if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
    }
    return { type: (type ?? '').toLowerCase(), params };
  }).filter((m) => m.type);
}

export type Representation =
  | { as: 'object' }
  | { as: 'Table'; version: 'v1' | 'v1beta1' }
  | { as: 'PartialObjectMetadata'; version: 'v1' | 'v1beta1' }
  | { as: 'APIGroupDiscoveryList'; version: 'v2' | 'v2beta1' };

const JSONISH = new Set(['application/json', '*/*', 'application/*', 'application/yaml']);

/**
 * The representation for a resource or discovery response. `allowed` says which transformed forms this endpoint
 * can produce; untransformed JSON is always possible unless the client refuses it.
 */
export function negotiate(req: IncomingMessage, allowed: Representation['as'][]): Representation & { yaml: boolean } {
  const ranges = parseAccept(req.headers.accept);
  for (const r of ranges) {
    if (!JSONISH.has(r.type)) continue;
    const as = r.params.as;
    const yaml = r.type === 'application/yaml';
    if (!as) return { as: 'object', yaml };
    const g = r.params.g;
    const v = r.params.v;
    if ((as === 'Table') && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1') && allowed.includes('Table')) return { as: 'Table', version: v, yaml };
    if ((as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1') && allowed.includes('PartialObjectMetadata')) {
      return { as: 'PartialObjectMetadata', version: v, yaml };
    }
    if (as === 'APIGroupDiscoveryList' && g === 'apidiscovery.k8s.io' && (v === 'v2' || v === 'v2beta1') && allowed.includes('APIGroupDiscoveryList')) {
      return { as: 'APIGroupDiscoveryList', version: v, yaml };
    }
  }
  throw notAcceptable(['application/json', 'application/yaml']);
}
