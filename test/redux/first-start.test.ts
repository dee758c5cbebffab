/**
 * Two devices starting at once with nothing stored: B rehydrates from nothing, then A stores its initial state and a
 * first real change, then B's first write (its reducers' initial state) lands. Under "latest write wins" that initial
 * state used to replace A's change (B's write was the later one). The engine now writes a slice it read as absent,
 * the first time, as a default that any other device's version wins over — on the server and between replicas.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { createMigrate, persistReducer, persistStore, type PersistConfig, type PersistedState, type Storage } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { bootstrapped } from './helpers.js';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const stops: (() => void)[] = [];
afterAll(() => stops.forEach((stop) => stop()));

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...extra } as FeatClientOptions));
const localFirst = (user: string) => client(user, { local: { adapter: 'memory' } } as Partial<FeatClientOptions>);
const remote = (user: string) => client(user, { mode: 'remote' } as Partial<FeatClientOptions>);

const draft: Reducer<string> = (state = '', action) => (action.type === 'draft' ? (action as unknown as { text: string }).text : state);
const counter: Reducer<number> = (state = 0, action) => (action.type === 'inc' ? state + 1 : state);
const rootReducer = combineReducers({ draft, counter });
type S = ReturnType<typeof rootReducer>;


/**
 * A device; with `slowAnswer`, the answer to its rehydrate reaches redux-persist only once that promise resolves (a
 * slow network): the read itself was made at once and found nothing.
 */
async function device(c: FeatClient, slowAnswer?: Promise<void>) {
  const storage = createPersistStorage(c.store, { timeout: 0 });
  const given: Storage = slowAnswer
    ? {
        getItem: async (key: string) => {
          const answer = await storage.getItem(key);
          await slowAnswer;
          return answer;
        },
        setItem: (key: string, value: string) => storage.setItem(key, value),
        removeItem: (key: string) => storage.removeItem(key),
      }
    : storage;
  const persistConfig: PersistConfig<S> = { key: 'root', storage: given, throttle: 0, timeout: 0 };
  const store = legacy_createStore(persistReducer(persistConfig, rootReducer));
  const persistor = persistStore(store);
  const settle = async () => {
    await bootstrapped(persistor);
    await persistor.flush();
    await storage.flush();
  };
  const started = bootstrapped(persistor).then(() => {
    stops.push(syncPersistedState({ store, persistConfig, storage }));
  });
  if (!slowAnswer) await started;
  return { store, persistor, storage, settle, client: c, started };
}

const stored = async (c: FeatClient) => {
  const text = await createPersistStorage(c.store).getItem('persist:root');
  return text === null ? undefined : (Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, string>).map(([k, v]) => [k, JSON.parse(v)])) as Partial<S>);
};

describe('two devices starting at once, nothing stored', () => {
  it.each([
    ['remote', remote],
    ['local-first', localFirst],
  ] as const)('(%s) the storage: a device’s first write of slices it read as absent never replaces another device’s change', async (_, make) => {
    const user = uniqueUser('redux-first-storage');
    const a = make(user);
    const b = make(user);
    await Promise.all([a.ready(), b.ready()]);
    const A = createPersistStorage(a.store, { timeout: 0 });
    const B = createPersistStorage(b.store, { timeout: 0 });
    const state = (draft: string, counter: number) =>
      JSON.stringify({ draft: JSON.stringify(draft), counter: JSON.stringify(counter), _persist: JSON.stringify({ version: -1, rehydrated: true }) });
    // B's rehydrate finds nothing; its answer is slow to reach redux-persist.
    expect(await B.getItem('persist:root')).toBeNull();
    // Meanwhile A starts: nothing stored, its initial state, then the user's first change.
    expect(await A.getItem('persist:root')).toBeNull();
    await A.setItem('persist:root', state('', 0));
    await A.setItem('persist:root', state('typed on A', 1));
    await A.flush();
    // Now B's redux-persist writes its initial state.
    await B.setItem('persist:root', state('', 0));
    await B.flush();
    for (const c of [a, b]) {
      await waitFor(async () => (await stored(c))?.draft === 'typed on A' && (await stored(c))?.counter === 1, 10_000, 'A’s change is what is stored');
    }
    // B's later change of a slice is a real change: it wins.
    await B.setItem('persist:root', state('then typed on B', 0));
    await B.flush();
    await waitFor(async () => (await stored(a))?.draft === 'then typed on B', 10_000, 'B’s later change reaches A');
  });

  it.each([
    ['remote', remote],
    ['local-first', localFirst],
  ] as const)('(%s) redux-persist: the device whose rehydrate answer was slow ends on the other device’s change', async (_, make) => {
    const user = uniqueUser('redux-first');
    let arrive!: () => void;
    const slow = new Promise<void>((resolve) => (arrive = resolve));
    const bClient = make(user);
    await bClient.ready();
    const B = await device(bClient, slow);
    // B's read found nothing; A starts, stores its initial state and a first real change.
    await waitFor(async () => (await bClient.store.getParts('persist:root')) !== undefined, 5_000, 'B has read');
    const A = await device(make(user));
    A.store.dispatch({ type: 'draft', text: 'typed on A' });
    A.store.dispatch({ type: 'inc' });
    await A.settle();
    // B's answer (nothing) arrives: redux-persist starts from the initial state and writes it.
    arrive();
    await B.started;
    await B.settle();
    await waitFor(async () => (await stored(bClient))?.draft === 'typed on A', 10_000, 'B’s storage holds A’s change');
    await waitFor(() => B.store.getState().draft === 'typed on A' && B.store.getState().counter === 1, 10_000, 'B’s state shows A’s change');
    await waitFor(() => A.store.getState().draft === 'typed on A' && A.store.getState().counter === 1, 10_000, 'A’s state keeps its change');
    B.store.dispatch({ type: 'draft', text: 'then typed on B' });
    await B.settle();
    await waitFor(() => A.store.getState().draft === 'then typed on B', 10_000, 'A sees B’s later change');
  });

  it('(remote) a device alone still stores its initial state, and a later device rehydrates from it', async () => {
    const user = uniqueUser('redux-first-alone');
    const A = await device(remote(user));
    await A.settle();
    expect(A.store.getState()).toMatchObject({ draft: '', counter: 0 });
    expect(await stored(A.client)).toMatchObject({ draft: '', counter: 0 });
    const B = await device(remote(user));
    B.store.dispatch({ type: 'inc' });
    await B.settle();
    await waitFor(() => A.store.getState().counter === 1, 10_000, 'A sees B’s change');
  });

  it.each([
    ['remote', remote],
    ['local-first', localFirst],
  ] as const)('(%s) after persistor.purge() and a reload, the initial state is stored again: an edit and the version survive the next reload', async (_, make) => {
    // Version 2 renamed draft.text to draft.body: run again over version-2 data, the migration loses the draft.
    type V2 = { draft: { body: string | undefined } };
    const reducer = combineReducers({
      draft: (state: { body: string | undefined } = { body: 'init' }, action: { type: string; body?: string }) => (action.type === 'edit' ? { body: action.body } : state),
    }) as unknown as Reducer<V2>;
    const migrate = createMigrate({ 2: (state: PersistedState) => ({ ...state, draft: { body: (state as unknown as { draft?: { text?: string } }).draft?.text } }) as PersistedState });
    const user = uniqueUser('redux-purge-reload');
    const start = async () => {
      const c = make(user);
      const storage = createPersistStorage(c.store);
      const store = legacy_createStore(persistReducer({ key: 'root', storage, version: 2, migrate, throttle: 0 }, reducer));
      const persistor = persistStore(store);
      await bootstrapped(persistor);
      const stop = async () => {
        await persistor.flush();
        await storage.flush();
        persistor.pause();
        if (make === localFirst) await c.sync.waitForPush({ timeout: 15_000 });
        await c.close();
      };
      return { store, persistor, stop };
    };
    const first = await start();
    first.store.dispatch({ type: 'edit', body: 'before logout' });
    await first.persistor.flush();
    await first.persistor.purge(); // logout
    await first.stop();
    const second = await start(); // reload
    expect(second.store.getState().draft).toEqual({ body: 'init' });
    second.store.dispatch({ type: 'edit', body: 'after logout' });
    await second.stop();
    const third = await start(); // reload
    expect(third.store.getState().draft).toEqual({ body: 'after logout' });
    await third.stop();
  });

  it('(local-first) a replica behind the server: its initial state never replaces a change another device stored before this device’s read', async () => {
    const user = uniqueUser('redux-first-lagging');
    const a = localFirst(user);
    await a.ready();
    a.sync.pause(); // offline for a while
    const b = remote(user);
    const sb = createPersistStorage(b.store, { timeout: 0 });
    const state = (settings: string) => JSON.stringify({ settings: JSON.stringify(settings), _persist: JSON.stringify({ version: -1, rehydrated: true }) });
    expect(await sb.getItem('persist:root')).toBeNull();
    await sb.setItem('persist:root', state('default'));
    await sb.setItem('persist:root', state('B chose dark mode'));
    await sb.flush();
    // A's app starts on its replica, which lacks B's change: a rehydrate from nothing, then its initial state.
    const sa = createPersistStorage(a.store, { timeout: 0 });
    expect(await sa.getItem('persist:root')).toBeNull();
    await sa.setItem('persist:root', state('default'));
    await sa.flush();
    a.sync.resume();
    await waitFor(async () => a.sync.status === 'idle' && (await a.sync.pending()) === 0, 30_000, 'A synced');
    for (const c of [a, b]) {
      await waitFor(async () => JSON.parse((await createPersistStorage(c.store).getItem('persist:root'))!).settings === '"B chose dark mode"', 10_000, 'B’s change kept');
    }
  });
});
