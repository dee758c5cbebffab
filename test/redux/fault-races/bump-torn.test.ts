import { describe, expect, it } from 'vitest';
import { legacy_createStore } from 'redux';
import { createMigrate, persistReducer, persistStore, type Persistor } from 'redux-persist';
import { createPersistStorage } from '@feat/sdk/redux';
import type { FeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../../support/backend.js';
import { bootstrapped, rootReducer, type AppState } from '../helpers.js';
import { faultyFetch, mk, settle } from './common.js';

const emu = useEmulator();
type V1 = Record<"a" | "b" | "c", { text: string }>;
const migrate = createMigrate({ 2: (s: V1) => ({ ...s, a: { text: `v2:${s.a.text}` }, b: { text: `v2:${s.b.text}` }, c: { text: `v2:${s.c.text}` } }) } as never, { debug: false });

function app(c: FeatClient, version: number) {
  const storage = createPersistStorage(c.store);
  const persistConfig = { key: 'root', storage, version, migrate };
  const store = legacy_createStore(persistReducer(persistConfig as never, rootReducer as never));
  const persistor: Persistor = persistStore(store);
  const state = () => store.getState() as unknown as AppState;
  const settleAll = async () => {
    await persistor.flush();
    await storage.flush();
  };
  return { storage, store, persistor, state, settleAll };
}

/** A new user whose state a v1 app stored (`a: old`) before it closed. */
async function storedByV1(name: string): Promise<string> {
  const user = uniqueUser(name);
  const c1 = mk(emu, user);
  const v1 = app(c1, 1);
  await bootstrapped(v1.persistor);
  v1.store.dispatch({ type: 'set', slice: 'a', text: 'old' });
  await v1.settleAll();
  await c1.close();
  return user;
}

describe('version bump: `_persist` v2 stored, the migrated slices fail, the app closes', () => {
  it('a fresh v2 device still finds migrated data (or v1 `_persist`), never v1 slices under v2', async () => {
    const user = await storedByV1('z33-bt');
    // the app reloads as v2; the network drops right after `_persist` went through
    const f = faultyFetch();
    const c2 = mk(emu, user, { fetch: f.fetchFn, requestTimeout: 2000 });
    f.ctl.fault = 'fail-others';
    const v2 = app(c2, 2);
    await bootstrapped(v2.persistor);
    await settle(v2.settleAll());
    await c2.close();
    // the next start of v2 (or another device on v2)
    const c3 = mk(emu, user);
    const v2b = app(c3, 2);
    await bootstrapped(v2b.persistor);
    expect(v2b.state().a.text).toBe('v2:old');
  }, 30_000);

  it('a device loading between `_persist` v2 and the migrated slices (slow link) reads a consistent state', async () => {
    const user = await storedByV1('z33-bt2');
    const f = faultyFetch();
    const c2 = mk(emu, user, { fetch: async (input, init) => {
      const body = typeof init?.body === 'string' ? init.body : '';
      if (init?.method === 'POST' && /"_id":"persist:root:[abc]"/.test(body)) await sleep(800);
      return fetch(input, init);
    } });
    void f;
    const v2 = app(c2, 2);
    await bootstrapped(v2.persistor);
    await sleep(300); // `_persist` v2 is stored, the slices are on their way
    const c3 = mk(emu, user);
    const other = app(c3, 2);
    await bootstrapped(other.persistor);
    await v2.settleAll();
    expect(other.state().a.text).toBe('v2:old');
  }, 30_000);
});
