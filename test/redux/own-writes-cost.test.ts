/**
 * `syncPersistedState` looks at this device's own write events (a tab may have applied another writer's older change
 * meanwhile). With nothing else applied, one device typing costs no read-back of its slices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { makeClient, persistedApp, uniqueUser, waitFor, type Emulator } from './helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu?.stop();
});

describe('a single device typing with syncPersistedState', () => {
  for (const withSync of [false, true]) it(`remote: a single device typing — slice GETs (syncPersistedState: ${withSync})`, async () => {
    /** The slice GETs made while typing: [ms since counting began, url]. */
    const gets: [number, string][] = [];
    let counting = 0;
    // Requests other than the pull's long-polls: in flight, and when the last one started or ended.
    let busy = 0;
    let lastActive = Date.now();
    const f: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = (init?.method ?? 'GET').toUpperCase();
      if (counting && method === 'GET' && /persist%3Aroot(%3A|:)/.test(url) && !/_changes|_all_docs/.test(url)) gets.push([Date.now() - counting, url]);
      if (/_changes/.test(url)) return fetch(input, init);
      busy++;
      lastActive = Date.now();
      return fetch(input, init).finally(() => {
        busy--;
        lastActive = Date.now();
      });
    };
    const c = makeClient(emu, uniqueUser(), { mode: 'remote', fetch: f, maintenance: { enabled: false } } as never);
    const storage = createPersistStorage(c.store);
    const loading = Date.now();
    const app = await persistedApp(storage);
    const stop = !withSync ? () => undefined : syncPersistedState({ store: app.store, storage, persistConfig: app.persistConfig } as never);
    // Typing starts once the start-up is over (the watch's first read answered and applied: a current value of a slice
    // this device is writing is read back, by design): nothing but long-polls for 500 ms.
    await waitFor(() => busy === 0 && Date.now() - lastActive >= 500, 20_000);
    counting = Date.now();
    for (let i = 0; i < 200; i++) {
      app.store.dispatch({ type: 'set', slice: 'a', text: `typed ${i}` });
      await new Promise((r) => setTimeout(r, 8));
    }
    await app.settle();
    await new Promise((r) => setTimeout(r, 1000));
    const elapsed = Date.now() - loading;
    counting = 0;
    stop();
    await c.close();
    // No slice is read back. Without a watch reporting it, the stored `_persist` is read again before a write at most
    // once per PERSIST_RECHECK_MS (5 s): on a loaded machine the typing may last longer than that.
    const persistReads = gets.filter(([, url]) => /persist(%3A|:)root(%3A|:)_persist(\?|$)/.test(url));
    const others = gets.filter((g) => !persistReads.includes(g));
    const summary = JSON.stringify({ elapsed, gets });
    expect(others, summary).toEqual([]);
    expect(persistReads.length, summary).toBeLessThanOrEqual(withSync ? 0 : Math.floor(elapsed / 5000));
  }, 60_000);
});
