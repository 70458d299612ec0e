/**
 * A hollow edge node for API suites: the real edge agent joined with a token over the cluster's hub, on the
 * in-process fake runtime of src/sim (pods become Running and Ready without containerd).
 */
import { createLogger } from '../../src/common/logger.js';
import { joinCluster } from '../../src/edge/join.js';
import { HollowNode } from '../../src/sim/hollow-node.js';
import { createToken, type Cluster } from '../edge/cluster.js';

export async function joinHollowNode(c: Cluster, nodeName: string): Promise<HollowNode> {
  const hubUrl = `https://127.0.0.1:${c.hubPort}`;
  const token = await createToken(c);
  const dataDir = c.h.tempDir(nodeName);
  const credentials = await joinCluster({ server: hubUrl, token: token.token, caCertHash: token.hash, nodeName, dataDir });
  const node = new HollowNode({ nodeName, dataDir, hubUrl, credentials, log: createLogger(nodeName, 'warn'), podSyncIntervalMs: 1000 });
  await node.start();
  return node;
}
