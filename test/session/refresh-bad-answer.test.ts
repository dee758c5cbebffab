/**
 * A token refresh (after CouchDB's 401: the proxy secret rotated) whose answer is not a token answer — malformed JSON,
 * another shape, HTML: the write rejected `unauthorized` ("the token could not be refreshed"), its only cause a 401
 * made up from that message; `bad_response` (README, Errors: a malformed token response) appeared nowhere, though the
 * same answer at the first `ready()` gives it. The refresh's own failure now keeps its code (the next call asks the
 * service again, as after a bad answer at the start).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';
import { failure } from '../support/hostile-server.js';

const emu = useEmulator();
const accounts = useFaultProxy(() => emu.accountsUrl);
const TOKEN = /couchdb\/token\/?$/;

const made: FeatClient[] = [];
afterEach(async () => {
  accounts.clear();
  accounts.release();
  await Promise.allSettled(made.splice(0).map((c) => c.close()));
});

function client(user: string, mode: 'remote' | 'local-first', extra: Partial<FeatClientOptions> = {}): FeatClient {
  const c = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: accounts.url,
    auth: emu.bearerFor(user),
    mode,
    ...(mode === 'local-first' ? { local: { adapter: 'memory' as const } } : {}),
    maintenance: { enabled: false },
    ...extra,
  } as FeatClientOptions);
  made.push(c);
  return c;
}

const chainOf = (error: unknown) => {
  const chain: string[] = [];
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) chain.push(`${(e as FeatError).code ?? ''}: ${(e as Error).message}`);
  return chain.join(' <- ');
};

describe('a refresh answered with something that is not a token answer (remote)', () => {
  const answers: [string, { status: number; body: unknown }][] = [
    ['{ data: {} }', { status: 200, body: { data: {} } }],
    ['an HTML string', { status: 200, body: '<html>oops</html>' }],
    ['headers without dbname', { status: 200, body: { data: { headers: { 'X-Auth-CouchDB-UserName': 'x' } } } }],
  ];
  for (const [name, shape] of answers) {
    it(`${name}: the write rejects \`bad_response\``, async () => {
      const c = client(uniqueUser('refresh-shape'), 'remote');
      await c.ready();
      accounts.fault({ path: TOKEN }, 'answer', shape);
      emu.rotateSecret();
      const { error } = await failure(c.store.set('a', 1), 6_000);
      expect(error.code, chainOf(error)).toBe('bad_response');
    });
  }

  it('malformed JSON: `bad_response`, for the next calls too (each asks the service again); then the service answers', async () => {
    let malformed = false;
    const c = client(uniqueUser('refresh-json'), 'remote', {
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (malformed && TOKEN.test(new URL(url).pathname)) return new Response('{"data": {"headers": ', { status: 200, headers: { 'content-type': 'application/json' } });
        return fetch(input, init);
      }) as typeof fetch,
    });
    await c.ready();
    emu.rotateSecret();
    malformed = true;
    const { error } = await failure(c.store.set('a', 1), 6_000);
    expect(error.code, chainOf(error)).toBe('bad_response');
    const again = await Promise.all([failure(c.store.set('b', 1), 6_000), failure(c.store.get('a'), 6_000)]);
    expect(again.map((r) => r.error.code)).toEqual(['bad_response', 'bad_response']);
    // The service answers again: the next write goes through.
    malformed = false;
    await expect.poll(() => c.store.set('c', 1).then(() => 'stored', (e: FeatError) => e.code), { timeout: 15_000, interval: 500 }).toBe('stored');
  });
});

describe('local-first', () => {
  it('a refresh answered with another shape: one `bad_response` error event, status `error`; sync recovers once the service answers', async () => {
    const c = client(uniqueUser('refresh-lf'), 'local-first');
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.ready();
    accounts.fault({ path: TOKEN }, 'answer', { status: 200, body: { data: {} } });
    emu.rotateSecret();
    await c.store.set('k', { v: 1 });
    await expect.poll(() => errors.map((e) => e.code), { timeout: 15_000 }).toContain('bad_response');
    expect(c.sync.status).toBe('error');
    expect(errors.filter((e) => e.code === 'unauthorized')).toEqual([]);
    accounts.clear();
    await c.sync.waitForPush({ timeout: 30_000 });
  }, 60_000);
});
