/**
 * The accounts service failing for now (429 Too Many Requests, 5xx) when a token is needed: calls within the backoff
 * that follows reject at once with that failure (`server`), with no token request each — never one request per call
 * (a list rendering 30 values made 30 in 42 ms) — and a `Retry-After` is honoured. An answer a token service does not
 * give (409, 404, 400) is `bad_response` (README error table), never `conflict` or `not_found`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isFeatError(e) ? e.code : `RAW ${String(e)}`));

/**
 * A remote-mode client whose CouchDB is behind a fault proxy; `answer` (when set) is what the accounts service answers
 * every token request, which `tokens` records.
 */
async function remoteClient() {
  const couch = await startFaultProxy(emu.couchUrl);
  cleanups.push(() => couch.close());
  const tokens: number[] = [];
  const accounts: { answer?: (() => Response) | undefined } = {};
  const fetchVia: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(emu.accountsUrl)) return fetch(input, init);
    tokens.push(Date.now());
    return accounts.answer ? Promise.resolve(accounts.answer()) : fetch(input, init);
  };
  const c = createFeatClient({
    couchUrl: couch.url,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(uniqueUser('busy')),
    mode: 'remote',
    fetch: fetchVia,
    maintenance: { enabled: false },
  });
  cleanups.push(() => c.close().catch(() => undefined));
  await c.ready();
  await c.store.set('k', 1);
  /** The token expired: CouchDB refuses it from now on. */
  const expire = () => couch.fault(() => true, 'answer', { status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
  return { c, couch, tokens, accounts, expire };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

it('a client whose first token request failed (503): store calls without ready() do not ask once each; ready() asks at once', async () => {
  const tokens: number[] = [];
  let failing = true;
  const c = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(uniqueUser('busy-first')),
    mode: 'remote',
    maintenance: { enabled: false },
    fetch: (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!url.startsWith(emu.accountsUrl)) return fetch(input, init);
      tokens.push(Date.now());
      return failing ? Promise.resolve(json(503, { error: 'busy', reason: 'slow down' })) : fetch(input, init);
    },
  });
  cleanups.push(() => c.close().catch(() => undefined));
  const results: string[] = [];
  for (let i = 0; i < 20; i++) results.push(await code(c.store.get('k')));
  expect(results).toEqual(Array(20).fill('server'));
  expect(tokens.length).toBe(1);
  failing = false;
  expect(await code(c.ready())).toBe('ok');
  expect(tokens.length).toBe(2);
  expect(await code(c.store.get('k'))).toBe('ok');
});

describe.each([429, 503])('remote mode, the token expired and the accounts service answers %i', (status) => {
  it('calls within the backoff reject at once with `server`, a request per backoff step at most; calls work once it answers', async () => {
    const { c, couch, tokens, accounts, expire } = await remoteClient();
    expire();
    accounts.answer = () => json(status, { error: 'busy', reason: 'slow down' });
    tokens.length = 0;
    const t0 = Date.now();
    const results: string[] = [];
    for (let i = 0; i < 30; i++) results.push(await code(c.store.get('k')));
    expect(results).toEqual(Array(30).fill('server'));
    expect(tokens.length).toBe(1);
    expect(Date.now() - t0).toBeLessThan(2_000);
    // Calls keep coming for 1.5 s: the backoff (250–500 ms, then doubling, jittered) lets a few requests through, not one each.
    while (Date.now() - t0 < 1_500) {
      expect(await code(c.store.get('k'))).toBe('server');
      await sleep(20);
    }
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expect(tokens.length).toBeLessThanOrEqual(4);
    // The service answers again (and CouchDB takes the new token): once the backoff passed, a call works.
    accounts.answer = undefined;
    couch.clear();
    await waitFor(async () => (await code(c.store.get('k'))) === 'ok', 10_000, 'a call working again');
    expect(await c.store.get('k')).toBe(1);
  });
});

describe('the accounts service answers 429 with Retry-After', () => {
  it('no token request before Retry-After has passed; then one', async () => {
    const { c, tokens, accounts, expire } = await remoteClient();
    expire();
    accounts.answer = () => json(429, { error: 'too_many_requests' }, { 'Retry-After': '2' });
    tokens.length = 0;
    const t0 = Date.now();
    // Well past the backoff alone (at most 500 ms after one failure), within the 2 s asked for.
    while (Date.now() - t0 < 1_700) {
      expect(await code(c.store.get('k'))).toBe('server');
      await sleep(25);
    }
    expect(tokens.length).toBe(1);
    await sleep(Math.max(0, tokens[0]! + 2_100 - Date.now()));
    expect(await code(c.store.get('k'))).toBe('server');
    expect(tokens.length).toBe(2);
  });

  it('a ready() that has not succeeded asks again at once all the same', async () => {
    const tokens: number[] = [];
    let answer: Response | undefined = json(429, { error: 'too_many_requests' }, { 'Retry-After': '30' });
    const c = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(uniqueUser('busy')),
        mode: 'remote',
        fetch: (input, init) => {
          const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
          if (!url.startsWith(emu.accountsUrl)) return fetch(input, init);
          tokens.push(Date.now());
          return answer ? Promise.resolve(answer.clone()) : fetch(input, init);
        },
      }),
    );
    expect(await code(c.ready())).toBe('server');
    expect(tokens.length).toBe(1);
    expect(await code(c.ready())).toBe('server');
    expect(tokens.length).toBe(2);
    answer = undefined;
    expect(await code(c.ready())).toBe('ok');
  });
});

describe('an answer a token service does not give', () => {
  it.each([
    [409, { error: 'conflict', reason: 'document update conflict' }],
    [404, { detail: 'Not found.' }],
    [400, { error: 'bad_request' }],
  ])('%i → ready() rejects with bad_response (its status kept); a later ready() works', async (status, body) => {
    const tokens: number[] = [];
    let broken = true;
    const c = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(uniqueUser('odd')),
        mode: 'remote',
        fetch: (input, init) => {
          const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
          if (url.startsWith(emu.accountsUrl)) tokens.push(Date.now());
          return broken && url.startsWith(emu.accountsUrl) ? Promise.resolve(json(status, body)) : fetch(input, init);
        },
      }),
    );
    const error = await c.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFeatError(error, 'bad_response'), String(error)).toBe(true);
    expect((error as { status?: number }).status).toBe(status);
    broken = false;
    await c.ready();
    await c.store.set('k', 1);
  });
});
