/**
 * Defaults in export/import: a value written as a default (stamped 0: a redux slice's initial state, which any version
 * stored elsewhere wins over) is exported with `"updatedAt": 0` and imported as a default — never over a value the
 * account holds, but over a deletion. Other lines are written at import time, as before. Also: an import source that
 * fails is the app's input failing (`invalid_argument`), not a server's answer.
 */
import { describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type PersistConfig, type Persistor } from 'redux-persist';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const;

function client(user: string, options: object = { mode: 'remote' }): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maintenance: { enabled: false }, ...options } as FeatClientOptions),
  );
}

/** The store's hidden `set()` option the redux engine writes its defaults with (store.ts AS_OF). */
const AS_DEFAULT = { [Symbol.for('@feat/sdk.asOf')]: 0 } as object;
const setDefault = (c: FeatClient, key: string, value: unknown, extra: object = {}) => c.store.set(key, value, { ...AS_DEFAULT, ...extra });

const HEADER = (n: number) =>
  JSON.stringify({ format: 'feat-export', version: 1, userName: 'x', dbName: 'y', exportedAt: new Date().toISOString(), counts: { keys: n, parts: 0 } });

type Line = { key: string; value?: unknown; updatedAt?: number; expiresAt?: number };
const lineOf = (nd: string, key: string) =>
  nd
    .split('\n')
    .filter(Boolean)
    .slice(1)
    .map((l) => JSON.parse(l) as Line)
    .find((l) => l.key === key);

async function settled(c: FeatClient, mode: string): Promise<void> {
  await c.store.flush();
  if (mode === 'local-first') await c.sync.waitForPush();
}

describe('a redux app’s initial state, exported and imported', () => {
  const draft: Reducer<string> = (state = '', action) => (action.type === 'draft' ? (action as unknown as { text: string }).text : state);
  const rootReducer = combineReducers({ draft });

  async function app(c: FeatClient) {
    const storage = createPersistStorage(c.store, { timeout: 0 });
    const config: PersistConfig<ReturnType<typeof rootReducer>> = { key: 'root', storage, throttle: 0, timeout: 0 };
    const store = legacy_createStore(persistReducer(config, rootReducer));
    const persistor: Persistor = persistStore(store);
    await new Promise<void>((resolve) => {
      const check = () => persistor.getState().bootstrapped && (unsubscribe(), resolve());
      const unsubscribe = persistor.subscribe(check);
      check();
    });
    return {
      store,
      settle: async () => {
        await persistor.flush();
        await storage.flush();
      },
    };
  }

  it('imported into an account holding the user’s real state, does not replace it', async () => {
    const src = client(uniqueUser('rdef-src'));
    await (await app(src)).settle();
    const nd = await src.exportData();
    expect(lineOf(nd, 'persist:root:draft')).toEqual({ key: 'persist:root:draft', value: '', updatedAt: 0 });

    const user = uniqueUser('rdef-dst');
    const dst = client(user);
    const b = await app(dst);
    b.store.dispatch({ type: 'draft', text: 'real work' });
    await b.settle();
    // Imported by another device of the account, and by the very client that wrote the state.
    for (const importer of [client(user), dst]) {
      const result = await importer.importData(nd);
      expect(result.imported + result.skipped).toBe(2);
      expect(await importer.store.get('persist:root:draft')).toBe('real work');
    }
    expect(await client(user).store.get('persist:root:draft')).toBe('real work');
  });
});

describe.each(modes)('defaults in export and import: $name', ({ name, options }) => {
  it('a default is exported with "updatedAt": 0, an ordinary value with its time', async () => {
    const c = client(uniqueUser('def-x'), options);
    const before = Date.now();
    await setDefault(c, 'def', { n: 0 });
    await c.store.set('plain', { n: 1 });
    const nd = await c.exportData();
    expect(lineOf(nd, 'def')).toEqual({ key: 'def', value: { n: 0 }, updatedAt: 0 });
    expect(lineOf(nd, 'plain')!.updatedAt).toBeGreaterThanOrEqual(before);
  });

  it('a default line: not over a stored value (same client or another), over an absent or deleted key; stays a default', async () => {
    const user = uniqueUser('def-i');
    const dst = client(user, options);
    await dst.store.set('held', 'real');
    await dst.store.set('gone', 'x');
    await dst.store.remove('gone');
    await settled(dst, name);
    const nd = [
      HEADER(4),
      '{"key":"absent","value":"default","updatedAt":0}',
      '{"key":"gone","value":"default","updatedAt":0}',
      '{"key":"held","value":"default","updatedAt":0}',
      '{"key":"plain","value":"imported","updatedAt":5}',
      '',
    ].join('\n');
    // The client that wrote (and knows) the values imports.
    expect(await dst.importData(nd)).toEqual({ imported: 3, skipped: 1 });
    expect(await dst.store.get('held')).toBe('real');
    expect(await dst.store.get('absent')).toBe('default');
    expect(await dst.store.get('gone')).toBe('default');
    expect(await dst.store.get('plain')).toBe('imported');
    // Another device too.
    await settled(dst, name);
    const other = client(user, options);
    await other.importData(nd);
    await settled(other, name);
    // (A local-first device that had not pulled it yet writes the default into its replica: replication resolves it.)
    await waitFor(async () => (await other.store.get('held')) === 'real', 10_000, 'the stored value on the other device');
    expect(await client(user).store.get('held')).toBe('real');
    // Written as defaults: exported as such again, and any write wins over them.
    const again = await dst.exportData();
    expect(lineOf(again, 'absent')?.updatedAt).toBe(0);
    expect(lineOf(again, 'plain')?.updatedAt).toBeGreaterThan(5);
  });

  it('a value stored after the default was imported wins over it, on another client that never read the key', async () => {
    const user = uniqueUser('def-w');
    const a = client(user, options);
    await a.importData(`${HEADER(1)}\n{"key":"k","value":"default","updatedAt":0}\n`);
    await settled(a, name);
    const b = client(user, { mode: 'remote' });
    await b.store.set('k', 'real');
    expect(await b.store.get('k')).toBe('real');
  });

  it('an ordinary line is written at import time, over a stored value (as documented)', async () => {
    const dst = client(uniqueUser('def-o'), options);
    await dst.store.set('k', 'mine');
    expect(await dst.importData(`${HEADER(1)}\n{"key":"k","value":"imported","updatedAt":1}\n`)).toEqual({ imported: 1, skipped: 0 });
    expect(await dst.store.get('k')).toBe('imported');
  });

  it('a default with an expiry keeps it', async () => {
    const c = client(uniqueUser('def-e'), options);
    const expiresAt = Date.now() + 3_600_000;
    expect(await c.importData(`${HEADER(1)}\n${JSON.stringify({ key: 'k', value: 1, updatedAt: 0, expiresAt })}\n`)).toEqual({ imported: 1, skipped: 0 });
    const line = lineOf(await c.exportData(), 'k');
    expect(line).toEqual({ key: 'k', value: 1, updatedAt: 0, expiresAt });
  });

  it('an iterable that throws: invalid_argument naming the source, its error as the cause; its pages before are written, nothing after', async () => {
    const c = client(uniqueUser('def-s'), options);
    const failure = new Error('disk read failed');
    async function* source() {
      yield HEADER(250);
      for (let i = 0; i < 150; i++) yield JSON.stringify({ key: `k${String(i).padStart(3, '0')}`, value: i });
      throw failure;
    }
    const error = await c.importData(source()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFeatError(error), String(error)).toBe(true);
    expect((error as { code: string }).code).toBe('invalid_argument');
    expect((error as Error).message).toMatch(/^The import source failed: disk read failed; 100 key\(s\) from the lines before it were written/);
    expect((error as Error).cause).toBe(failure);
    expect((await c.store.keys()).length).toBe(100);

    // Failing before any write: nothing written, the error itself.
    function* early() {
      yield HEADER(1);
      throw failure;
    }
    const c2 = client(uniqueUser('def-s2'), options);
    const e2 = await c2.importData(early()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((e2 as { code: string }).code).toBe('invalid_argument');
    expect((e2 as Error).message).toBe('The import source failed: disk read failed');
    expect((e2 as Error).cause).toBe(failure);
    expect(await c2.store.keys()).toEqual([]);
  });
});
