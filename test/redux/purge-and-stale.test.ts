/**
 * `syncPersistedState` after `persistor.purge()`, where a black-box attack (several Chromium tabs, also in
 * test/e2e/redux-tabs.e2e.test.ts) found it wrong: redux-persist ignores every REHYDRATE after a purge, until reload;
 * the engine still took the dispatched slices as the state's, so the purged device's next unrelated action wrote its
 * stale slices over another device's saved change. Now nothing stale is written and the app is told to reload.
 * (The other bug of that attack, a tab's own write reported after another tab's older change, needs the tabs' shared
 * replica: test/e2e/redux-tabs.e2e.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type PersistConfig, type Persistor } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const stops: (() => void)[] = [];
afterAll(() => stops.forEach((stop) => stop()));

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...extra } as FeatClientOptions));
const localFirst = (user: string) => client(user, { local: { adapter: 'memory' } } as Partial<FeatClientOptions>);
const remote = (user: string) => client(user, { mode: 'remote' } as Partial<FeatClientOptions>);

function bootstrapped(persistor: Persistor): Promise<void> {
  return new Promise((resolve) => {
    if (persistor.getState().bootstrapped) return resolve();
    const off = persistor.subscribe(() => {
      if (!persistor.getState().bootstrapped) return;
      off();
      resolve();
    });
  });
}

const draft: Reducer<string> = (state = '', action) => (action.type === 'draft' ? (action as unknown as { text: string }).text : state);
const counter: Reducer<number> = (state = 0, action) => (action.type === 'inc' ? state + 1 : state);
const b: Reducer<string[]> = (state = [], action) => (action.type === 'push' ? [...state, (action as unknown as { id: string }).id] : state);
const rootReducer = combineReducers({ draft, counter, b });
type S = ReturnType<typeof rootReducer>;

async function device(c: FeatClient, onError?: (error: unknown) => void) {
  const storage = createPersistStorage(c.store);
  const persistConfig: PersistConfig<S> = { key: 'root', storage, throttle: 0 };
  const store = legacy_createStore(persistReducer(persistConfig, rootReducer));
  const persistor = persistStore(store);
  await bootstrapped(persistor);
  stops.push(syncPersistedState({ store, persistConfig, storage, ...(onError ? { onError } : {}) }));
  const settle = async () => {
    await persistor.flush();
    await storage.flush();
  };
  return { store, persistor, storage, settle, client: c };
}

/** What `c` has stored for `persist:root`, read through a fresh engine. */
const stored = async (c: FeatClient) => {
  const text = await createPersistStorage(c.store).getItem('persist:root');
  return text === null ? undefined : (Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, string>).map(([k, v]) => [k, JSON.parse(v)])) as Partial<S>);
};

describe('persistor.purge() on one device', () => {
  it.each([
    ['remote', remote],
    ['local-first', localFirst],
  ] as const)('(%s) another device’s later change is never overwritten by the purged device’s next action; the purge is reported', async (_, make) => {
    const user = uniqueUser('redux-purge');
    const reported: unknown[] = [];
    const A = await device(make(user), (e) => reported.push(e));
    const B = await device(make(user));
    // Both devices' first writes (their initial state) are done before any change.
    await Promise.all([A.settle(), B.settle()]);
    A.store.dispatch({ type: 'draft', text: 'kept' });
    await A.settle();
    await waitFor(() => B.store.getState().draft === 'kept', 10_000, 'B sees the draft');
    await A.persistor.purge();
    for (let i = 0; i < 3; i++) B.store.dispatch({ type: 'push', id: `B${i}` });
    await B.settle();
    // A's sync gets B's change (redux-persist ignores its REHYDRATE after purge()); then A does something unrelated.
    await waitFor(async () => JSON.stringify((await stored(A.client))?.b) === '["B0","B1","B2"]', 10_000, 'A has B’s change stored');
    await sleep(300);
    A.store.dispatch({ type: 'inc' });
    await A.settle();
    const want = ['B0', 'B1', 'B2'];
    await waitFor(async () => JSON.stringify((await stored(B.client))?.b) === JSON.stringify(want) && JSON.stringify((await stored(A.client))?.b) === JSON.stringify(want), 5_000, 'B’s change kept').catch(() => undefined);
    expect((await stored(A.client))?.b).toEqual(want);
    expect((await stored(B.client))?.b).toEqual(want);
    expect(B.store.getState().b).toEqual(want);
    // A's own change after the purge is stored, and B gets it.
    expect((await stored(A.client))?.counter).toBe(1);
    await waitFor(() => B.store.getState().counter === 1, 10_000, 'B gets A’s counter');
    await waitFor(() => reported.length > 0, 5_000, 'the purged device reports that it cannot follow');
    expect(reported).toHaveLength(1);
    expect(String((reported[0] as Error).message)).toMatch(/purge\(\).*reload/);
    // A new start (a reload) of A shows everything.
    const A2 = await device(make(user));
    expect(A2.store.getState()).toMatchObject({ b: want, counter: 1 });
  }, 60_000);
});
