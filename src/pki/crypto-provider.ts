import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

let loading: Promise<typeof X509> | undefined;

/**
 * @peculiar/x509, loaded on first use. With tsyringe and the Reflect metadata polyfill it resolves its
 * algorithms through, it costs a process ~4 MiB of heap and more RSS (issue 19): a `kedge cloud` or edge agent
 * that issues, signs or parses no certificate (every restart after the first: the serving certificate is
 * reused from disk) never loads it. Node's built-in WebCrypto is installed as its provider once.
 */
export function loadX509(): Promise<typeof X509> {
  loading ??= (async () => {
    // tsyringe needs the Reflect metadata polyfill loaded first.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return loading;
}

export { webcrypto };
