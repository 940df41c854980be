#!/usr/bin/env node
/**
 * `npx conveyor …` launcher: registers tsx's ESM loader in this process and
 * runs the TypeScript CLI (cli/main.ts) without a build step. The CLI sets
 * process.exitCode itself (0 ok, 1 operational failure, 2 usage, 3 not found).
 */
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
