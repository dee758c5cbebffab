/**
 * `persistor.purge()`, then a store built again on the same storage (a new persistReducer/persistStore, as
 * docs/redux.md advises after a purge) over a slow link. The engine left the first read after a removeItem unbounded,
 * so redux-persist gave up on it and started from its initial state, and the engine wrote that whole state with real
 * time stamps (after a removeItem every slice counted as changed): another device's edit made after the purge was
 * overwritten everywhere (found by an attack: test/zz-faults/redux-purge-slow.test.ts). Now that read is bounded like
 * any rehydrating read, and what the rebuilt store writes from its initial state are defaults (`updatedAt: 0`): any
 * other device's version wins over them, while alone after a purge the reloaded state is still stored.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatStore } from '@feat/sdk';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { persistedApp } from './helpers.js';

const emu = useEmulator();

const TIMEOUT = 300;

const client = (user: string): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions));
const stored = async (store: FeatStore) => Object.fromEntries(Object.entries(await store.getParts('persist:root')).filter(([k]) => k !== '_persist'));

/**
 * `store` whose `getParts` reads can be slowed (`ctl.delayMs`, before the read) and held back once they have their
 * answer (`ctl.afterRead`, run between the read and its answer: a change made then is not in the answer).
 */
function controlledReads(store: FeatStore) {
  const ctl: { delayMs: number; afterRead: (() => Promise<void>) | undefined } = { delayMs: 0, afterRead: undefined };
  const wrapped = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      if (property !== 'getParts') return method.bind(target);
      return async (...args: unknown[]) => {
        const delay = ctl.delayMs;
        if (delay > 0) await sleep(delay);
        const answer = await method.apply(target, args);
        const after = ctl.afterRead;
        if (after) await after();
        return answer;
      };
    },
  });
  return { store: wrapped, ctl };
}

/** Device A has a, b stored and purges them (a logout); its storage's reads can be slowed. */
async function purged(user: string, a = client(user)) {
  const reads = controlledReads(a.store);
  const storage = createPersistStorage(reads.store, { timeout: TIMEOUT });
  const first = await persistedApp(storage, { timeout: TIMEOUT });
  first.store.dispatch({ type: 'set', slice: 'a', text: 'A a' });
  first.store.dispatch({ type: 'set', slice: 'b', text: 'A b' });
  await first.settle();
  first.persistor.pause();
  await first.persistor.purge();
  await storage.flush();
  expect(await stored(a.store)).toEqual({});
  return { a, storage, ctl: reads.ctl };
}

/** Device B starts on the same account and edits b. */
async function editOnB(user: string): Promise<FeatClient> {
  const b = client(user);
  const app = await persistedApp(createPersistStorage(b.store, { timeout: TIMEOUT }), { timeout: TIMEOUT });
  // Its first write (its initial state, as defaults) done first: an edit made before it would be taken as initial too.
  await app.settle();
  app.store.dispatch({ type: 'set', slice: 'b', text: 'B edit after the purge' });
  await app.settle();
  app.persistor.pause();
  return b;
}

describe('purge, then a store rebuilt on the same storage over a slow link (remote)', () => {
  it("another device's edit made after the purge is not overwritten by the rebuilt store's initial state", async () => {
    const user = uniqueUser('redux-purge-slow');
    const { a, storage, ctl } = await purged(user);
    const b = await editOnB(user);
    expect((await stored(b.store)).b).toEqual({ text: 'B edit after the purge' });

    ctl.delayMs = TIMEOUT + 700;
    const t0 = Date.now();
    const second = await persistedApp(storage, { timeout: TIMEOUT });
    // The read after the purge is bounded: given up within the timeout, redux-persist starts from its initial state.
    expect(Date.now() - t0).toBeLessThan(TIMEOUT + 500);
    expect(second.store.getState().b).toEqual({ text: 'initial b' });
    ctl.delayMs = 0;
    await sleep(TIMEOUT + 900);
    await second.settle();
    expect(await stored(b.store)).toMatchObject({ b: { text: 'B edit after the purge' } });
    expect(await stored(a.store)).toMatchObject({ b: { text: 'B edit after the purge' } });
    // A's own later edits are written as usual.
    second.store.dispatch({ type: 'set', slice: 'c', text: 'A edit after the rebuild' });
    await second.settle();
    expect(await stored(b.store)).toEqual({ a: { text: 'initial a' }, b: { text: 'B edit after the purge' }, c: { text: 'A edit after the rebuild' } });
    second.persistor.pause();
  });

  it("a slice the rebuilt store starts without is written as a default: another device's edit stored meanwhile wins", async () => {
    const user = uniqueUser('redux-purge-slow-default');
    const { a, storage, ctl } = await purged(user);
    ctl.delayMs = TIMEOUT + 300;
    let b: FeatClient | undefined;
    let reads = 0;
    // The rebuilt store's read is given up; the engine reads again before its first write and finds nothing stored;
    // B's edit lands right after that read, before A's write.
    ctl.afterRead = async () => {
      if (++reads !== 2) return;
      b = await editOnB(user);
    };
    const second = await persistedApp(storage, { timeout: TIMEOUT });
    expect(second.store.getState().b).toEqual({ text: 'initial b' });
    await sleep(2 * (TIMEOUT + 300) + 200);
    await second.settle();
    ctl.delayMs = 0;
    ctl.afterRead = undefined;
    expect(b).toBeDefined();
    expect((await stored(b!.store)).b).toEqual({ text: 'B edit after the purge' });
    expect((await stored(a.store)).b).toEqual({ text: 'B edit after the purge' });
    second.persistor.pause();
  });

  it("with syncPersistedState, the rebuilt store shows the other device's edit and writes only its own", async () => {
    const user = uniqueUser('redux-purge-slow-sync');
    const { a, storage, ctl } = await purged(user);
    const b = await editOnB(user);
    ctl.delayMs = TIMEOUT + 400;
    const second = await persistedApp(storage, { timeout: TIMEOUT });
    const stop = syncPersistedState({ store: second.store, persistConfig: second.persistConfig, storage });
    try {
      expect(second.store.getState().b).toEqual({ text: 'initial b' });
      ctl.delayMs = 0;
      await waitFor(() => second.store.getState().b.text === 'B edit after the purge', 10_000, "A's state gets B's edit");
      second.store.dispatch({ type: 'set', slice: 'a', text: 'A edit after the rebuild' });
      await second.settle();
      await sleep(300);
      expect(await stored(b.store)).toEqual({ a: { text: 'A edit after the rebuild' }, b: { text: 'B edit after the purge' }, c: { text: 'initial c' } });
      expect(await stored(a.store)).toEqual(await stored(b.store));
    } finally {
      stop();
      second.persistor.pause();
    }
  });

  it("(local-first) a replica that has not pulled the other device's edit: the rebuilt store's initial state loses to it", async () => {
    const user = uniqueUser('redux-purge-slow-lf');
    const local = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } } as FeatClientOptions),
    );
    await local.ready();
    const { storage, ctl } = await purged(user, local);
    await local.sync.waitForPush({ timeout: 15_000 });
    local.sync.pause(); // offline: B's edit is not pulled
    const b = await editOnB(user);
    ctl.delayMs = TIMEOUT + 400;
    const second = await persistedApp(storage, { timeout: TIMEOUT });
    ctl.delayMs = 0;
    await sleep(TIMEOUT + 600);
    await second.settle();
    expect((await stored(local.store)).b).toEqual({ text: 'initial b' }); // its replica holds its initial state…
    local.sync.resume();
    await waitFor(async () => local.sync.status === 'idle' && (await local.sync.pending()) === 0, 30_000, 'A synced');
    // … which loses to B's edit (the store resolves the replicated conflict), on the server and in A's replica.
    const edited = JSON.stringify({ text: 'B edit after the purge' });
    await waitFor(async () => JSON.stringify((await stored(b.store)).b) === edited, 15_000, 'B’s edit kept on the server');
    await waitFor(async () => JSON.stringify((await stored(local.store)).b) === edited, 15_000, 'A pulls B’s edit');
    second.persistor.pause();
  }, 60_000);

  it('alone, the rebuilt store still stores its state (_persist included) and its edits', async () => {
    const user = uniqueUser('redux-purge-slow-alone');
    const { a, storage, ctl } = await purged(user);
    ctl.delayMs = TIMEOUT + 400;
    const second = await persistedApp(storage, { timeout: TIMEOUT });
    ctl.delayMs = 0;
    await sleep(TIMEOUT + 600);
    await second.settle();
    expect(await stored(a.store)).toEqual({ a: { text: 'initial a' }, b: { text: 'initial b' }, c: { text: 'initial c' } });
    expect((await a.store.getParts('persist:root'))._persist).toBeDefined();
    second.store.dispatch({ type: 'set', slice: 'a', text: 'A edit' });
    await second.settle();
    second.persistor.pause();
    // A reload shows it.
    const reload = await persistedApp(createPersistStorage(client(user).store, { timeout: TIMEOUT }), { timeout: TIMEOUT });
    expect(reload.store.getState()).toEqual(expect.objectContaining({ a: { text: 'A edit' }, b: { text: 'initial b' } }));
    reload.persistor.pause();
  });
});
