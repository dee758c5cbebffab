/**
 * Remote mode, redux-persist through `createPersistStorage` + `syncPersistedState`: the app's own write whose answer
 * is lost must not come back to the app as another device's change (README Redux: "no write echo, no ping-pong").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore } from 'redux-persist';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { uniqueUser, useEmulator, waitFor } from '../../support/backend.js';
import { startFaultProxy, type FaultAction, type FaultProxy } from '../../support/fault-proxy.js';
import { isWrite, remoteVia } from './helpers.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

const draft: Reducer<string, { type: string; text?: string }> = (s = 'v0', a) => (a.type === 'set' ? a.text! : s);

describe.each(['none', 'swallow', 'reset-after'] as Array<FaultAction | 'none'>)('redux sync, a persisted write\'s answer lost (%s)', (action) => {
  it('the app ends on its last state, and so does the server', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const user = uniqueUser('rx');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    const storage = createPersistStorage(p.client.store);
    const persistConfig = { key: 'root', storage, throttle: 0 };
    const store = legacy_createStore(persistReducer(persistConfig, combineReducers({ draft })));
    const persistor = persistStore(store);
    await waitFor(() => persistor.getState().bootstrapped, 10_000, 'bootstrapped');
    const stop = syncPersistedState({ store, persistConfig, storage });
    t.onTestFinished(stop);
    store.dispatch({ type: 'set', text: 'v1' });
    await persistor.flush();
    await p.client.store.flush();
    await new Promise((r) => setTimeout(r, 500));
    if (action !== 'none') proxy.fault(isWrite, action, { times: 1 });
    const seen: string[] = [];
    const unsub = store.subscribe(() => seen.push(store.getState().draft));
    t.onTestFinished(unsub);
    store.dispatch({ type: 'set', text: 'v2' });
    await new Promise((r) => setTimeout(r, 150));
    store.dispatch({ type: 'set', text: 'v3' });
    await persistor.flush();
    await p.client.store.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 3_000));
    proxy.clear();
    proxy.release();
    await p.client.store.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1_000));
    const q = remoteVia(t, emu, undefined, user);
    const server = await createPersistStorage(q.client.store).getItem('persist:root');
    const onServer = server ? JSON.parse(JSON.parse(server).draft) : undefined;
    expect({ app: store.getState().draft, server: onServer, seen: [...new Set(seen)] }).toEqual({ app: 'v3', server: 'v3', seen: ['v2', 'v3'] });
  }, 30_000);
});
