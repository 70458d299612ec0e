import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allControllers, selectControllers } from './manager.js';
import { batteries, parseDisabledBatteries, withoutDisabledControllers } from '../common/batteries.js';

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

test('a disabled battery\'s controller is off whatever --controllers asks for', () => {
  const off = (list: readonly string[] | 'all', disable: string[]) => selectControllers(withoutDisabledControllers(list, parseDisabledBatteries(disable)));
  assert.ok(off('all', []).includes('servicelb'));
  assert.ok(!off('all', ['servicelb']).includes('servicelb'));
  assert.ok(!off(['*', 'servicelb'], ['servicelb']).includes('servicelb'));
  const noStorage = off(['*', '-namespace'], ['local-storage', 'metrics-server']);
  assert.ok(!noStorage.includes('local-path-provisioner') && noStorage.includes('servicelb') && !noStorage.includes('namespace'));
  for (const b of batteries) if (b.controller) assert.ok(allControllers.includes(b.controller), `${b.controller} is a controller`);
});
