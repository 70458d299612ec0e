import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podQosClass, type ContainerResourcesLike } from './qos.js';

const c = (requests?: Record<string, string>, limits?: Record<string, string>): ContainerResourcesLike => ({ resources: { requests, limits } });

test('QoS classes as upstream ComputePodQOS (requests already defaulted from limits)', () => {
  assert.equal(podQosClass({ containers: [c()] }), 'BestEffort');
  assert.equal(podQosClass({ containers: [c({ cpu: '0' })] }), 'BestEffort', 'zero quantities do not count');
  assert.equal(podQosClass({ containers: [c({ 'nvidia.com/gpu': '1' }, { 'nvidia.com/gpu': '1' })] }), 'BestEffort', 'only cpu and memory count');
  assert.equal(podQosClass({ containers: [c({ cpu: '1', memory: '1Gi' }, { cpu: '1000m', memory: '1024Mi' })] }), 'Guaranteed', '1 equals 1000m, 1Gi equals 1024Mi');
  assert.equal(podQosClass({ containers: [c({ cpu: '500m', memory: '1Gi' }, { cpu: '1', memory: '1Gi' })] }), 'Burstable');
  assert.equal(podQosClass({ containers: [c({ cpu: '1' }, { cpu: '1' })] }), 'Burstable', 'memory limit missing');
  assert.equal(podQosClass({
    containers: [c({ cpu: '1', memory: '1Gi' }, { cpu: '1', memory: '1Gi' })],
    initContainers: [c({ cpu: '100m', memory: '64Mi' }, { cpu: '100m', memory: '64Mi' })],
  }), 'Guaranteed');
  assert.equal(podQosClass({
    containers: [c({ cpu: '1', memory: '1Gi' }, { cpu: '1', memory: '1Gi' }), c({ cpu: '1' }, { cpu: '1' })],
  }), 'Burstable', 'every container must limit cpu and memory');
  // Pod-wide sums are compared: 1+1 cpu requested against limits 1500m+500m is still Guaranteed upstream.
  assert.equal(podQosClass({
    containers: [c({ cpu: '1', memory: '1Gi' }, { cpu: '1500m', memory: '1Gi' }), c({ cpu: '1', memory: '1Gi' }, { cpu: '500m', memory: '1Gi' })],
  }), 'Guaranteed');
  assert.equal(podQosClass({ containers: [c({ cpu: 'banana' }, { cpu: 'banana', memory: '1Gi' })] }), 'Burstable', 'invalid quantities count as unset');
});
