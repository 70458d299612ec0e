export { startCloudHub, DEFAULT_HUB_PORT, type CloudHub, type CloudHubOptions } from './hub.js';
export { EDGE_SIGNER_NAME } from './join.js';
