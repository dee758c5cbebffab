/**
 * `syncPersistedState` looks at this device's own write events (a tab may have applied another writer's older change
 * meanwhile). With nothing else applied, one device typing costs no read-back of its slices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { makeClient, persistedApp, uniqueUser, type Emulator } from './helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu?.stop();
});

describe('a single device typing with syncPersistedState', () => {
  for (const withSync of [false, true]) it(`remote: a single device typing — slice GETs (syncPersistedState: ${withSync})`, async () => {
    let sliceGets = 0;
    let counting = false;
    const f: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = (init?.method ?? 'GET').toUpperCase();
      if (counting && method === 'GET' && /persist%3Aroot(%3A|:)/.test(url) && !/_changes|_all_docs/.test(url)) sliceGets++;
      return fetch(input, init);
    };
    const c = makeClient(emu, uniqueUser(), { mode: 'remote', fetch: f, maintenance: { enabled: false } } as never);
    const storage = createPersistStorage(c.store);
    const app = await persistedApp(storage);
    const stop = !withSync ? () => undefined : syncPersistedState({ store: app.store, storage, persistConfig: app.persistConfig } as never);
    await new Promise((r) => setTimeout(r, 500));
    counting = true;
    for (let i = 0; i < 200; i++) {
      app.store.dispatch({ type: 'set', slice: 'a', text: `typed ${i}` });
      await new Promise((r) => setTimeout(r, 8));
    }
    await app.settle();
    await new Promise((r) => setTimeout(r, 1000));
    counting = false;
    stop();
    await c.close();
    expect(sliceGets).toBe(0);
  }, 60_000);
});
