/**
 * TLS for tests: a throwaway CA, a server certificate for 127.0.0.1 and
 * localhost, and a client certificate, made with openssl (EC P-256 keys: ~10 ms
 * each instead of ~100 ms for RSA); and a redis-server listening only on a
 * TLS port, the way ElastiCache Serverless and in-transit-encryption clusters do.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, type RedisProcess, type RedisProcessOptions } from './redis-process.ts';
import { removeOnExit, forgetDir } from './reaper.ts';

const run = promisify(execFile);

export interface CertFiles {
  dir: string;
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** PEM contents of the files above. */
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 15_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

/** A CA signing a leaf certificate: CSR, then x509 -req with the given extensions. */
async function leaf(dir: string, name: string, cn: string, ext: string[]): Promise<void> {
  await openssl(['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  writeFileSync(join(dir, `${name}.ext`), ext.join('\n') + '\n');
  await openssl([
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`,
  ], dir);
}

/** Writes ca, server and client certificates into dir. */
export async function makeCerts(dir: string): Promise<CertFiles> {
  await openssl([
    'req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-sha256',
    '-subj', '/CN=Conveyor test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
  await Promise.all([
    // Node checks the IP SAN when a client connects to 127.0.0.1 (the CN is ignored).
    leaf(dir, 'server', 'localhost', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature,keyEncipherment']),
    leaf(dir, 'client', 'conveyor-test-client', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature,keyEncipherment']),
  ]);
  const path = (f: string) => join(dir, f);
  const read = (f: string) => readFileSync(path(f), 'utf8');
  return {
    dir,
    caFile: path('ca.crt'),
    caKeyFile: path('ca.key'),
    certFile: path('server.crt'),
    keyFile: path('server.key'),
    clientCertFile: path('client.crt'),
    clientKeyFile: path('client.key'),
    ca: read('ca.crt'),
    cert: read('server.crt'),
    key: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
  };
}

let tlsCheck: Promise<string | undefined> | undefined;

/**
 * Why this redis-server cannot serve TLS, or undefined when it can. A build
 * without TLS rejects the tls-* directives at config load ("Bad directive").
 */
export function redisTlsUnsupported(): Promise<string | undefined> {
  tlsCheck ??= run('redis-server', ['--port', '0', '--tls-port', '0', '--tls-replication', 'no', '--save', ''], { timeout: 5000 })
    .then(() => undefined, (err: Error & { stdout?: string; stderr?: string }) => {
      const out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
      // A TLS build gets past config loading and stops on "not listen anywhere".
      if (/not listen anywhere/i.test(out)) return undefined;
      if (/ENOENT/.test(err.message)) return 'redis-server is not installed';
      return `this redis-server was built without TLS support (BUILD_TLS=yes): ${out.trim().split('\n').slice(-2).join(' ')}`;
    });
  return tlsCheck;
}

export interface TlsRedis extends RedisProcess {
  certs: CertFiles;
  ca: string;
}

/**
 * A redis-server listening only on a TLS port (url rediss://127.0.0.1:P) with
 * fresh certificates; stop() also removes the certificates.
 */
export async function startTlsRedis(opts: Omit<RedisProcessOptions, 'tls'> & { authClients?: 'no' | 'yes' | 'optional' } = {}): Promise<TlsRedis> {
  const reason = await redisTlsUnsupported();
  if (reason) throw new Error(reason);
  const certDir = mkdtempSync(join(tmpdir(), 'conveyor-certs-'));
  removeOnExit(certDir);
  const certs = await makeCerts(certDir);
  const { authClients, ...rest } = opts;
  const redis = await startRedis({
    ...rest,
    tls: { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile, ca: certs.ca, authClients },
  });
  const stopRedis = redis.stop.bind(redis);
  return Object.assign(redis, {
    certs,
    ca: certs.ca,
    async stop() {
      await stopRedis();
      rmSync(certDir, { recursive: true, force: true });
      forgetDir(certDir);
    },
  });
}
