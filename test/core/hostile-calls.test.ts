/**
 * Hostile arguments at the call sites (not the shared validators): options, watch targets, parts, signals, import
 * sources and REST inputs whose getters or Proxy traps throw, and holes of sparse arrays, are refused with the README's
 * codes (`invalid_argument`; `invalid_value` for store values) before anything is sent, the thrown error as `cause`;
 * never a raw Error. Options are read once: a Proxy does not throw later, from inside the SDK.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';

const sent: string[] = [];
/** Records every request; none may be made here. */
const recording: typeof fetch = (input) => {
  sent.push(input instanceof Request ? input.url : String(input));
  return Promise.reject(new TypeError('no network in this test'));
};
const base = {
  couchUrl: 'http://127.0.0.1:9/couch',
  accountsUrl: 'http://127.0.0.1:9/accounts',
  auth: 'Bearer abc',
  fetch: recording,
  mode: 'remote',
  session: { dbName: 'userdb-62', headers: {} },
  maintenance: { enabled: false },
};
const clients: FeatClient[] = [];
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  expect(sent).toEqual([]);
});
const make = () => {
  const client = createFeatClient(base as FeatClientOptions);
  clients.push(client);
  return client;
};

/** The error `call` throws or rejects with, as `code` (raw errors by name and message) and its cause's message. */
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
/** Every trap throws. */
const trapping = () => new Proxy({}, { get: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom, has: boom });
const withGetter = (name: string) => Object.defineProperty({}, name, { enumerable: true, get: boom });
/** An AbortSignal whose `instanceof` throws (its getPrototypeOf trap). */
const signal = () => new Proxy(new AbortController().signal, { getPrototypeOf: boom });
const revoked = () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
};
const BOOM = 'invalid_argument (cause: boom)';

type Loose = Record<string, (...a: unknown[]) => unknown>;

describe('store calls (nothing sent)', () => {
  it('options: a Proxy or a getter that throws → invalid_argument with the cause, also when read later', async () => {
    const s = make().store as unknown as Loose;
    const listener = () => {};
    expect({
      set: await failure(() => s.set!('k', 1, trapping())),
      setGetter: await failure(() => s.set!('k', 1, withGetter('ttl'))),
      setRevoked: await failure(() => s.set!('k', 1, revoked())),
      setParts: await failure(() => s.setParts!('k', { a: 1 }, trapping())),
      watch: await failure(() => s.watch!('k', listener, trapping())),
      watchGetter: await failure(() => s.watch!('k', listener, withGetter('current'))),
      find: await failure(() => s.find!({}, trapping())),
      findGetter: await failure(() => s.find!({}, withGetter('signal'))),
      findSignal: await failure(() => s.find!({}, { signal: signal() })),
      watchQuery: await failure(() => s.watchQuery!({}, listener, trapping())),
    }).toEqual({
      set: BOOM,
      setGetter: BOOM,
      setRevoked: expect.stringMatching(/^invalid_argument \(cause: .*revoked/) as unknown,
      setParts: BOOM,
      watch: BOOM,
      watchGetter: BOOM,
      find: BOOM,
      findGetter: BOOM,
      findSignal: BOOM,
      watchQuery: BOOM,
    });
  });

  it('watch targets and setParts parts whose traps or getters throw', async () => {
    const s = make().store as unknown as Loose;
    expect({
      watchTarget: await failure(() => s.watch!(trapping(), () => {})),
      watchKeyGetter: await failure(() => s.watch!(withGetter('key'), () => {})),
      parts: await failure(() => s.setParts!('k', trapping())),
      partGetter: await failure(() => s.setParts!('k', withGetter('a'))),
    }).toEqual({
      watchTarget: BOOM,
      watchKeyGetter: BOOM,
      parts: 'invalid_value (cause: boom)',
      partGetter: 'invalid_value (cause: boom)',
    });
  });
});

describe('client calls (nothing sent)', () => {
  it('ready, waitForPush, maintenance.run, exportData, importData: options, signals and data that throw', async () => {
    const client = make() as unknown as Loose & { sync: Loose; maintenance: Loose };
    expect({
      ready: await failure(() => client.ready!(trapping())),
      readySignal: await failure(() => client.ready!({ signal: signal() })),
      waitForPush: await failure(() => client.sync.waitForPush!(trapping())),
      waitForPushSignal: await failure(() => client.sync.waitForPush!({ signal: signal() })),
      run: await failure(() => client.maintenance.run!(trapping())),
      runSignal: await failure(() => client.maintenance.run!({ signal: signal() })),
      exportData: await failure(() => client.exportData!(withGetter('signal'))),
      exportSignal: await failure(() => client.exportData!({ signal: signal() })),
      importOptions: await failure(() => client.importData!('', trapping())),
      importSignal: await failure(() => client.importData!('', { signal: signal() })),
      importData: await failure(() => client.importData!(trapping())),
      importHas: await failure(() => client.importData!(new Proxy({}, { has: boom }))),
    }).toEqual({
      ready: BOOM,
      readySignal: BOOM,
      waitForPush: BOOM,
      waitForPushSignal: BOOM,
      run: BOOM,
      runSignal: BOOM,
      exportData: BOOM,
      exportSignal: BOOM,
      importOptions: BOOM,
      importSignal: BOOM,
      importData: BOOM,
      importHas: BOOM,
    });
  });

  it('maintenance.run with a signal that is no AbortSignal: invalid_argument, not a TypeError', async () => {
    const client = make() as unknown as { maintenance: Loose };
    expect(await failure(() => client.maintenance.run!({ signal: {} }))).toBe('invalid_argument');
  });

  it('logout options that throw: refused before the client closes', async () => {
    const client = make();
    expect(await failure(() => client.logout(trapping() as never))).toBe(BOOM);
    expect(await failure(() => client.logout(withGetter('destroyLocal') as never))).toBe(BOOM);
    // Not closed by the refused calls.
    expect(await failure(() => client.store.set('k', 1, trapping() as never))).toBe(BOOM);
  });
});

describe('REST inputs (nothing sent)', () => {
  const api = createFeatApi({ apiUrl: 'http://127.0.0.1:9/', auth: 'x', fetch: recording });

  it('a query or input whose getter or Proxy trap throws → invalid_argument with the cause', async () => {
    expect({
      subscription: await failure(() => api.subscription.fetch(trapping() as never)),
      commentCount: await failure(() => api.activity.commentCount(trapping() as never)),
      meta: await failure(() => api.activity.commentCount({ target_type: 400, meta: withGetter('node_id') })),
      sign: await failure(() => api.weixin.sign(withGetter('url') as never)),
      revoked: await failure(() => api.weixin.sign(revoked() as never)),
    }).toEqual({
      subscription: BOOM,
      commentCount: BOOM,
      meta: BOOM,
      sign: BOOM,
      revoked: expect.stringMatching(/^invalid_argument \(cause: .*revoked/) as unknown,
    });
  });

  it('a hole of a sparse array in meta is undefined: invalid_argument, as [1, undefined, 3] is', async () => {
    const count = (ids: unknown[]) => failure(() => api.activity.commentCount({ target_type: 400, meta: { ids } }));
    // eslint-disable-next-line no-sparse-arrays
    expect({ undefined: await count([1, undefined, 3]), hole: await count([1, , 3]), nested: await count([[1, , 3]]) }).toEqual({
      undefined: 'invalid_argument',
      hole: 'invalid_argument',
      nested: 'invalid_argument',
    });
  });
});
