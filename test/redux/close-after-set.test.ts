/**
 * A `setItem`/`removeItem` called before `client.close()`, not awaited — redux-persist's `flush()` in a `pagehide`
 * handler, a purge at logout — is written: close() promises that writes made before it finish. The engine decides
 * its writes later (in call order), after close() began; they used to reject with `closed` and the last state was lost.
 */
import { describe, expect, it, vi } from 'vitest';
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { bootstrapped } from './helpers.js';
import { createPersistStorage } from '@feat/sdk/redux';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

const modes = [
  ['remote', { mode: 'remote' }],
  ['local-first', { local: { adapter: 'memory' } }],
] as const;

const P = JSON.stringify({ version: -1, rehydrated: true });
const state = (a: string) => JSON.stringify({ a: JSON.stringify(a), _persist: P });


describe.each(modes)('%s: engine calls made before close()', (_, options) => {
  const client = (user: string): FeatClient =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options } as FeatClientOptions));
  /** What the server holds for `persist:root`, read by a new client (remote: nothing local to miss). */
  const stored = async (user: string) => {
    const reader = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions));
    const text = await createPersistStorage(reader.store).getItem('persist:root');
    await reader.close();
    return text === null ? null : (JSON.parse(text) as Record<string, string>);
  };
  /** Local-first: what close() stored on the replica reaches the server with the next client. */
  const pushed = async (user: string) => {
    if ('mode' in options) return;
    const again = client(user);
    await again.ready();
    await again.sync.waitForPush({ timeout: 10_000 });
    await again.close();
  };

  it('setItem() not awaited, then close(): written; a call after close() rejects with closed', async () => {
    const user = uniqueUser('redux-close');
    const c = client(user);
    await c.ready();
    const storage = createPersistStorage(c.store);
    await storage.setItem('persist:root', state('one'));
    const write = storage.setItem('persist:root', state('two'));
    await c.close();
    await expect(write).resolves.toBeUndefined();
    await expectCode(storage.setItem('persist:root', state('three')), 'closed');
    await pushed(user);
    expect((await stored(user))?.a).toBe('"two"');
  });

  it('redux-persist: an action, flush() not awaited (a pagehide handler), then close(): the last state is stored', async () => {
    const user = uniqueUser('redux-close-flush');
    const c = client(user);
    const storage = createPersistStorage(c.store);
    const draft: Reducer<string> = (s = '', action) => (action.type === 'draft' ? (action as unknown as { text: string }).text : s);
    const store = legacy_createStore(persistReducer({ key: 'root', storage, throttle: 1000 }, combineReducers({ draft })));
    const persistor = persistStore(store);
    await bootstrapped(persistor);
    await persistor.flush();
    store.dispatch({ type: 'draft', text: 'typed just before closing the tab' });
    void persistor.flush();
    await c.close();
    await pushed(user);
    expect((await stored(user))?.draft).toBe('"typed just before closing the tab"');
  });

  it('redux-persist: an action, then close() at once without flush(): its later setItem is refused closed, saying to flush first', async () => {
    const user = uniqueUser('redux-close-noflush');
    const c = client(user);
    const storage = createPersistStorage(c.store);
    const draft: Reducer<string> = (s = '', action) => (action.type === 'draft' ? (action as unknown as { text: string }).text : s);
    const store = legacy_createStore(persistReducer({ key: 'root', storage, throttle: 0 }, combineReducers({ draft })));
    const persistor = persistStore(store);
    await bootstrapped(persistor);
    await persistor.flush();
    // redux-persist writes on a later timer tick: after close() has begun, which refuses it (redux-persist logs it).
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      store.dispatch({ type: 'draft', text: 'typed just before logout' });
      await c.close();
      await vi.waitFor(() => expect(logged).toHaveBeenCalled(), { timeout: 5_000 });
      const error = logged.mock.calls[0]![1] as { code?: string; message?: string };
      expect(error.code).toBe('closed');
      expect(error.message).toMatch(/not saved.*await persistor\.flush\(\) before close\(\) or logout\(\)/);
    } finally {
      logged.mockRestore();
    }
  });

  it('removeItem() (a purge) not awaited, then close(): the slices are deleted', async () => {
    const user = uniqueUser('redux-close-purge');
    const c = client(user);
    await c.ready();
    const storage = createPersistStorage(c.store);
    await storage.setItem('persist:root', state('secret'));
    await storage.flush();
    const purge = storage.removeItem('persist:root');
    await c.close();
    await expect(purge).resolves.toBeUndefined();
    await pushed(user);
    expect(await stored(user)).toBeNull();
  });

  it('calls after close(): setItem, removeItem and plain keys reject closed, saying what was not done and what to await', async () => {
    const c = client(uniqueUser('redux-after-close'));
    await c.ready();
    const storage = createPersistStorage(c.store);
    await c.close();
    const reason = async (call: Promise<unknown>) => {
      const error = (await call.then(() => undefined, (e: unknown) => e)) as { code?: string; message?: string };
      expect(error?.code).toBe('closed');
      return error.message;
    };
    expect(await reason(storage.setItem('persist:root', state('late')))).toMatch(/not saved; await persistor\.flush\(\) before close\(\) or logout\(\)/);
    expect(await reason(storage.removeItem('persist:root'))).toMatch(/removeItem\("persist:root"\).*not removed; await persistor\.purge\(\) before close\(\) or logout\(\)/);
    expect(await reason(storage.setItem('plain', 'x'))).toMatch(/setItem\("plain"\).*not saved/);
    expect(await reason(storage.removeItem('plain'))).toMatch(/removeItem\("plain"\).*not removed/);
  });
});
