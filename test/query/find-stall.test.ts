/**
 * A remote find() whose answer stalls after its headers (`_find`, or the `_index` it creates first) fails like every
 * other store call on a silent server: `timeout` (or `aborted` when its signal ends it), not `bad_response`. Only an
 * answer that arrived and is not JSON is `bad_response` (with the parse error as `cause`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ profile: 'couchdb' });
let couch: FaultProxy;
beforeAll(async () => {
  couch = await startFaultProxy(emu.couchUrl);
});
afterAll(async () => {
  await couch.close();
});

const client = (user: string, requestTimeout: number, fetch?: typeof globalThis.fetch) =>
  createFeatClient({ couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', requestTimeout, ...(fetch ? { fetch } : {}) });

const describe = (e: unknown) => (isFeatError(e) ? `${e.code}: ${e.message}` : String(e));

it.each([
  { name: '_index (the index a selector needs, created first)', path: /\/_index$/, query: { prefix: 'k', selector: { v: { $gt: 0 } } } },
  { name: '_find with a selector', path: /\/_find$/, query: { prefix: 'k', selector: { w: { $gt: 0 } } } },
  { name: '_find, prefix only', path: /\/_find$/, query: { prefix: 'k' } },
])('remote find: $name stalls after its headers → timeout', async ({ path, query }) => {
  const c = client(uniqueUser('fst'), 1_500);
  try {
    await c.ready();
    await c.store.set('k', { v: 1, w: 1 });
    // The index of `w` exists already: only `_find` is left to stall.
    if (query.selector && 'w' in query.selector) await c.store.find(query);
    couch.fault({ method: 'POST', path }, 'stall');
    const t0 = Date.now();
    const e = (await c.store.find(query).catch((x: unknown) => x)) as FeatError;
    expect(describe(e)).toMatch(/^timeout: /);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(couch.counts.stall).toBeGreaterThan(0);
  } finally {
    couch.clear();
    couch.release();
    await c.close();
  }
}, 30_000);

it('remote find({ signal }) aborted while _find stalls after its headers → aborted at once', async () => {
  const c = client(uniqueUser('fsa'), 5_000);
  try {
    await c.ready();
    await c.store.set('k', { v: 1 });
    await c.store.find({ prefix: 'k', selector: { v: { $gt: 0 } } }); // index made
    couch.fault({ method: 'POST', path: /\/_find$/ }, 'stall');
    const ac = new AbortController();
    const t0 = Date.now();
    const p = c.store.find({ prefix: 'k', selector: { v: { $gt: 0 } } }, { signal: ac.signal }).catch((x: unknown) => x);
    setTimeout(() => ac.abort(), 1_000);
    const e = await p;
    expect(describe(e)).toMatch(/^aborted: /);
    expect(Date.now() - t0).toBeLessThan(2_500);
  } finally {
    couch.clear();
    couch.release();
    await c.close();
  }
}, 30_000);

it('one signal shared by 6 finds at once (both modes): no MaxListenersExceededWarning; aborted, each rejects with its reason as cause', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const remote = client(uniqueUser('fsl'), 5_000);
  const local = createFeatClient({ couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('fsl')), local: { adapter: 'memory' } });
  try {
    for (const c of [remote, local]) {
      await c.ready();
      await c.store.set('k', { v: 1 });
      const ac = new AbortController();
      const six = () => Array.from({ length: 6 }, (_, i) => c.store.find({ prefix: 'k', selector: { v: { $gt: i - 10 } } }, { signal: ac.signal }));
      expect((await Promise.all(six())).map((r) => r.length)).toEqual([1, 1, 1, 1, 1, 1]);
      // (A local find sends no request to hold.)
      if (c === local) continue;
      couch.fault({ method: 'POST', path: /\/_find$/ }, 'hold');
      const held = six().map((p) => p.catch((e: unknown) => e));
      await new Promise((r) => setTimeout(r, 300));
      const reason = new Error('left the page');
      ac.abort(reason);
      for (const e of await Promise.all(held)) {
        expect(describe(e)).toMatch(/^aborted: /);
        expect((e as FeatError).cause).toBe(reason);
      }
      couch.clear();
      couch.release();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
  } finally {
    process.off('warning', onWarning);
    couch.clear();
    couch.release();
    await Promise.all([remote.close(), local.close()]);
  }
}, 30_000);

it('remote find: a _find answer that is not JSON → bad_response with the parse error as cause', async () => {
  const notJson: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (/\/_find(\?|$)/.test(url)) return new Response('<html>gateway</html>', { status: 200, headers: { 'Content-Type': 'text/html' } });
    return fetch(input, init);
  };
  const c = client(uniqueUser('fsj'), 5_000, notJson);
  try {
    await c.ready();
    await c.store.set('k', { v: 1 });
    const e = (await c.store.find({ prefix: 'k' }).catch((x: unknown) => x)) as FeatError;
    expect(describe(e)).toMatch(/^bad_response: .*_find/);
    expect((e as { cause?: unknown }).cause).toBeInstanceOf(SyntaxError);
  } finally {
    await c.close();
  }
}, 30_000);
