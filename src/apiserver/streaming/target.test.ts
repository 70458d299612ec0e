import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { kubeletTarget } from './target.js';

const pod = (extra: Partial<V1Pod['spec']> = {}, phase = 'Running'): V1Pod => ({
  metadata: { name: 'web', namespace: 'prod' },
  spec: { nodeName: 'edge-1', containers: [{ name: 'app' }], ...extra },
  status: { phase },
});
const q = (s: string) => new URLSearchParams(s);

describe('kubelet targets for exec, attach and port-forward', () => {
  it('exec goes to the kubelet path with upstream\'s parameter names', () => {
    const t = kubeletTarget('exec', pod(), q('command=sh&command=-c&command=echo%20hi&stdin=true&stdout=true&stderr=true&container=app'));
    assert.equal(t.nodeName, 'edge-1');
    assert.equal(t.path, '/exec/prod/web/app?command=sh&command=-c&command=echo+hi&input=1&output=1&error=1');
    assert.deepEqual(t.streams, { stdin: true, stdout: true, stderr: true, tty: false });
  });

  it('the only container is the default; several need a name, as upstream says', () => {
    assert.equal(kubeletTarget('attach', pod(), q('stdout=true&tty=true')).path, '/attach/prod/web/app?output=1&tty=1');
    const two = pod({ containers: [{ name: 'a' }, { name: 'b' }] });
    assert.throws(() => kubeletTarget('exec', two, q('command=true&stdout=1')), /a container name must be specified for pod web, choose one of: \[a b\]/);
  });

  it('refuses what upstream refuses, with its words', () => {
    assert.throws(() => kubeletTarget('exec', pod(), q('command=true&stdout=1&container=nope')), /container nope is not valid for pod web/);
    assert.throws(() => kubeletTarget('exec', pod({ nodeName: undefined }), q('command=true&stdout=1')), /pod web does not have a host assigned/);
    assert.throws(() => kubeletTarget('exec', pod({}, 'Succeeded'), q('command=true&stdout=1')), /cannot exec into a container in a completed pod; current phase is Succeeded/);
    assert.throws(() => kubeletTarget('attach', pod({}, 'Failed'), q('stdout=1')), /cannot attach to a container in a completed pod; current phase is Failed/);
    assert.throws(() => kubeletTarget('exec', pod(), q('command=true')), /you must specify at least 1 of stdin, stdout, stderr/);
    assert.throws(() => kubeletTarget('portforward', pod({ nodeName: undefined }), q('')), /does not have a host assigned/);
  });

  it('port-forward keeps a WebSocket client\'s ports and nothing else', () => {
    assert.equal(kubeletTarget('portforward', pod(), q('ports=80&ports=8080&evil=1')).path, '/portForward/prod/web?ports=80&ports=8080');
    assert.equal(kubeletTarget('portforward', pod(), q('')).path, '/portForward/prod/web');
  });
});
