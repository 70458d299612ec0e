import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allControllers, selectControllers } from './manager.js';

test('controller selection follows kube-controller-manager --controllers syntax', () => {
  assert.deepEqual(selectControllers('all'), [...allControllers]);
  assert.deepEqual(selectControllers(['nodelifecycle']), ['nodelifecycle']);
  const noSched = selectControllers(['*', '-scheduler', '-namespace']);
  assert.ok(!noSched.includes('scheduler') && !noSched.includes('namespace') && noSched.includes('deployment'));
  assert.deepEqual(selectControllers([]), []);
  assert.throws(() => selectControllers(['*', '-bogus']), /unknown controller "bogus"/);
});

test('the manager serves its Prometheus metrics and health when asked', async () => {
  const { KubeClient } = await import('../common/kube-client.js');
  const { startControllerManager } = await import('./manager.js');
  const { createLogger } = await import('../common/logger.js');
  const kc = KubeClient.fromConfig({ server: 'https://127.0.0.1:9', insecureSkipTlsVerify: true, token: 't' });
  const cm = startControllerManager({ kubeConfig: kc, controllers: [], metricsAddress: '127.0.0.1:0', logger: createLogger('test', 'silent') });
  const url = await cm.metricsUrl;
  assert.ok(url);
  const body = await (await fetch(`${url}/metrics`)).text();
  assert.match(body, /# TYPE kedge_workqueue_depth gauge/);
  assert.match(body, /# TYPE kedge_controller_reconcile_duration_seconds histogram/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  await cm.stop();
});
