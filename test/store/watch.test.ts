/**
 * What `watch` reports: `watch(key)` (or `{ key }`) the key and its parts only, `watch({ prefix })` every key starting
 * with the prefix; and every change made after the call returned, the client's own included, in both modes.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes, settle } from './helpers.js';

const emu = useEmulator();

const brief = (e: ChangeEvent) => (e.subkey === undefined ? `${e.key}=${JSON.stringify(e.value)}` : `${e.key}[${e.subkey}]=${JSON.stringify(e.value)}`);

describe.each(modes)('watch: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('watch(key) reports the key and its parts only; watch({ prefix }) every key starting with the prefix', async () => {
    const c = client(uniqueUser());
    await c.ready();
    const exact: ChangeEvent[] = [];
    const asObject: ChangeEvent[] = [];
    const prefixed: ChangeEvent[] = [];
    const stops = [c.store.watch('art', (e) => exact.push(e)), c.store.watch({ key: 'art' }, (e) => asObject.push(e)), c.store.watch({ prefix: 'art' }, (e) => prefixed.push(e))];
    await c.store.set('article', 1);
    await c.store.set('art', 2);
    await c.store.setParts('art', { x: 3, 'y:z': 4 });
    await c.store.setParts('art:b', { y: 5 });
    await c.store.set('other', 6);
    await c.store.set('art~end', 7);
    await waitFor(() => prefixed.some((e) => e.key === 'art~end'), 10_000, 'the last change');
    const expected = ['art=2', 'art[x]=3', 'art[y:z]=4'];
    expect(exact.map(brief).sort()).toEqual(expected);
    expect(asObject.map(brief).sort()).toEqual(expected);
    expect(prefixed.map(brief).sort()).toEqual(['art:b[y]=5', 'art=2', 'art[x]=3', 'art[y:z]=4', 'art~end=7', 'article=1'].sort());
    for (const stop of stops) stop();
    expect(() => c.store.watch({ key: 'a', prefix: 'a' } as never, () => undefined)).toThrow(/key or prefix/);
    expect(() => c.store.watch({} as never, () => undefined)).toThrow(/key or prefix/);
    expect(() => c.store.watch('', () => undefined)).toThrow(/prefix: ""/);
  });

  it("a subscription sees the client's own change made right after it returned (every run)", async () => {
    for (let run = 0; run < 4; run++) {
      // The server answers the database's info slowly (as the real one may, under load): the feed starts late.
      const c = client(uniqueUser(), {}, (line) => (/^GET \/[^/]+\/?$/.test(line) && run > 0 ? 150 : 0));
      // Run 0 subscribes before ready(); the others on a ready client, as an app does.
      if (run > 0) await c.ready();
      const events: ChangeEvent[] = [];
      c.store.watch(run < 3 ? 'k' : { prefix: 'k' }, (e) => events.push(e));
      await c.store.set('k', run);
      await waitFor(() => events.length > 0, 10_000, `run ${run}: the event of the client's own set()`);
      expect(events[0]).toMatchObject({ key: 'k', value: run, kind: 'insert', origin: 'local' });
    }
  });

  it('a second subscription sees a change made right after it returned, while the first keeps its feed', async () => {
    const user = uniqueUser();
    const a = client(user);
    const b = client(user);
    await Promise.all([a.ready(), b.ready()]);
    const first: ChangeEvent[] = [];
    a.store.watch('one', (e) => first.push(e));
    await a.store.set('one', 1);
    await waitFor(() => first.length === 1, 10_000, 'the first event');
    const second: ChangeEvent[] = [];
    a.store.watch('two', (e) => second.push(e));
    await a.store.set('two', 2);
    await waitFor(() => second.length === 1, 10_000, 'the second event');
    // Another client's change (made on top of what it read) reaches the first subscription.
    await settle(a);
    await waitFor(async () => (await b.store.get('one')) === 1, 10_000, "the other client to read a's value");
    await b.store.set('one', 3);
    await settle(b);
    await waitFor(() => first.some((e) => e.origin === 'remote'), 10_000, "the other client's change");
    expect(first.find((e) => e.origin === 'remote')).toMatchObject({ key: 'one', value: 3, kind: 'update' });
  });
});

describe('watch: a change this client already wrote over', () => {
  it("another device's revision that met this client's write as a conflict is not reported after it (remote mode)", async () => {
    const user = uniqueUser('over');
    const base = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' as const };
    const a = emu.track(createFeatClient(base));
    // B's changes feed answers reach it late — held whole until B's write is done while `hold.gate` is set (a fixed
    // delay alone is not enough on a loaded machine; holding only the headers held nothing: CouchDB sends a long-poll's
    // headers at once, its change later): A's change comes after B has written over it.
    const hold: { gate?: Promise<void> } = {};
    const lateFeed: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input instanceof Request ? input.url : input).includes('/_changes')) return response;
      const body = await response.text();
      await sleep(400);
      await hold.gate;
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    };
    const b = emu.track(createFeatClient({ ...base, fetch: lateFeed }));
    await a.ready();
    await b.ready();
    await b.store.set('k', 'b0');
    const events: ChangeEvent[] = [];
    const stop = b.store.watch('k', (e) => events.push(e));
    await waitFor(() => events.length === 0 && b.store.get('k').then((v) => v === 'b0'), 5_000);
    await sleep(500); // the feed is live and past b0
    let open!: () => void;
    hold.gate = new Promise((resolve) => (open = resolve));
    await a.store.set('k', 'from A');
    await b.store.set('k', 'from B'); // 409 on A's revision, resolved: B's newer value is written over it
    open();
    await waitFor(() => events.some((e) => e.value === 'from B'), 10_000, "B's own write");
    await sleep(800);
    stop();
    // Before the fix: [remote 'from A', local 'from B'] — a listener applying remote changes (the redux sync) kept the
    // stale 'from A' while the server had 'from B'.
    expect(events.map((e) => `${e.origin} ${JSON.stringify(e.value)}`)).toEqual(['local "from B"']);
    await expect(a.store.get('k')).resolves.toBe('from B');
  });
});
