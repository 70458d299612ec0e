import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  QUANTITY_FORMAT_ERROR, QUANTITY_SUFFIX_ERROR, QuantityError, addQuantities, canonicalQuantity, compareQuantities, formatQuantity,
  integerValue, milliValue, parseQuantity,
} from './quantity.js';

const UPSTREAM_PATTERN = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const RUNS = 2000;

test('canonical forms as upstream prints them (resource.Quantity String())', () => {
  const cases: [string, string][] = [
    ['0', '0'], ['-0', '0'], ['0Gi', '0'], ['1', '1'], ['+1', '1'], ['1000m', '1'], ['1.5', '1500m'], ['0.1', '100m'], ['.5', '500m'], ['1.', '1'],
    ['1000', '1k'], ['1500', '1500'], ['2000', '2k'], ['1.5Gi', '1536Mi'], ['1024Mi', '1Gi'], ['1000Ki', '1000Ki'], ['0.5Ki', '512'],
    ['1Ki', '1Ki'], ['1023', '1023'], ['100m', '100m'], ['0.5m', '500u'], ['100u', '100u'], ['1e3', '1e3'], ['1.5e3', '1500'], ['12e6', '12e6'],
    ['1e-3', '1e-3'], ['1E', '1E'], ['1M', '1M'], ['1G', '1G'], ['-1', '-1'], ['-1.5Gi', '-1536Mi'], ['0.0000000001', '1n'], ['-0.0000000001', '-1n'],
    ['1n', '1n'], ['1.5n', '2n'], ['10E', '9223372036854775807'], ['8Ei', '9223372036854775807'], ['1.1Ki', '1126400m'], [' 2 ', '2'],
  ];
  for (const [input, canonical] of cases) assert.equal(canonicalQuantity(input), canonical, input);
});

test('upstream error texts for what is not a quantity', () => {
  const errorOf = (s: string) => { try { parseQuantity(s); return 'ok'; } catch (e) { assert.ok(e instanceof QuantityError); return (e as Error).message; } };
  for (const bad of ['banana', '', '1.1.1', '1Q', '--1', '1 Gi', 'Gi', '1e3e3', '0x10']) assert.equal(errorOf(bad), QUANTITY_FORMAT_ERROR, bad);
  for (const bad of ['1K', '1e', '1m5', '1Mi5', '1ki', '1iK', '1E+']) assert.equal(errorOf(bad), QUANTITY_SUFFIX_ERROR, bad);
  assert.match(QUANTITY_FORMAT_ERROR, /^quantities must match the regular expression '\^\(\[\+-\]\?\[0-9\.\]\+\)/);
});

test('comparison is exact across suffixes: 1 = 1000m, 1Ki = 1024, 1Gi = 1073741824, 0.1 + 0.2 = 0.3', () => {
  const eq = (a: string, b: string) => assert.equal(compareQuantities(parseQuantity(a), parseQuantity(b)), 0, `${a} = ${b}`);
  const lt = (a: string, b: string) => assert.equal(compareQuantities(parseQuantity(a), parseQuantity(b)), -1, `${a} < ${b}`);
  eq('1', '1000m'); eq('1Ki', '1024'); eq('1Gi', '1073741824'); eq('1e3', '1k'); eq('0.5', '500m'); eq('1E', '1e18');
  lt('999m', '1'); lt('1G', '1Gi'); lt('-1', '0'); lt('9007199254740992', '9007199254740993');
  assert.equal(formatQuantity(addQuantities(parseQuantity('0.1'), parseQuantity('0.2'))), '300m');
  assert.equal(milliValue(parseQuantity('1.5')), 1500n);
  assert.equal(milliValue(parseQuantity('1n')), 1n, 'rounded up, as upstream MilliValue');
  assert.equal(integerValue(parseQuantity('1.5Gi')), 1610612736n);
  assert.equal(integerValue(parseQuantity('100m')), 1n);
});

test('huge inputs are bounded, not slow: a million digits or an int32 exponent', () => {
  const started = Date.now();
  assert.equal(canonicalQuantity('9'.repeat(1_000_000)), '9223372036854775807');
  assert.equal(canonicalQuantity(`0.${'0'.repeat(1_000_000)}1`), '1n');
  assert.equal(canonicalQuantity('1e2147483647'), '9223372036854775807');
  assert.equal(canonicalQuantity('1e-2147483647'), '1e-9', 'rounded up to 1n, printed in the exponent form it was written in');
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
});

/** Quantity strings as people write them: sign, digits, optional fraction, any suffix upstream knows. */
const quantityString = fc.tuple(
  fc.constantFrom('', '-', '+'),
  fc.stringMatching(/^[0-9]{1,12}$/),
  fc.option(fc.stringMatching(/^[0-9]{0,12}$/), { nil: undefined }),
  fc.constantFrom('', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'e3', 'e-3', 'E6', 'e0', 'e-9', 'e+2'),
).map(([sign, whole, fraction, suffix]) => `${sign}${whole}${fraction === undefined ? '' : `.${fraction}`}${suffix}`);

test('property: format is canonical — parse∘format is the identity on values and settles after one re-parse', () => {
  let cases = 0;
  fc.assert(fc.property(quantityString, (s) => {
    cases++;
    const q = parseQuantity(s);
    const printed = formatQuantity(q);
    const again = parseQuantity(printed);
    assert.equal(compareQuantities(q, again), 0, `${s} → ${printed}`);
    // Upstream keeps the suffix family a value was parsed with, so the first print may change family once: "62.5Ki"
    // is 64000 bytes, not a whole number of Ki, and prints "64000" (BinarySI falls back to plain digits), which then
    // parses as DecimalSI and prints "64k". From there on the form is fixed.
    const settled = formatQuantity(again);
    assert.equal(compareQuantities(parseQuantity(settled), q), 0, `${printed} → ${settled} changed the value`);
    assert.equal(formatQuantity(parseQuantity(settled)), settled, `${settled} is not stable`);
    assert.match(printed, UPSTREAM_PATTERN);
  }), { numRuns: RUNS });
  console.log(`quantity round trip: ${cases} cases`);
});

test('62.5Ki prints as upstream does: 64000, then 64k once re-parsed as a plain number', () => {
  assert.equal(formatQuantity(parseQuantity('62.5Ki')), '64000');
  assert.equal(formatQuantity(parseQuantity('64000')), '64k');
});

test('property: compare agrees with exact rational arithmetic on integers scaled by suffixes', () => {
  const scale: Record<string, bigint> = { '': 1n, k: 1000n, M: 1000n ** 2n, G: 1000n ** 3n, Ki: 1024n, Mi: 1024n ** 2n, Gi: 1024n ** 3n };
  fc.assert(fc.property(fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }), fc.constantFrom(...Object.keys(scale)),
    fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }), fc.constantFrom(...Object.keys(scale)), (a, sa, b, sb) => {
      const x = a * scale[sa]!;
      const y = b * scale[sb]!;
      const expected = x > y ? 1 : x < y ? -1 : 0;
      assert.equal(compareQuantities(parseQuantity(`${a}${sa}`), parseQuantity(`${b}${sb}`)), expected);
      // The same values written in milli-units compare the same.
      assert.equal(compareQuantities(parseQuantity(`${x * 1000n}m`), parseQuantity(`${b}${sb}`)), expected);
    }), { numRuns: RUNS });
});

test('property: arbitrary text either parses or fails with one of upstream\'s messages; never anything else', () => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'0123456789.+-eEinumkKMGTPQx '.split('')), maxLength: 16 }), (s) => {
    try {
      const q = parseQuantity(s);
      assert.match(s.trim(), UPSTREAM_PATTERN, `${JSON.stringify(s)} parsed to ${formatQuantity(q)}`);
    } catch (e) {
      assert.ok(e instanceof QuantityError, String(e));
      if (!UPSTREAM_PATTERN.test(s.trim())) assert.equal((e as Error).message, QUANTITY_FORMAT_ERROR);
    }
  }), { numRuns: RUNS });
});

test('property: compare is a total order (antisymmetric, transitive)', () => {
  fc.assert(fc.property(quantityString, quantityString, quantityString, (a, b, c) => {
    const [x, y, z] = [parseQuantity(a), parseQuantity(b), parseQuantity(c)];
    assert.equal(compareQuantities(x, y), 0 - compareQuantities(y, x));
    if (compareQuantities(x, y) <= 0 && compareQuantities(y, z) <= 0) assert.ok(compareQuantities(x, z) <= 0);
  }), { numRuns: RUNS });
});
