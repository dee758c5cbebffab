/**
 * Arguments that are not what they seem — timers past the longest JavaScript keeps, bigints and cycles that reach a
 * message, getters and Proxies that throw, sparse arrays — are refused with the README's codes (`invalid_argument`,
 * `invalid_value`, `invalid_key`) before anything is sent, the thrown error as `cause`; never a raw TypeError.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';

const MAX = 2_147_483_647;
const sent: string[] = [];
/** Records every request; none may be made here. */
const recording: typeof fetch = (input) => {
  sent.push(input instanceof Request ? input.url : String(input));
  return Promise.reject(new TypeError('no network in this test'));
};
const base = { couchUrl: 'http://127.0.0.1:9/couch', accountsUrl: 'http://127.0.0.1:9/accounts', auth: 'Bearer abc', fetch: recording };
const clients: FeatClient[] = [];
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  expect(sent).toEqual([]);
});
const make = (extra: object) => {
  const client = createFeatClient({ ...base, ...extra } as FeatClientOptions);
  clients.push(client);
  return client;
};

/** The error `call` throws or rejects with, as `code` (raw errors by name and message) and whether it has a cause. */
async function failure(call: () => unknown): Promise<string> {
  try {
    await call();
    return 'accepted';
  } catch (e) {
    if (!isFeatError(e)) return `RAW ${(e as Error).name}: ${(e as Error).message}`;
    return e.cause === undefined ? e.code : `${e.code} (cause: ${(e.cause as Error).message})`;
  }
}

const boom = () => {
  throw new Error('boom');
};
const getter = () => Object.defineProperty({ a: 1 }, 'b', { enumerable: true, get: boom });
const trapping = () => new Proxy({ a: 1 }, { get: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom, has: boom });
const arrayWithGetter = () => Object.defineProperty([1, 2], 0, { get: boom, enumerable: true });
const cyclic = () => {
  const a: Record<string, unknown> = {};
  a.self = a;
  return a;
};
// eslint-disable-next-line no-sparse-arrays
const holey = () => [1, , 3];

describe('createFeatClient', () => {
  it('refuses a timer option past 2^31-1 ms (timers fire at once beyond it), accepts 2^31-1', async () => {
    const results: Record<string, string> = {};
    for (const [name, wrap] of [
      ['requestTimeout', (v: number) => ({ requestTimeout: v })],
      ['initialSyncTimeout', (v: number) => ({ initialSyncTimeout: v })],
      ['bootstrapTimeout', (v: number) => ({ bootstrapTimeout: v })],
      ['maintenance.intervalMs', (v: number) => ({ maintenance: { intervalMs: v } })],
    ] as const) {
      results[`${name} 2^31`] = await failure(() => make(wrap(MAX + 1)));
      results[`${name} 3e9`] = await failure(() => make(wrap(3_000_000_000)));
      results[`${name} 2^31-1`] = await failure(() => make(wrap(MAX)));
    }
    expect(results).toEqual({
      'requestTimeout 2^31': 'invalid_argument',
      'requestTimeout 3e9': 'invalid_argument',
      'requestTimeout 2^31-1': 'accepted',
      'initialSyncTimeout 2^31': 'invalid_argument',
      'initialSyncTimeout 3e9': 'invalid_argument',
      'initialSyncTimeout 2^31-1': 'accepted',
      'bootstrapTimeout 2^31': 'invalid_argument',
      'bootstrapTimeout 3e9': 'invalid_argument',
      'bootstrapTimeout 2^31-1': 'accepted',
      'maintenance.intervalMs 2^31': 'invalid_argument',
      'maintenance.intervalMs 3e9': 'invalid_argument',
      'maintenance.intervalMs 2^31-1': 'accepted',
    });
  });

  it('refuses a maintenance option that is not { enabled?: boolean, intervalMs? }', async () => {
    const results = [];
    for (const maintenance of [null, 5, 'x', [], { enabled: 'no' }, { enabled: 0 }, { intervalMs: '5' }, { enabled: false }, {}]) {
      results.push(await failure(() => make({ maintenance })));
    }
    expect(results).toEqual([...Array<string>(7).fill('invalid_argument'), 'accepted', 'accepted']);
  });

  it('a mode that is a bigint or a cycle: invalid_argument, not a TypeError from JSON.stringify', async () => {
    expect(await failure(() => make({ mode: 10n }))).toBe('invalid_argument');
    expect(await failure(() => make({ mode: cyclic() }))).toBe('invalid_argument');
    const e = await (async () => make({ mode: 10n }))().catch((error: Error) => error);
    expect((e as Error).message).toContain('bigint');
  });

  it('options whose getter or Proxy trap throws: invalid_argument, the error as cause', async () => {
    const withGetter = Object.defineProperty({ ...base }, 'requestTimeout', { enumerable: true, get: boom });
    expect(await failure(() => createFeatClient(withGetter))).toBe('invalid_argument (cause: boom)');
    expect(await failure(() => createFeatClient(new Proxy({ ...base }, { ownKeys: boom })))).toBe('invalid_argument (cause: boom)');
    expect(await failure(() => make({ local: trapping() }))).toBe('invalid_argument (cause: boom)');
    expect(await failure(() => make({ session: { dbName: 'userdb-61', headers: getter() } }))).toBe('invalid_argument (cause: boom)');
    expect(await failure(() => make({ indexes: [{ fields: arrayWithGetter() }] }))).toBe('invalid_argument (cause: boom)');
    // eslint-disable-next-line no-sparse-arrays
    expect(await failure(() => make({ indexes: [{ fields: ['a', , 'b'] }] }))).toBe('invalid_argument');
  });
});

describe('store (nothing sent)', () => {
  const store = () => make({ mode: 'remote', session: { dbName: 'userdb-61', headers: {} } }).store as unknown as Record<string, (...a: unknown[]) => unknown>;

  it('values: a getter, a Proxy or an array index that throws → invalid_value with the cause', async () => {
    const s = store();
    expect(await failure(() => s.set!('k', getter()))).toBe('invalid_value (cause: boom)');
    expect(await failure(() => s.set!('k', { deep: [trapping()] }))).toBe('invalid_value (cause: boom)');
    expect(await failure(() => s.set!('k', arrayWithGetter()))).toBe('invalid_value (cause: boom)');
    expect(await failure(() => s.setParts!('k', { a: getter() }))).toBe('invalid_value (cause: boom)');
    const e = await Promise.resolve(s.set!('k', { a: [0, getter()] })).catch((error: Error) => error);
    expect((e as Error).message).toContain('.a[1]');
  });

  it('keys: a Proxy whose traps throw → invalid_key', async () => {
    const s = store();
    for (const method of ['get', 'remove', 'getParts', 'set']) {
      expect(await failure(() => s[method]!(trapping(), 1)), method).toBe('invalid_key');
    }
  });

  it('queries: getters, Proxies, bigints and cycles → invalid_argument (find, watchQuery, createIndex)', async () => {
    const s = store();
    const find = (query: unknown) => failure(() => s.find!(query));
    expect({
      query: await find(trapping()),
      selector: await find({ selector: getter() }),
      field: await find({ selector: { f: getter() } }),
      in: await find({ selector: { f: { $in: [trapping()] } } }),
      array: await find({ selector: { f: arrayWithGetter() } }),
      sortArray: await find({ sort: arrayWithGetter() }),
      sortProxy: await find({ sort: [trapping()] }),
    }).toEqual({
      query: 'invalid_argument (cause: boom)',
      selector: 'invalid_argument (cause: boom)',
      field: 'invalid_argument (cause: boom)',
      in: 'invalid_argument (cause: boom)',
      array: 'invalid_argument (cause: boom)',
      sortArray: 'invalid_argument (cause: boom)',
      sortProxy: 'invalid_argument (cause: boom)',
    });
    expect({
      bigint: await find({ sort: [10n] }),
      nestedBigint: await find({ sort: [{ prio: 10n }] }),
      cyclic: await find({ sort: [cyclic()] }),
      watchQuery: await failure(() => s.watchQuery!({ sort: [{ prio: 10n }] }, () => {})),
      watchQueryGetter: await failure(() => s.watchQuery!({ selector: getter() }, () => {})),
      createIndex: await failure(() => s.createIndex!(trapping())),
      createIndexFields: await failure(() => s.createIndex!({ fields: arrayWithGetter() })),
    }).toEqual({
      bigint: 'invalid_argument',
      nestedBigint: 'invalid_argument',
      cyclic: 'invalid_argument',
      watchQuery: 'invalid_argument',
      watchQueryGetter: 'invalid_argument (cause: boom)',
      createIndex: 'invalid_argument (cause: boom)',
      createIndexFields: 'invalid_argument (cause: boom)',
    });
  });

  it('a hole of a sparse array in a query is undefined: invalid_argument, as [1, undefined, 3] is', async () => {
    const s = store();
    const find = (query: unknown) => failure(() => s.find!(query));
    /** `[first, <hole>, ...rest]` */
    const sparse = (first: unknown, ...rest: unknown[]) => {
      const array: unknown[] = [first];
      array.length = 2;
      array.push(...rest);
      return array;
    };
    expect({
      undefined: await find({ selector: { tags: [1, undefined, 3] } }),
      hole: await find({ selector: { tags: holey() } }),
      inHole: await find({ selector: { tags: { $in: holey() } } }),
      nested: await find({ selector: { tags: { $in: [holey()] } } }),
      or: await find({ selector: { $or: sparse({ a: 1 }, { b: 1 }) } }),
      mod: await find({ selector: { n: { $mod: sparse(3) } } }),
      sort: await find({ sort: sparse('a', 'b') }),
      createIndex: await failure(() => s.createIndex!({ fields: sparse('a', 'b') })),
    }).toEqual({
      undefined: 'invalid_argument',
      hole: 'invalid_argument',
      inHole: 'invalid_argument',
      nested: 'invalid_argument',
      or: 'invalid_argument',
      mod: 'invalid_argument',
      sort: 'invalid_argument',
      createIndex: 'invalid_argument',
    });
  });
});

describe('REST options (nothing sent)', () => {
  it('createFeatApi and call options whose getter or Proxy trap throws → invalid_argument with the cause', async () => {
    const options = { apiUrl: 'http://127.0.0.1:9/', auth: 'x', fetch: recording };
    expect(await failure(() => createFeatApi(Object.defineProperty({ ...options }, 'timeout', { enumerable: true, get: boom })))).toBe(
      'invalid_argument (cause: boom)',
    );
    expect(await failure(() => createFeatApi(new Proxy({ ...options }, { get: boom })))).toBe('invalid_argument (cause: boom)');
    const api = createFeatApi(options);
    expect(await failure(() => api.activity.commentCount({ target_type: 400 }, trapping() as never))).toBe('invalid_argument (cause: boom)');
    expect(await failure(() => api.accounts.couchToken(trapping() as never))).not.toMatch(/^RAW/);
  });
});
