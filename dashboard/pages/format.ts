/**
 * How the board writes values: escaped HTML, grouped numbers, bytes,
 * durations, and times as "3 min ago" with the absolute time on hover (the
 * page script keeps the relative text fresh and shows local time on hover).
 */

export function esc(v: unknown): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const INT = new Intl.NumberFormat('en-US');
const DEC = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return Number.isInteger(n) ? INT.format(n) : DEC.format(n);
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : DEC.format(v)} ${units[i]}`;
}

/** "850 ms", "45 s", "3 min 12 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  const s = Math.floor(abs / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export function relative(at: number, now = Date.now()): string {
  const diff = at - now;
  if (Math.abs(diff) < 5000) return 'just now';
  const s = Math.round(Math.abs(diff) / 1000);
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86_400 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  return diff < 0 ? `${text} ago` : `in ${text}`;
}

export function absolute(at: number): string {
  return `${new Date(at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
}

const toMs = (t: string | number | null | undefined): number | undefined => {
  if (t === null || t === undefined || t === '') return undefined;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
};

/** A relative time with the absolute one on hover; "—" when there is none. */
export function time(t: string | number | null | undefined, now = Date.now()): string {
  const ms = toMs(t);
  if (ms === undefined) return '<span class="muted">—</span>';
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}" title="${absolute(ms)}" data-rel>${relative(ms, now)}</time>`;
}

/** An absolute time (for lists of run times), relative on hover. */
export function when(t: string | number | null | undefined, now = Date.now()): string {
  const ms = toMs(t);
  if (ms === undefined) return '<span class="muted">—</span>';
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}" title="${relative(ms, now)}" data-abs>${absolute(ms)}</time>`;
}

export type Tone = 'neutral' | 'good' | 'warn' | 'bad' | 'info';

export function badge(text: string, tone: Tone = 'neutral', title?: string): string {
  return `<span class="badge ${tone}"${title ? ` title="${esc(title)}"` : ''}>${esc(text)}</span>`;
}

/** Pretty JSON, escaped, capped so a 500 KB payload does not freeze the page. */
export function jsonBlock(value: unknown, max = 100_000): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? 'undefined';
  } catch {
    text = String(value);
  }
  const cut = text.length > max ? `${text.slice(0, max)}\n… (${num(text.length - max)} more characters)` : text;
  return `<pre class="code">${esc(cut)}</pre>`;
}

/** "1 job" / "3 jobs". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${num(n)} ${n === 1 ? one : many}`;
}

/** A small bar showing a fraction (SVG: the CSP allows no inline style for a width). */
export function meter(fraction: number, title: string): string {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  const tone = pct >= 90 ? 'bad' : pct >= 75 ? 'warn' : 'ok';
  return `<svg class="meter ${tone}" viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title><rect class="track" width="100" height="6" rx="3"/><rect class="fill" width="${pct}" height="6" rx="3"/></svg>`;
}
