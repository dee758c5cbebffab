/**
 * After a rehydrate that timed out, with `throttle` redux-persist's first write comes slices × throttle ms after its
 * REHYDRATE and already holds the edits made meanwhile. The engine took all of it as the initial state (never
 * clobber): the edits were dropped, and syncPersistedState reverted them in the UI. With syncPersistedState given the
 * redux store (getState/subscribe), the engine knows the state right after that REHYDRATE: the slices of the first write
 * that differ from it are edits, written; the others keep the stored values, which are dispatched.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type PersistConfig } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { bootstrapped, modes, persistedApp, rootReducer, slowReads, type AppState } from './helpers.js';

const emu = useEmulator();
const stops: (() => void)[] = [];
afterAll(() => stops.forEach((stop) => stop()));

const TIMEOUT = 300;

for (const mode of modes) {
  describe(`an edit before the first write after a timed-out rehydrate (throttle): ${mode.name}`, () => {
    const client = (user: string): FeatClient =>
      emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...mode.options } as FeatClientOptions));

    for (const attach of ['before bootstrapped (as in the setup)', 'after bootstrapped']) {
      it(`is written and kept; the other slices keep the stored state (syncPersistedState attached ${attach})`, async () => {
        const c = client(uniqueUser());
        if (mode.name === 'local-first') await c.ready();
        const seed = await persistedApp(createPersistStorage(c.store, { timeout: TIMEOUT }), { timeout: TIMEOUT });
        for (const slice of ['a', 'b', 'c'] as const) seed.store.dispatch({ type: 'set', slice, text: `stored ${slice}` });
        await seed.settle();
        seed.persistor.pause();

        const slow = slowReads(c.store);
        slow.ctl.delayMs = TIMEOUT + 500;
        const storage = createPersistStorage(slow.store, { timeout: TIMEOUT });
        const persistConfig: PersistConfig<AppState> = { key: 'root', storage, timeout: TIMEOUT, throttle: 250 };
        const store = legacy_createStore(persistReducer(persistConfig, rootReducer as unknown as Reducer<AppState>));
        const persistor = persistStore(store);
        const sync = () => stops.push(syncPersistedState({ store, persistConfig, storage, onError: () => undefined }));
        if (attach.startsWith('before')) sync();
        await bootstrapped(persistor);
        if (!attach.startsWith('before')) sync();
        slow.ctl.delayMs = 0;
        expect(store.getState().c).toEqual({ text: 'initial c' }); // timed out: the initial state
        await sleep(100);
        // The user edits c after the app showed, before redux-persist's first write (4 keys × 250 ms).
        store.dispatch({ type: 'set', slice: 'c', text: 'user edit' });
        await sleep(2000);
        await persistor.flush();
        await storage.flush();
        const parts = await c.store.getParts('persist:root');
        expect(parts.c).toEqual({ text: 'user edit' });
        expect(parts.a).toEqual({ text: 'stored a' });
        expect(parts.b).toEqual({ text: 'stored b' });
        expect(store.getState()).toMatchObject({ a: { text: 'stored a' }, b: { text: 'stored b' }, c: { text: 'user edit' } });
        persistor.pause();
      });
    }

    it('a transform whose output is not deterministic (random IV): that slice keeps the stored value, edits are written', async () => {
      const c = client(uniqueUser());
      if (mode.name === 'local-first') await c.ready();
      // "Encrypts" slice b with a random salt: the same state never serializes twice the same.
      const salted = {
        in: (state: unknown, key: string) => (key === 'b' ? { salt: Math.random(), state } : state),
        out: (state: unknown, key: string) => (key === 'b' ? (state as { state: unknown }).state : state),
      };
      const seedConfig = { timeout: TIMEOUT, transforms: [salted] } as Partial<PersistConfig<AppState>>;
      const seed = await persistedApp(createPersistStorage(c.store, { timeout: TIMEOUT }), seedConfig);
      for (const slice of ['a', 'b', 'c'] as const) seed.store.dispatch({ type: 'set', slice, text: `stored ${slice}` });
      await seed.settle();
      seed.persistor.pause();
      const slow = slowReads(c.store);
      slow.ctl.delayMs = TIMEOUT + 500;
      const storage = createPersistStorage(slow.store, { timeout: TIMEOUT });
      const persistConfig = { key: 'root', storage, timeout: TIMEOUT, throttle: 250, transforms: [salted] } as PersistConfig<AppState>;
      const store = legacy_createStore(persistReducer(persistConfig, rootReducer as unknown as Reducer<AppState>));
      const persistor = persistStore(store);
      stops.push(syncPersistedState({ store, persistConfig, storage, onError: () => undefined }));
      await bootstrapped(persistor);
      slow.ctl.delayMs = 0;
      await sleep(100);
      store.dispatch({ type: 'set', slice: 'c', text: 'user edit' });
      await sleep(2000);
      await persistor.flush();
      await storage.flush();
      const parts = await c.store.getParts('persist:root');
      expect(parts.c).toEqual({ text: 'user edit' });
      expect((parts.b as { state: unknown }).state).toEqual({ text: 'stored b' });
      expect(parts.a).toEqual({ text: 'stored a' });
      persistor.pause();
    });
  });
}
