/**
 * The frame every Conveyor page shares: head, navigation, a small stylesheet.
 * Pages are plain functions returning HTML strings; every value that comes from
 * Redis or the request goes through esc().
 */

export interface NavItem {
  href: string;
  label: string;
}

/** The navigation bar; a later page adds itself here. */
export const NAV: readonly NavItem[] = [
  { href: '/', label: 'Overview' },
  { href: '/queues', label: 'Queues (bull-board)' },
];

export function esc(v: unknown): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
  :root { color-scheme: light dark; --fg: #1d2433; --muted: #667085; --line: #e4e7ec; --accent: #2f6fed; --bg: #fff; --bad: #c4320a; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #98a2b3; --line: #344054; --bg: #101828; --accent: #7aa2ff; --bad: #f97066; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: center; gap: 1.5rem; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); }
  header .brand { font-weight: 700; letter-spacing: .02em; }
  header nav { display: flex; gap: 1rem; flex: 1; }
  header a { color: var(--fg); text-decoration: none; }
  header a.current { color: var(--accent); font-weight: 600; }
  main { padding: 1.5rem; max-width: 72rem; }
  h1 { font-size: 1.35rem; margin: 0 0 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: right; padding: .4rem .75rem; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
  th:first-child, td:first-child { text-align: left; }
  th { color: var(--muted); font-weight: 600; font-size: .85rem; }
  a { color: var(--accent); }
  .muted { color: var(--muted); }
  .bad { color: var(--bad); }
  .tag { font-size: .75rem; padding: .05rem .4rem; border: 1px solid var(--line); border-radius: .25rem; }
  form.inline { display: inline; margin: 0; }
  button { font: inherit; cursor: pointer; }
  button.link { background: none; border: 0; color: var(--fg); padding: 0; }
  .card { max-width: 22rem; margin: 10vh auto; padding: 1.5rem; border: 1px solid var(--line); border-radius: .5rem; }
  .card label { display: block; margin: .75rem 0 .25rem; }
  .card input { width: 100%; padding: .45rem; font: inherit; }
  .card button { margin-top: 1rem; width: 100%; padding: .5rem; }
`;

export interface PageOptions {
  title: string;
  /** Path of the current page, to mark it in the navigation. */
  current?: string;
  /** Show the navigation (off on the login page). */
  nav?: boolean;
  /** Show the logout button (when login is configured). */
  logout?: boolean;
}

export function page(opts: PageOptions, body: string): string {
  const nav = opts.nav === false
    ? ''
    : `<nav>${NAV.map((n) => `<a href="${esc(n.href)}"${n.href === opts.current ? ' class="current" aria-current="page"' : ''}>${esc(n.label)}</a>`).join('')}</nav>${
        opts.logout ? '<form class="inline" method="post" action="/logout"><button class="link" type="submit">Log out</button></form>' : ''
      }`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(opts.title)} · Conveyor</title>
<style>${STYLE}</style>
</head>
<body>
<header><span class="brand">Conveyor</span>${nav}</header>
<main>
${body}
</main>
</body>
</html>`;
}
