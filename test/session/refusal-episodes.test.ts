/**
 * Refusal episodes: another code after a refusal is told; a sign-in again ends the episode; waitForPush() right after
 * a sign-in with a slow provider does not reject with the old refusal; a first pull refused once, then idle.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useAccountsFront, type AccountsFront } from '../support/accounts-front.js';

const emu = useEmulator();
let front: AccountsFront;
useAccountsFront(emu, (f) => (front = f));

let gen = 0;
function dev(user: string, providerMs = 0) {
  const session = { bearer: '' };
  const login = (as = user) => {
    session.bearer = `s26-${++gen}-${'x'.repeat(32)}`;
    front.sessions.set(session.bearer, as);
  };
  login();
  const c: FeatClient = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: front.url,
      auth: async () => {
        if (providerMs) await sleep(providerMs);
        return `Bearer ${session.bearer}`;
      },
      local: { adapter: 'memory' },
      maintenance: { enabled: false },
      requestTimeout: 5_000,
    } as never),
  );
  const errors: FeatError[] = [];
  const statuses: string[] = [];
  c.sync.on('error', (e) => errors.push(e));
  c.sync.on('status', (s) => statuses.push(s));
  return { c, errors, statuses, login, revoke: () => void front.sessions.delete(session.bearer) };
}

/** A device of a new user (`tag`) that pushed a first value, then lost its session while writing `key`: `denied`. */
async function deniedDevice(tag: string, key: string, providerMs = 0) {
  const a = dev(uniqueUser(tag), providerMs);
  await a.c.ready();
  await a.c.store.set('seed', 1);
  await a.c.sync.waitForPush({ timeout: 15_000 });
  a.revoke();
  emu.rotateSecret();
  await a.c.store.set(key, 1);
  await waitFor(() => a.c.sync.status === 'denied', 15_000, 'denied');
  return a;
}

describe('refusal episodes', () => {
  it('unauthorized, pause, signed in again as another account, resume: the app is told forbidden (create a new client)', async () => {
    const a = await deniedDevice('s26e', 'x');
    expect(a.errors.map((e) => e.code)).toEqual(['unauthorized']);
    a.c.sync.pause();
    // The app signs in again — as another account: the session refuses its token (`forbidden`, "call logout() and
    // create a new client"). Re-login does not help; the app must hear it.
    a.login(uniqueUser('s26other'));
    a.c.sync.resume();
    await sleep(6_000);
    expect(a.c.sync.status).toBe('denied');
    expect(a.errors.map((e) => e.code)).toContain('forbidden');
  }, 40_000);

  it('denied, pause, signed in again, resume: idle again, and a later revocation is reported again', async () => {
    const a = await deniedDevice('s26p', 'x');
    a.c.sync.pause();
    a.login();
    a.c.sync.resume();
    await waitFor(() => a.c.sync.status === 'idle', 20_000, `idle (${a.statuses.join(',')})`);
    await a.c.sync.waitForPush({ timeout: 15_000 });
    a.revoke();
    emu.rotateSecret();
    await a.c.store.set('y', 1);
    await waitFor(() => a.c.sync.status === 'denied', 15_000, 'denied again');
    await sleep(300);
    expect(a.errors.map((e) => e.code)).toEqual(['unauthorized', 'unauthorized']);
  }, 60_000);

  for (const [pause, providerMs] of [[0, 400], [0, 0]] as const) {
    it(`waitForPush() ${pause} ms after sign-in again (provider ${providerMs} ms) does not reject unauthorized`, async () => {
      const a = await deniedDevice('s26v', 'p', providerMs);
      await sleep(pause);
      // Signed in again: the provider now answers a valid credential (in 400 ms, as an OAuth refresh or a secure
      // storage read may). README: a refusal ends the wait only once "a renewed credential [was] tried".
      a.login();
      const out = await a.c.sync.waitForPush({ timeout: 20_000 }).then(
        () => 'resolved',
        (e: FeatError) => `${e.code}: ${e.message}`,
      );
      expect(out).toBe('resolved');
    }, 60_000);
  }

  it('first pull refused once by CouchDB (403 before the members are set), then live sync: status idle', async () => {
    const user = uniqueUser('s26f');
    // The database exists with data (another device), so the new device's first pull is needed.
    const b = dev(user);
    await b.c.ready();
    await b.c.store.set('seed', 1);
    await b.c.sync.waitForPush({ timeout: 15_000 });
    let refused = 0;
    const fetch403: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (refused === 0 && /\/_changes/.test(url)) {
        refused++;
        return new Response(JSON.stringify({ error: 'forbidden', reason: 'You are not allowed to access this db.' }), { status: 403, headers: { 'content-type': 'application/json' } });
      }
      return fetch(input, init);
    };
    const session = { bearer: `s26f-${'x'.repeat(32)}` };
    front.sessions.set(session.bearer, user);
    const c = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: front.url, auth: () => `Bearer ${session.bearer}`, local: { adapter: 'memory' }, maintenance: { enabled: false }, fetch: fetch403 } as never),
    );
    const errors: string[] = [];
    const statuses: string[] = [];
    c.sync.on('error', (e) => errors.push(e.code));
    c.sync.on('status', (s) => statuses.push(s));
    await c.ready();
    await waitFor(() => c.sync.status === 'idle', 15_000, `idle (statuses ${statuses.join(',')})`);
    expect(refused).toBe(1);
    expect(errors).toEqual(['forbidden']);
    expect(await c.store.get('seed')).toBe(1);
  }, 40_000);
});
