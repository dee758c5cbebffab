/**
 * The app reads its own persisted key (an "export my data" button) on a slow link: the read is given up (`timeout`),
 * as a rehydrate would be. With `syncPersistedState`, the state recorded then (a running store's) tells the user's
 * next edit from an initial state: it is written and shown, not replaced by the stored value (an attack of this
 * session's "every read bounded" fix found it lost). Without syncPersistedState the engine cannot see the state:
 * docs/redux.md says what it does then.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { syncPersistedState } from '@feat/sdk/redux';
import type { FeatClient } from '@feat/sdk';
import { useEmulator } from '../support/backend.js';
import { createPersistStorage, makeClient, modes, persistedApp, sleep, slowReads, uniqueUser, type AppState } from './helpers.js';

const emu = useEmulator();
const clients: FeatClient[] = [];
afterAll(() => Promise.allSettled(clients.map((c) => c.close())));

describe.each(modes)('$name', ({ options }) => {
  it('an edit after the app’s own slow getItem is written and shown (syncPersistedState)', async () => {
    const c = makeClient(emu as never, uniqueUser(), options);
    clients.push(c);
    const { store: slow, ctl } = slowReads(c.store);
    const storage = createPersistStorage(slow, { timeout: 300 });
    const app = await persistedApp<AppState>(storage, { timeout: 300, throttle: 0 });
    const errors: unknown[] = [];
    const stop = syncPersistedState({ store: app.store, persistConfig: app.persistConfig, storage, onError: (e) => errors.push(e) });
    app.store.dispatch({ type: 'set', slice: 'a', text: 'v1' });
    await app.settle();
    ctl.delayMs = 600;
    const own = await storage.getItem('persist:root').then(
      () => 'answered',
      (e: { code?: string }) => e.code,
    );
    ctl.delayMs = 0;
    expect(own).toBe('timeout');
    app.store.dispatch({ type: 'set', slice: 'a', text: 'v2 typed after' });
    await app.settle();
    await sleep(800);
    await app.settle();
    const stored = JSON.parse((await createPersistStorage(c.store).getItem('persist:root'))!) as Record<string, string>;
    stop();
    expect(app.store.getState().a.text).toBe('v2 typed after');
    expect(JSON.parse(stored.a!)).toEqual({ text: 'v2 typed after' });
    expect(errors).toEqual([]);
  });
});
