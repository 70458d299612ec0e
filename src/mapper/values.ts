/**
 * A property's value as text, the way KubeEdge twins carry it ("21", "23.5", "true"), from and to the number or
 * boolean a device driver deals in, per the model's property type.
 */
export type PropertyType = 'INT' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOLEAN' | 'BYTES';

export function propertyType(t: string | undefined): PropertyType {
  const u = (t ?? '').toUpperCase();
  return u === 'INT' || u === 'FLOAT' || u === 'DOUBLE' || u === 'BOOLEAN' || u === 'BYTES' || u === 'STRING' ? u : 'STRING';
}

/** Number → twin text: INT rounds; FLOAT/DOUBLE drop float noise (0.1 * 3 → "0.3"). */
export function formatNumber(n: number, type: PropertyType): string {
  if (type === 'BOOLEAN') return n !== 0 ? 'true' : 'false';
  if (type === 'INT') return String(Math.round(n));
  return String(Number(n.toPrecision(12)));
}

export function parseBoolean(v: string): boolean {
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'on') return true;
  if (s === 'false' || s === '0' || s === 'off') return false;
  throw new Error(`${JSON.stringify(v)} is not a boolean`);
}

export function parseNumber(v: string): number {
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`${JSON.stringify(v)} is not a number`);
  return n;
}
