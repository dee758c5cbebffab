/**
 * Bootstrap (issue 3, "Session and bootstrap"): database info → 404 → create the user (PUT own user doc, falling back
 * to POST /_users/create-new-user) → 201/409 both fine → wait for the per-user database (bounded, abortable) → ready.
 * Real HTTP against the emulator; faults come from the client's `fetch` option.
 */
import { emulatorOnly } from '../support/target.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FeatClient, FeatClientOptions } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { couchJson, dbNameOf, nginxHtml, recorder, rejectsWith, uniqueName, type Recorder, recordingClient } from './harness.js';

let emu: Emulator;
/** couch_peruser takes 400 ms: the database appears well after the user document. */
let lateEmu: Emulator;
/** The database never appears within a test's lifetime. */
let neverEmu: Emulator;
const clients: FeatClient[] = [];

beforeAll(async () => {
  [emu, lateEmu, neverEmu] = await Promise.all([
    startEmulator(),
    startEmulator({ peruserDelayMs: 400 }),
    startEmulator({ peruserDelayMs: 600_000 }),
  ]);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all([emu?.stop(), lateEmu?.stop(), neverEmu?.stop()]);
});

function client(on: Emulator, userName: string, rec: Recorder = recorder(), extra: Partial<FeatClientOptions> = {}): FeatClient {
  return recordingClient(clients, on, userName, rec, extra);
}

const userDocPath = (name: string) => `/_users/${encodeURIComponent(`org.couchdb.user:${name}`)}`;
const userPuts = (rec: Recorder, on: Emulator) => rec.to(on.couchUrl).filter((c) => c.method === 'PUT' && c.path.startsWith('/_users/'));
const dbInfoGets = (rec: Recorder, on: Emulator, name: string) =>
  rec.to(on.couchUrl).filter((c) => c.method === 'GET' && c.path === `/${dbNameOf(name)}/`);

describe('first use', () => {
  it('creates the user and the database; ready() resolves { userName, dbName: userdb-<hex> }', async () => {
    const name = uniqueName('boot');
    const rec = recorder();
    const c = client(emu, name, rec);
    const session = await c.ready();
    expect(session).toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(session.dbName).toMatch(/^userdb-[0-9a-f]+$/);
    expect(c.session).toEqual(session);

    // database info 404 → own user document 201 → database info until 200
    const couch = rec.to(emu.couchUrl).map((call) => `${call.method} ${call.path} ${call.status}`);
    expect(couch[0]).toBe(`GET /${dbNameOf(name)}/ 404`);
    expect(couch[1]).toBe(`PUT ${userDocPath(name)} 201`);
    expect(couch.at(-1)).toBe(`GET /${dbNameOf(name)}/ 200`);
    expect(emu.requests.filter((r) => r.path === userDocPath(name)).map((r) => r.status)).toEqual([201]);

    // The database is usable at once.
    await c.store.set('first', { ok: true });
    await expect(c.store.get('first')).resolves.toEqual({ ok: true });
  });

  it('is idempotent: ready() twice on one client, and a second client of the user, create nothing twice', async () => {
    const name = uniqueName('idem');
    const rec = recorder();
    const c = client(emu, name, rec);
    const first = await c.ready();
    const calls = rec.calls.length;
    await expect(c.ready()).resolves.toEqual(first);
    expect(rec.calls.length).toBe(calls); // memoized: no request at all

    const rec2 = recorder();
    const second = client(emu, name, rec2);
    await expect(second.ready()).resolves.toEqual(first);
    expect(userPuts(rec2, emu)).toEqual([]);
    expect(rec2.to(emu.couchUrl).map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([`GET /${dbNameOf(name)}/ 200`]);
    expect(emu.requests.filter((r) => r.method === 'PUT' && r.path === userDocPath(name))).toHaveLength(1);
  });

  emulatorOnly('peruserDelayMs: a database that appears late')('tolerates 409: the user already exists but its database does not yet', async () => {
    const name = uniqueName('exists');
    // Someone (another device) created the user a moment ago; its database appears 400 ms later.
    const made = await fetch(`${lateEmu.couchUrl}${userDocPath(name)}`, {
      method: 'PUT',
      headers: { ...lateEmu.couchHeadersFor(name), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, roles: [], type: 'user' }),
    });
    expect(made.status).toBe(201);
    const rec = recorder();
    const c = client(lateEmu, name, rec);
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(userPuts(rec, lateEmu).map((call) => call.status)).toEqual([409]);
    expect(dbInfoGets(rec, lateEmu, name).at(-1)?.status).toBe(200);
  });

  it('tolerates an existing user and database: no user document is written', async () => {
    const name = uniqueName('both');
    await emu.createUser(name);
    const rec = recorder();
    const c = client(emu, name, rec);
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    expect(userPuts(rec, emu)).toEqual([]);
  });

  it('two devices bootstrapping the same new user at once both succeed (one 201, one 409)', async () => {
    const name = uniqueName('race');
    const [r1, r2] = [recorder(), recorder()];
    const [s1, s2] = await Promise.all([client(lateEmu, name, r1).ready(), client(lateEmu, name, r2).ready()]);
    expect(s1).toEqual(s2);
    const statuses = [...userPuts(r1, lateEmu), ...userPuts(r2, lateEmu)].map((call) => call.status).sort();
    expect(statuses).toEqual([201, 409]);
  });
});

describe('user names CouchDB cannot give an account', () => {
  // `_users` refuses a leading "_" and ":" (403); a name over 115 UTF-8 bytes is accepted there, but its database name
  // (`userdb-<hex>`) is over CouchDB's 238 characters and couch_peruser then fails for every new user of the server.
  for (const [what, name] of [
    ['a leading "_"', `_${uniqueName('u')}`],
    ['a ":"', `a:${uniqueName('u')}`],
    ['116 ASCII bytes', uniqueName('long').padEnd(116, 'x')],
    ['116 UTF-8 bytes in 58 characters', 'é'.repeat(58)],
    ['a space', `a ${uniqueName('u')}`],
    ['a "+"', `a+${uniqueName('u')}`],
    ['a "/"', `a/${uniqueName('u')}`],
    ['a non-ASCII character', `é${uniqueName('u')}`],
  ] as const) {
    it(`${what}: ready() rejects with forbidden before any request to CouchDB`, async () => {
      const rec = recorder();
      const c = client(emu, name, rec);
      const error = await rejectsWith(c.ready(), 'forbidden');
      expect(error.message).toMatch(/cannot create this account/);
      expect(rec.to(emu.couchUrl)).toEqual([]);
    });
  }

  it('115 UTF-8 bytes (a 237-character database name) is fine', async () => {
    const name = uniqueName('edge').padEnd(115, 'y');
    const c = client(emu, name);
    await expect(c.ready()).resolves.toMatchObject({ userName: name });
    await c.store.set('k', 1);
    await expect(c.store.get('k')).resolves.toBe(1);
  });

  emulatorOnly('couchHeadersFor: the emulator\'s own proxy headers')('the emulator refuses them at `_users` as CouchDB does (403 and its reasons)', async () => {
    for (const [name, reason] of [
      ['_under', 'Username may not start with underscore.'],
      ['a:b', 'Character `:` is not allowed in usernames.'],
    ] as const) {
      const response = await fetch(`${emu.couchUrl}/_users/${encodeURIComponent(`org.couchdb.user:${name}`)}`, {
        method: 'PUT',
        headers: { ...emu.couchHeadersFor(name), 'Content-Type': 'application/json' },
        body: JSON.stringify({ _id: `org.couchdb.user:${name}`, name, roles: [], type: 'user' }),
      });
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 403, body: { error: 'forbidden', reason } });
    }
  });
});

describe('waiting for the database', () => {
  emulatorOnly('peruserDelayMs: a database that appears 400 ms late')('waits for a late database (peruserDelayMs 400) and succeeds', async () => {
    const name = uniqueName('late');
    const rec = recorder();
    const c = client(lateEmu, name, rec);
    const started = Date.now();
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(3000);
    const checks = dbInfoGets(rec, lateEmu, name).map((call) => call.status);
    // first check, at least two polls while the database is missing, then 200
    expect(checks.filter((s) => s === 404).length).toBeGreaterThanOrEqual(3);
    expect(checks.at(-1)).toBe(200);
    await c.store.set('after-wait', 1);
    await expect(c.store.get('after-wait')).resolves.toBe(1);
  });

  emulatorOnly('peruserDelayMs: a database that never appears')('is bounded: bootstrapTimeout → not_found; a later ready() tries again (failure not memoized)', async () => {
    const name = uniqueName('never');
    const rec = recorder();
    const c = client(neverEmu, name, rec, { bootstrapTimeout: 300 });
    const started = Date.now();
    const error = await rejectsWith(c.ready(), 'not_found');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.status).toBe(404);
    expect(c.session).toBeUndefined();

    const checksBefore = dbInfoGets(rec, neverEmu, name).length;
    await rejectsWith(c.ready(), 'not_found');
    // The second ready() really went to the server again (and met the existing user: 409, tolerated).
    expect(dbInfoGets(rec, neverEmu, name).length).toBeGreaterThan(checksBefore);
    expect(userPuts(rec, neverEmu).map((call) => call.status)).toEqual([201, 409]);
  });

  it('a ready() that failed on the timeout succeeds when retried once the database is there', async () => {
    const name = uniqueName('retry');
    let hide = true;
    // The database exists on the server, but this client is told 404 while `hide` is set.
    const rec = recorder((call) =>
      hide && call.method === 'GET' && call.path === `/${dbNameOf(name)}/`
        ? couchJson(404, { error: 'not_found', reason: 'Database does not exist.' })
        : undefined,
    );
    const c = client(emu, name, rec, { bootstrapTimeout: 200 });
    await rejectsWith(c.ready(), 'not_found');
    // A store call fails with the same error rather than hanging.
    await rejectsWith(c.store.get('x'), 'not_found');
    hide = false;
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    await c.store.set('x', 'ok');
    await expect(c.store.get('x')).resolves.toBe('ok');
  });
});

describe('user creation fallback', () => {
  it.each([405, 404])('PUT of the own user document answered %i → POST /_users/create-new-user, and ready() succeeds', async (status) => {
    const name = uniqueName(`fallback${status}`);
    const rec = recorder((call) =>
      call.method === 'PUT' && call.path.startsWith('/_users/org.couchdb.user') ? nginxHtml(status, status === 405 ? 'Not Allowed' : 'Not Found') : undefined,
    );
    const c = client(emu, name, rec);
    await expect(c.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
    const creates = rec.to(emu.couchUrl).filter((call) => call.path.startsWith('/_users/'));
    expect(creates.map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([
      `PUT ${userDocPath(name)} ${status}`,
      'POST /_users/create-new-user 201',
    ]);
    // Only the fallback reached the server.
    expect(emu.requests.some((r) => r.path === userDocPath(name))).toBe(false);
    await c.store.set('k', 1);
    await expect(c.store.get('k')).resolves.toBe(1);
  });

  it('a user creation refused for another reason (403) fails ready() with forbidden, and nothing is retried in a loop', async () => {
    const name = uniqueName('refused');
    const rec = recorder((call) =>
      call.path.startsWith('/_users/') ? couchJson(403, { error: 'forbidden', reason: 'You may not create users.' }) : undefined,
    );
    const c = client(emu, name, rec);
    const error = await rejectsWith(c.ready(), 'forbidden');
    expect(error.status).toBe(403);
    expect(rec.to(emu.couchUrl).filter((call) => call.path.startsWith('/_users/'))).toHaveLength(1);
  });
});

describe('abort and ordering', () => {
  emulatorOnly('peruserDelayMs: a database that never appears')('ready({ signal }) rejects with aborted when the signal fires while waiting for the database', async () => {
    const name = uniqueName('abort');
    const rec = recorder();
    const c = client(neverEmu, name, rec, { bootstrapTimeout: 20_000 });
    const controller = new AbortController();
    const started = Date.now();
    const pending = c.ready({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user navigated away')), 150);
    await rejectsWith(pending, 'aborted');
    expect(Date.now() - started).toBeLessThan(1000);
    // An already aborted signal rejects at once as well.
    await rejectsWith(c.ready({ signal: AbortSignal.abort() }), 'aborted');
    // close() ends the background wait promptly (it is bounded by the client's lifetime, not by the 20 s timeout).
    const closing = Date.now();
    await c.close();
    expect(Date.now() - closing).toBeLessThan(1500);
  });

  it('ready() with a signal aborted before the call: aborted, and no request is sent (no start begins)', async () => {
    const rec = recorder();
    const c = client(lateEmu, uniqueName('pre-aborted'), rec);
    const reason = new Error('gone');
    const error = await rejectsWith(c.ready({ signal: AbortSignal.abort(reason) }), 'aborted');
    expect((error as { cause?: unknown }).cause).toBe(reason);
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.calls).toEqual([]);
  });

  it('an aborted ready() does not spoil the others: ready() without a signal still resolves', async () => {
    const name = uniqueName('abort-others');
    const c = client(lateEmu, name, recorder());
    const controller = new AbortController();
    const aborted = c.ready({ signal: controller.signal });
    const plain = c.ready();
    controller.abort();
    await rejectsWith(aborted, 'aborted');
    await expect(plain).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
  });

  it('store calls made before ready() wait for the bootstrap and succeed', async () => {
    const name = uniqueName('early');
    const rec = recorder();
    const c = client(lateEmu, name, rec);
    const results = await Promise.all([c.store.set('a', 1), c.store.get('missing'), c.store.set('b', [2]), c.store.keys()]);
    expect(results[1]).toBeUndefined();
    expect(c.session).toEqual({ userName: name, dbName: dbNameOf(name) });
    await expect(c.store.get('a')).resolves.toBe(1);
    await expect(c.store.get('b')).resolves.toEqual([2]);
    // One bootstrap for all of them.
    expect(rec.to(lateEmu.accountsUrl)).toHaveLength(1);
    expect(userPuts(rec, lateEmu)).toHaveLength(1);
    // No store request was sent before the database existed.
    const firstDbOk = rec.calls.findIndex((call) => call.path === `/${dbNameOf(name)}/` && call.status === 200);
    const firstStore = rec.calls.findIndex((call) => call.path.startsWith(`/${dbNameOf(name)}/`) && call.path !== `/${dbNameOf(name)}/`);
    expect(firstDbOk).toBeGreaterThanOrEqual(0);
    expect(firstStore).toBeGreaterThan(firstDbOk);
  });
});

describe('a 200 for the database that is not CouchDB (README errors: bad_response)', () => {
  // A captive portal (or another server at couchUrl) answers every request with its page: ready() resolved, and every
  // later call failed (found by an attack). Now ready() says so.
  const portal = (on: Emulator, dbPath: string): typeof fetch => async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === new URL(on.couchUrl).origin && url.pathname === dbPath) return new Response('<html>Sign in to the Wi-Fi</html>', { status: 200, headers: { 'content-type': 'text/html' } });
    return fetch(input, init);
  };

  it('remote mode, the database there or just created: ready() rejects with bad_response, naming what came', async () => {
    for (const existing of [true, false]) {
      const name = uniqueName(existing ? 'portal' : 'portal-new');
      if (existing) await client(emu, name).ready();
      const c = client(emu, name, recorder(), { fetch: existing ? portal(emu, `/${dbNameOf(name)}/`) : firstThen(portal(emu, `/${dbNameOf(name)}/`)) });
      const error = await c.ready().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'bad_response', message: expect.stringMatching(/content-type text\/html.*couchUrl/) });
    }
  });
});

describe('the database info cut off or ended (found by the review): told as it is, not as "not CouchDB"', () => {
  it('a body cut off mid-stream: network; close() while it is read: closed', async () => {
    const name = uniqueName('cut');
    await client(emu, name).ready();
    const dbPath = `/${dbNameOf(name)}/`;
    const body = (then: (c: ReadableStreamDefaultController<Uint8Array>) => void): Response =>
      new Response(new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(new TextEncoder().encode('{"db_name":"userdb-')), then(c)) }), { status: 200, headers: { 'content-type': 'application/json' } });
    const cut: typeof fetch = async (input, init) =>
      new URL(input instanceof Request ? input.url : String(input)).pathname === dbPath ? body((c) => setTimeout(() => c.error(new TypeError('terminated')), 10)) : fetch(input, init);
    const error = await client(emu, name, recorder(), { fetch: cut }).ready().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'network' });
    // (Never ends by itself: close() ends it.)
    const silent: typeof fetch = async (input, init) => (new URL(input instanceof Request ? input.url : String(input)).pathname === dbPath ? body(() => undefined) : fetch(input, init));
    const c = client(emu, name, recorder(), { fetch: silent });
    const ready = c.ready().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await c.close();
    expect(await ready).toMatchObject({ code: 'closed' });
  });
});

/** The real server for the first request to the database (a 404: not created yet), then `then`. */
function firstThen(then: typeof fetch): typeof fetch {
  let first = true;
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (first && /\/userdb-[0-9a-f]+\/$/.test(url)) {
      first = false;
      return fetch(input, init);
    }
    return then(input, init);
  };
}
