/**
 * The redux-persist engine from outside: call order of calls not awaited, purge, nested keys, exact strings, and what
 * another device reads — in both modes.
 */
import { describe, expect, it } from 'vitest';
import { createPersistStorage } from '@feat/sdk/redux';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, MODES, REMOTE, clientFor } from './helpers.js';

const emu = useEmulator();

/** What redux-persist writes: an object of slice strings, `_persist` included. */
const state = (slices: Record<string, unknown>, version = -1) =>
  JSON.stringify({ ...Object.fromEntries(Object.entries(slices).map(([k, v]) => [k, JSON.stringify(v)])), _persist: JSON.stringify({ version, rehydrated: true }) });

describe.each(MODES)('redux storage: $name', (mode) => {
  it('calls not awaited are served in call order; getItem sees every earlier call', async () => {
    const c = clientFor(emu, uniqueUser('rdx'), mode.options);
    await c.ready();
    const storage = createPersistStorage(c.store);
    expect(await storage.getItem('persist:root')).toBeNull();
    const s1 = state({ a: 1, b: { x: [1, 2] } });
    const s2 = state({ a: 2, b: { x: [1, 2] }, c: 'new' });
    const s3 = state({ a: 3 });
    const calls = [
      storage.setItem('persist:root', s1),
      storage.getItem('persist:root'),
      storage.setItem('persist:root', s2),
      storage.getItem('persist:root'),
      storage.removeItem('persist:root'),
      storage.getItem('persist:root'),
      storage.setItem('persist:root', s3),
      storage.getItem('persist:root'),
    ];
    const results = await Promise.all(calls);
    expect(results[1]).toBe(s1);
    expect(results[3]).toBe(s2);
    expect(results[5]).toBeNull();
    expect(results[7]).toBe(s3);
    // Plain keys go to the string API in call order too.
    const plain = [storage.setItem('plain', 'v1'), storage.setItem('plain', 'v2'), storage.getItem('plain'), storage.removeItem('plain'), storage.getItem('plain')];
    const pr = await Promise.all(plain);
    expect(pr[2]).toBe('v2');
    expect(pr[4]).toBeNull();
  });

  it('nested keys (app, app:auth, a:b + slice c vs a + slice b:c) never touch each other; purge removes only its own key', async () => {
    const c = clientFor(emu, uniqueUser('rdxn'), mode.options);
    await c.ready();
    const storage = createPersistStorage(c.store);
    await storage.getItem('persist:app');
    await storage.getItem('persist:app:auth');
    await storage.getItem('persist:a:b');
    await storage.getItem('persist:a');
    const app = state({ ui: 'dark', 'auth': 'not the nested one' });
    const auth = state({ token: 't', user: { id: 1 } });
    const ab = state({ c: 'slice c of a:b' });
    const a = state({ 'b:c': 'slice b:c of a', '100%': 'pct' });
    await Promise.all([storage.setItem('persist:app', app), storage.setItem('persist:app:auth', auth), storage.setItem('persist:a:b', ab), storage.setItem('persist:a', a)]);
    expect(await storage.getItem('persist:app')).toBe(app);
    expect(await storage.getItem('persist:app:auth')).toBe(auth);
    expect(await storage.getItem('persist:a:b')).toBe(ab);
    expect(await storage.getItem('persist:a')).toBe(a);
    await storage.removeItem('persist:app');
    await storage.removeItem('persist:a');
    expect(await storage.getItem('persist:app')).toBeNull();
    expect(await storage.getItem('persist:app:auth')).toBe(auth);
    expect(await storage.getItem('persist:a')).toBeNull();
    expect(await storage.getItem('persist:a:b')).toBe(ab);
  });

  it('another device (other mode) reads the same state; a slice removed on it disappears here', async () => {
    const user = uniqueUser('rdxd');
    const c1 = clientFor(emu, user, mode.options);
    await c1.ready();
    const s1 = createPersistStorage(c1.store);
    await s1.getItem('persist:root');
    const full = state({ todos: [{ id: 1, t: 'é 😀 "q"' }], filter: 'all', n: 1.5 });
    await s1.setItem('persist:root', full);
    await s1.flush();
    await c1.sync.waitForPush({ timeout: 20_000 });
    const c2 = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
    await c2.ready();
    const s2 = createPersistStorage(c2.store);
    let seen: string | null = null;
    await waitFor(async () => (seen = await s2.getItem('persist:root')) !== null && Object.keys(JSON.parse(seen) as object).length === 4, 20_000, 'device 2 to read the state');
    expect(JSON.parse(seen!)).toEqual(JSON.parse(full));
    const smaller = state({ todos: [{ id: 1, t: 'é 😀 "q"' }], n: 2 });
    await s2.setItem('persist:root', smaller);
    await s2.flush();
    await c2.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => {
      const got = await s1.getItem('persist:root');
      return got !== null && JSON.stringify(JSON.parse(got)) === JSON.stringify(JSON.parse(smaller));
    }, 20_000, 'device 1 to read the smaller state');
  });

  it('bad input: non-string value → invalid_value, non-state string on a persist key → invalid_value', async () => {
    const c = clientFor(emu, uniqueUser('rdxb'), mode.options);
    await c.ready();
    const storage = createPersistStorage(c.store);
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));
    expect(await code(storage.setItem('persist:root', 42 as unknown as string))).toBe('invalid_value');
    expect(await code(storage.setItem('persist:root', '"just a string"'))).toBe('invalid_value');
    expect(await code(storage.setItem('persist:root', '{"a":1}'))).toBe('invalid_value');
  });
});
