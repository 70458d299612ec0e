/**
 * PodLogOptions as query parameters (`/api/v1/namespaces/NS/pods/NAME/log?...`, and the kubelet's
 * `/containerLogs/NS/POD/CONTAINER?...`), checked as the API server's validation does: 422 Invalid with
 * upstream's field messages. Shared by the API server (before it dials the node) and the edge's kubelet server.
 */
import { badRequest, invalid, type FieldError } from './status.js';

export interface PodLogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
  sinceTime?: Date;
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

export function parsePodLogOptions(q: URLSearchParams, podName: string): PodLogOptions {
  const errs: FieldError[] = [];
  const int = (name: string, min: number): number | undefined => {
    const raw = q.get(name);
    if (raw === null || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`);
    if (n < min) errs.push({ type: 'Invalid', field: name, value: n, detail: min === 0 ? 'must be greater than or equal to 0' : 'must be greater than 0' });
    return n;
  };
  const opts: PodLogOptions = {
    follow: flag(q, 'follow'),
    previous: flag(q, 'previous'),
    timestamps: flag(q, 'timestamps'),
    tailLines: int('tailLines', 0),
    limitBytes: int('limitBytes', 1),
    sinceSeconds: int('sinceSeconds', 1),
  };
  const sinceTime = q.get('sinceTime');
  if (sinceTime) {
    const t = Date.parse(sinceTime);
    if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}T/.test(sinceTime)) throw badRequest(`parsing time ${JSON.stringify(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
    opts.sinceTime = new Date(t);
  }
  if (opts.sinceSeconds !== undefined && opts.sinceTime) errs.push({ type: 'Forbidden', field: 'sinceTime', detail: 'at most one of `sinceTime` or `sinceSeconds` may be specified' });
  if (errs.length) throw invalid('PodLogOptions', '', podName, errs);
  return opts;
}
