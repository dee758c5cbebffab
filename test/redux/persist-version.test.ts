/**
 * `_persist` and the state version (createMigrate) across devices, where a black-box attack found the stored slices in a
 * shape the stored `_persist.version` did not describe:
 * - syncPersistedState dispatched and adopted another device's `_persist` (redux-persist's reconcilers ignore it), so an
 *   old-version device then wrote its own `_persist` (version 1) back over version 2: the new device migrated again;
 * - an old-version device wrote its slices (old shape) under a stored newer version;
 * - after a purge on one device, another device's edit stored a slice without any `_persist`: a new device migrated it
 *   from version -1 again.
 * The rule (docs/redux.md, "Versions"): `_persist` is never dispatched nor adopted; slices are never written while the
 * stored version is newer than the device's (`conflict`, nothing written); `_persist` is written again along with a
 * write when another device removed it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { createMigrate, persistReducer, persistStore, type PersistConfig, type PersistedState } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage, syncPersistedState, type FeatRehydrateAction } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { bootstrapped, modes } from './helpers.js';

const emu = useEmulator();
const stops: (() => void)[] = [];
afterAll(() => stops.forEach((stop) => stop()));

type V1 = { draft: { text: string }; other: { n: number } };
type V2 = { draft: { body: string }; other: { n: number } };
const other: Reducer<{ n: number }> = (s = { n: 0 }, a) => (a.type === 'inc' ? { n: s.n + 1 } : s);
const v1Reducer = combineReducers({
  draft: (s: { text: string } = { text: 'init' }, a: { type: string; text?: string }) => (a.type === 'edit' ? { text: a.text! } : s),
  other,
}) as unknown as Reducer<V1>;
const v2Reducer = combineReducers({
  draft: (s: { body: string } = { body: 'init' }, a: { type: string; body?: string }) => (a.type === 'edit' ? { body: a.body! } : s),
  other,
}) as unknown as Reducer<V2>;
// Version 2 renamed draft.text to draft.body: run twice, it loses the text.
const migrate = createMigrate({
  2: (state: PersistedState) => {
    const s = state as unknown as { draft?: { text?: string } } & PersistedState;
    return { ...s, draft: { body: s.draft?.text } } as unknown as PersistedState;
  },
});

for (const mode of modes) {
  // Every case is its own user, devices and persistors (closed and stopped after the file): they run side by side.
  describe.concurrent(`state versions across devices: ${mode.name}`, () => {
    const client = (user: string): FeatClient =>
      emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...mode.options } as FeatClientOptions));

    /** A device running state `version`; with `sync`, syncPersistedState (recording what it dispatches). */
    async function device<S extends object>(c: FeatClient, reducer: Reducer<S>, version: number, sync: boolean) {
      const storage = createPersistStorage(c.store);
      const failures: unknown[] = [];
      const persistConfig = {
        key: 'root',
        storage,
        version,
        ...(version === 2 ? { migrate } : {}),
        writeFailHandler: (error: unknown) => failures.push(error),
      } as PersistConfig<S>;
      const store = legacy_createStore(persistReducer(persistConfig, reducer));
      const persistor = persistStore(store);
      await bootstrapped(persistor);
      const dispatched: FeatRehydrateAction[] = [];
      if (sync) {
        const spy = { dispatch: (action: FeatRehydrateAction) => (dispatched.push(action), store.dispatch(action as never)) };
        stops.push(syncPersistedState({ store: spy, persistConfig, storage, onError: () => undefined }));
      }
      const settle = async () => {
        await persistor.flush().catch(() => undefined);
        await storage.flush().catch(() => undefined);
        if (mode.name === 'local-first') await c.sync.waitForPush({ timeout: 10_000 });
      };
      return { store, persistor, storage, settle, failures, dispatched };
    }

    /** The stored `_persist` as `c` sees it. */
    const storedPersist = async (c: FeatClient) => (await c.store.get('persist:root:_persist')) as { version: number } | undefined;

    it('an old-version device with syncPersistedState neither adopts the newer _persist nor writes over the migrated state', async () => {
      const user = uniqueUser();
      const c2 = client(user);
      const d2 = await device(c2, v1Reducer, 1, true);
      d2.store.dispatch({ type: 'edit', text: 'hello' });
      await d2.settle();
      // Device 1 updates to version 2 and migrates.
      const d1 = await device(client(user), v2Reducer, 2, false);
      await d1.settle();
      expect(d1.store.getState().draft).toEqual({ body: 'hello' });
      await waitFor(async () => (await storedPersist(c2))?.version === 2);
      await waitFor(() => d2.dispatched.length > 0);
      await sleep(300);
      // The migrated draft reached device 2 (its reducers ignore its shape); `_persist` was never dispatched.
      for (const action of d2.dispatched) expect(Object.keys(action.payload)).not.toContain('_persist');
      expect((d2.store.getState() as unknown as { _persist: { version: number } })._persist.version).toBe(1);
      // Device 2 (still version 1) changes another slice: refused, nothing written.
      d2.store.dispatch({ type: 'inc' });
      await d2.settle();
      expect(d2.failures).toEqual([expect.objectContaining({ name: 'FeatError', code: 'conflict' })]);
      const reader = client(user);
      if (mode.name === 'local-first') await reader.ready();
      expect(await storedPersist(reader)).toEqual({ version: 2, rehydrated: true });
      expect(await reader.store.get('persist:root:other')).toEqual({ n: 0 });
      // Device 1 reloads: version 2, not migrated again.
      const d1b = await device(reader, v2Reducer, 2, false);
      expect(d1b.store.getState().draft).toEqual({ body: 'hello' });
    });

    it('an old-version device without syncPersistedState sees the newer stored version before writing (re-read after 5 s)', async () => {
      const user = uniqueUser();
      const c2 = client(user);
      const d2 = await device(c2, v1Reducer, 1, false);
      d2.store.dispatch({ type: 'edit', text: 'written on v1' });
      await d2.settle();
      const d1 = await device(client(user), v2Reducer, 2, false);
      await d1.settle();
      await waitFor(async () => (await storedPersist(c2))?.version === 2);
      await sleep(5200);
      d2.store.dispatch({ type: 'edit', text: 'later edit on v1' });
      await d2.settle();
      expect(d2.failures).toEqual([expect.objectContaining({ code: 'conflict' })]);
      const reader = client(user);
      if (mode.name === 'local-first') await reader.ready();
      const d1b = await device(reader, v2Reducer, 2, false);
      expect(d1b.store.getState().draft).toEqual({ body: 'written on v1' });
    }, 30_000);

    for (const sync of [true, false]) {
      it(`after a purge on another device, an edit writes _persist along with it (syncPersistedState: ${sync})`, async () => {
        const user = uniqueUser();
        const cA = client(user);
        const A = await device(cA, v2Reducer, 2, false);
        A.store.dispatch({ type: 'edit', body: 'first' });
        await A.settle();
        const cB = client(user);
        if (mode.name === 'local-first') await cB.ready();
        const B = await device(cB, v2Reducer, 2, sync);
        expect(B.store.getState().draft).toEqual({ body: 'first' });
        // A logs out: purge.
        A.persistor.pause();
        await A.persistor.purge();
        await A.settle();
        await waitFor(async () => (await storedPersist(cB)) === undefined);
        // Without a watch, the engine re-reads the stored `_persist` before writing once 5 s passed since it last did.
        await sleep(sync ? 300 : 5200);
        B.store.dispatch({ type: 'edit', body: 'typed on B after A purged' });
        await B.settle();
        expect(B.failures).toEqual([]);
        const reader = client(user);
        if (mode.name === 'local-first') await reader.ready();
        expect(await storedPersist(reader)).toEqual({ version: 2, rehydrated: true });
        const C = await device(reader, v2Reducer, 2, false);
        expect(C.store.getState().draft).toEqual({ body: 'typed on B after A purged' });
      }, 30_000);
    }
  });
}
