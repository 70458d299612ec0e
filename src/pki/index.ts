/** Public API of src/pki (see README.md). */
export * from './keys.js';
export * from './certificates.js';
export * from './inspect.js';
export * from './kubeconfig.js';
export * from './server-pki.js';
export * from './bootstrap-token.js';
export * from './signing-keys.js';
export { inX509Worker } from './x509-worker.js';
