/**
 * defineJob and the job catalog without Redis: definitions are checked when
 * they are made, handle() makes a new value of the same job, the catalog
 * validates Standard Schemas and JSON Schemas the same way (PAYLOAD_INVALID
 * naming the path), refuses two definitions of one name, and gives the
 * OpenAPI document each job's JSON Schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { isConveyorError } from '../errors.ts';
import { defineJob, isHandledJob, isJobDefinition, jsonSchema, sameJob } from './define-job.ts';
import { JobCatalog } from './job-catalog.ts';

test('a definition carries its name, queue (default "default"), schema and frozen defaults; handle() makes a handled copy of the same job', () => {
  const schema = z.object({ userId: z.number() });
  const d = defineJob({ name: 'send-welcome', queue: 'emails', schema, defaults: { attempts: 5 } });
  assert.equal(d.name, 'send-welcome');
  assert.equal(d.queue, 'emails');
  assert.equal(d.schema, schema);
  assert.deepEqual(d.defaults, { attempts: 5 });
  assert.ok(Object.isFrozen(d) && Object.isFrozen(d.defaults));
  assert.equal(d.run, undefined);
  assert.equal(defineJob({ name: 'x' }).queue, 'default');

  const run = async (data: { userId: number }) => ({ sent: data.userId });
  const h = d.handle(run);
  assert.equal(h.run, run);
  assert.equal(d.run, undefined, 'the definition itself is unchanged');
  assert.ok(isJobDefinition(d) && isJobDefinition(h) && isHandledJob(h) && !isHandledJob(d));
  assert.ok(sameJob(d, h), 'a definition and its handled job are one job');
  assert.ok(!sameJob(d, defineJob({ name: 'send-welcome', queue: 'emails', schema })), 'a second defineJob of the name is another definition');
});

test('bad definitions are refused at once, naming the job', () => {
  assert.throws(() => defineJob({ name: '' }), (e) => isConveyorError(e, 'INVALID_JOB_NAME'));
  assert.throws(() => defineJob({ name: 'a\u0000b' }), (e) => isConveyorError(e, 'INVALID_JOB_NAME'));
  assert.throws(() => defineJob({ name: 'x', queue: 'no spaces' }), (e) => isConveyorError(e, 'INVALID_QUEUE_NAME') && /"x"/.test(e.message));
  assert.throws(() => defineJob({ name: 'x', schema: 'string' as never }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /"x"/.test(e.message) && /schema/.test(e.message));
  assert.throws(() => defineJob({ name: 'x', retries: 3 } as never), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /unknown field "retries"/.test(e.message));
  assert.throws(() => defineJob({ name: 'x' }).handle('nope' as never), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /handle\(\)/.test(e.message));
});

test('isolation: one of none, process, thread, carried by the handled job', () => {
  const d = defineJob({ name: 'render', isolation: 'process' });
  assert.equal(d.isolation, 'process');
  assert.equal(d.handle(async () => null).isolation, 'process');
  assert.equal(defineJob({ name: 'plain' }).isolation, undefined, 'undefined: the worker\'s default');
  assert.throws(() => defineJob({ name: 'x', isolation: 'vm' as never }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /"x"/.test(e.message) && /isolation must be one of 'none', 'process', 'thread'/.test(e.message));
});

test('the catalog validates a zod schema and a JSON Schema alike: PAYLOAD_INVALID with the path, nothing else thrown', async () => {
  const zodJob = defineJob({ name: 'resize', schema: z.object({ size: z.object({ w: z.number().int().positive() }) }) });
  const jsonJob = defineJob<{ to: string }>({ name: 'mail', schema: { type: 'object', required: ['to'], properties: { to: { type: 'string', format: 'email' } } } });
  const catalog = await JobCatalog.create([
    { definition: zodJob, from: 'test' },
    { definition: jsonJob, from: 'test' },
  ]);
  assert.deepEqual(catalog.names, ['mail', 'resize']);
  assert.throws(() => catalog.validate('resize', { size: { w: -1 } }), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^data\.size\.w: /.test(e.message) && /schema of job "resize"/.test(e.message));
  assert.throws(() => catalog.validate('mail', { to: 'nope' }, 'jobs.3'), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^jobs\.3\.data\.to: must match format "email"/.test(e.message));
  assert.throws(() => catalog.validate('mail', {}), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^data\.to: is required/.test(e.message));
  assert.equal(catalog.validate('mail', { to: 'a@example.com' }), undefined);
  assert.equal(catalog.validate('unknown-name', 'anything'), undefined, 'a name without a schema takes any data');
  // The handler gets a Standard Schema's output (zod's defaults and transforms applied).
  const withDefault = await JobCatalog.create([{ definition: defineJob({ name: 'd', schema: z.object({ n: z.number().default(7) }) }), from: 'test' }]);
  assert.deepEqual(withDefault.parse('d', {}), { n: 7 });
});

test('an async Standard Schema is awaited', async () => {
  const schema = z.object({ id: z.string() }).refine(async (v) => v.id !== 'taken', { message: 'is taken', path: ['id'] });
  const catalog = await JobCatalog.create([{ definition: defineJob({ name: 'claim', schema }), from: 'test' }]);
  await assert.rejects(Promise.resolve(catalog.validate('claim', { id: 'taken' })), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^data\.id: is taken/.test(e.message));
  await catalog.validate('claim', { id: 'free' });
});

test('two definitions of one name are INVALID_JOB_DEFINITION naming both places; the same job twice is one', async () => {
  const a = defineJob({ name: 'dup' });
  await assert.rejects(
    JobCatalog.create([
      { definition: a, from: 'module A' },
      { definition: defineJob({ name: 'dup' }), from: 'module B' },
    ]),
    (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /module B/.test(e.message) && /module A/.test(e.message) && /"dup"/.test(e.message),
  );
  const c = await JobCatalog.create([
    { definition: a, from: 'x' },
    { definition: a.handle(() => 1), from: 'y' },
  ]);
  assert.equal(c.size, 1);
});

test('a JSON Schema Ajv cannot compile (or with a misspelt keyword) is INVALID_JOB_DEFINITION', async () => {
  await assert.rejects(JobCatalog.create([{ definition: defineJob({ name: 'j', schema: { type: 'object', requird: ['a'] } }), from: 'jobs.js' }]), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /requird/.test(e.message) && /jobs\.js/.test(e.message));
});

test('the catalog gives each job its payload JSON Schema: a zod schema through Standard JSON Schema, a JSON Schema as it is', async () => {
  const catalog = await JobCatalog.create([
    { definition: defineJob({ name: 'z', schema: z.object({ userId: z.number() }) }), from: 't' },
    { definition: defineJob({ name: 'j', schema: jsonSchema<{ a: string }>({ type: 'object', properties: { a: { type: 'string' } } }) }), from: 't' },
    { definition: defineJob({ name: 'none' }), from: 't' },
  ]);
  const z1 = catalog.get('z')!.jsonSchema as Record<string, any>;
  assert.equal(z1.type, 'object');
  assert.deepEqual(z1.required, ['userId']);
  assert.equal(z1.properties.userId.type, 'number');
  assert.equal(z1.$schema, undefined, 'no $schema inside an OpenAPI document');
  assert.deepEqual(catalog.get('j')!.jsonSchema, { type: 'object', properties: { a: { type: 'string' } } });
  assert.equal(catalog.get('none')!.jsonSchema, undefined);
});

test('defaults are checked like an enqueue\'s options when the catalog takes the definition', async () => {
  const check = (job: Parameters<NonNullable<Parameters<typeof JobCatalog.create>[1]>>[0]) => {
    if ((job.defaults.attempts ?? 1) < 1) throw new Error('attempts');
  };
  await assert.rejects(JobCatalog.create([{ definition: defineJob({ name: 'x', defaults: { attempts: 0 } }), from: 't' }], check), /attempts/);
});
