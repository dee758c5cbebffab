/**
 * `signal` on the store's calls (get, getItem, getParts, keys, set, remove, setParts, removeParts, flush), in remote,
 * memory and leveldb local-first modes: a bad one is `invalid_argument` before any I/O; an aborted one rejects
 * `aborted` (`cause` = its reason) and does nothing; one that fires while the call waits (the client's start, a held
 * request) rejects it at once. A write already queued still goes on; a parts call that had not queued its writes
 * writes nothing. No listener is left on a signal that many calls share.
 */
import { getEventListeners, setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatStore } from '@feat/sdk';
import { expectCode, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const couch = useFaultProxy(() => emu.couchUrl);
const accounts = useFaultProxy(() => emu.accountsUrl);
const dir = mkdtempSync(join(tmpdir(), 'feat-signal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const modes = [
  { name: 'remote', remote: true, options: (): Partial<FeatClientOptions> => ({ mode: 'remote' }) },
  { name: 'local-first (memory)', remote: false, options: (): Partial<FeatClientOptions> => ({ mode: 'local-first', local: { adapter: 'memory' } }) },
  {
    name: 'local-first (leveldb)',
    remote: false,
    options: (user: string): Partial<FeatClientOptions> => ({ mode: 'local-first', local: { adapter: 'leveldb', name: join(dir, user) } }),
  },
];

type Options = { signal?: unknown } | number;
/** Every store call that takes a signal, on the keys the tests seed (`k` = 1, `gone` = 1, parts `p` = { a: 1 }). */
const calls: Record<string, (store: FeatStore, options: Options) => Promise<unknown>> = {
  get: (s, o) => s.get('k', o as never),
  getItem: (s, o) => s.getItem('k', o as never),
  getParts: (s, o) => s.getParts('p', o as never),
  keys: (s, o) => s.keys(undefined, o as never),
  set: (s, o) => s.set('k', 2, o as never),
  remove: (s, o) => s.remove('gone', o as never),
  setParts: (s, o) => s.setParts('p', { b: 2 }, o as never),
  removeParts: (s, o) => s.removeParts('p', o as never),
  flush: (s, o) => s.flush(o as never),
};

/** What the seeded keys hold: unchanged when the calls did nothing. */
async function state(store: FeatStore) {
  return { k: await store.get('k'), gone: await store.get('gone'), p: await store.getParts('p'), keys: await store.keys() };
}
const SEEDED = { k: 1, gone: 1, p: { a: 1 }, keys: ['gone', 'k', 'p:a'] };

describe.each(modes)('store calls take a signal: $name', (mode) => {
  const clients: FeatClient[] = [];
  afterEach(() => {
    for (const proxy of [couch, accounts]) {
      proxy.clear();
      proxy.release();
    }
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
  });

  /** A client in this mode (`remote`: in remote mode whatever this suite's mode). */
  function client(user = uniqueUser('sig'), remote = false): FeatClient {
    const c = createFeatClient({
      couchUrl: couch.url,
      accountsUrl: accounts.url,
      auth: emu.bearerFor(user),
      requestTimeout: 20_000,
      ...(remote ? { mode: 'remote' } : mode.options(user)),
    } as FeatClientOptions);
    clients.push(c);
    return c;
  }

  async function seeded(): Promise<FeatClient> {
    const c = client();
    await c.ready();
    await Promise.all([c.store.set('k', 1), c.store.set('gone', 1), c.store.setParts('p', { a: 1 })]);
    await c.sync.waitForPush({ timeout: 10_000 });
    return c;
  }

  /** The requests the client sends to the server meanwhile (remote mode: the store's own only). */
  const sent = () => couch.log.length;

  it('a signal that is not an AbortSignal, or options that are no object → invalid_argument, nothing read or written', async () => {
    const c = await seeded();
    const before = sent();
    for (const [name, call] of Object.entries(calls)) {
      for (const bad of [{ signal: 'stop' }, { signal: { aborted: true, addEventListener() {} } }, { signal: null }, 5] as Options[]) {
        const e = await expectCode(call(c.store, bad), 'invalid_argument');
        expect(e.message, `${name}(${JSON.stringify(bad)})`).toMatch(/signal|options object/);
      }
    }
    if (mode.remote) expect(sent()).toBe(before);
    expect(await state(c.store)).toEqual(SEEDED);
  });

  it('an already aborted signal → aborted (its reason as cause), nothing read, written or queued', async () => {
    const c = await seeded();
    const reason = new Error('gone away');
    const before = sent();
    for (const [name, call] of Object.entries(calls)) {
      const e = await expectCode(call(c.store, { signal: AbortSignal.abort(reason) }), 'aborted');
      expect(e.cause, name).toBe(reason);
    }
    if (mode.remote) expect(sent()).toBe(before);
    expect(await c.sync.pending()).toBe(0);
    await c.store.flush();
    expect(await state(c.store)).toEqual(SEEDED);
  });

  it('a live signal changes nothing: every call answers as without one; keys(undefined, { signal }) lists every key', async () => {
    const c = await seeded();
    const { signal } = new AbortController();
    expect(await c.store.get('k', { signal })).toBe(1);
    expect(await c.store.getItem('k', { signal })).toBe('1');
    expect(await c.store.getParts('p', { signal })).toEqual({ a: 1 });
    expect(await c.store.keys(undefined, { signal })).toEqual(['gone', 'k', 'p:a']);
    expect(await c.store.keys('g', { signal })).toEqual(['gone']);
    await c.store.set('k', 2, { ttl: 60_000, signal });
    await c.store.remove('gone', { signal });
    await c.store.setParts('p', { b: 2 }, { replace: true, signal });
    await c.store.flush({ signal });
    expect(await state(c.store)).toEqual({ k: 2, gone: undefined, p: { b: 2 }, keys: ['k', 'p:b'] });
    await c.store.removeParts('p', { signal });
    expect(await c.store.getParts('p')).toEqual({});
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('aborted while the client starts (its token held back): every call rejects at once; the queued writes go on, parts calls not yet queued write nothing', async () => {
    const user = uniqueUser('sig');
    // The data, on the server (a new replica pulls it once started).
    const server = client(user, true);
    await Promise.all([server.store.set('k', 1), server.store.set('gone', 1), server.store.setParts('p', { a: 1 })]);

    const c = client(user);
    accounts.fault({ path: /\/couchdb\/token\/?$/ }, 'delay', { times: 1, delayMs: 3_000 });
    const controller = new AbortController();
    const reason = new Error('navigated away');
    const started = Object.entries(calls).map(([name, call]) => ({ name, outcome: call(c.store, { signal: controller.signal }).catch((e: unknown) => e) }));
    await sleep(300);
    const t0 = Date.now();
    controller.abort(reason);
    for (const { name, outcome } of started) {
      const e = await outcome;
      expect((e as { code?: unknown }).code, name).toBe('aborted');
      expect((e as Error).cause, name).toBe(reason);
    }
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

    await c.ready();
    await c.store.flush();
    await c.sync.waitForPush({ timeout: 10_000 });
    // set('k', 2) and remove('gone') were queued before the abort: written. setParts and removeParts were still
    // waiting to look up the stored parts: nothing of theirs was queued, nothing is written.
    await waitFor(async () => (await server.store.get('k')) === 2 && (await server.store.get('gone')) === undefined, 10_000, 'the queued writes');
    expect(await server.store.getParts('p')).toEqual({ a: 1 });
    expect(await c.store.getParts('p')).toEqual({ a: 1 });
  }, 30_000);

  it('one signal shared by 50 calls leaves no listener behind, whether they finish or it aborts them', async () => {
    const c = await seeded();
    const names = Object.keys(calls);
    const fifty = (signal: AbortSignal) => Array.from({ length: 50 }, (_, i) => calls[names[i % names.length]!]!(c.store, { signal }).catch((e: unknown) => e));
    const finished = new AbortController();
    setMaxListeners(100, finished.signal); // (one listener per call while it runs, as a fetch has)
    const outcomes = await Promise.all(fifty(finished.signal));
    expect(outcomes.filter((o) => o instanceof Error)).toEqual([]);
    expect(getEventListeners(finished.signal, 'abort')).toHaveLength(0);

    // Remote: the requests are held by the server; local-first: the calls are aborted during their first wait.
    const aborting = new AbortController();
    setMaxListeners(100, aborting.signal);
    if (mode.remote) couch.fault({ path: /\/(_all_docs|_bulk_docs|k)$/ }, 'hold');
    const running = fifty(aborting.signal);
    if (mode.remote) await sleep(300);
    aborting.abort();
    const codes = new Set((await Promise.all(running)).map((o) => (o as { code?: unknown } | undefined)?.code ?? 'resolved'));
    // (A read of a key with a queued write answers from the queue at once: `resolved`.)
    expect([...codes].filter((code) => code !== 'resolved')).toEqual(['aborted']);
    expect(getEventListeners(aborting.signal, 'abort')).toHaveLength(0);
    couch.clear();
    couch.release();
    await c.store.flush().catch(() => undefined);
    // What ended later (the held requests, resent after the release) adds no listener either.
    await sleep(500);
    expect(getEventListeners(aborting.signal, 'abort')).toHaveLength(0);
  }, 30_000);

  it.runIf(mode.remote)('remote: aborted while its request is held → the call rejects at once; a read does nothing else', async () => {
    const c = await seeded();
    for (const [name, path] of [
      ['get', /\/k$/],
      ['getItem', /\/k$/],
      ['getParts', /\/_all_docs$/],
      ['keys', /\/_all_docs$/],
      ['flush', /\/_bulk_docs$/],
    ] as const) {
      // flush waits for a write held on its way.
      const write = name === 'flush' ? c.store.set('held', 1) : undefined;
      couch.fault({ path }, 'hold');
      const controller = new AbortController();
      const outcome = calls[name]!(c.store, { signal: controller.signal }).catch((e: unknown) => e);
      await sleep(300);
      expect(couch.held, name).toBeGreaterThan(0);
      const reason = new Error(`stop ${name}`);
      const t0 = Date.now();
      controller.abort(reason);
      const e = await outcome;
      expect(Date.now() - t0, name).toBeLessThan(1_000);
      expect((e as { code?: unknown }).code, name).toBe('aborted');
      expect((e as Error).cause, name).toBe(reason);
      expect(getEventListeners(controller.signal, 'abort'), name).toHaveLength(0);
      couch.clear();
      couch.release();
      // (The released write is resent by the transport, or fails: flush() tells.)
      await write?.catch(() => undefined);
    }
    await c.store.flush().catch(() => undefined);
    expect(await state(c.store)).toEqual({ ...SEEDED, keys: (await c.store.get('held')) === undefined ? SEEDED.keys : ['gone', 'held', 'k', 'p:a'] });
  }, 30_000);

  it.runIf(mode.remote)('remote: a write aborted while its request is on its way still lands (flush() and get() tell); a parts call aborted during its lookup writes nothing', async () => {
    const c = await seeded();
    couch.fault({ method: 'POST', path: /\/_bulk_docs$/ }, 'delay', { times: 1, delayMs: 2_000 });
    const controller = new AbortController();
    const t0 = Date.now();
    const write = c.store.set('k', 2, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expectCode(write, 'aborted');
    expect(Date.now() - t0).toBeLessThan(1_500);
    await c.store.flush();
    expect(await c.store.get('k')).toBe(2);

    couch.fault({ method: 'GET', path: /\/_all_docs$/ }, 'delay', { times: 1, delayMs: 2_000 });
    const parts = new AbortController();
    const replace = c.store.setParts('p', { b: 2 }, { replace: true, signal: parts.signal });
    setTimeout(() => parts.abort(), 300);
    await expectCode(replace, 'aborted');
    // flush() waits for the lookup, and has no failure of it to report.
    await c.store.flush();
    expect(await c.store.getParts('p')).toEqual({ a: 1 });

    // A lookup that fails after the abort is not reported either: nothing of the call was queued.
    couch.fault({ method: 'GET', path: /\/_all_docs$/ }, 'hold', { times: 1 });
    const failing = new AbortController();
    const removal = c.store.removeParts('p', { signal: failing.signal });
    await sleep(300);
    failing.abort();
    await expectCode(removal, 'aborted');
    couch.release();
    await c.store.flush();
    expect(await c.store.getParts('p')).toEqual({ a: 1 });
  }, 30_000);
});
