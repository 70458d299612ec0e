/**
 * Kubernetes resource.Quantity: the one implementation of parse, compare and canonical format that the API server,
 * the scheduler and the edge agent share. Values are exact: a quantity is `mantissa × 10^exponent` with a BigInt
 * mantissa (binary suffixes are exact in base 10 too, since 2^n = 10^n / 5^n), so `1` equals `1000m` and `1Gi`
 * equals `1073741824` without floating point. Parsing follows apimachinery's ParseQuantity: the same accepted
 * syntax and error texts, values finer than 1n rounded up (away from zero) to 1n, magnitudes capped at 2^63-1.
 */

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** Upstream's error texts (k8s.io/apimachinery/pkg/api/resource). */
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";
export const QUANTITY_NUMERIC_ERROR = 'unable to parse numeric part of quantity';

export class QuantityError extends Error {}

export interface Quantity {
  /** Signed; value = mantissa × 10^exponent. */
  readonly mantissa: bigint;
  readonly exponent: number;
  /** How the quantity was written, which decides how it is printed (as upstream's Quantity.Format). */
  readonly format: QuantityFormat;
}

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_BY_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const SUFFIX_CHARS = 'eEinumkKMGTP';
const MAX_MAGNITUDE = (1n << 63n) - 1n;
const NANO = -9;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** The sign, integer digits, fraction digits and suffix of a quantity string, as upstream's parseQuantityString. */
function splitQuantity(str: string): { negative: boolean; whole: string; fraction: string; suffix: string } {
  let pos = 0;
  let negative = false;
  if (str[0] === '-' || str[0] === '+') { negative = str[0] === '-'; pos++; }
  let start = pos;
  while (isDigit(str[pos])) pos++;
  // The pattern's `[0-9.]+`: a suffix alone (`Gi`, `u`) is not a quantity.
  if (pos === start && str[pos] !== '.') throw new QuantityError(QUANTITY_FORMAT_ERROR);
  const whole = str.slice(start, pos) || '0';
  let fraction = '';
  if (str[pos] === '.') {
    start = ++pos;
    while (isDigit(str[pos])) pos++;
    fraction = str.slice(start, pos); // upstream accepts `1.` and `.5`
  }
  const suffixStart = pos;
  while (pos < str.length && SUFFIX_CHARS.includes(str[pos]!)) pos++;
  if (str[pos] === '-' || str[pos] === '+') pos++;
  while (isDigit(str[pos])) pos++;
  if (pos < str.length) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  return { negative, whole, fraction, suffix: str.slice(suffixStart) };
}

function interpretSuffix(suffix: string): { base: 10 | 2; exponent: number; format: QuantityFormat } {
  if (suffix in DECIMAL_SUFFIXES) return { base: 10, exponent: DECIMAL_SUFFIXES[suffix]!, format: 'DecimalSI' };
  if (suffix in BINARY_SUFFIXES) return { base: 2, exponent: BINARY_SUFFIXES[suffix]!, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?\d+$/.test(suffix.slice(1))) {
    const exponent = Number(suffix.slice(1));
    if (Math.abs(exponent) <= 2 ** 31 - 1) return { base: 10, exponent, format: 'DecimalExponent' }; // int32, as upstream
  }
  throw new QuantityError(QUANTITY_SUFFIX_ERROR);
}

/** Divide by 10^digits, rounding away from zero (inf.RoundUp), as upstream rounds below 1n. */
function shiftRoundingUp(mantissa: bigint, digits: number): bigint {
  const divisor = 10n ** BigInt(digits);
  const quotient = mantissa / divisor;
  if (quotient * divisor === mantissa) return quotient;
  return mantissa < 0n ? quotient - 1n : quotient + 1n;
}

/** Digits past 10^-80 cannot change the rounding to 1n even after ×2^60 (Ei): keep a sticky digit instead. */
const FRACTION_KEEP = 80;
/** 10^19 > 2^63-1: a value this large is capped whatever its digits. */
const CAP_DIGITS = 19;

/** Parse as kube-apiserver does; throws QuantityError with upstream's message. */
export function parseQuantity(input: string): Quantity {
  const str = input.trim();
  if (str.length === 0) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  const { negative, whole, fraction, suffix } = splitQuantity(str);
  const { base, exponent, format } = interpretSuffix(suffix);
  let digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return { mantissa: 0n, exponent: 0, format };
  let exp10 = -fraction.length + (base === 10 ? exponent : 0);
  const sign = negative ? -1n : 1n;
  const capped = (): Quantity => ({ mantissa: sign * MAX_MAGNITUDE, exponent: 0, format });
  // Bound the work before any BigInt arithmetic: a body may carry a million digits or `1e999999999`.
  if (digits.length + exp10 - 1 >= CAP_DIGITS) return capped();
  if (digits.length + exp10 < -FRACTION_KEEP) return { mantissa: sign, exponent: NANO, format };
  if (exp10 < -FRACTION_KEEP) {
    const keep = digits.length - (-FRACTION_KEEP - exp10);
    const dropped = digits.slice(keep);
    digits = digits.slice(0, keep) + (/[1-9]/.test(dropped) ? '1' : '0');
    exp10 = -FRACTION_KEEP - 1;
  }
  let mantissa = sign * BigInt(digits);
  if (base === 2) mantissa <<= BigInt(exponent);
  if (exp10 < NANO) {
    mantissa = shiftRoundingUp(mantissa, NANO - exp10);
    exp10 = NANO;
  }
  const q = normalize({ mantissa, exponent: exp10, format });
  return compareMagnitude(q, MAX_MAGNITUDE) > 0 ? capped() : q;
}

/** Parse, or undefined for anything that is not a valid quantity (numbers are taken as JSON numbers are). */
export function tryParseQuantity(input: unknown): Quantity | undefined {
  if (typeof input !== 'string' && typeof input !== 'number') return undefined;
  try {
    return parseQuantity(String(input));
  } catch {
    return undefined;
  }
}

/** Strip trailing zero digits into the exponent, so equal values have equal representations. */
function normalize(q: Quantity): Quantity {
  if (q.mantissa === 0n) return { mantissa: 0n, exponent: 0, format: q.format };
  let { mantissa, exponent } = q;
  while (mantissa % 10n === 0n) { mantissa /= 10n; exponent++; }
  return { mantissa, exponent, format: q.format };
}

function compareMagnitude(q: Quantity, limit: bigint): number {
  const magnitude = q.mantissa < 0n ? -q.mantissa : q.mantissa;
  if (q.exponent >= 0) {
    if (q.exponent > 19) return magnitude === 0n ? -1 : 1;
    const scaled = magnitude * 10n ** BigInt(q.exponent);
    return scaled > limit ? 1 : scaled < limit ? -1 : 0;
  }
  const scaledLimit = limit * 10n ** BigInt(-q.exponent);
  return magnitude > scaledLimit ? 1 : magnitude < scaledLimit ? -1 : 0;
}

/** -1, 0 or 1, exactly (`1` = `1000m`, `1Ki` = `1024`). */
export function compareQuantities(a: Quantity, b: Quantity): number {
  const exponent = Math.min(a.exponent, b.exponent);
  const x = a.mantissa * 10n ** BigInt(a.exponent - exponent);
  const y = b.mantissa * 10n ** BigInt(b.exponent - exponent);
  return x > y ? 1 : x < y ? -1 : 0;
}

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  const exponent = Math.min(a.exponent, b.exponent);
  const sum = a.mantissa * 10n ** BigInt(a.exponent - exponent) + b.mantissa * 10n ** BigInt(b.exponent - exponent);
  return normalize({ mantissa: sum, exponent, format: a.mantissa === 0n ? b.format : a.format });
}

export function subtractQuantities(a: Quantity, b: Quantity): Quantity {
  return addQuantities(a, { ...b, mantissa: -b.mantissa });
}

export function isZeroQuantity(q: Quantity): boolean {
  return q.mantissa === 0n;
}

/** The value scaled to 10^scale, rounded up (away from zero), as upstream's ScaledValue. */
export function scaledValue(q: Quantity, scale: number): bigint {
  const shift = q.exponent - scale;
  return shift >= 0 ? q.mantissa * 10n ** BigInt(shift) : shiftRoundingUp(q.mantissa, -shift);
}

/** Upstream's MilliValue (e.g. millicores) and Value (bytes, counts): exact, rounded up. */
export const milliValue = (q: Quantity): bigint => scaledValue(q, -3);
export const integerValue = (q: Quantity): bigint => scaledValue(q, 0);

/** A BigInt as a JS number for arithmetic that stays below 2^53 (resource sums on one node); clamped beyond. */
export function toSafeNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

/** The canonical string upstream serializes (`1.5` → `1500m`, `1.5Gi` → `1536Mi`, `1000` → `1k`, `1e3` → `1e3`). */
export function formatQuantity(q: Quantity): string {
  if (q.mantissa === 0n) return '0';
  if (q.format === 'BinarySI') {
    const whole = q.exponent >= 0 ? q.mantissa * 10n ** BigInt(q.exponent) : undefined;
    // Small or fractional binary values print as decimal, as upstream does (no rounding, no confusion).
    if (whole !== undefined && (whole >= 1024n || whole <= -1024n)) {
      let amount = whole;
      let power = 0;
      while (power < BINARY_BY_POWER.length - 1 && amount % 1024n === 0n) { amount /= 1024n; power++; }
      return `${amount}${BINARY_BY_POWER[power]}`;
    }
  }
  // Exponent a multiple of 3 (as large as possible without fractional digits).
  let { mantissa, exponent } = normalize(q);
  const remainder = ((exponent % 3) + 3) % 3;
  mantissa *= 10n ** BigInt(remainder);
  exponent -= remainder;
  if (q.format === 'DecimalExponent') return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
  const suffix = DECIMAL_BY_EXPONENT.get(exponent);
  return suffix !== undefined ? `${mantissa}${suffix}` : `${mantissa}e${exponent}`;
}

/** Canonical form of a quantity string (or JSON number); throws QuantityError when it is not one. */
export function canonicalQuantity(input: string | number): string {
  return formatQuantity(parseQuantity(String(input)));
}

/**
 * For readers of stored objects (scheduler sums, node capacity): milli-units or whole units as a safe integer, 0 when
 * the field is absent or not a quantity (the API server refuses invalid ones, so only hand-made objects get here).
 */
export function milliValueOf(raw: unknown): number {
  const q = tryParseQuantity(raw);
  return q ? toSafeNumber(milliValue(q)) : 0;
}

export function integerValueOf(raw: unknown): number {
  const q = tryParseQuantity(raw);
  return q ? toSafeNumber(integerValue(q)) : 0;
}
