export * from './messages.js';
export * from './validate.js';
export * from './keys.js';
export * from './merge-patch.js';
export * from './close-codes.js';
export * from './compression.js';
export * from './tunnel.js';
export * from './tunnel-mux.js';
