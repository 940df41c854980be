/**
 * docs/errors.md and ERROR_CODES (shared/errors.ts) list the same codes, and
 * the doc's HTTP statuses are the ones the code answers with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, type ErrorCode } from '../shared/errors.ts';

const DOC = join(import.meta.dirname, '..', 'docs', 'errors.md');

interface Row {
  code: string;
  status: string;
  meaning: string;
  todo: string;
  line: number;
}

/** Table rows whose first cell is a `CODE`. */
function parseRows(markdown: string): Row[] {
  const rows: Row[] = [];
  markdown.split('\n').forEach((text, i) => {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|(.*)\|\s*$/.exec(text);
    if (!m) return;
    const cells = m[2]!.split(/(?<!\\)\|/).map((c) => c.trim());
    rows.push({ code: m[1]!, status: cells[0] ?? '', meaning: cells[1] ?? '', todo: cells[2] ?? '', line: i + 1 });
  });
  return rows;
}

const rows = parseRows(readFileSync(DOC, 'utf8'));
const codes = Object.keys(ERROR_CODES) as ErrorCode[];

test('every code of ERROR_CODES has a row in docs/errors.md', () => {
  const documented = new Set(rows.map((r) => r.code));
  const missing = codes.filter((c) => !documented.has(c));
  assert.deepEqual(missing, [], `add these codes to docs/errors.md: ${missing.join(', ')}`);
});

test('docs/errors.md names no code that does not exist, and none twice', () => {
  const unknown = rows.filter((r) => !(r.code in ERROR_CODES)).map((r) => `${r.code} (line ${r.line})`);
  assert.deepEqual(unknown, [], `docs/errors.md documents codes that ERROR_CODES lacks: ${unknown.join(', ')}`);
  const seen = new Set<string>();
  const twice = rows.filter((r) => (seen.has(r.code) ? true : (seen.add(r.code), false))).map((r) => r.code);
  assert.deepEqual(twice, []);
});

test('each row gives the status ERROR_CODES answers with ("—" only for codes never sent over HTTP)', () => {
  for (const r of rows) {
    const status = ERROR_CODES[r.code as ErrorCode]?.status;
    if (status === undefined) continue; // reported above
    if (r.status === '—') {
      assert.ok(status === 500 && r.code !== 'INTERNAL', `${r.code} (line ${r.line}) is an HTTP answer (${status}); write its status`);
    } else {
      assert.equal(r.status, String(status), `${r.code} (line ${r.line})`);
    }
  }
});

test('each row says what the code means and what to do', () => {
  for (const r of rows) {
    assert.ok(r.meaning.length >= 15, `${r.code} (line ${r.line}): meaning missing`);
    assert.ok(r.todo.length >= 10, `${r.code} (line ${r.line}): "what to do" missing`);
  }
});

test('the parser finds rows, and sees a missing or invented code', () => {
  const sample = '| code | HTTP status | meaning | what to do |\n| --- | --- | --- | --- |\n| `NOT_A_CODE` | 400 | something long enough here | do this thing |\n';
  const parsed = parseRows(sample);
  assert.deepEqual(parsed.map((r) => [r.code, r.status]), [['NOT_A_CODE', '400']]);
  assert.ok(!('NOT_A_CODE' in ERROR_CODES));
  assert.ok(rows.length >= codes.length);
});
