import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { checkHost, guardedLookup, hostAllowed, ipv6Bytes, isForbiddenAddress, type Resolver } from './http-guard.ts';
import { isConveyorError } from '../../shared/errors.ts';

test('169.254.0.0/16 and its IPv6 disguises are forbidden', () => {
  for (const a of [
    '169.254.169.254',
    '169.254.0.1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe', // what new URL() turns [::ffff:169.254.169.254] into
    '0:0:0:0:0:ffff:a9fe:a9fe',
    '::169.254.169.254', // IPv4-compatible
    '64:ff9b::169.254.169.254', // NAT64
    '64:ff9b::a9fe:a9fe',
  ]) {
    assert.equal(isForbiddenAddress(a), true, a);
  }
});

test('fe80::/10 link-local and fd00:ec2::254 in any spelling are forbidden', () => {
  for (const a of ['fe80::1', 'FE80::abcd:1', 'febf::1', 'fe80::1%eth0', 'fd00:ec2::254', 'fd00:ec2:0:0:0:0:0:254', 'FD00:0EC2::0254']) {
    assert.equal(isForbiddenAddress(a), true, a);
  }
});

test('ordinary addresses, loopback included, are not forbidden', () => {
  for (const a of ['127.0.0.1', '10.0.0.1', '169.253.1.1', '170.254.1.1', '8.8.8.8', '::1', '::', '::ffff:127.0.0.1', 'fec0::1', 'fd00:ec2::253', 'fd00:ec3::254', '2001:db8::1', 'example.com', '']) {
    assert.equal(isForbiddenAddress(a), false, a);
  }
});

test('ipv6Bytes expands :: and embedded IPv4', () => {
  assert.deepEqual(ipv6Bytes('::1'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(ipv6Bytes('::ffff:1.2.3.4')?.slice(10), [255, 255, 1, 2, 3, 4]);
  assert.deepEqual(ipv6Bytes('fd00:ec2::254')?.slice(0, 4), [0xfd, 0x00, 0x0e, 0xc2]);
  assert.equal(ipv6Bytes('1.2.3.4'), undefined);
  assert.equal(ipv6Bytes('nope'), undefined);
});

test('hostAllowed: *, exact names, *.domain patterns (subdomains only), IPv6 in brackets', () => {
  assert.equal(hostAllowed('anything.io', ['*']), true);
  assert.equal(hostAllowed('Hooks.Example.com', ['hooks.example.com']), true);
  assert.equal(hostAllowed('a.example.com', ['*.example.com']), true);
  assert.equal(hostAllowed('a.b.example.com', ['*.example.com']), true);
  assert.equal(hostAllowed('example.com', ['*.example.com']), false);
  assert.equal(hostAllowed('evilexample.com', ['*.example.com']), false);
  assert.equal(hostAllowed('example.com.evil.io', ['example.com']), false);
  assert.equal(hostAllowed('::1', ['[::1]']), true);
  assert.equal(hostAllowed('other.com', ['a.com', 'b.com']), false);
  assert.equal(hostAllowed('x.com', []), false);
});

function refusedWith(fn: () => void, why: RegExp): void {
  assert.throws(fn, (err: unknown) => isConveyorError(err, 'HTTP_HOST_REFUSED') && why.test(err.message));
}

test('checkHost refuses hosts outside the allow-list, and forbidden literals even under *', () => {
  refusedWith(() => checkHost('evil.io', ['*.example.com']), /"evil.io" is not in HTTP_ALLOWED_HOSTS/);
  refusedWith(() => checkHost('169.254.169.254', ['*']), /link-local or cloud metadata/);
  refusedWith(() => checkHost('[fd00:ec2::254]', ['*']), /link-local or cloud metadata/);
  refusedWith(() => checkHost('[::ffff:a9fe:a9fe]', ['*']), /link-local or cloud metadata/);
  // An explicit allow-list entry does not unlock metadata addresses.
  refusedWith(() => checkHost('169.254.169.254', ['169.254.169.254']), /always refused/);
  assert.doesNotThrow(() => checkHost('127.0.0.1', ['*']));
  assert.doesNotThrow(() => checkHost('hooks.example.com', ['*.example.com']));
});

/** A resolver that answers from a table, never touching DNS or the network. */
function fakeResolver(table: Record<string, LookupAddress[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const r: Resolver = (hostname, options, cb) => {
    calls.push(hostname);
    assert.equal(options.all, true);
    const found = table[hostname];
    queueMicrotask(() => (found ? cb(null, found) : cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])));
  };
  return Object.assign(r, { calls });
}

function lookupOnce(lookup: ReturnType<typeof guardedLookup>, host: string, all: boolean): Promise<{ err: Error | null; address: unknown; family?: number }> {
  return new Promise((resolve) => lookup(host, { all }, (err, address, family) => resolve({ err, address, family })));
}

test('guardedLookup refuses a name that resolves to a link-local or metadata address, in both lookup shapes', async () => {
  const resolver = fakeResolver({
    'metadata.google.internal': [{ address: '169.254.169.254', family: 4 }],
    'rebind.example': [{ address: '127.0.0.1', family: 4 }, { address: 'fd00:ec2::254', family: 6 }],
    'mapped.example': [{ address: '::ffff:169.254.1.1', family: 6 }],
  });
  const lookup = guardedLookup(resolver);
  for (const host of ['metadata.google.internal', 'rebind.example', 'mapped.example']) {
    for (const all of [true, false]) {
      const r = await lookupOnce(lookup, host, all);
      assert.ok(isConveyorError(r.err, 'HTTP_HOST_REFUSED'), `${host} all=${all}: ${String(r.err)}`);
      assert.match(r.err!.message, new RegExp(`${host.replace(/\./g, '\\.')} resolves to .*always refused`));
    }
  }
});

test('guardedLookup passes ordinary answers through, in both lookup shapes, and DNS errors as they are', async () => {
  const lookup = guardedLookup(fakeResolver({ 'hooks.test': [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }] }));
  const one = await lookupOnce(lookup, 'hooks.test', false);
  assert.equal(one.err, null);
  assert.equal(one.address, '127.0.0.1');
  assert.equal(one.family, 4);
  const all = await lookupOnce(lookup, 'hooks.test', true);
  assert.deepEqual(all.address, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
  const missing = await lookupOnce(lookup, 'nowhere.test', false);
  assert.equal((missing.err as NodeJS.ErrnoException).code, 'ENOTFOUND');
});
