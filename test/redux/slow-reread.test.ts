/**
 * A rehydrating read that is not the key's first read: the app read its state early (`getStoredState(persistConfig)`
 * before `persistStore`), or builds its store again on the same storage. When that read is slower than redux-persist's
 * timeout, redux-persist starts from the initial state; the engine used to bound only the key's first read, so it
 * took the late answer and then wrote the initial state over the stored slices. Every read is bounded now: a read given
 * up makes the next setItem a device's initial state (never clobber; after a removeItem, see purge-slow-rebuild).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { getStoredState, type PersistConfig } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatStore } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { modes, persistedApp, slowReads, type AppState } from './helpers.js';

const emu = useEmulator();
const closing: FeatClient[] = [];
afterAll(async () => {
  await Promise.allSettled(closing.map((c) => c.close()));
});

const TIMEOUT = 300;

for (const mode of modes) {
  describe(`a later rehydrating read slower than the timeout: ${mode.name}`, () => {
    const client = (user: string): FeatClient =>
      emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...mode.options } as FeatClientOptions));
    const stored = async (store: FeatStore) => Object.fromEntries(Object.entries(await store.getParts('persist:root')).filter(([k]) => k !== '_persist'));

    /** A client with `a` and `b` stored; its store's `getParts` can be slowed. */
    async function seeded() {
      const c = client(uniqueUser());
      if (mode.name === 'local-first') await c.ready();
      const slow = slowReads(c.store);
      const seed = await persistedApp(createPersistStorage(c.store, { timeout: TIMEOUT }), { timeout: TIMEOUT });
      seed.store.dispatch({ type: 'set', slice: 'a', text: 'stored a' });
      seed.store.dispatch({ type: 'set', slice: 'b', text: 'stored b' });
      await seed.settle();
      seed.persistor.pause();
      return { c, slow, seed };
    }
    const expectKept = async (c: FeatClient) =>
      expect(await stored(c.store)).toEqual({ a: { text: 'stored a' }, b: { text: 'stored b' }, c: { text: 'initial c' } });

    it('getStoredState before persistStore, then a slow rehydrate: the stored slices are kept', async () => {
      const { c, slow } = await seeded();
      const storage = createPersistStorage(slow.store, { timeout: TIMEOUT });
      const early = (await getStoredState({ key: 'root', storage, timeout: TIMEOUT } as PersistConfig<AppState>)) as AppState;
      expect(early.a).toEqual({ text: 'stored a' });
      slow.ctl.delayMs = TIMEOUT + 400;
      const app = await persistedApp(storage, { timeout: TIMEOUT });
      slow.ctl.delayMs = 0;
      expect(app.store.getState().a).toEqual({ text: 'initial a' }); // redux-persist gave up: the initial state
      await sleep(TIMEOUT + 700);
      await app.settle();
      await expectKept(c);
      // The device's own edits are written as usual.
      app.store.dispatch({ type: 'set', slice: 'c', text: 'edited c' });
      await app.settle();
      expect((await stored(c.store)).c).toEqual({ text: 'edited c' });
      app.persistor.pause();
    });

    it('a second store built on the same storage, slow rehydrate: the stored slices are kept', async () => {
      const { c, slow } = await seeded();
      const storage = createPersistStorage(slow.store, { timeout: TIMEOUT });
      const first = await persistedApp(storage, { timeout: TIMEOUT });
      expect(first.store.getState().a).toEqual({ text: 'stored a' });
      first.persistor.pause();
      slow.ctl.delayMs = TIMEOUT + 400;
      const second = await persistedApp(storage, { timeout: TIMEOUT });
      slow.ctl.delayMs = 0;
      expect(second.store.getState().a).toEqual({ text: 'initial a' });
      await sleep(TIMEOUT + 700);
      await second.settle();
      await expectKept(c);
      second.persistor.pause();
    });
  });
}
