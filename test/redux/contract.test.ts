/**
 * The engine's contract (docs/redux.md), with real redux + redux-persist against the emulator: both modes, with a fast
 * server and with a slow one (every request of the client delayed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { createMigrate, persistReducer, persistStore, purgeStoredState, type PersistedState } from 'redux-persist';
import type { FeatClient, FeatClientOptions } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage, syncPersistedState, type FeatPersistStorage } from '@feat/sdk/redux';
import {
  bootstrapped,
  makeClient,
  modes,
  persistedApp,
  persistWideState,
  rootReducer,
  spyStore,
  uniqueUser,
  waitFor,
  wideReducer,
  type AppState,
  type Emulator,
} from './helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu?.stop();
});

/** Every request of the client waits `ms` first (the emulator has no latency profile). */
const slowFetch =
  (ms: number): typeof fetch =>
  (input, init) =>
    new Promise<void>((resolve) => setTimeout(resolve, ms)).then(() => fetch(input, init));

const servers = [
  { server: 'fast', extra: {}, timeout: 1 },
  // A rehydrate timeout shorter than one request: the read always comes late in remote mode.
  { server: 'slow', extra: { fetch: slowFetch(60) }, timeout: 30 },
] as const;

const matrix = modes.flatMap((mode) => servers.map((server) => ({ ...server, mode: mode.name, options: { ...mode.options, ...server.extra } })));

const P = JSON.stringify({ version: -1, rehydrated: true });
const text = (value: unknown) => (value as { text: string }).text;

describe.each(matrix)('contract: $mode, $server server', ({ options, timeout }) => {
  const clients: FeatClient[] = [];
  const stops: (() => void)[] = [];
  afterAll(async () => {
    stops.forEach((stop) => stop());
    await Promise.all(clients.map((c) => c.close()));
  });
  const client = (user: string) => {
    const c = makeClient(emu, user, options as Partial<FeatClientOptions>);
    clients.push(c);
    return c;
  };
  /** What another device reads, once `c`'s writes are on the server. */
  const elsewhere = async (c: FeatClient, user: string, key = 'persist:root') => {
    await c.sync.waitForPush({ timeout: 15_000 });
    return createPersistStorage(client(user).store).getItem(key);
  };

  it('read-your-writes: not-awaited calls answer in call order', async () => {
    const user = uniqueUser();
    const c = client(user);
    const s = createPersistStorage(c.store);
    const v1 = JSON.stringify({ a: '1', _persist: P });
    const v2 = JSON.stringify({ b: '"b"', a: '2', _persist: P });
    void s.setItem('persist:root', v1);
    const r1 = s.getItem('persist:root');
    void s.setItem('persist:root', v2);
    const r2 = s.getItem('persist:root');
    void s.removeItem('persist:root');
    const r3 = s.getItem('persist:root');
    void s.setItem('persist:root', v1);
    const r4 = s.getItem('persist:root');
    void s.setItem('plain', 'x');
    const r5 = s.getItem('plain');
    void s.removeItem('plain');
    const r6 = s.getItem('plain');
    expect(await Promise.all([r1, r2, r3, r4, r5, r6])).toEqual([v1, v2, null, v1, 'x', null]);
    await s.flush();
    expect(await elsewhere(c, user)).toBe(v1);
  });

  it('exact strings: getItem answers what setItem was given, here and on another device', async () => {
    const user = uniqueUser();
    const c = client(user);
    const s = createPersistStorage(c.store);
    const slices = {
      canonical: '{"a":[1,2,{"b":null}]}',
      spaced: '{ "a": 1.0 }',
      notJson: 'base64:AAAA',
      proto: '{"__proto__":{"x":1}}',
      wrapperLookalike: '{"$featPersistRaw":"x"}',
      string: '"just a string"',
      unicode: JSON.stringify('héllo 👋 "quoted" \u2028'),
      'a:b%3A': '"colon and percent"',
      '10': '10',
      _persist: P,
    };
    const serialized = JSON.stringify(slices);
    await s.setItem('persist:exact', serialized);
    expect(await s.getItem('persist:exact')).toBe(serialized);
    await s.flush();
    // Another device gets the same slice strings (in the parts' order); documents are the slices' JSON values.
    expect(JSON.parse((await elsewhere(c, user, 'persist:exact'))!)).toEqual(slices);
    expect(await c.store.get('persist:exact:canonical')).toEqual({ a: [1, 2, { b: null }] });
    expect(await c.store.get('persist:exact:a%3Ab%253A')).toBe('colon and percent');
  });

  it('nested and ":" keys are isolated: nested persistReducers reload, and purging one keeps the other', async () => {
    const user = uniqueUser();
    type Auth = { token: string };
    const auth: Reducer<Auth, { type: string; token?: string }, Auth | undefined> = (state = { token: 'none' }, action) =>
      action.type === 'login' ? { token: action.token ?? '' } : state;
    const app = async (storage: FeatPersistStorage) => {
      const authConfig = { key: 'app:auth', storage };
      const reducer = combineReducers({ auth: persistReducer(authConfig, auth), a: rootReducer });
      const store = legacy_createStore(persistReducer({ key: 'app', storage }, reducer as unknown as Reducer<ReturnType<typeof reducer>>));
      const persistor = persistStore(store);
      await bootstrapped(persistor);
      return { store, persistor, authConfig };
    };
    const c = client(user);
    const storage = createPersistStorage(c.store);
    const first = await app(storage);
    first.store.dispatch({ type: 'login', token: 't1' });
    first.store.dispatch({ type: 'set', slice: 'b', text: 'root b' });
    await first.persistor.flush();
    await storage.flush();
    await c.sync.waitForPush({ timeout: 15_000 });
    // A reload on another device: both keys come back; neither read the other's slices.
    const other = client(user);
    const reloaded = await app(createPersistStorage(other.store));
    expect(reloaded.store.getState().auth.token).toBe('t1');
    expect(reloaded.store.getState().a.b).toEqual({ text: 'root b' });
    expect(Object.keys(JSON.parse((await createPersistStorage(other.store).getItem('persist:app'))!) as object).sort()).toEqual([
      '_persist',
      'a',
      'auth',
    ]);
    // Purging the nested key leaves the root's slices (its copy of auth included), and the other way round.
    await purgeStoredState(first.authConfig);
    expect(await storage.getItem('persist:app:auth')).toBeNull();
    expect(JSON.parse(JSON.parse((await storage.getItem('persist:app'))!).auth as string)).toMatchObject({ token: 't1' });
    await storage.setItem('persist:app:auth', JSON.stringify({ token: '"t2"', _persist: P }));
    await storage.removeItem('persist:app');
    await storage.flush();
    expect(await elsewhere(c, user, 'persist:app:auth')).toBe(JSON.stringify({ token: '"t2"', _persist: P }));
    expect(await createPersistStorage(client(user).store).getItem('persist:app')).toBeNull();
  });

  it('pause + purge (not awaited), then a new persistStore starts empty', async () => {
    const user = uniqueUser();
    const c = client(user);
    const storage = createPersistStorage(c.store);
    const before = await persistedApp(storage);
    before.store.dispatch({ type: 'set', slice: 'a', text: 'to be purged' });
    await before.settle();
    before.persistor.pause();
    void before.persistor.purge();
    const after = await persistedApp(storage);
    expect(after.store.getState().a).toEqual({ text: 'initial a' });
    await after.settle();
    expect(JSON.parse((await elsewhere(c, user))!)).toMatchObject({ a: JSON.stringify({ text: 'initial a' }) });
  });

  it('timeout: a device whose rehydrate timed out never overwrites the stored state, and catches up', async () => {
    const user = uniqueUser();
    await persistWideState(client(user), 20);
    const late = client(user);
    await late.ready();
    const spy = spyStore(late.store);
    const storage = createPersistStorage(spy.store, { timeout });
    const c = await persistedApp(storage, { timeout }, wideReducer(20));
    stops.push(syncPersistedState({ store: c.store, persistConfig: c.persistConfig, storage }));
    // The stored state arrives (late: as a REHYDRATE from syncPersistedState, or in time: redux-persist's own).
    await waitFor(() => c.store.getState().s7 === 'A 7', 15_000);
    await c.settle();
    expect(spy.writes).toEqual([]);
    const stored = JSON.parse((await elsewhere(late, user))!) as Record<string, string>;
    for (let i = 0; i < 20; i++) expect(stored[`s${i}`]).toBe(JSON.stringify(`A ${i}`));
  });

  it('two clients: each writes only what it changed; both end with both changes', async () => {
    const user = uniqueUser();
    const device = async () => {
      const c = client(user);
      await c.ready();
      const spy = spyStore(c.store);
      const storage = createPersistStorage(spy.store);
      const app = await persistedApp(storage);
      stops.push(syncPersistedState({ store: app.store, persistConfig: app.persistConfig, storage }));
      await app.settle();
      await c.sync.waitForPush({ timeout: 15_000 });
      return { c, spy, app };
    };
    const one = await device();
    const two = await device();
    one.spy.writes.length = 0;
    two.spy.writes.length = 0;
    one.app.store.dispatch({ type: 'set', slice: 'a', text: 'from one' });
    two.app.store.dispatch({ type: 'set', slice: 'c', text: 'from two' });
    await Promise.all([one.app.settle(), two.app.settle()]);
    const both = (state: AppState) => text(state.a) === 'from one' && text(state.c) === 'from two';
    await waitFor(() => both(one.app.store.getState()) && both(two.app.store.getState()), 15_000);
    await Promise.all([one.app.settle(), two.app.settle()]);
    expect(one.spy.writes).toEqual(['persist:root:a']);
    expect(two.spy.writes).toEqual(['persist:root:c']);
    await two.c.sync.waitForPush({ timeout: 15_000 });
    const stored = JSON.parse((await elsewhere(one.c, user))!) as Record<string, string>;
    expect([stored.a, stored.c]).toEqual([JSON.stringify({ text: 'from one' }), JSON.stringify({ text: 'from two' })]);
  });

  it('createMigrate: the next version migrates the stored state and writes only what the migration changed', async () => {
    const user = uniqueUser();
    const c = client(user);
    const v1 = await persistedApp(createPersistStorage(c.store), { version: 1 });
    v1.store.dispatch({ type: 'set', slice: 'a', text: 'v1 a' });
    await v1.settle();
    await c.sync.waitForPush({ timeout: 15_000 });
    const migrations = {
      2: (state: PersistedState) => ({ ...(state as unknown as AppState), b: { text: `migrated from ${text((state as unknown as AppState).a)}` } }) as unknown as PersistedState,
    };
    const spy = spyStore(client(user).store);
    const v2 = await persistedApp(createPersistStorage(spy.store), { version: 2, migrate: createMigrate(migrations, { debug: false }) });
    expect(v2.store.getState().b).toEqual({ text: 'migrated from v1 a' });
    await v2.settle();
    expect(spy.writes.sort()).toEqual(['persist:root:_persist', 'persist:root:b']);
    const stored = JSON.parse((await createPersistStorage(spy.store).getItem('persist:root'))!) as Record<string, string>;
    expect(JSON.parse(stored._persist!)).toEqual({ version: 2, rehydrated: true });
  });

  it('pause/persist: nothing is written while paused; persist() resumes with the changes made meanwhile', async () => {
    const spy = spyStore(client(uniqueUser()).store);
    const app = await persistedApp(createPersistStorage(spy.store));
    await app.settle();
    spy.writes.length = 0;
    app.persistor.pause();
    app.store.dispatch({ type: 'set', slice: 'a', text: 'while paused' });
    await app.settle();
    expect(spy.writes).toEqual([]);
    app.persistor.persist();
    app.store.dispatch({ type: 'set', slice: 'b', text: 'after persist()' });
    await app.settle();
    expect(spy.writes.sort()).toEqual(['persist:root:a', 'persist:root:b']);
    const stored = JSON.parse((await createPersistStorage(spy.store).getItem('persist:root'))!) as Record<string, string>;
    expect([stored.a, stored.b]).toEqual([JSON.stringify({ text: 'while paused' }), JSON.stringify({ text: 'after persist()' })]);
  });
});
