/**
 * Where the `http` handler may send traffic. Two checks:
 * - the URL's host must match HTTP_ALLOWED_HOSTS (`hostAllowed`);
 * - the address actually connected to must not be link-local or cloud
 *   metadata (`isForbiddenAddress`): checked on literal IPs before any socket
 *   exists, and on resolved names inside the socket's own DNS lookup
 *   (`guardedLookup`), so a name that resolves (or rebinds) to
 *   169.254.169.254 is refused without a connection.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { ConveyorError } from '../../shared/errors.ts';

export function refused(why: string): ConveyorError {
  return new ConveyorError('HTTP_HOST_REFUSED', why);
}

/** The 16 bytes of an IPv6 address (zone id dropped), or undefined when it is not one. */
export function ipv6Bytes(address: string): number[] | undefined {
  const a = address.replace(/%.*$/, '');
  if (isIP(a) !== 6) return undefined;
  // A trailing dotted IPv4 (::ffff:1.2.3.4) is two groups.
  let text = a;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted?.[1]) {
    const [w = 0, x = 0, y = 0, z = 0] = dotted[1].split('.').map(Number);
    text = `${a.slice(0, -dotted[1].length)}${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** The IPv4 address an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d). */
function embeddedIpv4(b: number[]): string | undefined {
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const mapped = zeros(0, 10) && b[10] === 0xff && b[11] === 0xff;
  const compatible = zeros(0, 12) && (b[12] ?? 0) !== 0;
  const nat64 = b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12);
  return mapped || compatible || nat64 ? b.slice(12).join('.') : undefined;
}

const EC2_METADATA_V6 = ipv6Bytes('fd00:ec2::254')!.join(',');

/** 169.254.0.0/16, fe80::/10, fd00:ec2::254, and IPv4 169.254/16 inside IPv6: never a webhook target. */
export function isForbiddenAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const [x, y] = address.split('.').map(Number);
    return x === 169 && y === 254;
  }
  const b = ipv6Bytes(address);
  if (!b) return false;
  const v4 = embeddedIpv4(b);
  if (v4) return isForbiddenAddress(v4);
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return true; // fe80::/10 link-local
  return b.join(',') === EC2_METADATA_V6;
}

/** `*` allows all; `*.example.com` allows subdomains (not example.com itself); otherwise exact, case-insensitive. */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return patterns.some((p) => {
    const pat = p.toLowerCase().replace(/^\[|\]$/g, '');
    if (pat === '*') return true;
    if (pat.startsWith('*.')) return h.endsWith(pat.slice(1)) && h.length > pat.length - 1;
    return h === pat;
  });
}

/** The check for a URL host before any request is made: the allow-list, then literal addresses. */
export function checkHost(host: string, allowedHosts: readonly string[]): void {
  const h = host.replace(/^\[|\]$/g, '');
  if (!hostAllowed(h, allowedHosts)) throw refused(`http: host "${h}" is not in HTTP_ALLOWED_HOSTS`);
  if (isIP(h.replace(/%.*$/, '')) && isForbiddenAddress(h)) {
    throw refused(`http: address ${h} is link-local or cloud metadata and always refused`);
  }
}

/** dns.lookup's shape with `all: true`. */
export type Resolver = (hostname: string, options: { all: true; family?: number; hints?: number }, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;

const systemResolver: Resolver = (hostname, options, cb) => dnsLookup(hostname, options, cb);

/**
 * A `lookup` for http.request / net.connect that refuses a name when any of
 * its addresses is forbidden (refusing all of them: an attacker controls the
 * order). Answers in both of lookup's shapes (`all` or one address).
 */
export function guardedLookup(resolve: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean; family?: number; hints?: number }, cb: LookupCallback): void => {
    const { all, ...rest } = options ?? {};
    resolve(hostname, { ...rest, all: true }, (err, addresses) => {
      if (err) return cb(err, '', 0);
      const bad = addresses.find((a) => isForbiddenAddress(a.address));
      if (bad) return cb(refused(`http: ${hostname} resolves to ${bad.address}, a link-local or cloud-metadata address, always refused`), '', 0);
      if (addresses.length === 0) return cb(Object.assign(new Error(`http: ${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if (all) return cb(null, addresses);
      const first = addresses[0]!;
      cb(null, first.address, first.family);
    });
  };
}
