/**
 * npm run build (also run by `npm install` in this repository and by `npm pack`):
 * dist/ afresh from the TypeScript sources (tsc -p tsconfig.build.json:
 * JavaScript, .d.ts and source maps), plus the dashboard's static assets.
 * Plain JavaScript: it runs before anything else is built.
 */
import { cpSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
cpSync(join(root, 'dashboard', 'public'), join(root, 'dist', 'dashboard', 'public'), { recursive: true });
