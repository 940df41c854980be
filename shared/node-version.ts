/**
 * The package's entry points load this first: on a Node.js older than
 * `engines` (22.12) the import fails with one line that says so
 * (NODE_UNSUPPORTED), not with an error from somewhere inside.
 */
import { ConveyorError } from './errors.ts';

export const MIN_NODE: readonly [number, number] = [22, 12];

export function nodeSupported(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

if (!nodeSupported()) {
  const err = new ConveyorError(
    'NODE_UNSUPPORTED',
    `Node.js ${process.versions.node} is not supported: the conveyor package needs Node.js ${MIN_NODE.join('.')} or newer (the 22, 24 or 26 LTS lines)`,
  );
  // The line is the message; a stack into this module would add nothing.
  err.stack = `ConveyorError [NODE_UNSUPPORTED]: ${err.message}`;
  throw err;
}
