/**
 * The URL of an incoming HTTP request. The request-target is read as a path on this server: `new URL(target, base)`
 * would take `//host/…` as another host and throws on targets like `//[` — outside a handler's try that ended the
 * whole process (an unauthenticated remote crash, found by test/fuzz/api.fuzz.test.ts). Null when the target is
 * not a URL at all; callers answer 400.
 */
export function requestUrl(target: string | undefined): URL | null {
  const t = target ?? '/';
  try {
    // Origin-form (`/path?query`) is what clients send; absolute-form (`https://host/path`) is legal HTTP/1.1.
    return t.startsWith('/') ? new URL(`http://localhost${t}`) : new URL(t);
  } catch {
    return null;
  }
}
