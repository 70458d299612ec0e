const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go duration (`time.ParseDuration`, what kube-apiserver's duration flags take): `1h`, `30m`, `90s`, `1h30m`,
 * `1.5h`, `500ms`, or `0`. Returns milliseconds, or null if the text is not one. Negative durations are refused.
 */
export function parseGoDuration(text: string): number | null {
  const s = text.trim();
  if (s === '0' || s === '+0') return 0;
  const body = s.startsWith('+') ? s.slice(1) : s;
  if (!/^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.test(body)) return null;
  let ms = 0;
  for (const m of body.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isFinite(ms) ? ms : null;
}
