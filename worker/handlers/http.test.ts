/**
 * The http handler's refusals, which must happen before any traffic: this
 * file opens no socket, and checks that the handler did not either.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { LookupAddress } from 'node:dns';
import { createHttpHandler } from './http.ts';
import type { Resolver } from './http-guard.ts';
import type { HandlerContext } from '../../shared/runtime/handler.ts';
import { silentLogger } from '../../shared/log.ts';
import { isConveyorError } from '../../shared/errors.ts';

let sockets = 0;
let requests = 0;
const onSocket = () => sockets++;
const onRequest = () => requests++;
before(() => {
  subscribe('net.client.socket', onSocket);
  subscribe('http.client.request.start', onRequest);
});
beforeEach(() => {
  sockets = 0;
  requests = 0;
});
after(() => {
  unsubscribe('net.client.socket', onSocket);
  unsubscribe('http.client.request.start', onRequest);
});

function ctx(): HandlerContext {
  return { id: 'j1', queue: 'q', name: 'http', attempt: 1, maxAttempts: 1, signal: new AbortController().signal, log: silentLogger, job: {} as never };
}

async function refused(handler: ReturnType<typeof createHttpHandler>, url: string, why: RegExp): Promise<void> {
  await assert.rejects(Promise.resolve().then(() => handler({ url }, ctx())), (err: unknown) => {
    assert.ok(isConveyorError(err, 'HTTP_HOST_REFUSED'), `${url}: expected HTTP_HOST_REFUSED, got ${String(err)}`);
    assert.match(err.message, why);
    return true;
  });
}

test('metadata and link-local literals are refused with no socket and no request, whatever the allow-list', async () => {
  const handler = createHttpHandler(['*']);
  for (const url of [
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.169.254./latest/meta-data/',
    'http://2852039166/', // 169.254.169.254 as one number
    'http://0xa9.0xfe.0xa9.0xfe/',
    'https://169.254.170.2/v2/credentials',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://[fd00:ec2:0:0::254]/',
    'http://[::ffff:169.254.169.254]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[64:ff9b::169.254.169.254]/',
    'http://[fe80::1]:8080/',
  ]) {
    await refused(handler, url, /link-local or cloud metadata and always refused/);
  }
  assert.equal(sockets, 0, 'a socket was opened');
  assert.equal(requests, 0, 'a request was started');
});

test('a host outside HTTP_ALLOWED_HOSTS is refused before any request', async () => {
  const handler = createHttpHandler(['*.example.com', '127.0.0.1']);
  await refused(handler, 'https://evil.io/hook', /host "evil.io" is not in HTTP_ALLOWED_HOSTS/);
  await refused(handler, 'https://example.com/hook', /not in HTTP_ALLOWED_HOSTS/);
  await refused(handler, 'http://localhost:3000/', /"localhost" is not in HTTP_ALLOWED_HOSTS/);
  assert.equal(sockets, 0);
  assert.equal(requests, 0);
});

test('a name that resolves to a metadata address is refused in the socket lookup, before it connects', async () => {
  const asked: string[] = [];
  const resolve: Resolver = (hostname, _opts, cb) => {
    asked.push(hostname);
    const table: Record<string, LookupAddress[]> = {
      'metadata.google.internal': [{ address: '169.254.169.254', family: 4 }],
      'rebinding.example.com': [{ address: 'fd00:ec2::254', family: 6 }],
    };
    queueMicrotask(() => cb(null, table[hostname] ?? []));
  };
  const handler = createHttpHandler(['*'], { resolve });
  await refused(handler, 'http://metadata.google.internal/computeMetadata/v1/', /metadata\.google\.internal resolves to 169\.254\.169\.254/);
  await refused(handler, 'http://rebinding.example.com/', /resolves to fd00:ec2::254/);
  assert.deepEqual(asked, ['metadata.google.internal', 'rebinding.example.com']);
});

test('bad job data is INVALID_REQUEST, before any request', async () => {
  const handler = createHttpHandler(['*']);
  const bad: [unknown, RegExp][] = [
    [null, /needs \{url\}/],
    [{ url: 42 }, /needs \{url\}/],
    [{ url: 'not a url' }, /is not a URL/],
    [{ url: 'file:///etc/passwd' }, /scheme file: is not http or https/],
    [{ url: 'ftp://127.0.0.1/' }, /scheme ftp:/],
    [{ url: 'http://127.0.0.1/', method: 'GET /x HTTP/1.1' }, /method must be a word/],
    [{ url: 'http://127.0.0.1/', headers: 'x-a: 1' }, /headers must be an object/],
    [{ url: 'http://127.0.0.1/', headers: { a: { b: 1 } } }, /headers must be an object of strings/],
  ];
  for (const [data, why] of bad) {
    await assert.rejects(Promise.resolve().then(() => handler(data, ctx())), (err: unknown) => isConveyorError(err, 'INVALID_REQUEST') && why.test(err.message), JSON.stringify(data));
  }
  assert.equal(requests, 0);
});
