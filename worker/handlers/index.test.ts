import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHandlers, resolveHandlers } from './index.ts';
import { isConveyorError } from '../../shared/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'conveyor-handlers-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh folder with the given files. */
function folder(files: Record<string, string>): string {
  const dir = join(root, `f${n++}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function invalid(path: string, why: RegExp): Promise<void> {
  await assert.rejects(loadHandlers(path), (err: unknown) => {
    assert.ok(isConveyorError(err, 'INVALID_HANDLER'), `expected INVALID_HANDLER, got ${String(err)}`);
    assert.match(err.message, why);
    return true;
  });
}

test('the examples folder yields its handlers by file name and by key, and skips _helpers and the README', async () => {
  const h = await loadHandlers('examples/handlers');
  assert.deepEqual(Object.keys(h).sort(), ['charge-card', 'refund-payment', 'send-welcome-email']);
});

test('a single module can be named directly', async () => {
  const h = await loadHandlers('examples/handlers/billing.ts');
  assert.deepEqual(Object.keys(h).sort(), ['charge-card', 'refund-payment']);
});

test('all three shapes load: default function, default object, handlers object (js, mjs, cjs)', async () => {
  const dir = folder({
    'resize-image.mjs': 'export default async function (d) { return d.w * 2; }',
    'two.js': 'export default { a: () => 1, b: async () => 2 };',
    'three.cjs': 'module.exports = { handlers: { c: () => 3 } };',
    'notes.txt': 'not code',
    'x.d.ts': 'export {};',
    'y.test.mjs': 'throw new Error("tests are not handlers")',
  });
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'lib', 'deep.mjs'), 'throw new Error("subfolders are not loaded")');
  const h = await loadHandlers(dir);
  assert.deepEqual(Object.keys(h).sort(), ['a', 'b', 'c', 'resize-image']);
  assert.equal(await h['resize-image']!({ w: 21 }, {} as never), 42);
});

test('HANDLERS handlers join the built-ins and may replace one', async () => {
  const dir = folder({ 'noop.mjs': 'export default () => "mine"' });
  const h = await resolveHandlers(['*'], dir);
  assert.deepEqual(Object.keys(h).sort(), ['fail', 'http', 'noop', 'sleep']);
  assert.equal(h.noop!(null, {} as never), 'mine');
  assert.ok(Object.isFrozen(h));
  assert.deepEqual(Object.keys(await resolveHandlers(['*'], undefined)).sort(), ['fail', 'http', 'noop', 'sleep']);
});

test('a path that does not exist is INVALID_HANDLER saying so', async () => {
  await invalid(join(root, 'nope'), /no such file or folder/);
});

test('a folder with no modules is INVALID_HANDLER', async () => {
  await invalid(folder({ 'README.md': '# hi', '_helper.mjs': 'export const x = 1' }), /holds no handler modules/);
});

test('a module exporting junk is INVALID_HANDLER naming the file and the accepted shapes', async () => {
  const dir = folder({
    'num.mjs': 'export default 42',
    'named.mjs': 'export function charge() {}',
    'nonfn.mjs': 'export default { ok: () => 1, bad: "string" }',
    'empty.mjs': 'export default {}',
    'arr.mjs': 'export const handlers = [() => 1]',
    'badname.mjs': 'export default { "": () => 1 }',
    'boom.mjs': 'throw new Error("cannot connect to the mail server")',
    'syntax.mjs': 'export default {',
  });
  await invalid(join(dir, 'num.mjs'), /num\.mjs: it has a number as its default export; export a default function/);
  await invalid(join(dir, 'named.mjs'), /no default export and no "handlers" export/);
  await invalid(join(dir, 'nonfn.mjs'), /handler "bad" is string, not a function/);
  await invalid(join(dir, 'empty.mjs'), /empty object of handlers/);
  await invalid(join(dir, 'arr.mjs'), /an array as its "handlers" export/);
  await invalid(join(dir, 'badname.mjs'), /"" is not a valid job name/);
  await invalid(join(dir, 'boom.mjs'), /boom\.mjs: it failed to load: cannot connect to the mail server/);
  await invalid(join(dir, 'syntax.mjs'), /syntax\.mjs: it failed to load/);
});

test('two files defining the same job name is INVALID_HANDLER naming both', async () => {
  const dir = folder({ 'a.mjs': 'export default { dup: () => 1 }', 'b.mjs': 'export const handlers = { dup: () => 2 }' });
  await invalid(dir, /b\.mjs: job name "dup" is also defined by .*a\.mjs/);
});
