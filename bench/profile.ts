/**
 * Summarises V8 CPU profiles (node --cpu-prof, or `npm run bench -- --profile DIR`):
 * where the time goes by package / file, and the hottest functions by self time.
 *
 *   npx tsx bench/profile.ts DIR-or-FILE.cpuprofile [--top 25] [--filter text (inclusive times of matching functions)] [--after-idle-ms 50]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a package, one of our folders, node itself, or V8. */
export function area(url: string): string {
  if (!url) return '(v8/native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = /\/(shared|server|worker|dashboard|bench)\/(.*)$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : url;
}

/**
 * Self time per node, in µs. Start-up (module loading) is left out: samples
 * count only after the first stretch of idle time of at least skipIdleMs
 * (a bench worker idles between start-up and the queue's resume); 0 keeps all.
 */
export function summarise(p: Profile, skipIdleMs = 0): { totalMs: number; byArea: Map<string, number>; byFn: Map<string, number>; inclusive: Map<string, number> } {
  const kinds = new Map(p.nodes.map((n) => [n.id, n.callFrame.functionName]));
  const self = new Map<number, number>();
  let counting = skipIdleMs === 0;
  let idleRun = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    if (!counting) {
      idleRun = kinds.get(id) === '(idle)' ? idleRun + dt : 0;
      if (idleRun >= skipIdleMs * 1000) counting = true;
      return;
    }
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0;
    if (!us) continue;
    total += us;
    if (kinds.get(n.id) === '(idle)') {
      byFn.set('(idle)', (byFn.get('(idle)') ?? 0) + us);
      continue;
    }
    const a = area(n.callFrame.url);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${a}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  }
  return { totalMs: total / 1000, byArea, byFn, inclusive: inclusiveTimes(p, self) };
}

/** Inclusive time per function (its own and its callees'), each node counted once per call path. */
function inclusiveTimes(p: Profile, self: Map<number, number>): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  const walk = (id: number, onPath: Set<string>): number => {
    const n = byId.get(id)!;
    let t = self.get(id) ?? 0;
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${area(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    const fresh = !onPath.has(fn);
    if (fresh) onPath.add(fn);
    for (const c of n.children ?? []) t += walk(c, onPath);
    if (fresh) {
      onPath.delete(fn);
      out.set(fn, (out.get(fn) ?? 0) + t);
    }
    return t;
  };
  const root = p.nodes[0];
  if (root) walk(root.id, new Set());
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const target = args.find((a) => !a.startsWith('--'));
  if (!target) throw new Error('usage: bench/profile.ts DIR-or-FILE [--top N] [--filter text]');
  const top = Number(args[args.indexOf('--top') + 1]) || 25;
  const filter = args.includes('--filter') ? args[args.indexOf('--filter') + 1] : undefined;
  const skipIdleMs = args.includes('--after-idle-ms') ? Number(args[args.indexOf('--after-idle-ms') + 1]) : 0;
  const files = statSync(target).isDirectory() ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f)) : [target];
  for (const file of files) {
    const { totalMs, byArea, byFn, inclusive } = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, skipIdleMs);
    const idle = (byFn.get('(idle)') ?? 0) / 1000;
    process.stdout.write(`\n${file}: ${totalMs.toFixed(0)} ms sampled, ${(totalMs - idle).toFixed(0)} ms busy\n`);
    const pct = (us: number) => `${((us / 1000 / (totalMs - idle)) * 100).toFixed(1).padStart(5)}% ${(us / 1000).toFixed(0).padStart(5)} ms`;
    process.stdout.write('  by area (self time, % of busy):\n');
    for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(v)}  ${k}\n`);
    if (filter) {
      process.stdout.write(`  inclusive time of functions matching "${filter}":\n`);
      for (const [k, v] of [...inclusive].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(v)}  ${k}\n`);
    }
    process.stdout.write('  hottest functions (self time):\n');
    for (const [k, v] of [...byFn].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(v)}  ${k}\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
