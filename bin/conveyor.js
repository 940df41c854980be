#!/usr/bin/env node
/**
 * `npx conveyor …`: checks the Node.js version (one clear line instead of a
 * failure deep inside on an unsupported line), then runs the compiled CLI
 * (dist/cli/main.js, built by `npm run build`; no TypeScript loader). The
 * CLI sets process.exitCode itself (0 ok, 1 operational failure, 2 usage or
 * configuration, 3 not found). Plain JavaScript that any Node.js parses.
 */
import { existsSync } from 'node:fs';

const MIN = [22, 12];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  process.stderr.write(`conveyor: Node.js ${process.versions.node} is not supported; Conveyor needs Node.js ${MIN.join('.')} or newer (the 22, 24 or 26 LTS lines).\n`);
  process.exit(2);
}
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('conveyor: dist/ is missing (a source checkout that was not built): run `npm run build` first.\n');
  process.exit(2);
}
await import(main.href);
