/**
 * An auth provider that answers, for a while, with ANOTHER user's Authorization value (an account switcher whose
 * selection moved) while the client refreshes its token after a 401 (attack s23, "two accounts at once on one
 * device"). The token naming another account is refused, never adopted: no request of A's client carries B's headers,
 * the refusal says what happened (`forbidden`, both accounts named), and the provider is asked again with backoff, so
 * the client recovers by itself once the provider answers for A again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      ...(extra.mode === 'remote' ? {} : { local: { adapter: 'memory' } }),
      ...extra,
    } as FeatClientOptions),
  );

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isFeatError(e) ? e.code : `non-FeatError ${String(e)}`),
  );

/** Every key and value on the user's server database, read in remote mode (nothing local). */
async function serverState(user: string): Promise<Record<string, unknown>> {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  try {
    await c.ready();
    const keys = await c.store.keys();
    return Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await c.store.get(k)])));
  } finally {
    await c.close();
  }
}

describe('a refreshed token naming another account', () => {
  it('local-first: refused with `forbidden` naming both accounts; A recovers by itself (no pause/resume, no ready()) once the provider answers for A again', async () => {
    const [alice, bob] = [uniqueUser('rec-a'), uniqueUser('rec-b')];
    let selected = alice;
    let asked = 0;
    const errors: { code: string; message: string }[] = [];
    const a = client(alice, {
      auth: () => {
        asked++;
        return emu.bearerFor(selected);
      },
    });
    a.sync.on('error', (e) => errors.push({ code: e.code, message: e.message }));
    await a.ready();
    // On its own (no tabs' election): it runs sync.
    expect(a.sync.leader).toBe(true);
    await a.store.set('k', 'A1');
    await a.sync.waitForPush({ timeout: 15_000 });
    // The app's account switcher now selects B; A's proxy token expires.
    selected = bob;
    emu.rotateSecret();
    await a.store.set('k', 'A2');
    await waitFor(() => errors.length > 0, 15_000, 'an error event');
    expect(errors[0]!.code).toBe('forbidden');
    expect(errors[0]!.message).toContain(bob);
    expect(errors[0]!.message).toContain(alice);
    expect(errors[0]!.message).toMatch(/logout\(\)/);
    expect(a.sync.status).toBe('denied');
    expect(a.session?.userName).toBe(alice);
    // Asked again with backoff, not by every request; reported once; still refused.
    const before = asked;
    await sleep(5_000);
    expect(asked - before).toBeLessThan(15);
    expect(errors.length).toBe(1);
    expect(a.sync.status).toBe('denied');
    // Nothing of A's went to B's database, nor A's new value to A's (it has no credentials for it).
    expect(await serverState(bob)).toEqual({});
    expect((await serverState(alice))['k']).toBe('A1');
    // The provider answers for A again: the client asks again by itself (backoff) and pushes.
    selected = alice;
    expect(await codeOf(a.sync.waitForPush({ timeout: 45_000 }))).toBe('ok');
    await waitFor(() => a.sync.status === 'idle', 15_000, 'idle again');
    expect((await serverState(alice))['k']).toBe('A2');
  }, 120_000);

  it('local-first: pause()/resume() and ready() after the switch back work too', async () => {
    const [alice, bob] = [uniqueUser('rr-a'), uniqueUser('rr-b')];
    let selected = alice;
    const a = client(alice, { auth: () => emu.bearerFor(selected) });
    a.sync.on('error', () => undefined);
    await a.ready();
    await a.store.set('k', 'A1');
    await a.sync.waitForPush({ timeout: 15_000 });
    selected = bob;
    emu.rotateSecret();
    await a.store.set('k', 'A2');
    await waitFor(() => a.sync.status === 'denied', 15_000, 'A denied');
    selected = alice;
    a.sync.pause();
    a.sync.resume();
    const readyAgain = await codeOf(a.ready());
    const pushed = await codeOf(a.sync.waitForPush({ timeout: 45_000 }));
    await waitFor(() => a.sync.status === 'idle', 15_000, 'idle again').catch(() => undefined);
    expect({ readyAgain, pushed, status: a.sync.status, onServer: (await serverState(alice))['k'] }).toEqual({
      readyAgain: 'ok',
      pushed: 'ok',
      status: 'idle',
      onServer: 'A2',
    });
  }, 120_000);

  it('remote: the call is refused `forbidden` (naming both accounts), never sent with B\'s headers; calls work again once the provider answers for A', async () => {
    const [alice, bob] = [uniqueUser('rm-a'), uniqueUser('rm-b')];
    const b = client(bob);
    await b.ready();
    await b.store.set('b-secret', 'B private');
    await b.sync.waitForPush({ timeout: 15_000 });
    let selected = alice;
    const a = client(alice, { auth: () => emu.bearerFor(selected), mode: 'remote' });
    a.sync.on('error', () => undefined);
    await a.ready();
    await a.store.set('a-before', 'A');
    selected = bob;
    emu.rotateSecret();
    const write = await a.store.set('a-after', 'A after').then(
      () => 'ok',
      (e: unknown) => (isFeatError(e) ? { code: e.code, message: e.message } : String(e)),
    );
    expect(write).toMatchObject({ code: 'forbidden' });
    expect((write as { message: string }).message).toContain(bob);
    expect(await codeOf(a.store.get('b-secret'))).toBe('forbidden');
    expect(a.sync.status).toBe('denied');
    expect(a.session?.userName).toBe(alice);
    const onB = await serverState(bob);
    expect(Object.keys(onB)).toEqual(['b-secret']);
    selected = alice;
    await waitFor(async () => (await codeOf(a.store.set('a-after', 'A after'))) === 'ok', 45_000, 'a call working again');
    expect(await a.store.get('b-secret')).toBeUndefined();
    expect(Object.keys(await serverState(alice)).sort()).toEqual(['a-after', 'a-before']);
    expect(a.sync.status).toBe('idle');
  }, 120_000);
});

// From the review of the fix: the refusal met during a start, a renamed database, the account of a replica opened
// offline, and `leader` before the replica is open.
describe('the account check, around the start', () => {
  it('a switch met during a second start (ready() after a network failure) passes once the provider answers for A again', { timeout: 90_000 }, async () => {
    const [alice, bob] = [uniqueUser('st-a'), uniqueUser('st-b')];
    let selected = alice;
    let cut = false;
    const fetchFn: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      // (A 503, not an unreachable server: a new device whose token named its account opens its replica offline.)
      if (cut && url.startsWith(emu.couchUrl)) return Promise.resolve(new Response('{"error":"unavailable"}', { status: 503, headers: { 'content-type': 'application/json' } }));
      return fetch(input, init);
    };
    const a = client(alice, { auth: () => emu.bearerFor(selected), fetch: fetchFn, requestTimeout: 2_000, initialSyncTimeout: 2_000 });
    a.sync.on('error', () => undefined);
    // The token is fetched (alice: the client's account), then CouchDB fails: the start fails.
    const starting = a.ready();
    cut = true;
    expect(await codeOf(starting)).not.toBe('ok');
    cut = false;
    selected = bob;
    emu.rotateSecret();
    expect(await codeOf(a.ready())).toBe('forbidden');
    selected = alice;
    await waitFor(async () => (await codeOf(a.store.set('k', 'A'))) === 'ok', 40_000, 'a write working again');
    await a.sync.waitForPush({ timeout: 30_000 });
    expect(await serverState(alice)).toEqual({ k: 'A' });
    expect(await serverState(bob)).toEqual({});
  });

  it('a token of the same user naming another database: the refusal names the database, without the generic hint', async () => {
    const alice = uniqueUser('db');
    let rename = false;
    const fetchFn: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!rename || !url.includes('/couchdb/token/') || !response.ok) return response;
      const body = (await response.json()) as { data: { dbname: string } };
      body.data.dbname = 'renamed-db';
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const a = client(alice, { mode: 'remote', fetch: fetchFn });
    a.sync.on('error', () => undefined);
    await a.ready();
    await a.store.set('k', 1);
    rename = true;
    emu.rotateSecret();
    const error = await a.store.set('k', 2).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFeatError(error) && error.code).toBe('forbidden');
    const message = (error as Error).message;
    expect(message).toContain('renamed-db');
    expect(message).not.toMatch(/admin role/);
  });

  it('sync.leader is false before the replica is open, true once it is, false once closed', async () => {
    const c = client(uniqueUser('ld'));
    const before = c.sync.leader;
    const starting = c.ready();
    const during = c.sync.leader;
    await starting;
    const after = c.sync.leader;
    await c.close();
    expect({ before, during, after, closed: c.sync.leader }).toEqual({ before: false, during: false, after: true, closed: false });
  });
});

describe('a replica opened offline', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'feat-switch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is its account's: a token of another user met first is refused, and sync goes on once the provider answers for the owner", { timeout: 90_000 }, async () => {
    const [alice, bob] = [uniqueUser('off-a'), uniqueUser('off-b')];
    const name = path.join(dir, alice);
    const first = client(alice, { local: { adapter: 'leveldb', name, identity: alice } });
    await first.ready();
    await first.store.set('synced', 1);
    await first.sync.waitForPush({ timeout: 30_000 });
    await first.close();

    // Next start offline (no server, no accounts service: no token yet): the app names alice (`local.identity`), but
    // its provider already answers for bob (the app's switcher moved). The first token this client sees is bob's.
    let selected = bob;
    let cut = true;
    const fetchFn: typeof fetch = (input, init) => (cut ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init));
    const errors: string[] = [];
    const again = client(alice, { local: { adapter: 'leveldb', name, identity: alice }, auth: () => emu.bearerFor(selected), fetch: fetchFn });
    again.sync.on('error', (e) => errors.push(e.code));
    expect((await again.ready()).userName).toBe(alice);
    await again.store.set('offline', 2);
    cut = false;
    await waitFor(() => again.sync.status === 'denied', 30_000, 'refused: a token of bob');
    expect(errors).toContain('forbidden');
    selected = alice;
    await again.sync.waitForPush({ timeout: 60_000 });
    expect(await serverState(alice)).toEqual({ synced: 1, offline: 2 });
    expect(await serverState(bob)).toEqual({});
  });
});
