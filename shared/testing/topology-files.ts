/**
 * The redis.conf and sentinel.conf of a test topology. Data nodes get a real
 * config file (not only command-line args) because Sentinel sends
 * `CONFIG REWRITE` after it reconfigures a node: a restarted node then comes
 * back with the role Sentinel gave it, as in production.
 *
 * Sentinels get pre-declared `known-replica` / `known-sentinel` lines and fixed
 * ids so they do not have to discover each other through hello messages
 * (which takes seconds); the topology is ready in well under a second.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aclConfLines, confQuote, type AclUser } from './acl.ts';

export interface DataNodeFile {
  dir: string;
  /** Port of the primary to replicate, or undefined for the primary itself. */
  replicaOf?: number;
  password?: string;
  aclUsers?: readonly AclUser[];
  /** Replicate over TLS (the nodes listen on TLS ports only). */
  tls?: boolean;
  /** Announce the host name "localhost" instead of an IP (replica-announce-ip). */
  hostnames?: boolean;
}

export interface SentinelFile {
  dir: string;
  myId: string;
  masterName: string;
  primaryPort: number;
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
  parallelSyncs: number;
  replicaPorts: readonly number[];
  /** The other sentinels: port and id. */
  peers: readonly { port: number; id: string }[];
  password?: string;
  aclUsers?: readonly AclUser[];
  /** Talk TLS to the nodes and to the other sentinels. */
  tls?: boolean;
  /** Know the nodes as "localhost" and announce host names (resolve-hostnames, announce-hostnames). */
  hostnames?: boolean;
}

/** A 40-hex id, the form `sentinel myid` wants. */
export function sentinelId(): string {
  return randomBytes(20).toString('hex');
}

/** Writes <dir>/redis.conf; returns its path. */
export function writeDataNodeConf(f: DataNodeFile): string {
  const lines = [
    'bind 127.0.0.1',
    // Without this the first full sync waits 5 s for more replicas to join.
    'repl-diskless-sync-delay 0',
    ...(f.replicaOf !== undefined ? [`replicaof ${f.hostnames ? 'localhost' : '127.0.0.1'} ${f.replicaOf}`] : []),
    ...(f.hostnames ? ['replica-announce-ip localhost'] : []),
    ...(f.tls ? ['tls-replication yes'] : []),
    // masterauth on every node, the primary too: after a failover it becomes a replica.
    ...(f.password ? [`requirepass ${confQuote(f.password)}`, `masterauth ${confQuote(f.password)}`] : []),
    ...aclConfLines(f.aclUsers ?? []),
  ];
  const path = join(f.dir, 'redis.conf');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** Writes <dir>/sentinel.conf (Sentinel rewrites it as its state changes); returns its path. */
export function writeSentinelConf(f: SentinelFile): string {
  const m = f.masterName;
  const host = f.hostnames ? 'localhost' : '127.0.0.1';
  const lines = [
    'bind 127.0.0.1',
    `sentinel myid ${f.myId}`,
    // Before the monitor line, which names a host then.
    ...(f.hostnames ? ['sentinel resolve-hostnames yes', 'sentinel announce-hostnames yes'] : []),
    // In a Sentinel, tls-replication makes every outgoing link (nodes, peers) TLS.
    ...(f.tls ? ['tls-replication yes'] : []),
    `sentinel monitor ${m} ${host} ${f.primaryPort} ${f.quorum}`,
    `sentinel down-after-milliseconds ${m} ${f.downAfterMs}`,
    `sentinel failover-timeout ${m} ${f.failoverTimeoutMs}`,
    `sentinel parallel-syncs ${m} ${f.parallelSyncs}`,
    // Sentinels authenticate to each other with their own requirepass.
    ...(f.password ? [`sentinel auth-pass ${m} ${confQuote(f.password)}`, `requirepass ${confQuote(f.password)}`] : []),
    ...f.replicaPorts.map((p) => `sentinel known-replica ${m} ${host} ${p}`),
    ...f.peers.map((s) => `sentinel known-sentinel ${m} 127.0.0.1 ${s.port} ${s.id}`),
    ...aclConfLines(f.aclUsers ?? []),
  ];
  const path = join(f.dir, 'sentinel.conf');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}
