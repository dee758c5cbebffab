/**
 * The engine with real redux + redux-persist against the emulator, in remote and local-first modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFeatError, type FeatClient } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage } from '@feat/sdk/redux';
import { makeClient, modes, persistedApp, persistWideState, sleep, spyStore, uniqueUser, waitFor, wideReducer, type Emulator } from './helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu?.stop();
});

describe.each(modes)('persist storage: $name', ({ options }) => {
  const clients: FeatClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  const client = (user: string) => {
    const c = makeClient(emu, user, options);
    clients.push(c);
    return c;
  };

  it('getItem returns exactly what redux-persist wrote; each slice is its own readable part', async () => {
    const user = uniqueUser();
    const c = client(user);
    const storage = createPersistStorage(c.store);
    const written: string[] = [];
    const recording = { ...storage, setItem: (k: string, v: string) => (written.push(v), storage.setItem(k, v)) };
    const app = await persistedApp(recording);
    app.store.dispatch({ type: 'set', slice: 'b', text: 'héllo 👋 "quoted"' });
    await app.settle();
    const last = written.at(-1)!;
    expect(await storage.getItem('persist:root')).toBe(last);
    expect(JSON.parse(last)).toEqual({
      a: JSON.stringify({ text: 'initial a' }),
      b: JSON.stringify({ text: 'héllo 👋 "quoted"' }),
      c: JSON.stringify({ text: 'initial c' }),
      _persist: JSON.stringify({ version: -1, rehydrated: true }),
    });
    // Readable documents: the slice values, parsed.
    expect(await c.store.getParts('persist:root')).toEqual({
      a: { text: 'initial a' },
      b: { text: 'héllo 👋 "quoted"' },
      c: { text: 'initial c' },
      _persist: { version: -1, rehydrated: true },
    });
    // A fresh engine (another device, or a reload) answers the same string, once this device's writes are on the server.
    await c.sync.waitForPush({ timeout: 10_000 });
    const other = createPersistStorage(client(user).store);
    expect(await other.getItem('persist:root')).toBe(last);
    // …and redux-persist rehydrates from it.
    const reloaded = await persistedApp(other);
    expect(reloaded.store.getState().b).toEqual({ text: 'héllo 👋 "quoted"' });
    expect(await other.getItem('persist:missing')).toBeNull();
  });

  it('a change to one slice writes one part; nothing changed writes nothing', async () => {
    const c = client(uniqueUser());
    const spy = spyStore(c.store);
    const storage = createPersistStorage(spy.store);
    const app = await persistedApp(storage);
    await app.settle();
    // First run on an empty account: every slice once (a, b, c, _persist).
    expect(spy.writes.sort()).toEqual(['persist:root:_persist', 'persist:root:a', 'persist:root:b', 'persist:root:c']);
    spy.writes.length = 0;
    for (let i = 0; i < 5; i++) {
      app.store.dispatch({ type: 'set', slice: 'b', text: `edit ${i}` });
      await app.settle();
    }
    expect(spy.writes).toEqual(Array(5).fill('persist:root:b'));
    spy.writes.length = 0;
    // Every slice re-serialized by redux-persist, same content: zero writes.
    app.store.dispatch({ type: 'touch' });
    await app.settle();
    await storage.setItem('persist:root', (await storage.getItem('persist:root'))!);
    await storage.flush();
    expect(spy.writes).toEqual([]);
    // A reload rehydrates and writes nothing either.
    const again = await persistedApp(createPersistStorage(spy.store));
    await again.settle();
    expect(again.store.getState().b).toEqual({ text: 'edit 4' });
    expect(spy.writes).toEqual([]);
  });

  it('a device whose rehydrate timed out (timeout: 1) never clobbers the stored state', async () => {
    const user = uniqueUser();
    const firstClient = client(user);
    const first = await persistedApp(createPersistStorage(firstClient.store));
    first.store.dispatch({ type: 'set', slice: 'a', text: 'stored a' });
    first.store.dispatch({ type: 'set', slice: 'b', text: 'stored b' });
    await first.settle();
    // Other devices read what reached the server (local-first: once it is pushed).
    await firstClient.sync.waitForPush({ timeout: 10_000 });

    // A second device whose store is slow: redux-persist gives up after 1 ms and starts from the initial state.
    const slowClient = client(user);
    const slow = spyStore(slowClient.store, { readDelayMs: 150 });
    const storage = createPersistStorage(slow.store);
    const errors: unknown[] = [];
    const origError = console.error;
    console.error = (...args: unknown[]) => errors.push(args); // redux-persist's "called after timeout" notice
    try {
      const late = await persistedApp(storage, { timeout: 1 });
      expect(late.store.getState().a).toEqual({ text: 'initial a' });
      await late.settle();
      await sleep(200);
      await late.settle();
      // Its initial state was not written over the stored slices: no write at all.
      expect(slow.writes).toEqual([]);
      expect(errors.length).toBeGreaterThan(0); // redux-persist did time out
      const fresh = createPersistStorage(client(user).store);
      expect(JSON.parse((await fresh.getItem('persist:root'))!)).toMatchObject({
        a: JSON.stringify({ text: 'stored a' }),
        b: JSON.stringify({ text: 'stored b' }),
      });
      // What it changes afterwards is written, and only that.
      late.store.dispatch({ type: 'set', slice: 'a', text: 'changed after the timeout' });
      await late.settle();
      await slowClient.sync.waitForPush({ timeout: 10_000 });
      expect(slow.writes.filter((w) => w.startsWith('persist:root:a'))).toEqual(['persist:root:a']);
      const after = JSON.parse((await createPersistStorage(client(user).store).getItem('persist:root'))!) as Record<string, string>;
      expect(after.a).toBe(JSON.stringify({ text: 'changed after the timeout' }));
      expect(after.b).toBe(JSON.stringify({ text: 'stored b' }));
    } finally {
      console.error = origError;
    }
  });

  it('nested and ":"-containing persist keys never see or delete each other\'s slices (#15)', async () => {
    const c = client(uniqueUser());
    const s = createPersistStorage(c.store);
    const P = JSON.stringify({ version: -1, rehydrated: true });
    const nested = JSON.stringify({ token: '"t"', _persist: P });
    await s.setItem('persist:app:auth', nested);
    // The minimal repro: the root key saw the nested key's slices.
    expect(await s.getItem('persist:app')).toBeNull();
    const root = JSON.stringify({ auth: JSON.stringify({ token: 't' }), 'a:b': '1', '%3A': '2', _persist: P });
    await s.setItem('persist:app', root);
    // `persist:app:a` (slice `b`) against the root's slice `a:b`.
    const colon = JSON.stringify({ b: '"colon"', _persist: P });
    await s.setItem('persist:app:a', colon);
    await s.flush();
    await c.sync.waitForPush({ timeout: 10_000 });
    // A fresh engine (a reload, another device) reads each key exactly as written.
    const fresh = createPersistStorage(c.store);
    expect(await fresh.getItem('persist:app:auth')).toBe(nested);
    expect(JSON.parse((await fresh.getItem('persist:app'))!)).toEqual(JSON.parse(root));
    expect(await fresh.getItem('persist:app:a')).toBe(colon);
    // Deleting one key (redux-persist's purge) leaves the others.
    await fresh.removeItem('persist:app');
    expect(await createPersistStorage(c.store).getItem('persist:app:auth')).toBe(nested);
    expect(await createPersistStorage(c.store).getItem('persist:app:a')).toBe(colon);
    expect(await createPersistStorage(c.store).getItem('persist:app')).toBeNull();
    await fresh.setItem('persist:app', root);
    await fresh.removeItem('persist:app:auth');
    await fresh.removeItem('persist:app:a');
    expect(JSON.parse((await createPersistStorage(c.store).getItem('persist:app'))!)).toEqual(JSON.parse(root));
  });

  it('a device whose rehydrate timed out never overwrites the stored state: 50 slices, timeout 1 (#15)', async () => {
    const user = uniqueUser();
    await persistWideState(client(user), 50);
    const other = client(user);
    await other.ready();
    const spy = spyStore(other.store);
    const c = await persistedApp(createPersistStorage(spy.store, { timeout: 1 }), { timeout: 1 }, wideReducer(50));
    expect(c.store.getState().s7).toBe('initial 7'); // redux-persist gave up: the initial state
    // The stored state arrives after redux-persist gave up, before its first write.
    await waitFor(() => spy.reads.done > 0);
    await c.settle();
    await other.sync.waitForPush({ timeout: 10_000 });
    expect(spy.writes).toEqual([]);
    const read = JSON.parse((await createPersistStorage(client(user).store).getItem('persist:root')) ?? '{}') as Record<string, string>;
    for (let i = 0; i < 50; i++) expect(read[`s${i}`]).toBe(JSON.stringify(`A ${i}`));
    // What the device changes from then on is written.
    c.store.dispatch({ type: 'fill', text: 'C' });
    await c.settle();
    expect(spy.writes).toHaveLength(50);
  });

  it('after a failed rehydrate read, a later answer never makes the initial state overwrite the stored one (#15)', async () => {
    const user = uniqueUser();
    await persistWideState(client(user), 5);
    const other = client(user);
    await other.ready();
    const spy = spyStore(other.store, { failReads: 1 });
    const storage = createPersistStorage(spy.store);
    // A throttled first write (6 keys × 300 ms): the app's read below answers before it.
    const c = await persistedApp(storage, { throttle: 300 }, wideReducer(5));
    expect(c.store.getState().s1).toBe('initial 1'); // redux-persist rehydrated with the read's error
    // The app reads the key itself before redux-persist's first write: the answer is not what the state derives from.
    expect(JSON.parse((await storage.getItem('persist:root'))!)).toMatchObject({ s1: JSON.stringify('A 1') });
    await c.settle();
    expect(spy.writes).toEqual([]);
  });

  it('never clobber vs reset: setItem on a fresh storage keeps stored slices; removeItem then setItem resets (#15)', async () => {
    const user = uniqueUser();
    const c = client(user);
    const P = JSON.stringify({ version: -1, rehydrated: true });
    const old = JSON.stringify({ a: '"old a"', b: '"old b"', _persist: P });
    await createPersistStorage(c.store).setItem('persist:root', old); // nothing stored yet: written
    const reset = JSON.stringify({ a: '"new a"', _persist: P });
    // The rule: a setItem before anything was read is a device's initial state; the slices already stored are kept.
    const plain = createPersistStorage(c.store);
    await plain.setItem('persist:root', reset);
    expect(JSON.parse((await plain.getItem('persist:root'))!)).toEqual(JSON.parse(old));
    // The reset path: removeItem, then setItem (in call order; awaiting is not needed), whatever the timeout.
    for (const timeout of [5000, 1]) {
      const purged = createPersistStorage(c.store, { timeout });
      void purged.removeItem('persist:root');
      expect(await purged.getItem('persist:root')).toBeNull();
      await purged.setItem('persist:root', old);
      await purged.flush();
      const storage = createPersistStorage(c.store, { timeout });
      void storage.removeItem('persist:root');
      void storage.setItem('persist:root', reset);
      expect(await storage.getItem('persist:root')).toBe(reset);
      await storage.flush();
      void storage.setItem('persist:root', old);
      await storage.flush();
    }
    await c.sync.waitForPush({ timeout: 10_000 });
    expect(await createPersistStorage(client(user).store).getItem('persist:root')).toBe(old);
    const last = createPersistStorage(c.store);
    void last.removeItem('persist:root');
    void last.setItem('persist:root', reset);
    await last.flush();
    await c.sync.waitForPush({ timeout: 10_000 });
    expect(await createPersistStorage(client(user).store).getItem('persist:root')).toBe(reset);
  });

  it('purge (removeItem) deletes every slice; plain keys use the string API', async () => {
    const c = client(uniqueUser());
    const storage = createPersistStorage(c.store);
    const app = await persistedApp(storage);
    await app.settle();
    await app.persistor.purge();
    await storage.flush();
    expect(await c.store.keys('persist:root')).toEqual([]);
    expect(await storage.getItem('persist:root')).toBeNull();
    await storage.setItem('other', 'plain string');
    expect(await c.store.get('other')).toBe('plain string');
    expect(await storage.getItem('other')).toBe('plain string');
    await storage.removeItem('other');
    expect(await storage.getItem('other')).toBeNull();
  });
});

describe('persist storage: details', () => {
  const clients: FeatClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  const client = (user: string) => {
    const c = makeClient(emu, user, { mode: 'remote' });
    clients.push(c);
    return c;
  };

  it('a slice too big for one request round-trips (the store chunks it)', async () => {
    const c = client(uniqueUser());
    const storage = createPersistStorage(c.store);
    const big = JSON.stringify({ text: 'x'.repeat(1_500_000) });
    const serialized = JSON.stringify({ big, small: '1', _persist: '{"version":-1,"rehydrated":true}' });
    await storage.setItem('persist:big', serialized);
    await storage.flush();
    expect(await createPersistStorage(c.store).getItem('persist:big')).toBe(serialized);
  });

  it('reads and migrates state that a plain string engine stored whole', async () => {
    const user = uniqueUser();
    const c = client(user);
    const whole = JSON.stringify({ a: JSON.stringify({ text: 'old a' }), _persist: JSON.stringify({ version: -1, rehydrated: true }) });
    await c.store.setItem('persist:root', whole);
    const storage = createPersistStorage(c.store);
    expect(await storage.getItem('persist:root')).toBe(whole);
    expect(await c.store.get('persist:root')).toBeUndefined();
    expect(await c.store.getParts('persist:root')).toEqual({ a: { text: 'old a' }, _persist: { version: -1, rehydrated: true } });
    const spy = spyStore(c.store);
    const app = await persistedApp(createPersistStorage(spy.store));
    expect(app.store.getState().a).toEqual({ text: 'old a' });
    await app.settle();
    // Only the slices the old state lacked are written.
    expect(spy.writes.sort()).toEqual(['persist:root:b', 'persist:root:c']);
  });

  it('validates its arguments', async () => {
    const c = client(uniqueUser());
    expect(() => createPersistStorage(null as never)).toThrow(expect.objectContaining({ name: 'FeatValidationError', code: 'invalid_argument' }));
    expect(() => createPersistStorage({} as never)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    // The client itself is accepted too.
    expect(typeof createPersistStorage(c).getItem).toBe('function');
    for (const timeout of [-1, Number.NaN, '10', Infinity]) {
      expect(() => createPersistStorage(c.store, { timeout } as never)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    }
    expect(() => createPersistStorage(c.store, null as never)).toThrow(expect.objectContaining({ name: 'FeatValidationError', code: 'invalid_argument' }));
    const storage = createPersistStorage(c.store);
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isFeatError(e) ? e.code : String(e)));
    expect(await code(storage.setItem('persist:root', 42 as never))).toBe('invalid_value');
    expect(await code(storage.setItem('persist:root', '[1,2]'))).toBe('invalid_value');
    expect(await code(storage.setItem('persist:root', '{"a":1}'))).toBe('invalid_value');
    expect(await code(storage.setItem('persist:root', '{"":"1"}'))).toBe('invalid_key');
    expect(await code(storage.getItem(7 as never))).toBe('invalid_key');
    expect(await code(storage.setItem('_bad', 'x'))).toBe('invalid_key');
  });
});
