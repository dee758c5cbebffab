/**
 * Cross-device sync: two devices of one user, each a redux store persisted with the engine and synced with
 * syncPersistedState, against the emulator in remote and local-first modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage, syncPersistedState, type FeatRehydrateAction } from '@feat/sdk/redux';
import { makeClient, modes, persistedApp, sleep, spyStore, uniqueUser, waitFor, type AppState, type Emulator } from './helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu?.stop();
});

describe.each(modes)('syncPersistedState: $name', ({ options }) => {
  const clients: FeatClient[] = [];
  const stops: (() => void)[] = [];
  afterAll(async () => {
    stops.forEach((stop) => stop());
    await Promise.all(clients.map((c) => c.close()));
  });

  async function device(user: string, extra: { readDelayMs?: number; timeout?: number } = {}) {
    const client = makeClient(emu, user, options);
    clients.push(client);
    await client.ready();
    const spy = spyStore(client.store, extra.readDelayMs === undefined ? {} : { readDelayMs: extra.readDelayMs });
    const storage = createPersistStorage(spy.store, extra.timeout === undefined ? {} : { timeout: extra.timeout });
    const app = await persistedApp(storage, extra.timeout === undefined ? {} : { timeout: extra.timeout });
    const rehydrates: FeatRehydrateAction[] = [];
    const store = {
      dispatch: (action: FeatRehydrateAction) => {
        rehydrates.push(action);
        return app.store.dispatch(action as never);
      },
    };
    const stop = syncPersistedState({ store, persistConfig: app.persistConfig, storage });
    stops.push(stop);
    /** Settled: redux-persist's and the engine's writes done, and pushed to the server. */
    const settle = async () => {
      await app.settle();
      await client.sync.waitForPush({ timeout: 10_000 });
    };
    const text = (slice: keyof AppState) => app.store.getState()[slice].text;
    const set = (slice: keyof AppState, value: string) => app.store.dispatch({ type: 'set', slice, text: value });
    return { client, spy, storage, app, rehydrates, stop, settle, text, set };
  }

  it("another device's change arrives as REHYDRATE, and is not written back", async () => {
    const user = uniqueUser();
    const a = await device(user);
    await a.settle();
    const b = await device(user);
    await b.settle();
    expect(b.spy.writes).toEqual([]);
    a.spy.writes.length = 0;

    a.set('b', 'typed on A');
    await a.settle();
    await waitFor(() => b.text('b') === 'typed on A');
    expect(b.rehydrates.at(-1)).toEqual({ type: 'persist/REHYDRATE', key: 'root', payload: { b: { text: 'typed on A' } }, err: undefined });
    await sleep(300);
    await b.settle();
    // No echo: B's redux-persist re-serialized slice b, and the engine wrote nothing.
    expect(b.spy.writes).toEqual([]);
    expect(a.spy.writes).toEqual(['persist:root:b']);
    expect(a.rehydrates).toEqual([]);
  });

  it('two devices editing different slices converge without ping-pong', async () => {
    const user = uniqueUser();
    const a = await device(user);
    await a.settle();
    const b = await device(user);
    await b.settle();
    a.spy.writes.length = 0;
    b.spy.writes.length = 0;
    const rounds = 4;
    for (let i = 0; i < rounds; i++) {
      a.set('a', `A ${i}`);
      b.set('c', `B ${i}`);
      await Promise.all([a.settle(), b.settle()]);
      await waitFor(() => a.text('c') === `B ${i}` && b.text('a') === `A ${i}`);
    }
    await sleep(400);
    await Promise.all([a.settle(), b.settle()]);
    // Each edit written once, by the device that made it; nothing bounced back.
    expect(a.spy.writes).toEqual(Array(rounds).fill('persist:root:a'));
    expect(b.spy.writes).toEqual(Array(rounds).fill('persist:root:c'));
    expect(a.app.store.getState()).toEqual(b.app.store.getState());
    const stored = JSON.parse((await createPersistStorage(makeClientFor(user)).getItem('persist:root'))!) as Record<string, string>;
    expect(JSON.parse(stored.a!)).toEqual({ text: `A ${rounds - 1}` });
    expect(JSON.parse(stored.c!)).toEqual({ text: `B ${rounds - 1}` });
  });

  it('both devices editing the same slice converge on one value', async () => {
    const user = uniqueUser();
    const a = await device(user);
    await a.settle();
    const b = await device(user);
    await b.settle();
    a.spy.writes.length = 0;
    a.set('b', 'from A');
    b.set('b', 'from B');
    await Promise.all([a.settle(), b.settle()]);
    await waitFor(() => a.text('b') === b.text('b'), 15_000);
    await sleep(300);
    await Promise.all([a.settle(), b.settle()]);
    await sleep(300);
    expect(a.text('b')).toBe(b.text('b'));
    const stored = JSON.parse((await createPersistStorage(makeClientFor(user)).getItem('persist:root'))!) as Record<string, string>;
    expect(JSON.parse(stored.b!)).toEqual({ text: a.text('b') });
    // Bounded: the conflict settles; no endless rewriting.
    const before = a.spy.writes.length + b.spy.writes.length;
    await sleep(300);
    expect(a.spy.writes.length + b.spy.writes.length).toBe(before);
    expect(before).toBeLessThanOrEqual(3);
  });

  it('a device whose rehydrate timed out gets the stored state once it arrives', async () => {
    const user = uniqueUser();
    const a = await device(user);
    a.set('a', 'stored a');
    await a.settle();
    const origError = console.error;
    console.error = () => undefined; // redux-persist's "rehydrate called after timeout"
    try {
      const late = await device(user, { readDelayMs: 150, timeout: 1 });
      expect(late.text('a')).toBe('initial a');
      await waitFor(() => late.text('a') === 'stored a');
      await sleep(100);
      await late.settle();
      expect(late.spy.writes).toEqual([]);
    } finally {
      console.error = origError;
    }
  });

  it('nested keys: a change of persist:app:auth is a change of that key only, never of persist:app (#15)', async () => {
    const user = uniqueUser();
    const writer = makeClient(emu, user, options);
    const reader = makeClient(emu, user, options);
    clients.push(writer, reader);
    await reader.ready();
    const storage = createPersistStorage(reader.store);
    const got = new Map<string, FeatRehydrateAction[]>();
    for (const key of ['app', 'app:auth']) {
      got.set(key, []);
      await storage.getItem(`persist:${key}`); // loaded (nothing stored): syncing may dispatch
      const store = { dispatch: (action: FeatRehydrateAction) => got.get(key)!.push(action) };
      stops.push(syncPersistedState({ store, persistConfig: { key, storage } }));
    }
    const P = JSON.stringify({ version: -1, rehydrated: true });
    await createPersistStorage(writer.store).setItem('persist:app:auth', JSON.stringify({ token: '"t"', _persist: P }));
    await writer.sync.waitForPush({ timeout: 10_000 });
    const received = () => Object.assign({}, ...got.get('app:auth')!.map((action) => action.payload)) as Record<string, unknown>;
    await waitFor(() => received().token !== undefined);
    // `_persist` is redux-persist's own: never dispatched (test/redux/persist-version.test.ts).
    expect(received()).toEqual({ token: 't' });
    await sleep(300);
    expect(got.get('app')).toEqual([]);
  });

  function makeClientFor(user: string) {
    const c = makeClient(emu, user, { mode: 'remote' });
    clients.push(c);
    return c.store;
  }
});

describe('syncPersistedState: arguments', () => {
  it('validates', async () => {
    const client = makeClient(emu, uniqueUser(), { mode: 'remote' });
    const storage = createPersistStorage(client.store);
    const store = { dispatch: () => undefined };
    const persistConfig = { key: 'root', storage };
    expect(() => syncPersistedState(undefined as never)).toThrow(expect.objectContaining({ name: 'FeatValidationError', code: 'invalid_argument' }));
    const bad = (o: object) => () => syncPersistedState({ store, persistConfig, ...o } as never);
    for (const o of [
      { store: {} },
      { persistConfig: { key: '' } },
      { persistConfig: { key: 'root', storage: {} } },
      { persistConfig: { key: 'root', storage: client.store } },
      { delay: -1 },
      { payload: 'some' },
      { persistConfig: { key: 'root', storage, deserialize: false } },
      { persistConfig: { key: 'root', storage, keyPrefix: 'mine:' } },
      // redux-persist's timeout must be the storage's (default 5000 both).
      { persistConfig: { key: 'root', storage, timeout: 1 } },
      { persistConfig: { key: 'root', storage, timeout: 0 } },
      { persistConfig: { key: 'root', storage: createPersistStorage(client.store, { timeout: 1 }) } },
    ]) {
      expect(bad(o)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    }
    const stop = syncPersistedState({ store, persistConfig });
    stop();
    stop();
    syncPersistedState({ store, persistConfig: { key: 'root', storage: createPersistStorage(client.store, { timeout: 0 }), timeout: null } })();
    await client.close();
  });
});
