/**
 * The store contract: one suite, run in every storage mode, over real HTTP against the emulator.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { recording } from '../support/recorder.js';

const emu = useEmulator();

const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first (memory)', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const satisfies readonly { name: string; options: Partial<FeatClientOptions> }[];

describe.each(modes)('store contract: $name', ({ options }) => {
  const clients: FeatClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });

  function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      ...recording(), // FEAT_RECORD: the differential test's recording of what the SDK sends
      ...options,
      ...extra,
    } as FeatClientOptions);
    clients.push(c);
    return c;
  }

  /** Two devices of one user; in local-first mode the second sees the first's writes once pushed and pulled. */
  async function settle(...cs: FeatClient[]): Promise<void> {
    for (const c of cs) await c.sync.waitForPush({ timeout: 10_000 });
  }

  it('reads undefined for an absent key and round-trips JSON values', async () => {
    const { store } = client(uniqueUser());
    expect(await store.get('missing')).toBeUndefined();
    const values: Record<string, unknown> = {
      object: { title: 'Draft', blocks: [{ id: 1, text: 'héllo 👋' }], nested: { deep: { deeper: [1, 2, 3] } } },
      array: [1, 'two', null, true, { x: 1.5 }],
      string: 'just a string',
      number: 7815769374283,
      zero: 0,
      falsy: false,
      nothing: null,
      unicode: '中文 — עברית — 😀',
      constructorKey: { constructor: 'c', prototype: 'p', toString: 's' },
    };
    await Promise.all(Object.entries(values).map(([k, v]) => store.set(k, v)));
    for (const [k, v] of Object.entries(values)) expect(await store.get(k)).toEqual(v);
    // A "__proto__" property cannot survive PouchDB's copies: refused loudly instead of silently dropped.
    await expectCode(store.set('proto', JSON.parse('{"__proto__": {"polluted": true}, "safe": 1}')), 'invalid_value');
    expect(await store.get('proto')).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stores a snapshot: mutating the value after set() changes nothing', async () => {
    const { store } = client(uniqueUser());
    const value = { items: ['a'] };
    const done = store.set('snap', value);
    value.items.push('b');
    await done;
    expect(await store.get('snap')).toEqual({ items: ['a'] });
    const read = (await store.get<{ items: string[] }>('snap'))!;
    read.items.push('c');
    expect(await store.get('snap')).toEqual({ items: ['a'] });
  });

  it('removes keys; removing an absent key succeeds', async () => {
    const { store } = client(uniqueUser());
    await store.set('gone', 1);
    await store.remove('gone');
    expect(await store.get('gone')).toBeUndefined();
    await store.remove('never-there');
    await store.set('gone', 2);
    expect(await store.get('gone')).toBe(2);
  });

  it('string API: exact round trip, null when absent, non-strings refused', async () => {
    const { store } = client(uniqueUser());
    expect(await store.getItem('persist:root')).toBeNull();
    const text = '{"a": 1,  "b":"x"}';
    await store.setItem('persist:root', text);
    expect(await store.getItem('persist:root')).toBe(text);
    await expectCode(store.setItem('persist:root', { a: 1 } as unknown as string), 'invalid_value');
    expect(await store.getItem('persist:root')).toBe(text);
    await store.removeItem('persist:root');
    expect(await store.getItem('persist:root')).toBeNull();
  });

  it('rejects bad keys with invalid_key and writes nothing', async () => {
    const c = client(uniqueUser());
    for (const key of ['', '_design/x', '_secret', 'feat~chunk', '\ud800lone', 'nul\u0000', 'x'.repeat(3_000), 42, null, undefined, {}]) {
      await expectCode(c.store.set(key as string, 1), 'invalid_key');
      await expectCode(c.store.get(key as string), 'invalid_key');
      await expectCode(c.store.remove(key as string), 'invalid_key');
    }
    expect(await c.store.keys()).toEqual([]);
  });

  it('rejects values that are not JSON with invalid_value and writes nothing', async () => {
    const c = client(uniqueUser());
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    class Custom {
      x = 1;
    }
    let deep: unknown = 'leaf';
    for (let i = 0; i < 1000; i++) deep = { d: deep };
    const holey = [1, 2, 3];
    delete holey[1];
    // (5e-324: CouchDB 3.4 stores it as 0, so it could not come back as written.)
    const bad = [undefined, () => 1, Symbol('s'), 10n, NaN, Infinity, new Date(), new Map(), new Custom(), cyclic, { nested: undefined }, holey, 'lone \udc00', deep, { tiny: 5e-324 }, [-Number.MIN_VALUE]];
    for (const value of bad) await expectCode(c.store.set('bad', value), 'invalid_value');
    await expectCode(c.store.setParts('bad', { a: 1, b: undefined } as Record<string, unknown>), 'invalid_value');
    expect(await c.store.keys()).toEqual([]);
    expect(await c.store.get('bad')).toBeUndefined();
  });

  it('every other double round-trips exactly, subnormals and the largest included', async () => {
    const c = client(uniqueUser());
    const numbers = [2 * Number.MIN_VALUE, 1e-310, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, Number.EPSILON, 0.1, 1e21, -1e-7, 9007199254740991];
    await c.store.set('numbers', numbers);
    await c.store.flush();
    expect(await c.store.get('numbers')).toEqual(numbers);
  });

  it('validates options and arguments', async () => {
    const c = client(uniqueUser());
    await expectCode(c.store.set('k', 1, { ttl: -1 }), 'invalid_argument');
    await expectCode(c.store.set('k', 1, 'x' as never), 'invalid_argument');
    await expectCode(c.store.keys(5 as never), 'invalid_argument');
    await expectCode(c.store.setParts('k', [] as never), 'invalid_value');
    await expectCode(c.store.setParts('k', { '': 1 }), 'invalid_key');
    await expectCode(c.store.setParts('k', { a: 1 }, { replace: 'yes' as never }), 'invalid_argument');
    expect(() => c.store.watch(1 as never, () => undefined)).toThrow(/key or prefix/);
    expect(() => c.store.watch('k', null as never)).toThrow(/listener/);
    await expectCode(c.sync.waitForPush({ timeout: -5 }), 'invalid_argument');
  });

  it('lists keys by prefix, sorted, including parts and excluding deleted ones', async () => {
    const { store } = client(uniqueUser());
    await Promise.all([store.set('b', 1), store.set('a', 1), store.set('draft:1', 1), store.set('draft:2', 1), store.set('c', 1)]);
    await store.remove('c');
    expect(await store.keys()).toEqual(['a', 'b', 'draft:1', 'draft:2']);
    expect(await store.keys('draft:')).toEqual(['draft:1', 'draft:2']);
    expect(await store.keys('zzz')).toEqual([]);
  });

  it('lists and reads keys whatever their first characters (U+FFF0 and above, emoji) and prefixes ending in U+FFFF', async () => {
    // PouchDB orders ids by UTF-16 code units, CouchDB by code points: a range ending in a fixed "high" character
    // missed keys starting at or above it (and emoji keys on CouchDB).
    const { store } = client(uniqueUser());
    const ids = ['a', 'x\uffff', 'x\uffffy', 'x\u{1F600}', '\ufff0x', '\uffff', '\uffffz', '\uffff\u{1F600}', '\u{1F600}', '\u{10FFFF}', '\u{10FFFF}x', 'y'];
    await Promise.all(ids.map((id) => store.set(id, id)));
    const sorted = (list: string[]) => [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(await store.keys()).toEqual(sorted(ids));
    expect(await store.keys('x')).toEqual(sorted(['x\uffff', 'x\uffffy', 'x\u{1F600}']));
    expect(await store.keys('x\uffff')).toEqual(['x\uffff', 'x\uffffy']);
    expect(await store.keys('\uffff')).toEqual(sorted(['\uffff', '\uffffz', '\uffff\u{1F600}']));
    expect(await store.keys('\u{1F600}')).toEqual(['\u{1F600}']);
    expect(await store.keys('\u{10FFFF}')).toEqual(['\u{10FFFF}', '\u{10FFFF}x']);
    await expect(store.keys('a\ud83d')).rejects.toMatchObject({ code: 'invalid_argument' });
    await store.setParts('k', { '\ufff0': 1, '\u{1F600}': 2, z: 3 });
    expect(await store.getParts('k')).toEqual({ '\ufff0': 1, '\u{1F600}': 2, z: 3 });
    await store.setParts('k', { z: 4 }, { replace: true });
    expect(await store.getParts('k')).toEqual({ z: 4 });
    expect(await store.keys('k:')).toEqual(['k:z']);
  });

  it('coalesces rapid writes of one key: every promise resolves, the last value wins, few writes', async () => {
    let bulkWrites = 0;
    const counting: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (/_bulk_docs/.test(url)) bulkWrites++;
      return fetch(input, init);
    };
    const c = client(uniqueUser(), { fetch: counting });
    await c.ready();
    const promises = [];
    for (let i = 0; i < 200; i++) promises.push(c.store.set('typing', { text: 'x'.repeat(i) }));
    const results = await Promise.allSettled(promises);
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(await c.store.get('typing')).toEqual({ text: 'x'.repeat(199) });
    if (options.mode === 'remote') expect(bulkWrites).toBeLessThanOrEqual(3);
  });

  it('reads its own pending writes before they are stored', async () => {
    const { store } = client(uniqueUser());
    const pending = store.set('ryw', { v: 1 });
    expect(await store.get('ryw')).toEqual({ v: 1 });
    const removing = store.remove('ryw');
    expect(await store.get('ryw')).toBeUndefined();
    await Promise.all([pending, removing]);
  });

  it('flush() resolves once earlier writes are durable', async () => {
    const user = uniqueUser();
    const a = client(user);
    void a.store.set('f1', 1);
    void a.store.set('f2', 2);
    await a.store.flush();
    await a.sync.waitForPush({ timeout: 10_000 });
    const b = client(user);
    await b.ready();
    expect(await b.store.get('f1')).toBe(1);
    expect(await b.store.get('f2')).toBe(2);
  });

  it('parts: set, read back in one call, write only changed parts, replace and remove', async () => {
    let bodies = 0;
    const counting: typeof fetch = (input, init) => {
      if (init?.method === 'POST' && typeof init.body === 'string' && init.body.includes('"docs"')) bodies++;
      return fetch(input, init);
    };
    const { store } = client(uniqueUser(), { fetch: counting });
    await store.setParts('article', { intro: { text: 'a' }, body: { text: 'b' }, outro: 'c' });
    expect(await store.getParts('article')).toEqual({ intro: { text: 'a' }, body: { text: 'b' }, outro: 'c' });
    expect(await store.get('article:intro')).toEqual({ text: 'a' });
    const before = bodies;
    await store.setParts('article', { intro: { text: 'a' }, body: { text: 'b2' }, outro: 'c' });
    expect(await store.getParts('article')).toEqual({ intro: { text: 'a' }, body: { text: 'b2' }, outro: 'c' });
    if (options.mode === 'remote') expect(bodies - before).toBe(1);
    await store.setParts('article', { intro: { text: 'a' } }, { replace: true });
    expect(await store.getParts('article')).toEqual({ intro: { text: 'a' } });
    await store.removeParts('article');
    expect(await store.getParts('article')).toEqual({});
    expect(await store.keys('article')).toEqual([]);
  });

  it('ttl: the value expires and disappears from keys()', async () => {
    const { store } = client(uniqueUser());
    // (3 s, and the first read checked only while within it: on a loaded machine the two writes alone took over 1 s.)
    // (The ttl counts from the write, made before set() resolves: expired 3 s after that at the latest.)
    const start = Date.now();
    await store.set('short', 'lived', { ttl: 3_000 });
    const written = Date.now();
    await store.set('long', 'lived');
    const early = await store.get('short');
    if (Date.now() - start < 2_900) expect(early).toBe('lived');
    await new Promise((r) => setTimeout(r, Math.max(0, written + 3_100 - Date.now())));
    expect(await store.get('short')).toBeUndefined();
    expect(await store.keys()).toEqual(['long']);
  });

  it('ttl counts from the write (API.md), not from a call made before ready(): a slow start leaves it whole', async () => {
    // The accounts service answers in 1.5 s: set() waits for ready(), then writes; its 1 s ttl starts then.
    const slow: typeof fetch = async (input, init) => {
      if (String(input instanceof Request ? input.url : input).startsWith(emu.accountsUrl)) await new Promise((r) => setTimeout(r, 1_500));
      return fetch(input, init);
    };
    const { store } = client(uniqueUser(), { fetch: slow });
    await store.set('t', 'v', { ttl: 1_000 });
    const written = Date.now();
    const early = await store.get('t');
    if (Date.now() - written < 900) expect(early).toBe('v');
    await new Promise((r) => setTimeout(r, Math.max(0, written + 1_100 - Date.now())));
    expect(await store.get('t')).toBeUndefined();
  });

  it('conflicting writes from two devices: the latest wins, the conflict is reported, nothing else is lost', async () => {
    const user = uniqueUser();
    const a = client(user);
    const b = client(user);
    await a.store.set('doc', { v: 'a1' });
    await settle(a);
    await b.ready();
    await waitFor(async () => (await b.store.get('doc')) !== undefined);
    const conflicts: unknown[] = [];
    a.sync.on('conflict', (e) => conflicts.push(e));
    b.sync.on('conflict', (e) => conflicts.push(e));
    a.sync.pause(); // a does not see b1 (local-first: no pull; remote: a's rev is simply stale)
    await b.store.set('doc', { v: 'b1' });
    await settle(b);
    await new Promise((r) => setTimeout(r, 5));
    await a.store.set('doc', { v: 'a2' }); // a conflict, and a2 is newer
    a.sync.resume();
    await settle(a, b);
    await waitFor(async () => JSON.stringify(await b.store.get('doc')) === JSON.stringify({ v: 'a2' }));
    expect(await a.store.get('doc')).toEqual({ v: 'a2' });
    expect(conflicts.length).toBeGreaterThan(0);
  });

  it('a custom resolver decides and sees both sides', async () => {
    const user = uniqueUser();
    const seen: { key: string; local: unknown; remote: unknown }[] = [];
    const merge = (c: { key: string; local: { value: unknown }; remote: { value: unknown } }) => {
      seen.push({ key: c.key, local: c.local.value, remote: c.remote.value });
      const l = (c.local.value as string[] | undefined) ?? [];
      const r = (c.remote.value as string[] | undefined) ?? [];
      return [...new Set([...r, ...l])].sort();
    };
    const a = client(user, { onConflict: merge as never });
    const b = client(user, { onConflict: merge as never });
    await a.store.set('tags', ['x']);
    await settle(a);
    await b.ready();
    await waitFor(async () => (await b.store.get('tags')) !== undefined);
    a.sync.pause();
    await b.store.set('tags', ['x', 'y']);
    await settle(b);
    await a.store.set('tags', ['x', 'z']);
    a.sync.resume();
    await settle(a, b);
    await waitFor(async () => JSON.stringify(await a.store.get('tags')) === JSON.stringify(['x', 'y', 'z']));
    await waitFor(async () => JSON.stringify(await b.store.get('tags')) === JSON.stringify(['x', 'y', 'z']));
    expect(seen.some((s) => s.key === 'tags')).toBe(true);
  });

  it('documents written by existing apps as { _id, doc } read as values', async () => {
    const user = uniqueUser();
    const c = client(user);
    const session = await c.ready();
    const token = await (await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })).json();
    const res = await fetch(`${emu.couchUrl}/${session.dbName}/legacy`, {
      method: 'PUT',
      headers: { ...token.data.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ doc: { test: 1 } }),
    });
    expect(res.status).toBe(201);
    if (options.mode !== 'remote') await waitFor(async () => (await c.store.get('legacy')) !== undefined);
    expect(await c.store.get('legacy')).toEqual({ test: 1 });
    expect(await c.store.getItem('legacy')).toBe('{"test":1}');
  });

  it('watch: local and remote changes with kind and origin; unsubscribe stops events', async () => {
    const user = uniqueUser();
    const a = client(user);
    const b = client(user);
    await Promise.all([a.ready(), b.ready()]);
    const events: ChangeEvent[] = [];
    const stop = a.store.watch('note', (e) => events.push(e));
    await new Promise((r) => setTimeout(r, 100)); // the feed starts
    await a.store.set('note', { t: 1 });
    await waitFor(() => events.length >= 1);
    expect(events[0]).toMatchObject({ key: 'note', value: { t: 1 }, kind: 'insert', origin: 'local' });
    await b.ready();
    await waitFor(async () => (await b.store.get('note')) !== undefined);
    await b.store.set('note', { t: 2 });
    await settle(b);
    await waitFor(() => events.some((e) => e.origin === 'remote'));
    expect(events.find((e) => e.origin === 'remote')).toMatchObject({ key: 'note', value: { t: 2 }, kind: 'update' });
    await b.store.setParts('note', { p1: 'x' });
    await settle(b);
    await waitFor(() => events.some((e) => e.subkey === 'p1'));
    expect(events.find((e) => e.subkey === 'p1')).toMatchObject({ key: 'note', subkey: 'p1', value: 'x', kind: 'insert' });
    await a.store.remove('note');
    await waitFor(() => events.some((e) => e.kind === 'delete'));
    stop();
    const count = events.length;
    await a.store.set('note', { t: 3 });
    await settle(a);
    await new Promise((r) => setTimeout(r, 300));
    expect(events.length).toBe(count);
  });

  it('store calls before ready() wait for it; close() is idempotent and later calls reject with closed', async () => {
    const c = client(uniqueUser());
    await c.store.set('early', 1);
    expect(await c.store.get('early')).toBe(1);
    await Promise.all([c.close(), c.close()]);
    await c.close();
    await expectCode(c.store.get('early'), 'closed');
    await expectCode(c.store.set('early', 2), 'closed');
    await expectCode(c.ready(), 'closed');
  });
});
