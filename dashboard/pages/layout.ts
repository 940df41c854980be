/**
 * The frame every Conveyor page shares: head, navigation, the user and role,
 * flash message, and the stylesheet and script (served from /assets: the
 * Content-Security-Policy allows no inline script or style). Pages are plain
 * functions returning HTML strings; every value from Redis or the request
 * goes through esc().
 *
 * Every link is the base (where the dashboard is mounted, '' at the root)
 * followed by a dashboard path; the page tells its script the base in
 * <meta name="conveyor-base">.
 */
import { esc } from './format.ts';
import type { Role } from '../auth.ts';

export { esc } from './format.ts';

export interface NavItem {
  /** A dashboard path, without the base. */
  href: string;
  label: string;
}

export const NAV: readonly NavItem[] = [
  { href: '/', label: 'Overview' },
  { href: '/queues', label: 'Queues' },
  { href: '/workers', label: 'Workers' },
  { href: '/dead', label: 'Dead letters' },
  { href: '/search', label: 'Search' },
  { href: '/schedules', label: 'Schedules' },
  { href: '/batches', label: 'Batches' },
  { href: '/limits', label: 'Limits' },
  { href: '/redis', label: 'Redis' },
  { href: '/audit', label: 'Audit log' },
];

/** Who is looking; absent on the login page. */
export interface Viewer {
  user: string;
  role: Role;
  csrf: string;
  /** Login configured: show the logout button. */
  logout: boolean;
  /** Where the dashboard is mounted for this request: every link starts with it. */
  base: string;
}

export interface PageOptions {
  /** Where the dashboard is mounted ('' at the root). */
  base: string;
  title: string;
  /** Dashboard path of the current page (without the base), to mark it in the navigation. */
  current?: string;
  viewer?: Viewer;
  flash?: { text: string; tone: 'good' | 'bad' } | undefined;
}

/** bull-board's page of one BullMQ queue (its names are "{queue}" and "{queue}.dead"). */
export function boardQueueHref(base: string, bullQueueName: string): string {
  return `${base}/queues/queue/${encodeURIComponent(bullQueueName)}`;
}

/** The hidden CSRF field every state-changing form carries. */
export function csrfField(viewer: Viewer | undefined): string {
  return viewer ? `<input type="hidden" name="_csrf" value="${esc(viewer.csrf)}">` : '';
}

/** Admins see action buttons; read-only users see why there are none. */
export function canWrite(viewer: Viewer | undefined): boolean {
  return viewer?.role === 'admin';
}

export function page(opts: PageOptions, body: string): string {
  const v = opts.viewer;
  const b = esc(opts.base);
  const nav = v
    ? `<nav class="nav" aria-label="Main">${NAV.map((n) => `<a href="${b}${esc(n.href)}"${n.href === opts.current ? ' class="current" aria-current="page"' : ''}>${esc(n.label)}</a>`).join('')}</nav>
<div class="who">
  <span class="user" title="${v.role === 'read' ? 'Read-only: you can look at everything but change nothing' : 'Administrator'}">${esc(v.user)}${v.role === 'read' ? ' <span class="badge info">read-only</span>' : ''}</span>
  ${v.logout ? `<form method="post" action="${b}/logout" class="inline">${csrfField(v)}<button type="submit" class="btn subtle small">Log out</button></form>` : ''}
</div>`
    : '';
  const flash = opts.flash ? `<div class="flash ${opts.flash.tone}" role="status">${esc(opts.flash.text)}</div>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="conveyor-base" content="${b}">
${v ? `<meta name="conveyor-csrf" content="${esc(v.csrf)}">` : ''}
<title>${esc(opts.title)} · Conveyor</title>
<link rel="icon" href="${b}/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${b}/assets/board.css">
<script src="${b}/assets/board.js" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="${b}/"><span class="logo" aria-hidden="true"></span>Conveyor</a>${nav}</header>
<main>
${flash}
${body}
</main>
</body>
</html>`;
}

/** A page heading with an optional line under it and actions on the right. */
export function heading(title: string, sub = '', actions = ''): string {
  return `<div class="page-head"><div><h1>${esc(title)}</h1>${sub ? `<p class="sub">${sub}</p>` : ''}</div>${actions ? `<div class="actions">${actions}</div>` : ''}</div>`;
}

/** An empty state: what would be here, and how it gets here. */
export function empty(title: string, text: string): string {
  return `<div class="empty"><p class="empty-title">${esc(title)}</p><p>${text}</p></div>`;
}

/** Previous / next links for a list shown `limit` at a time; `path` is the list's full path (base included). */
export function pager(path: string, params: Record<string, string | undefined>, offset: number, limit: number, total: number): string {
  if (total <= limit && offset === 0) return '';
  const link = (o: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    if (o > 0) q.set('offset', String(o));
    const s = q.toString();
    return `${path}${s ? `?${s}` : ''}`;
  };
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(total, offset + limit);
  const prev = offset > 0 ? `<a class="btn subtle small" href="${esc(link(Math.max(0, offset - limit)))}">← Newer</a>` : '<span class="btn subtle small disabled">← Newer</span>';
  const next = to < total ? `<a class="btn subtle small" href="${esc(link(offset + limit))}">Older →</a>` : '<span class="btn subtle small disabled">Older →</span>';
  return `<div class="pager"><span class="muted">${from.toLocaleString('en-US')}–${to.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}</span>${prev}${next}</div>`;
}
