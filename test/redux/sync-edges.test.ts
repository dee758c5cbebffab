/**
 * The redux engine and `syncPersistedState` where a black-box attack found them wrong (remote mode, where a device's
 * own writes and other devices' changes race on the server):
 * - two devices editing one slice: a device could be left showing a value that is not the stored one, for good (a
 *   change that arrived while its own write was in flight was trusted, though that write landed over it);
 * - a change another device made between this device's rehydrating read and its watch's start was never applied;
 * - `storage.flush()` resolved although a write had failed (the slice was not sent again until the next change);
 * - a slice name the store cannot take as an id (NUL, over 3,000 bytes) was refused after the other slices were written;
 * - `Number.MIN_VALUE` in a slice could never be persisted (kept verbatim now, like other values the store refuses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type PersistConfig, type Persistor } from 'redux-persist';
import autoMergeLevel2 from 'redux-persist/lib/stateReconciler/autoMergeLevel2';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { expectCode, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
let proxy: FaultProxy;
const stops: (() => void)[] = [];
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(async () => {
  stops.forEach((stop) => stop());
  proxy.clear();
  proxy.release();
  await proxy.close();
});

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', ...extra } as FeatClientOptions));

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

const draft: Reducer<{ text: string }> = (state = { text: 'initial' }, action) =>
  action.type === 'set' ? { text: (action as unknown as { text: string }).text } : state;
const counter: Reducer<number> = (state = 0, action) => (action.type === 'inc' ? state + 1 : state);
const rootReducer = combineReducers({ draft, counter });
type S = ReturnType<typeof rootReducer>;

async function device(c: FeatClient, sync: 'before' | 'after' | 'none' = 'before') {
  const storage = createPersistStorage(c.store);
  const persistConfig: PersistConfig<S> = { key: 'root', storage, stateReconciler: autoMergeLevel2, writeFailHandler: () => undefined };
  const store = legacy_createStore(persistReducer(persistConfig, rootReducer));
  const persistor = persistStore(store);
  if (sync === 'before') stops.push(syncPersistedState({ store, persistConfig, storage }));
  await bootstrapped(persistor);
  if (sync === 'after') stops.push(syncPersistedState({ store, persistConfig, storage }));
  const settle = async () => {
    await persistor.flush();
    await storage.flush();
  };
  return { store, persistor, storage, settle };
}

const stored = async (user: string) => {
  const text = await createPersistStorage(client(user).store).getItem('persist:root');
  return text === null ? undefined : (Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, string>).map(([k, v]) => [k, JSON.parse(v)])) as Partial<S>);
};

describe('two remote devices edit the same slice at once', () => {
  it('every round ends with both redux states equal to the stored state (20 rounds)', async () => {
    const diverged: string[] = [];
    for (let round = 0; round < 20; round++) {
      const user = uniqueUser('redux-race');
      const A = await device(client(user));
      const B = await device(client(user));
      for (let i = 0; i < 30; i++) {
        A.store.dispatch({ type: 'set', text: `A${i}` });
        B.store.dispatch({ type: 'set', text: `B${i}` });
        await sleep(i % 3 === 0 ? 0 : 15);
      }
      await Promise.all([A.settle(), B.settle()]);
      const same = async () => {
        const s = (await stored(user))?.draft?.text;
        return A.store.getState().draft.text === s && B.store.getState().draft.text === s;
      };
      await waitFor(same, 5_000, 'both devices on the stored value').catch(() => undefined);
      if (!(await same())) diverged.push(`round ${round}: A ${A.store.getState().draft.text}, B ${B.store.getState().draft.text}, stored ${(await stored(user))?.draft?.text}`);
      stops.splice(0).forEach((stop) => stop());
    }
    expect(diverged).toEqual([]);
  }, 120_000);
});

describe.each(['before', 'after'] as const)('syncPersistedState called %s bootstrap', (sync) => {
  it('applies a change another device made while this device’s watch was starting', async () => {
    const user = uniqueUser('redux-gap');
    const A = await device(client(user));
    A.store.dispatch({ type: 'inc' });
    await A.settle();
    // B's database-info request (where a watch pins its starting point) is answered 400 ms late.
    const off = proxy.fault((r) => r.method === 'GET' && /^\/userdb-[0-9a-f]+\/?$/.test(r.path), 'delay', { delayMs: 400 });
    try {
      const c = client(user, { couchUrl: proxy.url });
      await c.ready();
      const B = await device(c, sync);
      expect(B.store.getState().counter).toBe(1);
      A.store.dispatch({ type: 'inc' });
      await A.settle();
      await waitFor(() => B.store.getState().counter === 2, 5_000, 'B applies the change');
    } finally {
      off();
    }
  });
});

describe('storage.flush()', () => {
  it('sends a slice whose write failed again; it resolves only once the state is stored', async () => {
    const user = uniqueUser('redux-flush');
    const A = await device(client(user, { couchUrl: proxy.url }), 'none');
    A.store.dispatch({ type: 'set', text: 'v1' });
    await A.settle();
    // The writes of the slice are cut (connection reset before they reach the server) until the write has failed.
    const off = proxy.fault((r) => r.method !== 'GET' && r.method !== 'HEAD', 'reset');
    A.store.dispatch({ type: 'set', text: 'v2' });
    await A.persistor.flush();
    off();
    await A.storage.flush();
    expect((await stored(user))?.draft).toEqual({ text: 'v2' });
  });

  it('rejects when the write fails again', async () => {
    const user = uniqueUser('redux-flush-fail');
    const A = await device(client(user, { couchUrl: proxy.url, requestTimeout: 2_000 }), 'none');
    const off = proxy.fault((r) => r.method !== 'GET' && r.method !== 'HEAD', 'reset');
    try {
      A.store.dispatch({ type: 'set', text: 'never stored' });
      await A.persistor.flush();
      await expectCode(A.storage.flush(), 'network');
    } finally {
      off();
    }
  });
});

describe('storage.flush() and plain keys (not persist:…)', () => {
  it('a plain key whose write failed is sent again by flush(); flush() rejects while it cannot be stored', async () => {
    const user = uniqueUser('redux-plain');
    const c = client(user, { couchUrl: proxy.url, requestTimeout: 2_000, mode: 'remote' });
    const storage = createPersistStorage(c.store);
    await storage.setItem('plain', 'v1');
    const off = proxy.fault((r) => r.method !== 'GET' && r.method !== 'HEAD', 'reset');
    await expectCode(storage.setItem('plain', 'v2'), 'network');
    // Still failing: flush() says so (it resolved, reporting a state durable that was not).
    await expectCode(storage.flush(), 'network');
    off();
    await storage.flush();
    const reader = client(user, { mode: 'remote' });
    expect(await reader.store.getItem('plain')).toBe('v2');
  });
});

describe('slices the store cannot take as they are', () => {
  it('a slice name with a NUL or over 3,000 bytes is refused before anything is written', async () => {
    const user = uniqueUser('redux-names');
    const storage = createPersistStorage(client(user).store);
    for (const name of ['a\u0000b', 'k'.repeat(3_100)]) {
      await expectCode(storage.setItem('persist:root', JSON.stringify({ ok: '1', [name]: '2', _persist: '{"version":-1,"rehydrated":true}' })), 'invalid_key');
    }
    expect(await storage.getItem('persist:root')).toBeNull();
  });

  it('an empty slice name, or one with a lone surrogate: invalid_key naming it, before anything is written', async () => {
    const user = uniqueUser('redux-empty-name');
    const storage = createPersistStorage(client(user).store);
    for (const [name, shown] of [['', 'an empty slice name ("")'], ['x\ud800', 'the slice name "x\\ud800"']] as const) {
      const error = await expectCode(storage.setItem('persist:root', JSON.stringify({ ok: '1', [name]: '2', _persist: '{"version":-1,"rehydrated":true}' })), 'invalid_key');
      expect(error.message).toContain(shown);
    }
    expect(await storage.getItem('persist:root')).toBeNull();
  });

  it.each(['{broken', 'v1|{"a":"1"}', '{"a":{"text":"mine"}}'])(
    'a whole state a plain string engine stored that is not redux-persist\'s default serialization (%j): answered as it is, never as "nothing stored"',
    async (value) => {
      const user = uniqueUser('redux-raw');
      const c = client(user);
      await c.store.setItem('persist:root', value);
      const storage = createPersistStorage(c.store);
      // (Before: null, so the app started from its initial state with no error.) The app's deserialize reads it, or
      // redux-persist reports the error with its REHYDRATE.
      expect(await storage.getItem('persist:root')).toBe(value);
      const { getStoredState } = await import('redux-persist');
      if (value.startsWith('v1|')) {
        // (redux-persist's deserialize reads the outer string and each slice string.)
        const deserialize = (raw: string) => JSON.parse(raw.replace(/^v1\|/, '')) as unknown;
        expect(await getStoredState({ key: 'root', storage, deserialize } as never)).toEqual({ a: 1 });
      } else {
        await expect(getStoredState({ key: 'root', storage })).rejects.toBeDefined();
      }
      // Still there for another read (never deleted by a read).
      expect(await c.store.getItem('persist:root')).toBe(value);
    },
  );

  it('Number.MIN_VALUE in a slice round-trips exactly (kept verbatim)', async () => {
    const user = uniqueUser('redux-min');
    const storage = createPersistStorage(client(user).store);
    const state = JSON.stringify({ tiny: JSON.stringify({ v: Number.MIN_VALUE, w: -Number.MIN_VALUE }), _persist: '{"version":-1,"rehydrated":true}' });
    await storage.setItem('persist:root', state);
    await storage.flush();
    expect(await createPersistStorage(client(user).store).getItem('persist:root')).toBe(state);
  });
});
