/**
 * The session (issue 3): the accounts token fetched once and shared (single flight), `auth` as a value or a provider,
 * the token response validated (`bad_response`), accounts 401 → provider asked again once, and the `session` option
 * that skips the accounts service. Real HTTP against the emulator; msw only injects malformed token responses.
 */
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatErrorCode } from '@feat/sdk';
import { dbNameOf, recorder, type Recorder, rejectsWith, uniqueName, useBackend } from './harness.js';

const { emu, clients, server } = useBackend();

function client(rec: Recorder, options: Partial<FeatClientOptions>): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, mode: 'remote', fetch: rec.fetch, ...options });
  clients.push(c);
  return c;
}

const tokenUrl = () => `${emu.accountsUrl}/couchdb/token/`;
const tokenCalls = (rec: Recorder) => rec.to(emu.accountsUrl);

describe('single flight', () => {
  it('concurrent ready() and store calls share one token request and one bootstrap', async () => {
    const name = uniqueName('flight');
    const rec = recorder();
    const c = client(rec, { auth: emu.bearerFor(name) });
    const sessions = await Promise.all([c.ready(), c.ready(), c.ready()]);
    const [, , got] = await Promise.all([c.store.set('a', 1), c.store.set('b', 2), c.store.get('a'), c.ready()]);
    expect(new Set(sessions.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(got === undefined || got === 1).toBe(true);
    expect(tokenCalls(rec)).toHaveLength(1);
    expect(rec.to(emu.couchUrl).filter((call) => call.path.startsWith('/_users/'))).toHaveLength(1);
    // More work later: still the one token.
    await c.store.set('c', 3);
    await expect(c.store.get('b')).resolves.toBe(2);
    expect(tokenCalls(rec)).toHaveLength(1);
  });

  it('concurrent store calls before any ready() also share one token request', async () => {
    const name = uniqueName('flight2');
    const rec = recorder();
    const c = client(rec, { auth: emu.bearerFor(name) });
    await Promise.all(Array.from({ length: 8 }, (_, i) => c.store.set(`k${i}`, i)));
    await expect(Promise.all(Array.from({ length: 8 }, (_, i) => c.store.get(`k${i}`)))).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(tokenCalls(rec)).toHaveLength(1);
  });
});

describe('auth forms', () => {
  it('a sync provider function: asked once, its value sent as Authorization to the accounts service only', async () => {
    const name = uniqueName('sync-auth');
    const bearer = emu.bearerFor(name);
    let asked = 0;
    const rec = recorder();
    const c = client(rec, {
      auth: () => {
        asked += 1;
        return bearer;
      },
    });
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    await c.store.set('k', 'v');
    expect(asked).toBe(1);
    expect(tokenCalls(rec).map((call) => call.headers.get('authorization'))).toEqual([bearer]);
    expect(rec.to(emu.couchUrl).every((call) => !call.headers.has('authorization'))).toBe(true);
  });

  it('an async provider function', async () => {
    const name = uniqueName('async-auth');
    let asked = 0;
    const rec = recorder();
    const c = client(rec, {
      auth: async () => {
        asked += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return emu.bearerFor(name);
      },
    });
    const [a, b] = await Promise.all([c.ready(), c.store.get('nothing')]);
    expect(a).toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(b).toBeUndefined();
    expect(asked).toBe(1);
    expect(tokenCalls(rec)).toHaveLength(1);
  });

  it('a bare token without a scheme is sent as "Bearer <token>"', async () => {
    const name = uniqueName('bare');
    const bearer = emu.bearerFor(name);
    const bare = bearer.replace(/^Bearer /, '');
    expect(bare).not.toMatch(/^Bearer/);
    const rec = recorder();
    const c = client(rec, { auth: bare });
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(tokenCalls(rec)[0]?.headers.get('authorization')).toBe(`Bearer ${bare}`);

    // The same for a provider returning a bare token.
    const rec2 = recorder();
    const c2 = client(rec2, { auth: () => bare });
    await c2.ready();
    expect(tokenCalls(rec2)[0]?.headers.get('authorization')).toBe(`Bearer ${bare}`);
  });

  it('a provider returning nothing → unauthorized, and no request is made', async () => {
    const rec = recorder();
    const c = client(rec, { auth: () => '   ' });
    await rejectsWith(c.ready(), 'unauthorized');
    expect(rec.calls).toEqual([]);
  });
});

describe('token response validation (msw)', () => {
  const name = uniqueName('malformed');
  const good = () => ({ data: { headers: emu.couchHeadersFor(name), dbname: dbNameOf(name) } });
  const cases: { what: string; answer: () => Response; code: FeatErrorCode }[] = [
    { what: 'no dbname', answer: () => HttpResponse.json({ data: { headers: good().data.headers } }), code: 'bad_response' },
    { what: 'an empty dbname', answer: () => HttpResponse.json({ data: { ...good().data, dbname: '' } }), code: 'bad_response' },
    // Not a database name CouchDB allows: `.`/`..` are dot segments (the requests went to the server root), `_users` a
    // system database.
    ...['.', '..', '_users', 'UserDB-1', '../_users', ' userdb'].map((dbname) => ({
      what: `dbname ${JSON.stringify(dbname)}`,
      answer: () => HttpResponse.json({ data: { ...good().data, dbname } }),
      code: 'bad_response' as const,
    })),
    { what: 'no headers', answer: () => HttpResponse.json({ data: { dbname: dbNameOf(name) } }), code: 'bad_response' },
    { what: 'headers without the token', answer: () => HttpResponse.json({ data: { headers: { 'X-Auth-CouchDB-UserName': name }, dbname: dbNameOf(name) } }), code: 'bad_response' },
    { what: 'headers without the user name', answer: () => HttpResponse.json({ data: { headers: { 'X-Auth-CouchDB-Token': 'abc' }, dbname: dbNameOf(name) } }), code: 'bad_response' },
    { what: 'a non-string header value', answer: () => HttpResponse.json({ data: { headers: { ...good().data.headers, 'X-Extra': 1 }, dbname: dbNameOf(name) } }), code: 'bad_response' },
    { what: 'no data envelope', answer: () => HttpResponse.json(good().data), code: 'bad_response' },
    { what: 'null', answer: () => HttpResponse.json(null), code: 'bad_response' },
    { what: 'a body that is not JSON', answer: () => HttpResponse.text('<html><body>Service Unavailable</body></html>', { headers: { 'content-type': 'text/html' } }), code: 'bad_response' },
    { what: 'truncated JSON', answer: () => new HttpResponse('{"data":{"headers":{"X-Auth-CouchDB-UserName":', { headers: { 'content-type': 'application/json' } }), code: 'bad_response' },
    { what: '500', answer: () => HttpResponse.json({ detail: 'Internal server error' }, { status: 500 }), code: 'server' },
    { what: '502 with an HTML page', answer: () => HttpResponse.text('<html>Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } }), code: 'server' },
    { what: '403', answer: () => HttpResponse.json({ detail: 'You do not have permission.' }, { status: 403 }), code: 'forbidden' },
    { what: 'a connection reset', answer: () => HttpResponse.error(), code: 'network' },
  ];

  it.each(cases)('$what → $code; nothing is sent to CouchDB; the next ready() fetches again and succeeds', async ({ answer, code }) => {
    let served = 0;
    server.use(
      http.get(tokenUrl(), () => {
        served += 1;
        return answer();
      }),
    );
    const rec = recorder();
    const c = client(rec, { auth: emu.bearerFor(name) });
    await rejectsWith(c.ready(), code);
    await rejectsWith(c.store.set('k', 1), code);
    expect(rec.to(emu.couchUrl)).toEqual([]);
    // A failed connection is not memoized: the store call asked again (a reset connection is retried once on a fresh
    // one, so twice each). A refusal or a failing service starts a backoff: within it the store call gets the same
    // failure without a request (the app's own ready() below asks at once). An answer that is not a token asks again.
    expect(served).toBe(code === 'network' ? 4 : code === 'bad_response' ? 2 : 1);

    server.resetHandlers();
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    await c.store.set('k', 'written after recovery');
    await expect(c.store.get('k')).resolves.toBe('written after recovery');
  });
});

describe('accounts 401', () => {
  it('a bad bearer: the provider is asked again once; the same value is not sent twice; unauthorized; CouchDB is never contacted', async () => {
    let asked = 0;
    const rec = recorder();
    const c = client(rec, {
      auth: () => {
        asked += 1;
        return 'Bearer not-a-valid-token';
      },
    });
    const error = await rejectsWith(c.ready(), 'unauthorized');
    expect(error.status).toBe(401);
    expect(asked).toBe(2);
    // Issue 20: the provider had nothing newer, so the refused value is not sent again (no requests in pairs).
    expect(tokenCalls(rec).map((call) => call.status)).toEqual([401]);
    expect(rec.to(emu.couchUrl)).toEqual([]);
  });

  it('an expired access token: the provider returns a fresh one on the second ask and ready() succeeds', async () => {
    const name = uniqueName('refresh-auth');
    let asked = 0;
    const rec = recorder();
    const c = client(rec, {
      auth: async () => {
        asked += 1;
        return asked === 1 ? 'Bearer expired' : emu.bearerFor(name);
      },
    });
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(asked).toBe(2);
    expect(tokenCalls(rec).map((call) => [call.headers.get('authorization'), call.status])).toEqual([
      ['Bearer expired', 401],
      [emu.bearerFor(name), 200],
    ]);
  });

  it('a fixed bad value: at most two token requests, then unauthorized', async () => {
    const rec = recorder();
    const c = client(rec, { auth: 'Bearer wrong' });
    await rejectsWith(c.ready(), 'unauthorized');
    expect(tokenCalls(rec).length).toBeGreaterThanOrEqual(1);
    expect(tokenCalls(rec).length).toBeLessThanOrEqual(2);
  });
});

describe('session option', () => {
  it('skips the accounts service entirely: bootstrap and store work with the given headers', async () => {
    const name = uniqueName('direct');
    // The headers an app obtained on its own (here: one token request of our own, outside the client).
    const token = (await (await fetch(tokenUrl(), { headers: { Authorization: emu.bearerFor(name) } })).json()) as {
      data: { headers: Record<string, string>; dbname: string };
    };
    const accountsBefore = emu.requests.filter((r) => r.service === 'accounts').length;

    const rec = recorder();
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      session: { dbName: token.data.dbname, headers: token.data.headers },
      mode: 'remote',
      fetch: rec.fetch,
    });
    clients.push(c);
    // userName comes from X-Auth-CouchDB-UserName when not given.
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    await c.store.set('k', { direct: true });
    await expect(c.store.get('k')).resolves.toEqual({ direct: true });

    expect(rec.calls.length).toBeGreaterThan(0);
    expect(rec.calls.every((call) => call.url.startsWith(emu.couchUrl))).toBe(true);
    expect(emu.requests.filter((r) => r.service === 'accounts').length).toBe(accountsBefore);
    // It bootstrapped the user itself.
    expect(rec.calls.some((call) => call.method === 'PUT' && call.path.startsWith('/_users/') && call.status === 201)).toBe(true);
  });

  it("one's own headers with another user's database: forbidden at once (no wait for a new database), and the message does not claim a user was created", async () => {
    const me = uniqueName('own');
    const other = uniqueName('other');
    await emu.createUser(me);
    await emu.createUser(other);
    const c = createFeatClient({ couchUrl: emu.couchUrl, session: { dbName: dbNameOf(other), headers: emu.couchHeadersFor(me) }, mode: 'remote' });
    clients.push(c);
    const started = Date.now();
    const error = await rejectsWith(c.ready(), 'forbidden');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.message).not.toMatch(/after the user was created/);
  });

  it('an explicit session.userName is what ready() reports', async () => {
    const name = uniqueName('direct-name');
    await emu.createUser(name);
    const rec = recorder();
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      session: { dbName: dbNameOf(name), headers: emu.couchHeadersFor(name), userName: name },
      mode: 'remote',
      fetch: rec.fetch,
    });
    clients.push(c);
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(rec.to(emu.accountsUrl)).toEqual([]);
  });
});
