/**
 * The account is refused under a running remote-mode client (deleted or disabled: the accounts service answers 401 or
 * 403 to the bearer, CouchDB 401 to the proxy token). README "Sync": remote status `denied` after a 401 a new token did
 * not fix or a 403, `offline` only when the server cannot be reached — also for the calls that fail at the token
 * request. A refused token request is not made again by every call: concurrent callers share one, later calls within
 * the refresh backoff are refused at once, one request tries again once it passed, and a token that works resets it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isFeatError(e) ? e.code : `RAW ${String(e)}`));

async function remoteClient() {
  const couch = await startFaultProxy(emu.couchUrl);
  const accounts = await startFaultProxy(emu.accountsUrl);
  cleanups.push(() => couch.close(), () => accounts.close());
  const statuses: string[] = [];
  const c = createFeatClient({ couchUrl: couch.url, accountsUrl: accounts.url, auth: emu.bearerFor(uniqueUser('refused')), mode: 'remote', requestTimeout: 3_000, maintenance: { enabled: false } });
  cleanups.push(() => c.close().catch(() => undefined));
  c.sync.on('status', (s) => statuses.push(s));
  await c.ready();
  await c.store.set('a', 1);
  return { c, couch, accounts, statuses };
}

function revoke(couch: FaultProxy, accounts: FaultProxy, accountsStatus = 401) {
  accounts.fault(() => true, 'answer', { status: accountsStatus, body: { detail: accountsStatus === 401 ? 'Invalid token.' : 'User is inactive or deleted.' } });
  couch.fault(() => true, 'answer', { status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
}

describe.each([
  [401, 'unauthorized'],
  [403, 'forbidden'],
])('remote mode, the accounts service answers %i', (accountsStatus, refusal) => {
  it('every call refused is `denied`, never `offline`; `idle` again once the account is back', async () => {
    const { c, couch, accounts, statuses } = await remoteClient();
    revoke(couch, accounts, accountsStatus);
    // Its 401 from CouchDB, then the token refresh refused.
    expect(['unauthorized', 'forbidden']).toContain(await code(c.store.set('b', 2)));
    expect(c.sync.status).toBe('denied');
    // The next calls fail at the token request (at once, within the backoff, or after it): still `denied`.
    expect(await code(c.store.get('a'))).toBe(refusal);
    await sleep(700);
    expect(await code(c.store.get('a'))).toBe(refusal);
    expect(await code(c.store.keys())).toBe(refusal);
    expect(statuses.join(',')).toBe('connecting,idle,denied');
    // Back: once the backoff passed, a call gets a token again and works.
    couch.clear();
    accounts.clear();
    await waitFor(async () => (await code(c.store.get('a'))) === 'ok', 10_000, 'a call working again');
    expect(c.sync.status).toBe('idle');
    await c.store.set('b', 2);
    expect(await c.store.get('b')).toBe(2);
  }, 30_000);
});

describe('remote mode, the accounts service cannot be reached', () => {
  it('a call failing at the token request is `offline` (not `denied`)', async () => {
    const { c, couch, accounts } = await remoteClient();
    accounts.fault(() => true, 'reset');
    couch.fault(() => true, 'answer', { status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
    expect(await code(c.store.get('a'))).toBe('network');
    expect(c.sync.status).toBe('offline');
  }, 30_000);
});

describe('a refused token request is not made by every call', () => {
  it('concurrent calls share one; later calls within the backoff are refused at once; then one tries again; a token that works resets it', async () => {
    const { c, couch, accounts } = await remoteClient();
    revoke(couch, accounts);
    const tokens = () => accounts.log.length;
    const a0 = tokens();
    // The refusal comes after this: its backoff (500 ms) lasts at least until `before` + 500 ms.
    const before = Date.now();
    const concurrent = await Promise.all(Array.from({ length: 50 }, (_, i) => code(c.store.get(`k${i}`))));
    expect(new Set(concurrent)).toEqual(new Set(['unauthorized']));
    // One request for all of them (on a loaded machine a 401 may come back after the 500 ms backoff: one more then).
    if (Date.now() - before < 450) expect(tokens() - a0).toBe(1);
    else expect(tokens() - a0).toBeLessThanOrEqual(2);

    // Within the backoff: refused at once, by the same typed error, without a token request (nor one to CouchDB).
    const a1 = tokens();
    const c1 = couch.log.length;
    for (let i = 0; i < 20; i++) expect(await code(c.store.get(`s${i}`))).toBe('unauthorized');
    // (On a loaded machine the calls may outlast the backoff: then one request is allowed.)
    const quick = Date.now() - before < 450;
    if (quick) {
      expect(tokens() - a1).toBe(0);
      expect(couch.log.length - c1).toBe(0);
    }
    expect(tokens() - a1).toBeLessThanOrEqual(1);

    // Once it passed: one request tries again, shared by concurrent callers.
    await sleep(2_200);
    const a2 = tokens();
    expect(new Set(await Promise.all(Array.from({ length: 10 }, () => code(c.store.get('a')))))).toEqual(new Set(['unauthorized']));
    expect(tokens() - a2).toBe(1);

    // The account is back: after the backoff a token is fetched and works; that resets the backoff, so the next
    // refusal is answered again after the first step (500 ms), not after a longer one.
    couch.clear();
    accounts.clear();
    await waitFor(async () => (await code(c.store.get('a'))) === 'ok', 10_000, 'a call working again');
    revoke(couch, accounts);
    const a3 = tokens();
    expect(await code(c.store.get('a'))).toBe('unauthorized');
    expect(tokens() - a3).toBe(1);
    expect(await code(c.store.get('a'))).toBe('unauthorized');
    await sleep(700);
    expect(await code(c.store.get('a'))).toBe('unauthorized');
    expect(tokens() - a3).toBe(2);
  }, 40_000);
});

describe('a refused credential, renewed by the auth provider (the user signed in again)', () => {
  it('the new Authorization is tried at once, not refused for the rest of the backoff; an unchanged one makes no request', async () => {
    const couch = await startFaultProxy(emu.couchUrl);
    const accounts = await startFaultProxy(emu.accountsUrl);
    cleanups.push(() => couch.close(), () => accounts.close());
    const good = emu.bearerFor(uniqueUser('renewed'));
    let token = good;
    const c = createFeatClient({ couchUrl: couch.url, accountsUrl: accounts.url, auth: () => token, mode: 'remote', requestTimeout: 3_000, maintenance: { enabled: false } });
    cleanups.push(() => c.close().catch(() => undefined));
    await c.ready();
    await c.store.set('a', 1);
    // The OAuth session ends: the provider's token is refused, and CouchDB refuses the proxy token.
    token = 'Bearer expired-oauth-token';
    couch.fault(() => true, 'answer', { status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
    expect(await code(c.store.get('a'))).toBe('unauthorized');
    for (let i = 0; i < 4; i++) {
      await sleep(2 ** i * 500 + 50);
      expect(await code(c.store.get('a'))).toBe('unauthorized');
    }
    // Within the backoff (now seconds long), the unchanged credential gets the refusal without a token request.
    const asked = accounts.log.length;
    expect(await code(c.store.get('a'))).toBe('unauthorized');
    expect(accounts.log.length).toBe(asked);
    // The user signs in again: the provider gives a valid Authorization, used at once.
    couch.clear();
    token = good;
    expect(await code(c.store.get('a'))).toBe('ok');
  }, 30_000);
});
