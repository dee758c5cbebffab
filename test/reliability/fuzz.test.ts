/**
 * Bad-input fuzzing of every public function (issue 9): random JSON, deep nesting, huge strings, lone surrogates,
 * unicode keys, prototype-polluting keys (`__proto__`, `constructor`, `prototype`), wrong types. Each call must give a
 * documented result or a typed `FeatError` (`invalid_argument` for a non-object options argument too) — never
 * another exception, never a partial write (the store is compared with a model after every rejected call), never
 * prototype pollution.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, FeatError, isFeatError, type FeatClient } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { createPersistStorage } from '@feat/sdk/redux';
import { startEmulator, type Emulator } from '@feat/emulator';
import { partIdOf, partOf } from '../store/helpers.js';
import { emulatorOnly } from '../support/target.js';

const SEED = process.env.FEAT_SEED ? Number(process.env.FEAT_SEED) : Date.now() ^ (process.pid << 8);
const RUNS = Number(process.env.FEAT_FUZZ_RUNS) || (process.env.FEAT_LONG === '1' ? 2_000 : 150);

let emu: Emulator;
const clients: FeatClient[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const protoNames = () => [Object.prototype, Array.prototype, Function.prototype].map((p) => Object.getOwnPropertyNames(p).sort().join());
let protoBefore: string[];

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  protoBefore = protoNames();
  emu = await startEmulator({ port: 0, peruserDelayMs: 0 });
  console.info(`[reliability] fuzz seed ${SEED}, numRuns ${RUNS}`);
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await emu?.stop();
  process.off('unhandledRejection', onUnhandled);
  // No pollution anywhere, whatever was thrown at the SDK.
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(protoNames()).toEqual(protoBefore);
  expect(unhandled).toEqual([]);
});

let counter = 0;
const user = () => `fuzz-${process.pid}-${counter++}-${Math.random().toString(36).slice(2, 8)}`;

// ---------------------------------------------------------------- arbitraries

/** Any UTF-16 code unit, lone surrogates included. */
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const nasty = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'polluted',
  '',
  '_id',
  '_design/x',
  '_local/x',
  'feat~chunk~abc',
  'a:b',
  ':',
  'a/b',
  '%2F',
  '../x',
  '\ud800',
  '\udc00x',
  '😀',
  '中文',
  ' ',
  '\u0000',
  'x'.repeat(5_000),
);
const keyArb = fc.oneof(utf16, nasty, fc.string({ unit: 'grapheme', maxLength: 8 }), fc.anything({ maxDepth: 1 }));
const deepArray = (depth: number) => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
const polluting = fc.constantFrom<unknown>(
  JSON.parse('{"__proto__":{"polluted":1}}'),
  JSON.parse('{"a":{"__proto__":{"polluted":1}}}'),
  { constructor: { prototype: { polluted: 1 } } },
  { prototype: { polluted: 1 } },
  Object.assign(Object.create(null) as object, { a: 1 }),
);
const weird = fc.constantFrom<unknown>(
  undefined,
  NaN,
  Infinity,
  -0,
  () => 1,
  Symbol('s'),
  10n,
  new Date(0),
  new Map([[1, 2]]),
  new Set([1]),
  new Uint8Array(3),
  // eslint-disable-next-line no-sparse-arrays
  [1, , 3],
  { toJSON: () => 'x' },
  new (class Foo {})(),
  deepArray(300),
  deepArray(200),
  'x'.repeat(2_000_000),
  '\ud83d',
  { '\udfff': 1 },
  { [Symbol('k')]: 1 },
);
const cyclic = fc.constant(null).map(() => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
});
const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.anything({ maxDepth: 2, withNullPrototype: true, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, key: fc.oneof(fc.string(), nasty) }) },
  { weight: 2, arbitrary: polluting },
  { weight: 2, arbitrary: weird },
  { weight: 1, arbitrary: cyclic },
);
const optsArb = fc.oneof(fc.anything({ maxDepth: 1 }), fc.record({ ttl: fc.anything({ maxDepth: 0 }) }), fc.record({ replace: fc.anything({ maxDepth: 0 }) }));

const STORE_CODES = new Set(['invalid_key', 'invalid_value', 'invalid_argument']);

// ---------------------------------------------------------------- model helpers

type Model = Map<string, string>; // key → JSON of the value

async function stateOf(c: FeatClient): Promise<Model> {
  const out: Model = new Map();
  for (const k of await c.store.keys()) out.set(k, JSON.stringify(await c.store.get(k)));
  return out;
}

/** What an accepted value reads back as (JSON semantics: -0 → 0). */
const asStored = (v: unknown) => JSON.stringify(JSON.parse(JSON.stringify(v)));

interface Outcome {
  ok: boolean;
  error?: unknown;
}
async function outcome(f: () => unknown): Promise<Outcome> {
  try {
    await f();
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}
const describeError = (e: unknown) => (e instanceof FeatError ? `${e.name}(${e.code}): ${e.message}` : `${(e as Error)?.name}: ${(e as Error)?.message ?? String(e)}`);

// ---------------------------------------------------------------- tests

describe.each([
  { mode: 'remote' as const, runs: Math.ceil(RUNS / 2) },
  { mode: 'local-first' as const, runs: RUNS },
])('store methods under bad input ($mode)', ({ mode, runs }) => {
  it('only FeatErrors with a validation code, no partial write, model == store', async () => {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user()), mode, local: { adapter: 'memory' } });
    clients.push(c);
    await c.ready();
    const model: Model = new Map();
    const history: string[] = [];
    /** Keys last written with a `ttl`: they may read as expired (documented), so they are left out of comparisons. */
    const volatile = new Set<string>();
    const failures: string[] = [];
    let accepted = 0;
    let rejected = 0;
    const call = fc.oneof(
      fc.record({ m: fc.constant('set' as const), key: keyArb, value: valueArb, opts: fc.option(optsArb) }),
      fc.record({ m: fc.constant('setItem' as const), key: keyArb, value: valueArb }),
      fc.record({ m: fc.constant('remove' as const), key: keyArb }),
      fc.record({ m: fc.constant('removeItem' as const), key: keyArb }),
      fc.record({ m: fc.constant('get' as const), key: keyArb }),
      fc.record({ m: fc.constant('getItem' as const), key: keyArb }),
      fc.record({ m: fc.constant('getParts' as const), key: keyArb }),
      fc.record({ m: fc.constant('removeParts' as const), key: keyArb }),
      fc.record({ m: fc.constant('keys' as const), key: fc.oneof(keyArb, fc.constant(undefined)) }),
      fc.record({
        m: fc.constant('setParts' as const),
        key: keyArb,
        value: fc.oneof(fc.dictionary(fc.oneof(utf16, nasty), valueArb, { maxKeys: 4 }), valueArb, polluting),
        opts: fc.option(optsArb),
      }),
      fc.record({ m: fc.constant('watch' as const), key: keyArb, value: fc.oneof(fc.constant(() => undefined), fc.anything({ maxDepth: 0 })) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 6 }), async (calls) => {
        for (const k of calls) {
          const { m, key } = k as { m: string; key: unknown; value?: unknown; opts?: unknown };
          const value = (k as { value?: unknown }).value;
          const opts = (k as { opts?: unknown }).opts ?? undefined;
          const store = c.store as unknown as Record<string, (...args: unknown[]) => unknown>;
          const before = m === 'get' || m === 'getItem' || m === 'getParts' || m === 'keys' ? undefined : new Map(model);
          let syncThrow: unknown;
          let result: Outcome;
          if (m === 'watch') {
            try {
              const off = store.watch!(key, value);
              (off as () => void)();
              result = { ok: true };
            } catch (error) {
              syncThrow = error;
              result = { ok: false, error };
            }
          } else {
            let p: unknown;
            try {
              p = m === 'set' || m === 'setParts' ? store[m]!(key, value, opts) : m === 'setItem' ? store[m]!(key, value) : store[m]!(key);
            } catch (error) {
              syncThrow = error;
            }
            if (syncThrow !== undefined) result = { ok: false, error: syncThrow };
            else {
              if (!(p instanceof Promise)) failures.push(`${m} did not return a promise`);
              result = await outcome(() => p);
            }
            if (syncThrow !== undefined) failures.push(`${m}(${describeArg(key)}) threw synchronously: ${describeError(syncThrow)}`);
          }
          history.push(`${m}(${describeArg(key)}, ${describeArg(value)}, ${describeArg(opts)}) → ${result.ok ? 'ok' : describeError(result.error)}`);
          if (result.ok) {
            accepted++;
            if (m === 'set' || m === 'setItem') model.set(key as string, asStored(value));
            if (m === 'set' || m === 'setItem' || m === 'remove' || m === 'removeItem') volatile.delete(key as string);
            if (m === 'set' && typeof (opts as { ttl?: unknown } | undefined)?.ttl === 'number') volatile.add(key as string);
            if (m === 'remove' || m === 'removeItem') model.delete(key as string);
            if (m === 'removeParts') for (const id of [...model.keys()]) if (partOf(id)?.key === key) model.delete(id);
            if (m === 'setParts') {
              if ((opts as { replace?: boolean } | undefined)?.replace) {
                for (const id of [...model.keys()]) if (partOf(id)?.key === key) model.delete(id);
              }
              for (const [s, v] of Object.entries(value as object)) model.set(partIdOf(key as string, s), asStored(v));
            }
          } else {
            rejected++;
            const e = result.error;
            if (!isFeatError(e) || !STORE_CODES.has(e.code)) {
              failures.push(`${m}(${describeArg(key)}, ${describeArg(value)}) → ${describeError(e)}`);
            }
            if (before) {
              // Never a partial write: the store is exactly as before the rejected call.
              const now = await stateOf(c);
              if (!sameModel(now, before, volatile)) failures.push(`${m}(${describeArg(key)}) rejected but changed the store`);
            }
          }
          if (({} as Record<string, unknown>).polluted !== undefined) failures.push(`${m} polluted Object.prototype`);
        }
        const now = await stateOf(c);
        if (!sameModel(now, model, volatile)) {
          const diff = [...new Set([...now.keys(), ...model.keys()])].filter((k) => !volatile.has(k) && now.get(k) !== model.get(k));
          const touching = history.filter((h) => diff.some((k) => h.includes(JSON.stringify(k).slice(1, -1).slice(0, 20))));
          failures.push(`store differs from the model on ${JSON.stringify(diff)}:\n  store ${show(now)}\n  model ${show(model)}\n  calls: ${touching.slice(-12).join('\n         ')}`);
        }
        if (failures.length) throw new Error([...new Set(failures)].slice(0, 12).join('\n'));
      }),
      { seed: SEED, numRuns: Math.ceil(runs / 6), endOnFailure: true },
    );
    console.info(`[reliability] fuzz store ${mode}: ${accepted} accepted, ${rejected} rejected calls`);
  }, 120_000);
});

function sameModel(a: Model, b: Model, ignore: Set<string> = new Set()): boolean {
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) if (!ignore.has(k) && a.get(k) !== b.get(k)) return false;
  return true;
}
const show = (m: Model) => JSON.stringify([...m.entries()].map(([k, v]) => [k, v.length > 60 ? v.slice(0, 60) + '…' : v]));
function describeArg(v: unknown): string {
  try {
    if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
    if (typeof v === 'function') return 'fn';
    if (typeof v === 'symbol' || typeof v === 'bigint') return String(v);
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 60) + '…' : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

// ---------------------------------------------------------------- options and other entry points

const urlish = fc.oneof(
  fc.constantFrom('http://127.0.0.1:1', 'https://x.example', 'ftp://x', 'not a url', '', 'http://', 'javascript:alert(1)', 'http://a/?q#f'),
  fc.webUrl(),
  fc.anything({ maxDepth: 0 }),
);
const optionValue = fc.oneof(fc.anything({ maxDepth: 2, key: fc.oneof(fc.string(), nasty) }), urlish, polluting, fc.integer(), fc.double());

/** Calls `f`; returns what kind of result it was. Only FeatError(invalid_argument) is allowed (a non-object included). */
function syncOutcome(f: () => unknown): { kind: 'ok' | 'feat' | 'type' | 'other'; error?: unknown; value?: unknown } {
  try {
    return { kind: 'ok', value: f() };
  } catch (error) {
    if (isFeatError(error)) return { kind: 'feat', error };
    if (error instanceof TypeError) return { kind: 'type', error };
    return { kind: 'other', error };
  }
}

describe('entry points under bad options', () => {
  it('createFeatClient(options): invalid_argument (a non-object too, never a TypeError), never a crash or pollution', async () => {
    const failures: string[] = [];
    const made: FeatClient[] = [];
    await fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ maxDepth: 2 }),
          polluting,
          fc.record(
            {
              couchUrl: urlish,
              accountsUrl: urlish,
              auth: fc.oneof(fc.string(), fc.anything({ maxDepth: 0 }), fc.constant(() => 'Bearer x')),
              session: fc.oneof(fc.anything({ maxDepth: 2 }), fc.record({ dbName: fc.anything({ maxDepth: 0 }), headers: fc.anything({ maxDepth: 1 }) })),
              apiUrl: urlish,
              mode: fc.oneof(fc.constantFrom('remote', 'local-first', 'REMOTE', ''), fc.anything({ maxDepth: 0 })),
              local: optionValue,
              onConflict: optionValue,
              fetch: optionValue,
              maxDocumentBytes: optionValue,
              maxRequestBytes: optionValue,
              initialSyncTimeout: optionValue,
              bootstrapTimeout: optionValue,
              conflictRetries: optionValue,
              revCacheSize: optionValue,
            },
            { requiredKeys: [] },
          ),
        ),
        (options) => {
          const r = syncOutcome(() => createFeatClient(options as never));
          if (r.kind === 'other') failures.push(`createFeatClient → ${describeError(r.error)}`);
          if (r.kind === 'feat' && (r.error as FeatError).code !== 'invalid_argument') failures.push(`createFeatClient → ${describeError(r.error)}`);
          if (r.kind === 'type') failures.push(`createFeatClient(${describeArg(options)}) → TypeError: ${(r.error as Error).message}`);
          if (r.kind === 'ok') made.push(r.value as FeatClient);
          if (({} as Record<string, unknown>).polluted !== undefined) failures.push('polluted');
        },
      ),
      { seed: SEED, numRuns: RUNS * 2 },
    );
    // Nothing happens on the network before ready(); closing them all is clean.
    await Promise.all(made.map((c) => c.close()));
    expect(failures.slice(0, 10)).toEqual([]);
  }, 60_000);

  it('createFeatApi(options) and its methods: invalid_argument before any request, bad_response or null after', async () => {
    const failures: string[] = [];
    let requests = 0;
    const counting = (input: Request, init?: RequestInit) => {
      requests++;
      return fetch(input, init);
    };
    await fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ maxDepth: 2 }),
          polluting,
          fc.record(
            { apiUrl: urlish, accountsUrl: urlish, auth: fc.oneof(fc.string(), fc.anything({ maxDepth: 0 })), fetch: optionValue, timeout: optionValue, retry: optionValue },
            { requiredKeys: [] },
          ),
        ),
        (options) => {
          const r = syncOutcome(() => createFeatApi(options as never));
          if (r.kind === 'other' || r.kind === 'type' || (r.kind === 'feat' && (r.error as FeatError).code !== 'invalid_argument')) {
            failures.push(`createFeatApi → ${describeError(r.error)}`);
          }
        },
      ),
      { seed: SEED, numRuns: RUNS * 2 },
    );
    const api = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user()), fetch: counting, retry: 0 });
    const methods: [string, (a: unknown, o: unknown) => Promise<unknown>][] = [
      ['subscription.fetch', (a, o) => api.subscription.fetch(a as never, o as never)],
      ['activity.commentCount', (a, o) => api.activity.commentCount(a as never, o as never)],
      ['weixin.sign', (a, o) => api.weixin.sign(a as never, o as never)],
      ['accounts.couchToken', (_a, o) => api.accounts.couchToken(o as never)],
    ];
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: methods.length - 1 }),
        fc.oneof(fc.anything({ maxDepth: 2, key: fc.oneof(fc.string(), nasty) }), polluting, weird,
          fc.record({ subscription_type: fc.anything({ maxDepth: 0 }), followed_user: fc.anything({ maxDepth: 0 }), target_type: fc.anything({ maxDepth: 0 }), meta: valueArb, url: urlish }, { requiredKeys: [] })),
        fc.option(fc.oneof(fc.anything({ maxDepth: 1 }), fc.record({ timeout: fc.anything({ maxDepth: 0 }), signal: fc.anything({ maxDepth: 0 }) }, { requiredKeys: [] }))),
        async (i, arg, opts) => {
          calls++;
          const [name, f] = methods[i]!;
          const before = requests;
          let p: Promise<unknown>;
          try {
            p = f(arg, opts ?? undefined);
          } catch (error) {
            failures.push(`${name} threw synchronously: ${describeError(error)}`);
            return;
          }
          const r = await outcome(() => p);
          if (!r.ok) {
            const e = r.error;
            const documented =
              isFeatError(e) && ['invalid_argument', 'bad_response', 'not_found', 'timeout', 'aborted', 'unauthorized'].includes(e.code);
            if (!documented) failures.push(`${name}(${describeArg(arg)}, ${describeArg(opts)}) → ${describeError(e)}`);
            if (isFeatError(e, 'invalid_argument') && requests !== before) failures.push(`${name}: invalid_argument after a request was sent`);
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    expect([...new Set(failures)].slice(0, 10)).toEqual([]);
    expect(calls).toBeGreaterThan(0);
  }, 120_000);

  emulatorOnly("fuzzes the emulator's own options (a real server has none)")('startEmulator(options): TypeError/RangeError for bad options, never another failure', async () => {
    const failures: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything({ maxDepth: 1 }),
          polluting,
          fc.record(
            {
              port: fc.oneof(fc.constantFrom(-1, 65536, 1.5, NaN), fc.anything({ maxDepth: 0 })),
              secret: fc.anything({ maxDepth: 0 }),
              maxDocumentBytes: fc.anything({ maxDepth: 0 }),
              maxRequestBytes: fc.anything({ maxDepth: 0 }),
              peruserDelayMs: fc.anything({ maxDepth: 0 }),
              host: fc.anything({ maxDepth: 0 }),
              log: fc.anything({ maxDepth: 0 }),
              fixtures: fc.anything({ maxDepth: 1 }),
            },
            { requiredKeys: [] },
          ),
        ),
        async (options) => {
          let started: Emulator | undefined;
          try {
            started = await startEmulator(options as never);
          } catch (error) {
            if (!(error instanceof TypeError || error instanceof RangeError)) {
              // A port in use or a host that cannot be bound is the OS's answer, not a validation gap.
              const code = (error as { code?: string }).code;
              if (!['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'].includes(code ?? '')) {
                failures.push(`startEmulator(${describeArg(options)}) → ${describeError(error)}`);
              }
            }
          } finally {
            await started?.stop();
          }
        },
      ),
      { seed: SEED, numRuns: Math.min(RUNS, 200) },
    );
    expect([...new Set(failures)].slice(0, 10)).toEqual([]);
  }, 120_000);

  it('createPersistStorage(store) and its methods: TypeError / invalid_argument / invalid_key, never a crash', async () => {
    const failures: string[] = [];
    fc.assert(
      fc.property(fc.oneof(fc.anything({ maxDepth: 2 }), polluting), (store) => {
        const r = syncOutcome(() => createPersistStorage(store as never));
        if (r.kind === 'other' || (r.kind === 'feat' && (r.error as FeatError).code !== 'invalid_argument')) failures.push(`createPersistStorage → ${describeError(r.error)}`);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user()), local: { adapter: 'memory' } });
    clients.push(c);
    const storage = createPersistStorage(c.store);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('getItem', 'setItem', 'removeItem'), fc.oneof(keyArb, fc.constant('persist:root')), fc.oneof(valueArb, fc.jsonValue().map((v) => JSON.stringify(v))), async (m, key, value) => {
        const r = await outcome(() => (storage as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m]!(key, value));
        if (!r.ok && !(isFeatError(r.error) && STORE_CODES.has(r.error.code))) failures.push(`storage.${m}(${describeArg(key)}, ${describeArg(value)}) → ${describeError(r.error)}`);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    expect([...new Set(failures)].slice(0, 10)).toEqual([]);
  }, 120_000);
});

describe('client and sync methods under bad arguments', () => {
  it('ready/waitForPush/pending/on/pause/resume/logout: FeatError (or documented TypeError), never a raw crash', async () => {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user()), local: { adapter: 'memory' } });
    clients.push(c);
    await c.ready();
    const failures: string[] = [];
    const arg = fc.oneof(fc.anything({ maxDepth: 1 }), polluting, fc.record({ signal: fc.anything({ maxDepth: 0 }), timeout: fc.anything({ maxDepth: 0 }) }, { requiredKeys: [] }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('ready', 'waitForPush', 'pending', 'on'), arg, fc.anything({ maxDepth: 0 }), async (m, a, b) => {
        let p: unknown;
        try {
          p =
            m === 'ready'
              ? c.ready(a as never)
              : m === 'waitForPush'
                ? c.sync.waitForPush(a as never)
                : m === 'pending'
                  ? c.sync.pending()
                  : (c.sync.on(a as never, b as never), undefined);
        } catch (error) {
          if (!(m === 'on' && isFeatError(error, 'invalid_argument'))) failures.push(`${m}(${describeArg(a)}) threw synchronously: ${describeError(error)}`);
          return;
        }
        if (p instanceof Promise) {
          const r = await outcome(() => Promise.race([p, new Promise((res) => setTimeout(res, 200))]));
          if (!r.ok && !(isFeatError(r.error) && ['invalid_argument', 'timeout', 'aborted'].includes(r.error.code))) {
            failures.push(`${m}(${describeArg(a)}) → ${describeError(r.error)}`);
          }
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // B4, B5 and B6 are fixed: any raw TypeError/RangeError fails this test.
    expect([...new Set(failures)].slice(0, 12)).toEqual([]);
  }, 60_000);

  it('logout(non-object) rejects with invalid_argument; logout({ destroyLocal }) with junk values never crashes', async () => {
    for (const bad of [null, 1, 'x', true]) {
      const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user()), local: { adapter: 'memory' } });
      clients.push(c);
      await expect(c.logout(bad as never)).rejects.toMatchObject({ name: 'FeatValidationError', code: 'invalid_argument' });
    }
    for (const destroyLocal of [0, 'yes', {}, [], null, undefined]) {
      const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user()), local: { adapter: 'memory' } });
      clients.push(c);
      await c.ready();
      await expect(c.logout({ destroyLocal } as never)).resolves.toBeUndefined();
      await expect(c.store.get('k')).rejects.toMatchObject({ code: 'closed' });
    }
  }, 60_000);
});
