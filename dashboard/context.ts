/**
 * What every page handler gets: the data objects of shared/ (built once per
 * router), who is asking and where the dashboard is mounted, the audit trail
 * and the flash message.
 */
import type { LimitsStore } from '../shared/flow/queue-limits.ts';
import type { Request, Response } from 'express';
import type { Logger } from '../shared/log.ts';
import type { QueueSet } from '../shared/queue/queue-set.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { Fleet } from '../shared/queue/fleet.ts';
import type { AuditLog, AuditEntry } from '../shared/audit.ts';
import type { DeadLetterGroups } from '../shared/queue/dead-letter-groups.ts';
import type { JobSearch } from '../shared/queue/search.ts';
import type { Schedules } from '../shared/queue/schedules.ts';
import type { RedisTarget } from '../shared/config/redis-url.ts';
import { cookieOptions } from './auth.ts';
import { sessionOf } from './gates.ts';
import { stateOf } from './mount.ts';
import type { Viewer } from './pages/layout.ts';

export interface BoardData {
  queues: QueueSet;
  inspector: Inspector;
  fleet: Fleet;
  audit: AuditLog;
  dead: DeadLetterGroups;
  search: JobSearch;
  schedules: Schedules;
  /** Flow limits of every queue, and the gate behind them. */
  limits: LimitsStore;
  /** For the Redis page (Sentinel view); undefined shows what the connection reports. */
  redisTarget: RedisTarget | undefined;
  redisTlsCa: string | undefined;
}

/**
 * Who signs users in: Conveyor's own login (configured users), the host app
 * the router is mounted in (identify), or nobody (everyone is the local admin).
 */
export type SignIn = 'login' | 'host' | 'none';

export interface BoardContext {
  data: BoardData;
  log: Logger;
  /** 'login' shows the logout button. */
  signIn: SignIn;
  /** Overview alert: oldest waiting job older than this. */
  alertWaitingMs: number;
}

export function viewerOf(ctx: BoardContext, res: Response): Viewer {
  const s = sessionOf(res);
  const { base, csrf } = stateOf(res);
  return { user: s.user, role: s.role, csrf: csrf ?? '', logout: ctx.signIn === 'login', base };
}

/**
 * Records an operator action. Awaited (the page after the action shows it),
 * but a failed write only logs: the action itself already happened.
 */
export async function audit(ctx: BoardContext, req: Request, res: Response, entry: Omit<AuditEntry, 'at' | 'user' | 'role' | 'ip'>): Promise<void> {
  const s = stateOf(res).session;
  await ctx.data.audit
    .record({ ...entry, user: s?.user ?? 'anonymous', role: s?.role ?? 'read', ip: req.ip })
    .catch((err: unknown) => ctx.log.warn({ err: String(err), action: entry.action }, 'could not write the audit entry'));
}

const FLASH_COOKIE = 'conveyor_flash';

/** A one-time message for the next page (after a POST → redirect). */
export function setFlash(req: Request, res: Response, text: string, tone: 'good' | 'bad' = 'good'): void {
  const value = Buffer.from(JSON.stringify({ text: text.slice(0, 300), tone })).toString('base64url');
  res.cookie(FLASH_COOKIE, value, { ...cookieOptions(req, res), maxAge: 60_000 });
}

export function takeFlash(req: Request, res: Response): { text: string; tone: 'good' | 'bad' } | undefined {
  const raw = /(?:^|;\s*)conveyor_flash=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  if (!raw) return undefined;
  // A page fetched by the live refresh must not eat the message.
  if (req.headers['sec-fetch-mode'] === 'cors') return undefined;
  res.clearCookie(FLASH_COOKIE, cookieOptions(req, res));
  try {
    const f = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { text?: unknown; tone?: unknown };
    return typeof f.text === 'string' ? { text: f.text, tone: f.tone === 'bad' ? 'bad' : 'good' } : undefined;
  } catch {
    return undefined;
  }
}

/** A form field as a trimmed string ('' when absent or not a string). */
export function field(body: unknown, name: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v.trim() : '';
}

/** A form field that may repeat (checkboxes) as a list of strings. */
export function fields(body: unknown, name: string): string[] {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function queryString(req: Request, name: string): string {
  const v = req.query[name];
  return typeof v === 'string' ? v.trim() : '';
}

export function queryInt(req: Request, name: string, def: number, max = 1_000_000): number {
  const n = Number(queryString(req, name));
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : def;
}
