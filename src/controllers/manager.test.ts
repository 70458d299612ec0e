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
