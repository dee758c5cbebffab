/**
 * close() of a local-first client, in the order it ends things: the writes made before it (what it names as not
 * confirmed must agree with what became of them), a memory replica's last push (which may need a token refresh, so it
 * runs before the lifetime ends), then every wait (`closed`, never reported as a background failure).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ profile: 'couchdb' });
const proxies: FaultProxy[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.allSettled(proxies.map((p) => p.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const proxy = async (url: string) => {
  const p = await startFaultProxy(url);
  proxies.push(p);
  return p;
};
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => (isFeatError(e) ? e.code : `untyped: ${String(e)}`),
  );
const unauthorized = { status: 401, body: { error: 'unauthorized', reason: 'expired' } };

describe('close() of a local-first client', () => {
  it('memory replica: unpushed writes whose push meets an expired token (one 401) still reach the server', async () => {
    const couch = await proxy(emu.couchUrl);
    const user = uniqueUser('cl-grace');
    const c = emu.track(createFeatClient({ couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } }));
    await c.ready();
    await c.store.set('warm', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    const errors: string[] = [];
    c.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    // The write does not get through for now; then the token expires: the next request gets a 401.
    const off = couch.fault({ method: 'POST', path: /_bulk_docs$/ }, 'answer', { status: 503, body: { error: 'unavailable', reason: 'x' } });
    await c.store.set('last-words', 'keep me');
    await waitFor(() => couch.counts.answer > 0, 5_000, 'the push refused');
    off();
    couch.fault(() => true, 'answer', { ...unauthorized, times: 1 });
    await c.close();
    const reader = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    expect(await reader.store.get('last-words')).toBe('keep me');
    expect(errors.filter((e) => /discarded/.test(e))).toEqual([]);
  }, 40_000);

  it('memory replica whose push the server holds: close() looks at the server with backoff during its grace, not ten times a second', async () => {
    const couch = await proxy(emu.couchUrl);
    const user = uniqueUser('cl-held');
    // (A push still in flight is given up to close()'s bound, 2 × requestTimeout + 1 s: 7 s here.)
    const c = emu.track(createFeatClient({ couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 3_000 }));
    await c.ready();
    await c.store.set('warm', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    const errors: string[] = [];
    c.sync.on('error', (e) => errors.push(e.message));
    couch.fault({ method: 'POST', path: /_bulk_docs$/ }, 'hold');
    await c.store.set('held', 2);
    await waitFor(() => couch.held > 0, 10_000, 'the push held');
    const asked = () => couch.log.filter((r) => /_revs_diff$/.test(r.path)).length;
    const before = asked();
    const t0 = Date.now();
    try {
      await c.close();
    } finally {
      couch.release();
    }
    // The grace period (5 s) is used, not past close()'s bound (7 s, plus the confirmation's last look), and the
    // server is asked about the push a few times within it (was ~50).
    expect(Date.now() - t0).toBeGreaterThan(4_000);
    expect(Date.now() - t0).toBeLessThan(14_000);
    expect(asked() - before).toBeGreaterThan(1);
    expect(asked() - before).toBeLessThanOrEqual(12);
    expect(errors.filter((e) => /discarded 1 local change/.test(e))).toHaveLength(1);
  }, 30_000);

  it("close() while the push's token refresh is held: no `closed` error event or warning", async () => {
    const couch = await proxy(emu.couchUrl);
    const accounts = await proxy(emu.accountsUrl);
    const user = uniqueUser('cl-noise');
    const c = emu.track(
      createFeatClient({ couchUrl: couch.url, accountsUrl: accounts.url, auth: emu.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 3_000 }),
    );
    await c.ready();
    await c.store.set('k', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      couch.fault(() => true, 'answer', { ...unauthorized, times: 1 });
      accounts.fault(() => true, 'hold');
      await c.store.set('w', 2);
      await waitFor(() => accounts.held > 0, 10_000, 'the refresh held');
      await c.close();
      // Whatever settles after close() (the held refresh) is not reported either.
      await sleep(200);
      const warned = warn.mock.calls.map((a) => a.map(String).join(' '));
      expect(warned.filter((w) => /closed/i.test(w))).toEqual([]);
    } finally {
      warn.mockRestore();
      accounts.release();
    }
  }, 40_000);

  for (const end of ['close', 'logout'] as const) {
    it(`an auth provider that never answers: ${end}() ends the pending ready() and store call with closed at once`, async () => {
      const c: FeatClient = emu.track(
        createFeatClient({
          couchUrl: emu.couchUrl,
          accountsUrl: emu.accountsUrl,
          auth: () => new Promise<string>(() => undefined),
          requestTimeout: 8_000,
          local: { adapter: 'memory' },
        } as FeatClientOptions),
      );
      const t0 = Date.now();
      const ready = outcome(c.ready());
      const got = outcome(c.store.get('k'));
      // The local-first layer loaded and asking the provider.
      await sleep(800);
      await (end === 'close' ? c.close() : c.logout());
      expect(await ready).toBe('closed');
      expect(await got).toBe('closed');
      expect(Date.now() - t0).toBeLessThan(3_000);
    }, 20_000);
  }

  it('a provider that timed out once: the next ready() still finds the session remembered under its identity', async () => {
    const user = uniqueUser('cl-ident');
    const dir = mkdtempSync(join(tmpdir(), 'feat-cl-ident-'));
    dirs.push(dir);
    const local = { adapter: 'leveldb' as const, name: join(dir, 'replica') };
    const first = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local });
    await first.ready();
    await first.store.set('k', 1);
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();
    // Offline now; the provider's first call does not answer within requestTimeout, later ones do.
    let calls = 0;
    const bearer = emu.bearerFor(user);
    const c = emu.track(
      createFeatClient({
        couchUrl: 'http://127.0.0.1:9',
        accountsUrl: 'http://127.0.0.1:9',
        auth: () => (calls++ === 0 ? new Promise<string>(() => undefined) : bearer),
        requestTimeout: 500,
        local,
      } as FeatClientOptions),
    );
    expect(await outcome(c.ready())).toBe('network');
    // The replica that has synced before opens offline, from what the device remembers for this identity.
    expect((await c.ready()).userName).toBe(user);
    expect(await c.store.get('k')).toBe(1);
  }, 30_000);

  it('close() during a hanging resolver: a write it names as not confirmed did not succeed, one that succeeded reached the server', async () => {
    const user = uniqueUser('cl-resolver');
    const a = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(user),
        local: { adapter: 'memory' },
        onConflict: () => new Promise<never>(() => undefined),
        requestTimeout: 2_000,
      }),
    );
    const b = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } }));
    await Promise.all([a.ready(), b.ready()]);
    // A write conflict on `k` in a: it read `k` as absent, then b created it and a pulled that.
    expect(await a.store.get('k')).toBeUndefined();
    let arrived = false;
    const off = a.store.watch({ prefix: 'k' }, (e) => (arrived ||= e.key === 'k'));
    await b.store.set('k', 'theirs');
    await b.sync.waitForPush({ timeout: 20_000 });
    await waitFor(() => arrived, 20_000, 'the pull of k');
    off();
    const writes = [outcome(a.store.set('k', 'mine')), outcome(a.store.set('by1', 1)), outcome(a.store.setParts('p', { x: 1 }))];
    await sleep(300);
    const named: string[] = [];
    a.sync.on('error', (e) => named.push(e.message));
    const t0 = Date.now();
    await a.close();
    // close() waits 2 × requestTimeout + 1 s at most for the writes.
    expect(Date.now() - t0).toBeLessThan(6_000);
    const [k, by1, parts] = await Promise.all(writes);
    // close() ended the resolver's wait; the writes batched with it were stored, and only `k` is named.
    expect([k, by1, parts]).toEqual(['closed', 'resolved', 'resolved']);
    const unconfirmed = named.filter((m) => m.startsWith('close():'));
    expect(unconfirmed).toHaveLength(1);
    expect(unconfirmed[0]).toContain(': "k".');
    // What resolved reached the server (the memory replica's last push).
    const server = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    expect(await server.store.get('by1')).toBe(1);
    expect(await server.store.getParts('p')).toEqual({ x: 1 });
  }, 60_000);
});
