/**
 * Turns a key prefix into a half-open range [start, end) so prefix scans can use the primary-key
 * index. Keys compare as SQLite's BINARY collation does (memcmp of UTF-8), which is Unicode
 * code-point order; bumping the prefix's last code point therefore gives the first string that
 * no longer starts with the prefix.
 */
export interface KeyRange {
  start: string;
  /** Exclusive upper bound; null when the prefix has no successor (empty prefix, or all U+10FFFF). */
  end: string | null;
}

const MAX_CODE_POINT = 0x10ffff;

export function prefixRange(prefix: string): KeyRange {
  const points = Array.from(prefix, (ch) => ch.codePointAt(0)!);
  while (points.length > 0) {
    let last = points.pop()! + 1;
    // Skip the surrogate block: those code points never appear in valid UTF-8.
    if (last >= 0xd800 && last <= 0xdfff) last = 0xe000;
    if (last <= MAX_CODE_POINT) {
      points.push(last);
      return { start: prefix, end: String.fromCodePoint(...points) };
    }
  }
  return { start: prefix, end: null };
}

/** True if `key` lies in the range (used where rows are filtered in memory, e.g. live watch fan-out). */
export function keyHasPrefix(key: string, prefix: string): boolean {
  return key.startsWith(prefix);
}
