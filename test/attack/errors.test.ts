/**
 * Lifecycle and error mapping, from outside: every rejection a FeatError with the documented code, in both modes, and
 * nothing hangs (each call is bounded here).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';
import { MODES, clientFor, within } from './helpers.js';

const emu = useEmulator();

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** A server that accepts every request and never answers. */
let silent: Server;
let silentUrl: string;
beforeAll(async () => {
  silent = createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  silent.closeAllConnections();
  await new Promise<void>((r) => silent.close(() => r()));
});

const closers: FeatClient[] = [];
afterAll(async () => {
  await Promise.allSettled(closers.map((c) => within(c.close(), 15_000, 'close')));
});
const raw = (options: Partial<FeatClientOptions>) => {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('raw')), ...options } as FeatClientOptions);
  closers.push(c);
  return c;
};

describe.each(MODES)('lifecycle: $name', (mode) => {
  it('store calls made before ready() wait for it; ready() is idempotent and concurrent calls agree', async () => {
    const user = uniqueUser('early');
    const c = clientFor(emu, user, mode.options);
    const early = c.store.set('early', { a: 1 });
    const read = c.store.get('early');
    const [s1, s2] = await within(Promise.all([c.ready(), c.ready()]), 30_000, 'ready');
    expect(s1).toEqual(s2);
    expect(s1.userName).toBe(user);
    await within(early, 10_000, 'early set');
    // The read was made after the write: it sees it (this client's writes are seen by its reads).
    expect(await within(read, 10_000, 'early get')).toEqual({ a: 1 });
    expect(await c.ready()).toEqual(s1);
  });

  it('every call after close() rejects with closed; close and logout are idempotent', async () => {
    const c = clientFor(emu, uniqueUser('closed'), mode.options);
    await c.ready();
    await c.store.set('k', 1);
    await within(Promise.all([c.close(), c.close()]), 20_000, 'close twice');
    await within(c.close(), 5_000, 'close again');
    await within(c.logout(), 5_000, 'logout after close');
    await within(c.logout({ destroyLocal: true }), 5_000, 'logout again');
    const calls: [string, () => Promise<unknown>][] = [
      ['ready', () => c.ready()],
      ['get', () => c.store.get('k')],
      ['set', () => c.store.set('k', 2)],
      ['remove', () => c.store.remove('k')],
      ['getItem', () => c.store.getItem('k')],
      ['setItem', () => c.store.setItem('k', 'v')],
      ['removeItem', () => c.store.removeItem('k')],
      ['getParts', () => c.store.getParts('k')],
      ['setParts', () => c.store.setParts('k', { a: 1 })],
      ['removeParts', () => c.store.removeParts('k')],
      ['keys', () => c.store.keys()],
      ['flush', () => c.store.flush()],
      ['find', () => c.store.find({})],
      ['createIndex', () => c.store.createIndex({ fields: ['a'] })],
      ['pending', () => c.sync.pending()],
      ['waitForPush', () => c.sync.waitForPush({ timeout: 1_000 })],
      ['exportData', () => c.exportData()],
      ['importData', () => c.importData('')],
    ];
    const codes: Record<string, string> = {};
    for (const [name, call] of calls) {
      const outcome = await within(
        Promise.resolve().then(call).then(
          () => 'resolved',
          (e: unknown) => (isFeatError(e) ? e.code : `not a FeatError: ${String(e)}`),
        ),
        5_000,
        name,
      );
      codes[name] = outcome;
    }
    expect(codes).toEqual(Object.fromEntries(calls.map(([name]) => [name, 'closed'])));
  });

  it('watch / watchQuery after close() do not throw something else than a FeatError closed', async () => {
    const c = clientFor(emu, uniqueUser('wclosed'), mode.options);
    await c.ready();
    await c.close();
    for (const subscribe of [() => c.store.watch('k', () => undefined), () => c.store.watchQuery({}, () => undefined)]) {
      let thrown: unknown;
      let stop: (() => void) | undefined;
      try {
        stop = subscribe();
      } catch (e) {
        thrown = e;
      }
      if (thrown !== undefined) expect(isFeatError(thrown, 'closed')).toBe(true);
      else stop?.();
    }
  });

  it('bad keys → invalid_key and bad values → invalid_value, before any request, on every method', async () => {
    const c = clientFor(emu, uniqueUser('bad'), mode.options);
    await c.ready();
    await c.store.set('warm', 1);
    await c.store.flush();
    const before = c.requests.length;
    const badKeys = ['', '_x', 'feat~x', 'a\u0000b', '\ud800', 'x'.repeat(3_100), 42 as unknown as string];
    for (const key of badKeys) {
      await expectCode(c.store.get(key), 'invalid_key');
      await expectCode(c.store.set(key, 1), 'invalid_key');
      await expectCode(c.store.remove(key), 'invalid_key');
      await expectCode(c.store.getItem(key), 'invalid_key');
      await expectCode(c.store.setItem(key, 'v'), 'invalid_key');
      await expectCode(c.store.removeItem(key), 'invalid_key');
      await expectCode(c.store.getParts(key), 'invalid_key');
      await expectCode(c.store.setParts(key, { a: 1 }), 'invalid_key');
      await expectCode(c.store.removeParts(key), 'invalid_key');
    }
    for (const sub of ['', '\ud800', 'a\u0000']) await expectCode(c.store.setParts('ok', { [sub]: 1 }), 'invalid_key');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const sparse: unknown[] = [1];
    sparse[2] = 3;
    const badValues: unknown[] = [undefined, () => 1, NaN, Infinity, cyclic, new Date(0), new Map(), { a: undefined }, sparse, { s: 'x\ud800' }, 10n];
    for (const v of badValues) {
      await expectCode(c.store.set('ok', v as never), 'invalid_value');
      await expectCode(c.store.setParts('ok', { a: v } as never), 'invalid_value');
    }
    await expectCode(c.store.setItem('ok', 5 as unknown as string), 'invalid_value');
    await expectCode(c.store.set('ok', 1, { ttl: -5 }), 'invalid_argument');
    await expectCode(c.store.set('ok', 1, { ttl: Number.NaN }), 'invalid_argument');
    expect(c.requests.slice(before).filter((r) => !r.includes('_changes') && !r.includes('_revs_diff'))).toEqual([]);
  });

  it('a wrong bearer → unauthorized, bounded', async () => {
    const c = raw({ ...mode.options, auth: 'Bearer not-a-valid-token' });
    await within(expectCode(c.ready(), 'unauthorized'), 20_000, 'ready with a wrong bearer');
  });

  it('an auth provider that throws or returns nothing → a FeatError, bounded', async () => {
    const c1 = raw({ ...mode.options, auth: () => '' });
    const e1 = await within(c1.ready().then(() => undefined, (e: unknown) => e), 20_000, 'ready');
    expect(isFeatError(e1, 'unauthorized')).toBe(true);
    const c2 = raw({ ...mode.options, auth: () => Promise.reject(new Error('idp down')) });
    const e2 = await within(c2.ready().then(() => undefined, (e: unknown) => e), 20_000, 'ready');
    expect(isFeatError(e2), String(e2)).toBe(true);
  });

  it('accounts service down (closed port) → network, bounded', async () => {
    const c = raw({ ...mode.options, accountsUrl: await closedPort(), requestTimeout: 3_000 });
    await within(expectCode(c.ready(), 'network'), 20_000, 'ready with accounts down');
  });

  // Local-first: the token names the account, so a new device opens its (empty) replica and ready() resolves once the
  // connection gave up (API.md: "offline → resolves with what is local"; README "Starting offline"); remote: network.
  it('CouchDB down (closed port) on a new device → bounded: remote rejects network (store calls too); local-first opens the empty replica', async () => {
    const c = raw({ ...mode.options, couchUrl: await closedPort(), requestTimeout: 3_000, bootstrapTimeout: 3_000, initialSyncTimeout: 2_000 });
    if (mode.name === 'local-first') {
      await within(c.ready(), 30_000, 'ready with couch down');
      expect(c.sync.status).toBe('offline');
      expect(await within(c.store.get('k'), 30_000, 'get with couch down')).toBeUndefined();
      return;
    }
    await within(expectCode(c.ready(), 'network'), 30_000, 'ready with couch down');
    await within(expectCode(c.store.get('k'), 'network'), 30_000, 'get with couch down');
  });

  it('a silent accounts service → timeout after requestTimeout', async () => {
    const c = raw({ ...mode.options, accountsUrl: silentUrl, requestTimeout: 1_000 });
    const t0 = Date.now();
    await within(expectCode(c.ready(), 'timeout'), 15_000, 'ready with silent accounts');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  // With the `session` option a new device needs no server to know its database: local-first opens the (empty)
  // replica and ready() resolves once the first pull gives up (API.md: "offline → resolves with what is local"); the
  // README's "a brand-new device … rejects with network" is about `auth`, where the session itself needs the server.
  const offlineOutcome = mode.name === 'local-first' ? 'resolved' : undefined;

  it('a silent CouchDB (session option) → timeout after requestTimeout (local-first: resolves with what is local)', async () => {
    const c = createFeatClient({ couchUrl: silentUrl, session: { dbName: 'userdb-00', headers: {} }, requestTimeout: 1_000, initialSyncTimeout: 1_500, ...mode.options } as FeatClientOptions);
    closers.push(c);
    const outcome = await within(
      c.ready().then(
        () => c.store.get('k'),
        (e: unknown) => {
          throw e;
        },
      ),
      20_000,
      'ready/get against a silent couch',
    ).then(
      () => 'resolved',
      (e: unknown) => (isFeatError(e) ? e.code : String(e)),
    );
    expect(outcome).toBe(offlineOutcome ?? 'timeout');
  });

  it('a new device, session option, CouchDB down (closed port) → ready() rejects network (local-first: resolves with what is local)', async () => {
    const c = createFeatClient({ couchUrl: await closedPort(), session: { dbName: 'userdb-00', headers: {} }, requestTimeout: 1_000, initialSyncTimeout: 1_500, ...mode.options } as FeatClientOptions);
    closers.push(c);
    const outcome = await within(
      c.ready().then(
        () => 'resolved',
        (e: unknown) => (isFeatError(e) ? e.code : String(e)),
      ),
      20_000,
      'ready',
    );
    expect(outcome).toBe(offlineOutcome ?? 'network');
    if (offlineOutcome) {
      // It works offline: a write is kept locally, and reads see it.
      await c.store.set('offline', 1);
      expect(await c.store.get('offline')).toBe(1);
    }
  });

  it('an aborted signal → aborted, on ready, waitForPush, exportData and importData', async () => {
    const ac = new AbortController();
    ac.abort();
    const fresh = raw(mode.options);
    await within(expectCode(fresh.ready({ signal: ac.signal }), 'aborted'), 10_000, 'ready aborted');
    const c = clientFor(emu, uniqueUser('abort'), mode.options);
    await c.ready();
    await c.store.set('k', 1);
    await within(expectCode(c.sync.waitForPush({ signal: ac.signal }), 'aborted'), 10_000, 'waitForPush aborted');
    await within(expectCode(c.exportData({ signal: ac.signal }), 'aborted'), 10_000, 'export aborted');
    await within(expectCode(c.importData('', { signal: ac.signal }), 'aborted'), 10_000, 'import aborted');
    // An abort during the call.
    const later = new AbortController();
    const p = c.sync.waitForPush({ signal: later.signal, timeout: 30_000 });
    later.abort();
    const outcome = await within(
      p.then(
        () => 'resolved',
        (e: unknown) => (isFeatError(e) ? e.code : String(e)),
      ),
      10_000,
      'waitForPush',
    );
    expect(['resolved', 'aborted']).toContain(outcome);
  });

  it('waitForPush({ timeout }) after flush resolves in time', async () => {
    const c = clientFor(emu, uniqueUser('wfp'), mode.options);
    await c.ready();
    await c.store.set('k', 1);
    await c.store.flush();
    const outcome = await within(
      c.sync.waitForPush({ timeout: 2_000 }).then(
        () => 'resolved',
        (e: unknown) => (isFeatError(e) ? e.code : String(e)),
      ),
      15_000,
      'waitForPush',
    );
    expect(outcome).toBe('resolved');
  });

  it('bad watch / watchQuery arguments throw invalid_argument (a FeatError), synchronously', async () => {
    const c = clientFor(emu, uniqueUser('wbad'), mode.options);
    await c.ready();
    const bad: (() => unknown)[] = [
      () => c.store.watch('', () => undefined),
      () => c.store.watch('k', 'not a function' as never),
      () => c.store.watch(42 as never, () => undefined),
      () => c.store.watchQuery({ selector: { $bogus: 1 } } as never, () => undefined),
      () => c.store.watchQuery({}, null as never),
    ];
    for (const call of bad) {
      let thrown: unknown;
      try {
        const stop = call();
        if (typeof stop === 'function') (stop as () => void)();
      } catch (e) {
        thrown = e;
      }
      expect(isFeatError(thrown) ? thrown.code : String(thrown)).toMatch(/^invalid_(argument|key)$/);
    }
  });

  it('logout(bad options) rejects with a FeatError (invalid_argument), not a TypeError', async () => {
    const c = clientFor(emu, uniqueUser('lo'), mode.options);
    await c.ready();
    const e = await c.logout(null as never).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isFeatError(e, 'invalid_argument'), String(e)).toBe(true);
  });
});

describe('createFeatClient options', () => {
  it('bad options throw invalid_argument synchronously (never a plain TypeError), with no request', () => {
    const bad: unknown[] = [
      undefined,
      {},
      { couchUrl: 'not a url', accountsUrl: 'http://x', auth: 'Bearer a' },
      { couchUrl: 'http://u:p@x', accountsUrl: 'http://x', auth: 'Bearer a' },
      { couchUrl: 'http://x', accountsUrl: 'http://x', auth: 'Bearer a', mode: 'nope' },
      { couchUrl: 'http://x', accountsUrl: 'http://x', auth: 'Bearer a', maxRequestBytes: -1 },
      { couchUrl: 'http://x', accountsUrl: 'http://x', auth: 'Bearer a', requestTimeout: 0 },
      { couchUrl: 'http://x', accountsUrl: 'http://x', auth: 'Bearer a', indexes: [{ fields: [] }] },
    ];
    for (const options of bad) {
      let thrown: unknown;
      try {
        createFeatClient(options as FeatClientOptions);
      } catch (e) {
        thrown = e;
      }
      expect(isFeatError(thrown, 'invalid_argument'), `${JSON.stringify(options)} → ${String(thrown)}`).toBe(true);
    }
  });
});

describe('REST api errors', () => {
  it('bad input → invalid_argument; a closed port → network; a silent server → timeout; an aborted signal → aborted', async () => {
    const api = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('api')) });
    await within(expectCode(api.activity.commentCount({ target_type: 'x' as never }), 'invalid_argument'), 5_000, 'bad input');
    await within(expectCode(api.weixin.sign({ url: 'not a url' }), 'invalid_argument'), 5_000, 'bad url');
    const down = createFeatApi({ apiUrl: await closedPort(), auth: 'Bearer x', retry: 0 });
    await within(expectCode(down.activity.commentCount({ target_type: 400 }), 'network'), 20_000, 'network');
    const quiet = createFeatApi({ apiUrl: silentUrl, auth: 'Bearer x', timeout: 500, retry: 0 });
    await within(expectCode(quiet.activity.commentCount({ target_type: 400 }), 'timeout'), 20_000, 'timeout');
    const ac = new AbortController();
    ac.abort();
    await within(expectCode(api.activity.commentCount({ target_type: 400 }, { signal: ac.signal }), 'aborted'), 5_000, 'aborted');
    const wrong = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: 'Bearer nope' });
    await within(expectCode(wrong.accounts.couchToken(), 'unauthorized'), 20_000, 'unauthorized');
  });

  it('call options that are not an object reject with a FeatError, not a TypeError', async () => {
    const api = createFeatApi({ apiUrl: emu.apiUrl, auth: 'Bearer x' });
    const e = await Promise.resolve()
      .then(() => api.activity.commentCount({ target_type: 400 }, 'fast' as never))
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    expect(isFeatError(e, 'invalid_argument'), String(e)).toBe(true);
  });
});
