/**
 * A remote-mode client removes a key (or a part) that a local-first device had edited offline; the device pushes its
 * older edit afterwards and goes away before pulling: the server holds the device's live leaf beside the later
 * removal's tombstone, and CouchDB's winner is the live leaf (found by the chaos attack, seed 8). README (Conflicts): "a
 * later removal beats an earlier concurrent write", and remote `getParts()` resolves a part as `get()` of it does.
 * `get()` did; `getParts()` answered the older edit (`_all_docs` lists no deleted leaf: 3 of 3 runs, both backends) —
 * now a part this client removed that reads as live is read as `get()` reads it.
 */
import { describe, expect, it } from 'vitest';
import { clientIn, sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);

type Shape = 'key' | 'part';
const cases: [Shape, 'get' | 'getParts', boolean][] = [
  ['part', 'getParts', false],
  ['part', 'getParts', true],
  ['part', 'get', false],
  ['key', 'get', true],
];

describe('remote mode read after a later removal meets an older offline edit pushed late', () => {
  for (const [shape, read, shared] of cases) {
    it(`${shape} via ${read}()${shared ? ' (the device had the value before going offline)' : ' (the device edits a key it never saw)'}`, async () => {
      const user = uniqueUser('rmbranch');
      const r = clientIn(emu, user, 'remote');
      const l = clientIn(emu, user, 'local-first', { couchUrl: proxy.url, requestTimeout: 8_000 });
      const id = shape === 'part' ? 'p:s0' : 'k';
      const write = (c: typeof r, v: unknown) => (shape === 'part' ? c.store.setParts('p', { s0: v }) : c.store.set('k', v));
      const remove = (c: typeof r) => (shape === 'part' ? c.store.removeParts('p') : c.store.remove('k'));
      await Promise.all([r.ready(), l.ready()]);
      if (shared) {
        await write(r, { w: 'R#0' });
        const deadline = Date.now() + 5_000;
        while (Date.now() < deadline && (await l.store.get(id)) === undefined) await sleep(20);
      }
      l.sync.pause();
      await write(l, { w: 'L#1' }); // the older edit, kept offline
      await l.store.flush();
      await sleep(20);
      await write(r, { w: 'R#2' });
      await sleep(20);
      const pushAndGo = async () => {
        // the device's pull is cut (its changes feed held, as the chaos run's proxy and suspend did): it only pushes
        proxy.fault({ path: /\/_changes$/ }, 'hold');
        l.sync.resume();
        await l.sync.waitForPush({ timeout: 10_000 });
        await l.close(); // pushed; the device goes away before any pull resolves it
        proxy.clear();
        proxy.release();
      };
      await remove(r); // the latest write of all: a removal, acknowledged by the server
      await sleep(20);
      await pushAndGo();
      const readIn = async (c: typeof r) =>
        read === 'getParts' ? (await c.store.getParts<{ w: string }>('p'))['s0'] ?? null : (await c.store.get<{ w: string }>(id)) ?? null;
      const got = await readIn(r);
      const fresh = clientIn(emu, user, 'remote');
      const freshGot = await readIn(fresh);
      const freshL = clientIn(emu, user, 'local-first');
      await freshL.ready();
      await sleep(500);
      const localGot = (await freshL.store.get(id)) ?? null;
      expect({ got, freshGot, localGot }).toEqual({ got: null, freshGot: null, localGot: null });
    });
  }
});

describe('remote getParts() after a removal here that another client undid (the review)', () => {
  it('the first read looks at the parts once; later ones ask the server once (no get() per part)', async () => {
    const user = uniqueUser('rmbranch');
    let requests: string[] = [];
    const counting: typeof fetch = (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${String(input instanceof Request ? input.url : input)}`);
      return fetch(input, init);
    };
    const a = clientIn(emu, user, 'remote', { fetch: counting });
    const b = clientIn(emu, user, 'remote');
    await Promise.all([a.ready(), b.ready()]);
    const parts = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`s${i}`, { n: i }]));
    await a.store.setParts('p', parts);
    await a.store.removeParts('p');
    await b.store.setParts('p', parts); // a later write of every part, on another client
    expect(Object.keys(await a.store.getParts('p')).length).toBe(20);
    requests = [];
    await a.store.getParts('p');
    const reads = requests.filter((r) => r.includes('/p%3A') || r.includes('/p:'));
    expect({ total: requests.length, perPart: reads.length }).toEqual({ total: 1, perPart: 0 });
  });
});
