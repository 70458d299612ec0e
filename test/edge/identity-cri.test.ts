/**
 * On containerd: `kedge edge run --data-dir D` restarts a node joined with its own CRI socket on that socket
 * (its running container is adopted, not re-created on another runtime), `kedge edge image import --data-dir D`
 * imports into that node's runtime, and the Node reports the runtime's version from CRI, as the kubelet.
 * Needs root (containerd), as CI runs; skipped with a reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBusyboxArchive } from '../../src/runtime/image/busybox.js';
import { createToken, eventually, joinEdge, startCluster, type Cluster, type Edge } from './cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';

const skip = skipReason();
if (skip) console.log(`# skipping edge identity suite on containerd: ${skip}`);

interface PodJson {
  metadata: { uid: string };
  status?: { phase?: string; containerStatuses?: Array<{ restartCount: number; containerID?: string }> };
}

describe('an edge node on its own containerd socket, restarted with only --data-dir', { skip, timeout: 600_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('edge-identity-cri');
    e = await joinEdge(c, 'edge-cri', await createToken(c), ['--runtime', 'cri', '--cri-socket', fx.socket]);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  it('reports the CRI runtime version, runs as joined after kill -9, and imports images into the node\'s runtime', async () => {
    // nodeInfo.containerRuntimeVersion = runtimeName://runtimeVersion of the CRI Version call, as the kubelet.
    const v = await fx.runtime.version();
    await eventually('the runtime version on the Node', async () => {
      const n = JSON.parse(await c.kubectl(['get', 'node', 'edge-cri', '-o', 'json'])) as { status: { nodeInfo: { containerRuntimeVersion: string } } };
      return n.status.nodeInfo.containerRuntimeVersion === `${v.runtimeName}://${v.runtimeVersion}` || n.status.nodeInfo.containerRuntimeVersion;
    });
    assert.match(`${v.runtimeName}://${v.runtimeVersion}`, /^containerd:\/\/\d+\.\d+\.\d+/);

    await c.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: { nodeName: 'edge-cri', terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: fx.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
    }));
    const getPod = async () => JSON.parse(await c.kubectl(['get', 'pod', 'web', '-o', 'json'])) as PodJson;
    await eventually('web Running', async () => (await getPod()).status?.phase === 'Running', 180_000, 500);
    const before = await getPod();
    const containerId = before.status?.containerStatuses?.[0]?.containerID;
    assert.ok(containerId);

    await e.proc.kill9();
    // Only the data dir. KEDGE_CONTAINERD_SOCK points elsewhere, as a shell on the node might: the node's socket is
    // the one join stored. (Before, this run used the default socket and started a second containerd there.)
    const env = { KEDGE_CONTAINERD_SOCK: path.join(fx.dir, 'not-this-node.sock') };
    const run = await c.h.startKedge('edge-cri-run', ['edge', 'run', '--data-dir', e.dataDir], { env, ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
    // Give the pod manager a few sync rounds: a runtime mix-up would re-create the container meanwhile.
    await run.waitForLog(/edge agent started/, 30_000);
    await new Promise((r) => setTimeout(r, 5_000));
    const sandboxes = await fx.runtime.listPodSandbox();
    assert.equal(sandboxes.filter((s) => s.metadata.name === 'web').length, 1, 'one sandbox for the pod, on the node\'s containerd');
    await eventually('web still Running on its first container', async () => {
      const p = await getPod();
      return (p.metadata.uid === before.metadata.uid && p.status?.containerStatuses?.[0]?.containerID === containerId && p.status?.containerStatuses?.[0]?.restartCount === 0) || JSON.stringify(p.status?.containerStatuses);
    }, 60_000, 500);

    // A contradicting socket is refused, naming the stored one.
    const wrong = c.h.process({ name: 'edge-cri-wrong', args: ['edge', 'run', '--data-dir', e.dataDir, '--cri-socket', '/run/kedge/containerd.sock'] });
    await wrong.start();
    assert.notEqual((await wrong.exited).code, 0);
    assert.match(wrong.currentOutput, new RegExp(`--cri-socket /run/kedge/containerd\\.sock contradicts this node's configuration: it was joined with --cri-socket ${fx.socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    // `edge image import --data-dir D`: into the node's runtime, with nothing else said.
    const file = path.join(fx.dir, 'site.tar');
    writeFileSync(file, buildBusyboxArchive('kedge.local/site-app:3'));
    const imp = c.h.process({ name: 'edge-cri-import', args: ['edge', 'image', 'import', '--data-dir', e.dataDir, file], env });
    await imp.start();
    assert.equal((await imp.exited).code, 0, imp.currentOutput);
    assert.ok(await fx.runtime.imageStatus('kedge.local/site-app:3'), 'imported into the node\'s containerd');
    await run.stop();
  });
});
