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

  it('an absent key is delivered as undefined; a key gets each stored part, then the key itself last', async () => {
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
    expect(() => c.store.watch('k', () => undefined, { initial: true, onCurrent: 'done' as never })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it('a prefix gets each stored key as an insert, nothing for the prefix itself; onCurrent ends them, before later changes', async () => {
    const c = client(uniqueUser('current'));
    await c.store.set('todo:2', 2);
    await c.store.set('todo:1', 1);
    await c.store.setParts('todo:3', { x: 'x' });
    await c.store.set('other', 0);
    const events: ChangeEvent[] = [];
    const ends: number[] = [];
    // README's own example: a listener that keeps a map of the keys it is told about.
    const list = new Map<string, unknown>();
    c.store.watch({ prefix: 'todo:' }, (e) => {
      events.push(e);
      if (e.kind === 'delete') list.delete(e.key);
      else list.set(e.subkey === undefined ? e.key : `${e.key}:${e.subkey}`, e.value);
    }, { initial: true, onCurrent: () => ends.push(events.length) });
    await waitFor(() => ends.length === 1, 10_000, 'the current values');
    const current = events.filter((e) => e.current);
    expect(current.map((e) => [e.key, e.subkey, e.value, e.kind, e.origin])).toEqual([
      ['todo:1', undefined, 1, 'insert', 'local'],
      ['todo:2', undefined, 2, 'insert', 'local'],
      ['todo:3', 'x', 'x', 'insert', 'local'],
    ]);
    expect(ends).toEqual([3]);
    expect([...list.keys()]).not.toContain('todo:');
    await c.store.set('todo:4', 4);
    await waitFor(() => events.some((e) => e.key === 'todo:4'), 10_000, 'the change');
    expect(events.findIndex((e) => e.key === 'todo:4')).toBeGreaterThanOrEqual(3);
    expect(ends).toEqual([3]);

    // Nothing stored under it: no event, onCurrent still says the (empty) current values are there.
    const none: ChangeEvent[] = [];
    let emptyEnded = false;
    c.store.watch({ prefix: 'nothing:' }, (e) => none.push(e), { initial: true, onCurrent: () => void (emptyEnded = true) });
    await waitFor(() => emptyEnded, 10_000, 'onCurrent of an empty prefix');
    expect(none).toEqual([]);

    // A stored key equal to the prefix is one of its keys: an insert in id order (`todo:1` is now a part of it).
    await c.store.set('todo', 't');
    const withSelf: ChangeEvent[] = [];
    let selfEnded = false;
    c.store.watch({ prefix: 'todo' }, (e) => withSelf.push(e), { initial: true, onCurrent: () => void (selfEnded = true) });
    await waitFor(() => selfEnded, 10_000, 'the current values');
    expect(withSelf.filter((e) => e.current).map((e) => [e.key, e.subkey, e.kind])).toEqual([
      ['todo', undefined, 'insert'],
      ['todo', '1', 'insert'],
      ['todo', '2', 'insert'],
      ['todo:3', 'x', 'insert'],
      ['todo', '4', 'insert'],
    ]);
  });

  it('an onCurrent that throws is reported as an error event; the changes still come', async () => {
    const c = client(uniqueUser('current'));
    const errors: unknown[] = [];
    c.sync.on('error', (e) => void errors.push(e));
    const events: ChangeEvent[] = [];
    c.store.watch({ prefix: 'p:' }, (e) => events.push(e), {
      initial: true,
      onCurrent: () => {
        throw new Error('app bug');
      },
    });
    await waitFor(() => errors.length === 1, 10_000, 'the error event');
    await c.store.set('p:1', 1);
    await waitFor(() => events.some((e) => e.key === 'p:1'), 10_000, 'the change');
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
