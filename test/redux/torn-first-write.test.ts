/**
 * A device that reads while another device's first persisted state is still arriving (a black-box attack of the
 * thirty-third session, after redux-persist's own createMigrate): a read found slices without `_persist` (3 of 5 rounds
 * from a local-first writer, on both backends); redux-persist took that state for version -1, ran every migration again
 * on data already at the current version, and wrote the result over the other device's slices. The engine now stores
 * `_persist` before the other slices whenever it writes it with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineReducers, legacy_createStore } from 'redux';
import { persistReducer, persistStore } from 'redux-persist';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage } from '@feat/sdk/redux';
import { bootstrapped, makeClient, modes, sleep, uniqueUser, type Emulator } from './helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu?.stop();
});

const reducers = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`s${i}`, (s: number = i) => s]));

describe.each(modes)('another device reading while a $name device stores its first state', ({ name, options }) => {
  it('never finds slices without `_persist` (5 rounds)', async () => {
    const torn: string[] = [];
    for (let round = 0; round < 5; round++) {
      const user = uniqueUser();
      const writer = makeClient(emu, user, { ...options, maintenance: { enabled: false } });
      const other = makeClient(emu, user, { mode: 'remote' });
      try {
        await writer.ready();
        await other.ready();
        const reader = createPersistStorage(other.store, { timeout: 0 });
        let stop = false;
        const poll = (async () => {
          while (!stop) {
            const raw = await reader.getItem('persist:root').catch(() => null);
            if (raw !== null && !('_persist' in (JSON.parse(raw) as object))) torn.push(raw);
            await sleep(2);
          }
        })();
        const storage = createPersistStorage(writer.store);
        const store = legacy_createStore(persistReducer({ key: 'root', storage, version: 3 }, combineReducers(reducers)));
        const persistor = persistStore(store);
        await bootstrapped(persistor);
        await persistor.flush();
        await storage.flush();
        if (name === 'local-first') await writer.sync.waitForPush({ timeout: 15_000 });
        await sleep(100);
        stop = true;
        await poll;
        const stored = JSON.parse((await reader.getItem('persist:root'))!) as Record<string, string>;
        expect(Object.keys(stored).sort()).toEqual(['_persist', ...Object.keys(reducers)].sort());
      } finally {
        await other.close();
        await writer.close();
      }
    }
    expect(torn.slice(0, 3)).toEqual([]);
  }, 90_000);
});

describe('`_persist` first, and a server that stalls', () => {
  const outer = (o: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)])));
  // (The review of the fix: a `_persist` that failed was awaited again by every later setItem, one after another.)
  it('remote, server stalls writes: five setItems settle within ~2 × requestTimeout, not 5 ×', async () => {
    let stall = false;
    const fetchFn: typeof fetch = async (input, init) => {
      if (stall && init?.method === 'POST' && typeof init.body === 'string' && init.body.includes('_persist')) {
        await new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
      }
      return fetch(input, init);
    };
    const c = makeClient(emu, uniqueUser(), { mode: 'remote', requestTimeout: 2_000, fetch: fetchFn });
    try {
      await c.ready();
      const storage = createPersistStorage(c.store, { timeout: 0 });
      await storage.getItem('persist:root');
      await storage.setItem('persist:root', outer({ a: 0, b: 0, _persist: { version: 1, rehydrated: true } }));
      stall = true;
      const t0 = performance.now();
      const writes = [storage.setItem('persist:root', outer({ a: 1, b: 0, _persist: { version: 2, rehydrated: true } }))];
      for (let i = 2; i <= 5; i++) writes.push(storage.setItem('persist:root', outer({ a: i, b: 0, _persist: { version: 2, rehydrated: true } })));
      await Promise.allSettled(writes);
      const took = performance.now() - t0;
      // (Measured: 10.1 s — each decision waited for its own `_persist` write to time out, one after another.)
      expect(took).toBeLessThan(5_000);
    } finally {
      await c.close();
    }
  }, 60_000);
});
