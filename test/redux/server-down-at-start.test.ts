/**
 * A remote-mode app started while CouchDB cannot be reached (the accounts service answers): redux-persist's rehydrating
 * read fails, it starts from the initial state, and its first write's decision — which needs to read what is stored,
 * never to clobber it — fails too. Found by a black-box Redux Toolkit app: nothing of that write was kept, so
 * - an edit made then was lost although `flush()` resolved, once the server was back (docs/redux.md: flush "never
 *   reports a state durable that is not");
 * - with `syncPersistedState`, the stored state (and other devices' later changes) never reached the app until the
 *   user's next edit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { syncPersistedState } from '@feat/sdk/redux';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage, makeClient, persistedApp, sleep, uniqueUser, waitFor, type AppState, type Emulator } from './helpers.js';

let emu: Emulator;
const clients: FeatClient[] = [];
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await emu?.stop();
});

const client = (user: string, extra: Parameters<typeof makeClient>[2] = {}) => {
  const c = makeClient(emu, user, { mode: 'remote', maintenance: { enabled: false }, ...extra });
  clients.push(c);
  return c;
};

/** A `fetch` that cannot reach CouchDB while `down`; the accounts service still answers. */
function switchable() {
  const state = { down: true };
  const fetchImpl: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (state.down && url.startsWith(emu.couchUrl)) return Promise.reject(new TypeError('fetch failed'));
    return fetch(input, init);
  };
  return { state, fetchImpl };
}

/** Another device stores `a` and `b`, and its value is on the server. */
async function storedElsewhere(user: string, texts: Partial<Record<keyof AppState, string>>): Promise<void> {
  const other = client(user);
  const app = await persistedApp(createPersistStorage(other.store));
  for (const [slice, text] of Object.entries(texts)) app.store.dispatch({ type: 'set', slice: slice as keyof AppState, text });
  await app.settle();
  app.persistor.pause();
  await other.close();
}

const outcome = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`);

describe('redux in remote mode, started while CouchDB is down', () => {
  it('an edit made then: flush() rejects while down; once the server is back flush() stores it — and keeps the stored slices', async () => {
    const user = uniqueUser();
    await storedElsewhere(user, { a: 'A stored' });
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const storage = createPersistStorage(c.store);
    const app = await persistedApp(storage, { writeFailHandler: () => undefined });
    // redux-persist started from the initial state (its read failed); its first write failed too.
    expect(app.store.getState().a.text).toBe('initial a');
    expect(await outcome(app.settle())).toBe('rejected network');
    // (An edit made before that first write is taken as the initial state without syncPersistedState: README.)
    app.store.dispatch({ type: 'set', slice: 'b', text: 'B edited offline' });
    expect(await outcome(app.settle())).toBe('rejected network');
    state.down = false;
    // The app's "save now" once the network is back: no new edit, only flush.
    expect(await outcome(app.settle())).toBe('resolved');
    await c.close();
    const reader = client(user);
    expect(await reader.store.getParts('persist:root')).toMatchObject({ a: { text: 'A stored' }, b: { text: 'B edited offline' } });
  });

  it('an edit made then, another once the server is back (no flush between): both are stored, the stored slices kept', async () => {
    const user = uniqueUser();
    await storedElsewhere(user, { a: 'A stored' });
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const app = await persistedApp(createPersistStorage(c.store), { writeFailHandler: () => undefined });
    await app.settle().catch(() => undefined);
    app.store.dispatch({ type: 'set', slice: 'b', text: 'B offline' });
    await app.persistor.flush();
    await sleep(100);
    state.down = false;
    app.store.dispatch({ type: 'set', slice: 'c', text: 'C online' });
    await app.settle();
    await c.close();
    const reader = client(user);
    expect(await reader.store.getParts('persist:root')).toMatchObject({ a: { text: 'A stored' }, b: { text: 'B offline' }, c: { text: 'C online' } });
  });

  it('flush() while the server is still down rejects every time (never "durable"); nothing is written over the stored state', async () => {
    const user = uniqueUser();
    await storedElsewhere(user, { a: 'A stored', b: 'B stored' });
    const { fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const storage = createPersistStorage(c.store);
    const app = await persistedApp(storage, { writeFailHandler: () => undefined });
    app.store.dispatch({ type: 'set', slice: 'c', text: 'C offline' });
    expect(await outcome(app.settle())).toBe('rejected network');
    expect(await outcome(storage.flush())).toBe('rejected network');
    await c.close();
    const reader = client(user);
    const parts = await reader.store.getParts('persist:root');
    expect(parts).toMatchObject({ a: { text: 'A stored' }, b: { text: 'B stored' } });
    expect(parts.c).not.toEqual({ text: 'C offline' });
  });

  it('syncPersistedState: the stored state arrives once the server is back, with no edit, then other devices\' changes', async () => {
    const user = uniqueUser();
    await storedElsewhere(user, { a: 'A stored', b: 'B stored' });
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const storage = createPersistStorage(c.store);
    const app = await persistedApp(storage, { writeFailHandler: () => undefined });
    const errors: string[] = [];
    const stop = syncPersistedState({ store: app.store, persistConfig: app.persistConfig, storage, onError: (e) => errors.push((e as { code?: string }).code ?? String(e)) });
    await sleep(300);
    expect(app.store.getState().a.text).toBe('initial a');
    state.down = false;
    await waitFor(() => app.store.getState().a.text === 'A stored' && app.store.getState().b.text === 'B stored', 30_000);
    // Another device's later change follows.
    await storedElsewhere(user, { c: 'C later' });
    await waitFor(() => app.store.getState().c.text === 'C later', 20_000);
    // Nothing of the initial state was written over the stored slices.
    const reader = client(user);
    expect(await reader.store.getParts('persist:root')).toMatchObject({ a: { text: 'A stored' }, b: { text: 'B stored' }, c: { text: 'C later' } });
    // (What went to onError meanwhile: the server could not be reached.)
    expect(errors.every((code) => code === 'network')).toBe(true);
    stop();
  }, 60_000);
});
