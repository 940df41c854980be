/**
 * npm test: every *.test.ts under the project, cheapest first (pure →
 * *.redis.test.ts → *.topology.test.ts → *.browser.test.ts), on node:test.
 * Each test file starts the redis-server processes it needs on free ports.
 *
 *   npm test                 everything
 *   npm test -- redis        only files whose path contains "redis"
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', '.git', '.conveyor', 'test-artifacts']);

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out;
}

const rank = (f: string) => (f.endsWith('.browser.test.ts') ? 3 : f.endsWith('.topology.test.ts') ? 2 : f.endsWith('.redis.test.ts') ? 1 : 0);
const filters = process.argv.slice(2);
const files = walk(root)
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// Tests run the TypeScript sources through tsx, but the CLI binary, `npm start` and the package
// tests run dist/: build it first, so they never test a stale build.
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('npm run build failed: no tests run');
  process.exit(build.status ?? 1);
}

const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } },
);
process.exit(r.status ?? 1);
