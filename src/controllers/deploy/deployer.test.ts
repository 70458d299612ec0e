import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../common/logger.js';
import { ApiEventRecorder } from '../events.js';
import { FakeCluster } from '../testing/fake-cluster.js';
import { ManifestDeployer } from './deployer.js';

const battery = {
  name: 'servicelb',
  description: 'test battery',
  manifest: () => 'apiVersion: v1\nkind: Service\nmetadata:\n  name: shipped\n  namespace: kube-system\nspec:\n  ports: [{port: 53}]\n',
};

test('a battery manifest is written and applied while enabled; disabled, its file and objects are removed; a bad file stops nothing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kedge-deploy-'));
  const fake = new FakeCluster();
  const run = async (disabled: boolean) => {
    const d = new ManifestDeployer({ dir, api: fake, events: new ApiEventRecorder(fake, 'test'), log: createLogger('test', 'silent'), batteries: [{ battery, disabled }], rescanMs: 60_000 });
    await d.start();
    await d.stop();
  };
  try {
    writeFileSync(path.join(dir, 'a-bad.yaml'), 'kind: [\n');
    writeFileSync(path.join(dir, 'user.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: mine, namespace: default}\n');
    await run(false);
    assert.ok(existsSync(path.join(dir, 'servicelb.yaml')));
    assert.ok(fake.find('Service', 'shipped', 'kube-system'), 'battery object applied');
    assert.ok(fake.find('Service', 'mine', 'default'), 'user file applied despite the bad one before it');
    await run(true);
    assert.equal(existsSync(path.join(dir, 'servicelb.yaml')), false, 'disabled battery file removed');
    assert.equal(fake.find('Service', 'shipped', 'kube-system'), undefined, 'disabled battery objects deleted');
    assert.ok(fake.find('Service', 'mine', 'default'), 'user objects stay');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
