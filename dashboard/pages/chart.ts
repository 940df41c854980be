/**
 * Jobs per minute as server-drawn SVG (no chart library, no script): a bar
 * per minute, processed in blue with failed stacked on top in red, a hover
 * title on each minute. Also a sparkline for table rows.
 */
import { esc, num } from './format.ts';

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/** A round axis maximum: 1, 2, 5, 10, 20, 50, ... at least `n`. */
function niceMax(n: number): number {
  if (n <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

export function throughputChart(minutes: number[], processed: number[], failed: number[]): string {
  // Bars in an SVG stretched to the card (so no text inside: it would stretch too);
  // the axis labels are HTML around it.
  const W = 600;
  const H = 100;
  const max = niceMax(Math.max(0, ...processed.map((p, i) => p + (failed[i] ?? 0))));
  const step = W / Math.max(1, minutes.length);
  const bw = Math.max(0.5, step * 0.78);
  const grid = [0.5, 1].map((f) => `<line class="grid" x1="0" x2="${W}" y1="${(H - f * H).toFixed(2)}" y2="${(H - f * H).toFixed(2)}" vector-effect="non-scaling-stroke"/>`).join('');
  const bars = minutes
    .map((m, i) => {
      const p = processed[i] ?? 0;
      const f = failed[i] ?? 0;
      const x = (i * step + (step - bw) / 2).toFixed(2);
      const hp = (p / max) * H;
      const hf = (f / max) * H;
      const title = `<title>${hhmm(m)} UTC — ${num(p)} processed, ${num(f)} failed</title>`;
      // A transparent full-height hit area so every minute has a tooltip, even an empty one.
      return `<g><rect x="${(i * step).toFixed(2)}" y="0" width="${step.toFixed(2)}" height="${H}" fill="transparent"/>${
        hp > 0 ? `<rect class="bar-p" x="${x}" y="${(H - hp).toFixed(2)}" width="${bw.toFixed(2)}" height="${hp.toFixed(2)}"/>` : ''
      }${hf > 0 ? `<rect class="bar-f" x="${x}" y="${(H - hp - hf).toFixed(2)}" width="${bw.toFixed(2)}" height="${hf.toFixed(2)}"/>` : ''}${title}</g>`;
    })
    .join('');
  const mid = minutes[Math.floor(minutes.length / 2)];
  return `<div class="chart-box"><div class="y-axis" aria-hidden="true"><span>${num(max)}</span><span>${num(max / 2)}</span><span>0</span></div>
<svg class="chart" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="Jobs processed and failed per minute over the last hour">${grid}${bars}</svg>
<div class="x-axis" aria-hidden="true"><span>${minutes[0] === undefined ? '' : esc(hhmm(minutes[0]))}</span><span>${mid === undefined ? '' : esc(hhmm(mid))}</span><span>now (UTC)</span></div></div>`;
}

/** The last `n` minutes of one queue as a tiny bar chart. */
export function sparkline(processed: number[], failed: number[], n = 30): string {
  const p = processed.slice(-n);
  const f = failed.slice(-n);
  const max = Math.max(1, ...p.map((v, i) => v + (f[i] ?? 0)));
  const W = 90;
  const H = 22;
  const step = W / n;
  const bars = p
    .map((v, i) => {
      const hp = (v / max) * H;
      const hf = ((f[i] ?? 0) / max) * H;
      const x = (i * step).toFixed(1);
      const w = Math.max(1, step - 1).toFixed(1);
      return `${hp > 0 ? `<rect class="bar-p" x="${x}" y="${(H - hp).toFixed(1)}" width="${w}" height="${hp.toFixed(1)}"/>` : ''}${hf > 0 ? `<rect class="bar-f" x="${x}" y="${(H - hp - hf).toFixed(1)}" width="${w}" height="${hf.toFixed(1)}"/>` : ''}`;
    })
    .join('');
  return `<svg class="spark" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" aria-hidden="true">${bars}</svg>`;
}
