/**
 * A new local-first device whose first pull is cut short (`initialSyncTimeout`) starts redux-persist from a replica
 * that lacks the user's state. The engine took that empty read for the truth and wrote the initial state of every
 * slice; once online, those newer writes won, and the user's stored state was gone on every device. A read from a
 * replica before its first complete pull is now treated like a rehydrate that timed out: never clobber.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type Persistor } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { startEmulator } from '@feat/emulator';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { uniqueUser, sleep } from '../support/backend.js';

type Emu = Awaited<ReturnType<typeof startEmulator>>;
let emu: Emu;
let proxy: FaultProxy;
const clients: FeatClient[] = [];
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await proxy?.close();
  await emu?.stop();
});

const client = (user: string, extra: Partial<FeatClientOptions> = {}) => {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra } as FeatClientOptions);
  clients.push(c);
  return c;
};

const draft: Reducer<{ text: string }> = (state = { text: 'initial' }, action) => (action.type === 'set' ? { text: (action as unknown as { text: string }).text } : state);
const settings: Reducer<{ theme: string }> = (state = { theme: 'light' }, action) => (action.type === 'theme' ? { theme: (action as unknown as { theme: string }).theme } : state);
const rootReducer = combineReducers({ draft, settings });

function bootstrapped(persistor: Persistor): Promise<void> {
  return new Promise((resolve) => {
    if (persistor.getState().bootstrapped) return resolve();
    const off = persistor.subscribe(() => {
      if (persistor.getState().bootstrapped) {
        off();
        resolve();
      }
    });
  });
}

async function app(c: FeatClient) {
  const storage = createPersistStorage(c.store);
  const persistConfig = { key: 'root', storage };
  const store = legacy_createStore(persistReducer(persistConfig, rootReducer));
  const persistor = persistStore(store);
  await bootstrapped(persistor);
  return { store, persistor, storage };
}

describe('new local-first device, first pull cut short', () => {
  it('does not write its initial state over the state the user already stored', async () => {
    const user = uniqueUser('zzr-clob');
    // Device A: the user's real state, on the server.
    const a = client(user, { mode: 'remote' });
    const A = await app(a);
    A.store.dispatch({ type: 'set', text: 'precious draft' });
    A.store.dispatch({ type: 'theme', theme: 'dark' });
    await A.persistor.flush();
    await A.storage.flush();

    // Device B: new local-first device, its first pull never completes in time (the changes feed is held).
    const off = proxy.fault({ path: /\/_changes$/ }, 'hold');
    const b = client(user, { couchUrl: proxy.url, mode: 'local-first', initialSyncTimeout: 500 });
    const syncEvents: unknown[] = [];
    b.sync.on('initialSync', (e) => syncEvents.push(e));
    await b.ready();
    const B = await app(b);
    const bootState = B.store.getState();
    await B.persistor.flush();
    await B.storage.flush();
    // The network comes back.
    off();
    proxy.release();
    await sleep(1500);
    await b.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
    await sleep(1500);

    const fresh = client(user, { mode: 'remote' });
    const stored = await createPersistStorage(fresh.store).getItem('persist:root');
    const parsed = stored === null ? null : Object.fromEntries(Object.entries(JSON.parse(stored) as Record<string, string>).map(([k, v]) => [k, JSON.parse(v)]));
    expect(syncEvents).toContainEqual(expect.objectContaining({ phase: 'done', complete: false }));
    expect(bootState).toEqual(expect.objectContaining({ draft: { text: 'initial' } }));
    expect(parsed?.draft).toEqual({ text: 'precious draft' });
    expect(parsed?.settings).toEqual({ theme: 'dark' });
  });
});
