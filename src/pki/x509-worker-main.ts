/**
 * The child side of x509-worker.ts: runs X.509-library operations for a long-running process so the library is
 * resident only in this short-lived process.
 */
import { X509_OPERATIONS, type X509Request, type X509Response } from './x509-operations.js';

const reply = (res: X509Response): void => {
  process.send?.(res);
};

process.on('message', (req: X509Request) => {
  const run = X509_OPERATIONS[req.op] as (...args: unknown[]) => Promise<unknown>;
  run(...req.args).then(
    (result) => reply({ id: req.id, ok: true, result }),
    (err: unknown) => reply({ id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) }),
  );
});
// The parent gone (killed, exited): nothing left to do.
process.on('disconnect', () => process.exit(0));
