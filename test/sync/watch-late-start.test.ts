/**
 * A watch whose starting point comes late: a remote-mode client made while CouchDB cannot be reached (or a started
 * one that loses it just as `watch()` is called) cannot ask for the database's sequence at the call. Another device's
 * change made before the feed finally starts is one made after `watch()` returned: it must not be missed. The watch
 * delivers the current values (marked `current`) once its feed has started, then the changes from there.
 * (Found by a black-box Redux Toolkit app: a remote store started while CouchDB was down never showed the stored
 * state nor another device's later change.)
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { clientIn, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

/** A `fetch` that cannot reach CouchDB while `down` (the accounts service still answers). */
function switchable() {
  const state = { down: true, couchCalls: 0 };
  const fetchImpl: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(emu.couchUrl)) {
      state.couchCalls++;
      if (state.down) return Promise.reject(new TypeError('fetch failed'));
    }
    return fetch(input, init);
  };
  return { state, fetchImpl };
}

const client = (user: string, options: Partial<FeatClientOptions> = {}): FeatClient => clientIn(emu, user, 'remote', options);

/** A writer on another device (reaches the server), its value stored before the test goes on. */
async function otherDevice(user: string, writes: (c: FeatClient) => Promise<unknown>): Promise<void> {
  const other = client(user);
  await writes(other);
  await other.store.flush();
  await other.close();
}

describe('watch() made while CouchDB cannot be reached (remote mode)', () => {
  it('a key: another device\'s change made before the feed could start is delivered (current value), then later changes', async () => {
    const user = uniqueUser('late');
    await otherDevice(user, (c) => c.store.set('k', 1));
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const events: ChangeEvent[] = [];
    const errors: string[] = [];
    c.sync.on('error', (e) => errors.push(e.code));
    const stop = c.store.watch('k', (e) => events.push(e));
    await expect(c.ready()).rejects.toMatchObject({ code: 'network' });
    // Made after watch() returned, while this device still cannot reach the server.
    await otherDevice(user, (o) => o.store.set('k', 2));
    state.down = false;
    await waitFor(() => events.some((e) => e.value === 2), 40_000, 'the change made while the feed could not start');
    // (As `{ initial: true }` delivers a current value: `insert`, `origin: 'local'`, `current: true`.)
    expect(events.find((e) => e.value === 2)).toMatchObject({ key: 'k', kind: 'insert', current: true });
    // Nothing older than it came.
    expect(events.map((e) => e.value)).toEqual([2]);
    expect(errors).toContain('network');
    // Then the changes from the starting point, as any watch reports them.
    await otherDevice(user, (o) => o.store.set('k', 3));
    await waitFor(() => events.some((e) => e.value === 3), 20_000, 'a later change');
    expect(events.at(-1)).toMatchObject({ key: 'k', value: 3, kind: 'update', origin: 'remote' });
    expect(events.at(-1)!.current).toBeUndefined();
    stop();
  }, 90_000);

  it('a prefix: every key written in between is delivered, each once, and a key removed in between is absent', async () => {
    const user = uniqueUser('late');
    await otherDevice(user, (c) => Promise.all([c.store.set('draft:gone', 'x'), c.store.set('other', 'x')]));
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const events: ChangeEvent[] = [];
    c.sync.on('error', () => undefined);
    c.store.watch({ prefix: 'draft:' }, (e) => events.push(e));
    await expect(c.ready()).rejects.toMatchObject({ code: 'network' });
    await otherDevice(user, (o) => Promise.all([o.store.set('draft:a', 'A'), o.store.setParts('draft:b', { p: 1 }), o.store.remove('draft:gone'), o.store.set('else', 1)]));
    state.down = false;
    await waitFor(() => events.length >= 2, 40_000, 'the keys written meanwhile');
    await sleep(1_000);
    expect(events.map((e) => [e.key, e.subkey, e.value, e.current])).toEqual([
      ['draft:a', undefined, 'A', true],
      ['draft:b', 'p', 1, true],
    ]);
  }, 90_000);

  it('{ initial: true }: the current values come once the feed started, onCurrent once, no change missed', async () => {
    const user = uniqueUser('late');
    await otherDevice(user, (c) => c.store.set('k', 1));
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    const events: ChangeEvent[] = [];
    const readErrors: string[] = [];
    let loaded = 0;
    c.sync.on('error', () => undefined);
    c.store.watch('k', (e) => events.push(e), { initial: true, onError: (e) => readErrors.push(e.code), onCurrent: () => loaded++ });
    await expect(c.ready()).rejects.toMatchObject({ code: 'network' });
    await otherDevice(user, (o) => o.store.set('k', 2));
    state.down = false;
    await waitFor(() => events.some((e) => e.value === 2), 40_000, 'the value stored meanwhile');
    await sleep(1_000);
    expect(loaded).toBe(1);
    expect(events.every((e) => e.value === 2 && e.current === true)).toBe(true);
    // (A read that failed meanwhile went to onError: the server could not be reached.)
    expect(readErrors.every((code) => code === 'network')).toBe(true);
    await otherDevice(user, (o) => o.store.set('k', 3));
    await waitFor(() => events.at(-1)?.value === 3, 20_000, 'a later change');
  }, 90_000);

  it('a started client that cannot reach CouchDB when watch() is called catches up the same way', async () => {
    const user = uniqueUser('late');
    const { state, fetchImpl } = switchable();
    state.down = false;
    const c = client(user, { fetch: fetchImpl });
    await c.store.set('k', 1);
    c.sync.on('error', () => undefined);
    state.down = true;
    const events: ChangeEvent[] = [];
    c.store.watch('k', (e) => events.push(e));
    await sleep(300);
    await otherDevice(user, (o) => o.store.set('k', 2));
    state.down = false;
    await waitFor(() => events.some((e) => e.value === 2), 40_000, 'the change made while the starting point could not be asked');
    expect(events.map((e) => e.value)).toEqual([2]);
  }, 90_000);

  it('a watch whose start reached the server is told no current value (only changes)', async () => {
    const user = uniqueUser('late');
    await otherDevice(user, (c) => c.store.set('k', 1));
    const c = client(user);
    const events: ChangeEvent[] = [];
    c.store.watch('k', (e) => events.push(e));
    await c.ready();
    await sleep(1_000);
    expect(events).toEqual([]);
    await otherDevice(user, (o) => o.store.set('k', 2));
    await waitFor(() => events.length === 1, 20_000, 'the change');
    expect(events[0]).toMatchObject({ key: 'k', value: 2, kind: 'update', origin: 'remote' });
    expect(events[0]!.current).toBeUndefined();
  }, 60_000);

  it('unsubscribed before the server came back: nothing is delivered', async () => {
    const user = uniqueUser('late');
    const { state, fetchImpl } = switchable();
    const c = client(user, { fetch: fetchImpl });
    c.sync.on('error', () => undefined);
    const events: ChangeEvent[] = [];
    const stop = c.store.watch('k', (e) => events.push(e));
    const kept: ChangeEvent[] = [];
    c.store.watch('kept', (e) => kept.push(e));
    await expect(c.ready()).rejects.toMatchObject({ code: 'network' });
    await otherDevice(user, (o) => Promise.all([o.store.set('k', 2), o.store.set('kept', 2)]));
    stop();
    state.down = false;
    await waitFor(() => kept.length === 1, 40_000, 'the other watch catching up');
    await sleep(500);
    expect(events).toEqual([]);
  }, 90_000);
});

describe('watch() catch-up: only when the starting point came late, each revision once', () => {
  it('{ initial: true } whose read came before the late starting point: each revision once, onCurrent once', async () => {
    const user = uniqueUser('late');
    const state = { infoDown: false, dbUrl: '' };
    const c = client(user, {
      // Only the database's info (the watch's starting point) fails; document reads work.
      fetch: (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (state.infoDown && state.dbUrl && url.replace(/\/$/, '') === state.dbUrl) return Promise.reject(new TypeError('fetch failed'));
        return fetch(input, init);
      },
    });
    await c.store.set('k', 1);
    state.dbUrl = `${emu.couchUrl}/${c.session!.dbName}`;
    c.sync.on('error', () => undefined);
    state.infoDown = true;
    const events: ChangeEvent[] = [];
    let loaded = 0;
    c.store.watch('k', (e) => events.push(e), { initial: true, onCurrent: () => loaded++, onError: () => undefined });
    await waitFor(() => events.length > 0, 10_000, 'the current value');
    await sleep(1_500);
    state.infoDown = false;
    await sleep(4_000);
    expect(loaded).toBe(1);
    expect(events.map((e) => [e.value, e.current])).toEqual([[1, true]]);
  }, 40_000);

  it('a failed start whose watches all left: a later watch on the reachable client gets no current values', async () => {
    const user = uniqueUser('late');
    await otherDevice(user, (o) => o.store.set('k', 1));
    let down = true;
    const c = client(user, {
      fetch: async (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (down && url.startsWith(emu.couchUrl)) {
          await sleep(800);
          throw new TypeError('fetch failed');
        }
        return fetch(input, init);
      },
    });
    c.sync.on('error', () => undefined);
    const stop = c.store.watch('k', () => undefined);
    // (The watch code loaded, its start — the client's ready — under way.)
    await sleep(300);
    stop();
    await expect(c.ready()).rejects.toBeDefined();
    await sleep(200);
    down = false;
    await c.ready();
    const events: ChangeEvent[] = [];
    c.store.watch('k', (e) => events.push(e));
    await sleep(2_000);
    expect(events).toEqual([]);
  }, 40_000);

  it('local-first, a refused first ready() then a working one: the pulled value is reported once, no current value', async () => {
    const user = uniqueUser('late');
    await otherDevice(user, (o) => o.store.set('k', 1));
    let ok = false;
    const c = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: () => (ok ? emu.bearerFor(user) : 'Bearer not-a-token'),
        local: { adapter: 'memory' },
        maintenance: { enabled: false },
      }),
    );
    c.sync.on('error', () => undefined);
    const events: ChangeEvent[] = [];
    c.store.watch('k', (e) => events.push(e));
    await expect(c.ready()).rejects.toBeDefined();
    ok = true;
    await c.ready();
    await waitFor(() => events.length > 0, 10_000, 'the pulled value');
    await sleep(2_000);
    expect(events.filter((e) => e.current)).toEqual([]);
    expect(events.map((e) => e.value)).toEqual([1]);
  }, 40_000);
});
