import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { LinkArrivals } from './link-liveness.js';

test('arrivals: bytes read since the last look, or a paused socket, are life; silence is not', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  try {
    accepted.on('data', () => {});
    const arrivals = new LinkArrivals(accepted);
    assert.equal(arrivals.moved(), false, 'nothing sent yet');
    client.write('hello');
    await once(accepted, 'data');
    assert.equal(arrivals.moved(), true);
    assert.equal(arrivals.moved(), false, 'the same bytes count once');
    accepted.pause();
    assert.equal(arrivals.moved(), true, 'a paused socket holds frames not yet read');
  } finally {
    client.destroy();
    accepted.destroy();
    server.close();
  }
});
