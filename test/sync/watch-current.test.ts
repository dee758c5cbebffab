/**
 * `store.watch(key, listener, { current: true })`: what is stored now first, then every later change, with no gap —
 * in local-first and in remote mode, against the emulator.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();

const modes: { name: string; options: Partial<FeatClientOptions> }[] = [
  { name: 'local-first', options: { local: { adapter: 'memory' } } },
  { name: 'remote', options: { mode: 'remote' } },
];

describe.each(modes)('watch { current: true } ($name)', ({ options }) => {
  const client = (user: string): FeatClient =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options }));

  it.each(['initial', 'current'] as const)('{ %s: true } delivers the stored value first (marked current), then later changes', async (option) => {
    const c = client(uniqueUser('current'));
    await c.store.set('draft', { title: 'stored' });
    const events: ChangeEvent[] = [];
    const stop = c.store.watch('draft', (e) => events.push(e), { [option]: true });
    await waitFor(() => events.length === 1, 10_000, 'the current value');
    expect(events[0]).toEqual({ key: 'draft', value: { title: 'stored' }, kind: 'insert', origin: 'local', current: true });
    await c.store.set('draft', { title: 'changed' });
    await waitFor(() => events.length === 2, 10_000, 'the change');
    expect(events[1]).toMatchObject({ key: 'draft', value: { title: 'changed' }, kind: 'update', origin: 'local' });
    expect(events[1]!.current).toBeUndefined();
    stop();
  });

  it('an absent key is delivered as undefined; a prefix gets each stored key, then the key itself last', async () => {
    const c = client(uniqueUser('current'));
    const none: ChangeEvent[] = [];
    c.store.watch('missing', (e) => none.push(e), { current: true });
    await waitFor(() => none.length === 1, 10_000, 'the current value');
    expect(none[0]).toEqual({ key: 'missing', value: undefined, kind: 'delete', origin: 'local', current: true });

    await c.store.setParts('doc', { b: 2, a: 1 });
    const events: ChangeEvent[] = [];
    c.store.watch('doc', (e) => events.push(e), { current: true });
    await waitFor(() => events.filter((e) => e.current).length === 3, 10_000, 'the current values');
    // (The writes just before may still arrive as changes after them.)
    expect(events.filter((e) => e.current).map((e) => [e.key, e.subkey, e.value, e.current])).toEqual([
      ['doc', 'a', 1, true],
      ['doc', 'b', 2, true],
      ['doc', undefined, undefined, true],
    ]);
  });

  it('misses no write made while the current value is read, and ends on the latest value', async () => {
    const user = uniqueUser('current');
    const c = client(user);
    await c.store.set('counter', 0);
    await c.store.flush();
    const events: ChangeEvent[] = [];
    c.store.watch('counter', (e) => events.push(e), { current: true });
    // Writes race the subscription: whatever order they land in, the last event is the last value.
    for (let i = 1; i <= 20; i++) void c.store.set('counter', i);
    await c.store.flush();
    await waitFor(() => events.at(-1)?.value === 20, 10_000, 'the last value');
    expect(events[0]!.current, JSON.stringify(events.slice(0, 4))).toBe(true);
    expect(events.filter((e) => e.current)).toHaveLength(1);
  });

  it('rejects bad options before any I/O', () => {
    const c = client(uniqueUser('current'));
    expect(() => c.store.watch('k', () => undefined, { current: 'yes' as never })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => c.store.watch('k', () => undefined, { initial: 1 as never })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => c.store.watch('k', () => undefined, { onError: 1 as never })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });
});

describe('watch { current: true } failures', () => {
  it('a failed read goes to onError', async () => {
    const c = createFeatClient({ couchUrl: 'http://127.0.0.1:9', accountsUrl: 'http://127.0.0.1:9', auth: 'Bearer x', mode: 'remote' });
    const failed = new Promise<unknown>((resolve) => c.store.watch('k', () => undefined, { current: true, onError: resolve }));
    await expectCode(Promise.reject(await failed), 'network');
    await c.close();
  });
});

describe('watch: the server refuses the database (remote mode)', () => {
  it("the error event carries the server's own error (forbidden), not `network`; the watch resumes once access is back", async () => {
    const proxy = await startFaultProxy(emu.couchUrl);
    try {
      const user = uniqueUser('refused');
      const c = emu.track(createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
      const { dbName } = await c.ready();
      // An admin took the user's access away (the database's `_security`): CouchDB's answer to the user's requests.
      const refuse = proxy.fault({ method: 'GET', path: new RegExp(`/${dbName}/?$`) }, 'answer', {
        status: 403,
        body: { error: 'forbidden', reason: 'You are not allowed to access this db.' },
      });
      const errors: unknown[] = [];
      const events: ChangeEvent[] = [];
      const off = c.sync.on('error', (error) => errors.push(error));
      const stop = c.store.watch('k', (e) => events.push(e));
      await waitFor(() => errors.length > 0, 10_000, 'the error');
      await expectCode(Promise.reject(errors[0]), 'forbidden');
      refuse();
      // Retried with backoff (first step 250–500 ms): a write after access is back is reported.
      await waitFor(async () => {
        await c.store.set('k', events.length);
        return events.length > 0;
      }, 15_000, 'an event after access came back');
      stop();
      off();
    } finally {
      await proxy.close();
    }
  });
});
