import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { readBody } from './body.js';
import { StatusError } from '../apimachinery/status.js';

const request = (headers: Record<string, string> = {}) => Object.assign(new PassThrough(), { headers }) as unknown as IncomingMessage & PassThrough;

test('readBody: chunks joined; a body over the limit is 413 even without Content-Length; an aborted body rejects', async () => {
  const ok = request();
  const got = readBody(ok, 10);
  ok.write('{"a":');
  ok.end('1}');
  assert.equal((await got).toString(), '{"a":1}');

  const big = request();
  const tooLarge = readBody(big, 4);
  big.write('abc');
  big.end('defgh');
  await assert.rejects(tooLarge, (e: unknown) => e instanceof StatusError && e.code === 413);

  await assert.rejects(readBody(request({ 'content-length': '99' }), 4), (e: unknown) => e instanceof StatusError && e.code === 413);

  const aborted = request();
  const cut = readBody(aborted, 10);
  aborted.write('{"a"');
  aborted.destroy();
  await assert.rejects(cut);
});
