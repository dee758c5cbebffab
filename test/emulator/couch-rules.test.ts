/** The CouchDB side: proxy auth, the proxy's account creation rules, couch_peruser and database access. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyToken, proxyTokenSha256, startEmulator, userDbName } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { emulatorOnly } from '../support/target.js';
import { call, couch, signUp, sleep, unique, type Reply } from './helpers.js';

const AUTH_REQUIRED = { error: 'unauthorized', reason: 'Authentication required.' };
const FORBIDDEN = { error: 'forbidden', reason: 'You are not allowed to access this db.' };
const NOT_ADMIN = { error: 'unauthorized', reason: 'You are not a server admin.' };
const NO_DB = { error: 'not_found', reason: 'Database does not exist.' };
const CONFLICT = { error: 'conflict', reason: 'Document update conflict.' };

let emu: Emulator;
let aliceDb: string;
let bobDb: string;
// Fresh names each run: a real server keeps its users and databases from one run to the next.
const alice = unique('alice');
const bob = unique('bob');

beforeAll(async () => {
  emu = await startEmulator();
  aliceDb = await signUp(emu, alice);
  bobDb = await signUp(emu, bob);
});
afterAll(async () => {
  await emu.stop();
});

const raw = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
  call(`${emu.couchUrl}${path}`, { ...init, headers });

describe('proxy authentication (require_valid_user)', () => {
  it('no headers → 401 Authentication required.', async () => {
    for (const path of ['/', `/${aliceDb}`, `/${aliceDb}/doc`, '/_all_dbs', '/_session', '/_up']) {
      const reply = await raw(path);
      expect(reply.status, path).toBe(401);
      expect(reply.json, path).toEqual(AUTH_REQUIRED);
    }
  });

  it('forged token, token of another user, token for another secret, name without token → 401', async () => {
    const cases: Record<string, string>[] = [
      { 'X-Auth-CouchDB-UserName': alice, 'X-Auth-CouchDB-Token': 'deadbeef'.repeat(5) },
      { 'X-Auth-CouchDB-UserName': alice, 'X-Auth-CouchDB-Token': proxyToken(emu.secret, bob) },
      { 'X-Auth-CouchDB-UserName': alice, 'X-Auth-CouchDB-Token': proxyToken('another-secret', alice) },
      { 'X-Auth-CouchDB-UserName': alice },
      { 'X-Auth-CouchDB-Token': proxyToken(emu.secret, alice) },
    ];
    for (const headers of cases) {
      const reply = await raw(`/${aliceDb}`, headers);
      expect(reply.status, JSON.stringify(headers)).toBe(401);
      expect(reply.json).toEqual(AUTH_REQUIRED);
    }
  });

  it('accepts the SHA-1 token and the HMAC-SHA256 variant in lowercase hex; CouchDB compares the text, so uppercase → 401', async () => {
    for (const token of [proxyToken(emu.secret, alice), proxyTokenSha256(emu.secret, alice)]) {
      const reply = await raw(`/${aliceDb}`, { 'X-Auth-CouchDB-UserName': alice, 'X-Auth-CouchDB-Token': token });
      expect(reply.status).toBe(200);
      const upper = await raw(`/${aliceDb}`, { 'X-Auth-CouchDB-UserName': alice, 'X-Auth-CouchDB-Token': token.toUpperCase() });
      expect(upper.status).toBe(401);
      expect(upper.json).toEqual(AUTH_REQUIRED);
    }
  });

  it('GET / answers the CouchDB welcome; /_session shows the proxy user without roles', async () => {
    const welcome = await couch(emu, alice, '/');
    expect(welcome.status).toBe(200);
    expect(welcome.json).toMatchObject({ couchdb: 'Welcome', version: expect.any(String) });
    const session = await couch(emu, alice, '/_session', { headers: { 'X-Auth-CouchDB-Roles': '_admin' } });
    expect(session.json).toMatchObject({ ok: true, userCtx: { name: alice, roles: [] }, info: { authenticated: 'proxy' } });
  });

  it('a client-sent X-Auth-CouchDB-Roles grants nothing', async () => {
    const roles = { 'X-Auth-CouchDB-Roles': '_admin' };
    expect((await couch(emu, alice, '/_users', { headers: roles })).json).toEqual(FORBIDDEN);
    expect((await couch(emu, alice, `/${bobDb}`, { headers: roles })).json).toEqual(FORBIDDEN);
    expect((await couch(emu, alice, '/_all_dbs', { headers: roles })).json).toEqual(NOT_ADMIN);
    expect((await couch(emu, alice, '/newdb', { method: 'PUT', headers: roles })).json).toEqual(NOT_ADMIN);
    const carol = unique('carol');
    const other = await couch(emu, alice, `/_users/org.couchdb.user:${carol}`, { method: 'PUT', headers: roles, body: { name: carol, roles: ['_admin'], type: 'user' } });
    expect(other.status).toBe(403);
  });
});

describe('_users and account creation (the proxy rules)', () => {
  it('_users: its _all_docs and _changes need a server admin (401), the rest of it is forbidden (403)', async () => {
    for (const path of ['/_users', '/_users/_design/_auth', `/_users/org.couchdb.user:${alice}`, `/_users/org.couchdb.user:${bob}`]) {
      const reply = await couch(emu, alice, path);
      expect(reply.status, path).toBe(403);
      expect(reply.json).toEqual(FORBIDDEN);
    }
    expect((await couch(emu, alice, '/_users/_find', { method: 'POST', body: { selector: {} } })).json).toEqual(FORBIDDEN);
    for (const path of ['/_users/_all_docs', '/_users/_changes', '/_users/_changes?feed=longpoll']) {
      const reply = await couch(emu, alice, path);
      expect(reply.status, path).toBe(401);
      expect(reply.json).toEqual(NOT_ADMIN);
    }
    for (const method of ['PUT', 'DELETE']) {
      const reply = await couch(emu, alice, '/_users', { method });
      expect(reply.status, method).toBe(401);
      expect(reply.json).toEqual(NOT_ADMIN);
    }
  });

  it('PUT own account → 201 with the body replaced; again → 409', async () => {
    const dave = unique('dave');
    const created = await couch(emu, dave, `/_users/org.couchdb.user:${dave}`, {
      method: 'PUT',
      body: { name: dave, roles: ['_admin'], type: 'user', password: 'x' },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ ok: true, id: `org.couchdb.user:${dave}`, rev: expect.stringMatching(/^1-/) });
    const again = await couch(emu, dave, `/_users/org.couchdb.user:${dave}`, { method: 'PUT', body: {} });
    expect(again.status).toBe(409);
    expect(again.json).toEqual(CONFLICT);
    // The client-sent roles were dropped: dave is no admin.
    await sleep(120);
    expect((await couch(emu, dave, '/_all_dbs')).json).toEqual(NOT_ADMIN);
    expect((await couch(emu, dave, `/${aliceDb}`)).json).toEqual(FORBIDDEN);
  });

  it('PUT own account with a percent-encoded non-ASCII name', async () => {
    // fetch only sends Latin-1 header values: the name travels as its UTF-8 bytes, which is what CouchDB reads.
    const name = unique('张三');
    const headers = {
      'X-Auth-CouchDB-UserName': Buffer.from(name, 'utf8').toString('latin1'),
      'X-Auth-CouchDB-Token': proxyToken(emu.secret, name),
    };
    const created = await raw(`/_users/${encodeURIComponent(`org.couchdb.user:${name}`)}`, { ...headers, 'Content-Type': 'application/json' }, { method: 'PUT', body: '{}' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: `org.couchdb.user:${name}` });
    // The database is named by the name's UTF-8 bytes in hex (張三 → e5bca0e4b889…).
    const db = userDbName(name);
    expect(db.startsWith('userdb-e5bca0e4b889')).toBe(true);
    const info = await waitForStatus(() => raw(`/${db}`, headers), 200);
    expect(info.json).toMatchObject({ db_name: db });
  });

  it('POST /_users/create-new-user creates the header user; other methods → 405 (nginx)', async () => {
    const erin = unique('erin');
    const created = await couch(emu, erin, '/_users/create-new-user', { method: 'POST' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ ok: true, id: `org.couchdb.user:${erin}` });
    expect((await couch(emu, erin, '/_users/create-new-user', { method: 'POST' })).json).toEqual(CONFLICT);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const reply = await couch(emu, erin, '/_users/create-new-user', { method });
      expect(reply.status, method).toBe(405);
      expect(reply.headers.get('content-type')).toMatch(/text\/html/);
      expect(reply.text).toContain('405 Not Allowed');
    }
  });

  it('account creation still needs a valid token', async () => {
    const frank = unique('frank');
    const forged = { 'X-Auth-CouchDB-UserName': frank, 'X-Auth-CouchDB-Token': proxyToken('wrong', frank) };
    const put = await raw(`/_users/org.couchdb.user:${frank}`, { ...forged, 'Content-Type': 'application/json' }, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(401);
    expect(put.json).toEqual(AUTH_REQUIRED);
    expect((await raw('/_users/create-new-user', forged, { method: 'POST' })).status).toBe(401);
    expect((await raw('/_users/create-new-user', {}, { method: 'POST' })).status).toBe(401);
  });

  it("PUT someone else's account goes through unprivileged → 403, and creates nothing", async () => {
    const mallory = unique('mallory');
    const reply = await couch(emu, alice, `/_users/org.couchdb.user:${mallory}`, { method: 'PUT', body: { name: mallory, roles: [], type: 'user' } });
    expect(reply.status).toBe(403);
    expect(reply.json).toEqual(FORBIDDEN);
    await sleep(120);
    expect((await couch(emu, mallory, `/${userDbName(mallory)}`)).json).toEqual(NO_DB);
    // POST/DELETE on one's own user doc are not the @newuser location either.
    expect((await couch(emu, alice, `/_users/org.couchdb.user:${alice}`, { method: 'DELETE' })).status).toBe(403);
  });
});

describe('per-user databases (couch_peruser)', () => {
  emulatorOnly('the peruserDelayMs option')('appears asynchronously after the user document: 404 right away, 200 after peruserDelayMs', async () => {
    const slow = await startEmulator({ peruserDelayMs: 150 });
    try {
      expect((await couch(slow, 'gina', '/_users/org.couchdb.user:gina', { method: 'PUT', body: {} })).status).toBe(201);
      const early = await couch(slow, 'gina', `/${userDbName('gina')}`);
      expect(early.status).toBe(404);
      expect(early.json).toEqual(NO_DB);
      await sleep(250);
      expect((await couch(slow, 'gina', `/${userDbName('gina')}`)).status).toBe(200);
    } finally {
      await slow.stop();
    }
  });

  it('only its user may read or write it; missing databases → 404', async () => {
    expect((await couch(emu, alice, `/${aliceDb}/a`, { method: 'PUT', body: { v: 1 } })).status).toBe(201);
    for (const [method, path] of [
      ['GET', `/${aliceDb}`],
      ['GET', `/${aliceDb}/a`],
      ['GET', `/${aliceDb}/_all_docs`],
      ['GET', `/${aliceDb}/_changes`],
      ['PUT', `/${aliceDb}/b`],
      ['POST', `/${aliceDb}/_bulk_docs`],
    ] as const) {
      const body = method === 'GET' ? undefined : path.endsWith('_bulk_docs') ? { docs: [{ _id: 'x' }] } : { v: 2 };
      const reply = await couch(emu, bob, path, { method, ...(body === undefined ? {} : { body }) });
      expect(reply.status, `${method} ${path}`).toBe(403);
      expect(reply.json).toEqual(FORBIDDEN);
    }
    const none = userDbName(unique('none'));
    expect((await couch(emu, bob, `/${none}`)).json).toEqual(NO_DB);
    expect((await couch(emu, bob, `/${none}/doc`)).status).toBe(404);
  });

  it('non-admins cannot create or delete databases (even their own name) → 401', async () => {
    for (const [method, path] of [
      ['PUT', '/brand-new'],
      ['PUT', `/${userDbName(unique('nobody-yet'))}`],
      ['PUT', `/${aliceDb}`],
      ['DELETE', `/${aliceDb}`],
    ] as const) {
      const reply = await couch(emu, alice, path, { method });
      expect(reply.status, `${method} ${path}`).toBe(401);
      expect(reply.json).toEqual(NOT_ADMIN);
    }
  });

  it('missing and deleted documents answer not_found with reason missing / deleted', async () => {
    const missing = await couch(emu, alice, `/${aliceDb}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'not_found', reason: 'missing' });
    const put = (await couch(emu, alice, `/${aliceDb}/gone`, { method: 'PUT', body: { v: 1 } })).json as { rev: string };
    expect((await couch(emu, alice, `/${aliceDb}/gone?rev=${put.rev}`, { method: 'DELETE' })).status).toBe(200);
    expect((await couch(emu, alice, `/${aliceDb}/gone`)).json).toEqual({ error: 'not_found', reason: 'deleted' });
  });

  it('documents: create, update with rev, conflict without', async () => {
    const first = (await couch(emu, alice, `/${aliceDb}/draft`, { method: 'PUT', body: { doc: { text: 'a' } } })).json as { rev: string };
    const stale = await couch(emu, alice, `/${aliceDb}/draft`, { method: 'PUT', body: { doc: { text: 'b' } } });
    expect(stale.status).toBe(409);
    expect(stale.json).toEqual(CONFLICT);
    const ok = await couch(emu, alice, `/${aliceDb}/draft`, { method: 'PUT', body: { _rev: first.rev, doc: { text: 'b' } } });
    expect(ok.status).toBe(201);
    expect((await couch(emu, alice, `/${aliceDb}/draft`)).json).toMatchObject({ _id: 'draft', doc: { text: 'b' } });
    const posted = await couch(emu, alice, `/${aliceDb}`, { method: 'POST', body: { v: 1 } });
    expect(posted.status).toBe(201);
  });

  it('attachments and _find work through the proxy', async () => {
    const doc = (await couch(emu, alice, `/${aliceDb}/withatt`, { method: 'PUT', body: { v: 1 } })).json as { rev: string };
    const att = await couch(emu, alice, `/${aliceDb}/withatt/note.txt?rev=${doc.rev}`, {
      method: 'PUT',
      body: 'hello',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(att.status).toBe(201);
    const back = await couch(emu, alice, `/${aliceDb}/withatt/note.txt`);
    expect(back.text).toBe('hello');
    const found = await couch(emu, alice, `/${aliceDb}/_find`, { method: 'POST', body: { selector: { v: 1 } } });
    expect(found.status).toBe(200);
    expect((found.json as { docs: { _id: string }[] }).docs.map((d) => d._id)).toContain('withatt');
  });

  it('server endpoints other than _session/_up/_uuids/_replicate need a server admin', async () => {
    for (const path of ['/_all_dbs', '/_active_tasks', '/_config', '/_node/_local/_config', '/_scheduler/jobs']) {
      const reply = await couch(emu, alice, path);
      expect(reply.status, path).toBe(401);
      expect(reply.json).toEqual(NOT_ADMIN);
    }
    const stats = await couch(emu, alice, '/_node/_local/_stats');
    expect(stats.status).toBe(401);
    expect(stats.json).toEqual({ error: 'unauthorized', reason: 'You are not a server admin or read-only metrics user' });
    expect((await couch(emu, alice, '/_uuids?count=3')).json).toMatchObject({ uuids: [expect.any(String), expect.any(String), expect.any(String)] });
  });

  it('_replicate is open to any authenticated user: no body → 400, no source → 500', async () => {
    const get = await couch(emu, alice, '/_replicate');
    expect(get.status).toBe(400);
    expect(get.json).toEqual({ error: 'bad_request', reason: 'Missing request body' });
    const empty = await couch(emu, alice, '/_replicate', { method: 'POST', body: {} });
    expect(empty.status).toBe(500);
    expect(empty.json).toEqual({ error: 'error', reason: 'Missing replicator database' });
    expect((await raw('/_replicate', {}, { method: 'POST', body: '{}' })).status).toBe(401);
  });
});

describe('CORS (the seed’s [cors] section)', () => {
  it('answers preflights without authentication and reflects the origin with credentials', async () => {
    const pre = await raw(`/${aliceDb}/doc`, {
      Origin: 'https://app.feat.com',
      'Access-Control-Request-Method': 'PUT',
      'Access-Control-Request-Headers': 'content-type, x-auth-couchdb-username, x-auth-couchdb-token',
    }, { method: 'OPTIONS' });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.feat.com');
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET, PUT, POST, HEAD, DELETE');
    expect(pre.headers.get('access-control-allow-headers')).toContain('x-auth-couchdb-token');

    const actual = await couch(emu, alice, `/${aliceDb}`, { headers: { Origin: 'https://app.feat.com' } });
    expect(actual.headers.get('access-control-allow-origin')).toBe('https://app.feat.com');
    const denied = await raw(`/${aliceDb}`, { Origin: 'https://app.feat.com' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('https://app.feat.com');
  });

  it('a preflight for another method or header, or without Origin, is not granted: it is a plain OPTIONS request (401)', async () => {
    for (const [headers, why] of [
      [{ Origin: 'https://a.example', 'Access-Control-Request-Method': 'PATCH' }, 'PATCH'],
      [{ Origin: 'https://a.example', 'Access-Control-Request-Method': 'put' }, 'method names are case-sensitive'],
      [{ Origin: 'https://a.example', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type, x-custom' }, 'x-custom'],
      [{ 'Access-Control-Request-Method': 'PUT' }, 'no Origin'],
    ] as const) {
      const pre = await raw('/x', headers, { method: 'OPTIONS' });
      expect(pre.status, why).toBe(401);
      expect(pre.json, why).toEqual(AUTH_REQUIRED);
      expect(pre.headers.get('access-control-allow-methods'), why).toBeNull();
      expect(pre.headers.get('access-control-allow-origin'), why).toBe('Origin' in headers ? 'https://a.example' : null);
    }
  });

  it('a granted preflight repeats the requested headers as sent, or none', async () => {
    const asked = 'Content-Type, X-Auth-CouchDB-Token';
    const pre = await raw('/x', { Origin: 'https://a.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': asked }, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toBe(asked);
    expect(pre.headers.get('access-control-max-age')).toBe('600');
    const bare = await raw('/x', { Origin: 'https://a.example', 'Access-Control-Request-Method': 'GET' }, { method: 'OPTIONS' });
    expect(bare.status).toBe(204);
    expect(bare.headers.get('access-control-allow-headers')).toBe('');
  });

  it("nginx's own answers (its body limit's 413, a location's 405) carry no CORS headers, CouchDB's do", async () => {
    const Origin = 'https://app.feat.com';
    const big = await couch(emu, alice, `/${aliceDb}/_bulk_docs`, { method: 'POST', headers: { Origin }, body: { docs: [{ _id: 'big', v: 'x'.repeat(1_100_000) }] } });
    expect(big.status).toBe(413);
    const wrongMethod = await couch(emu, alice, '/_users/create-new-user', { headers: { Origin } });
    expect(wrongMethod.status).toBe(405);
    const couchs = await couch(emu, alice, `/${aliceDb}/missing`, { headers: { Origin } });
    expect(couchs.status).toBe(404);
    expect([big, wrongMethod, couchs].map((r) => [r.headers.get('access-control-allow-origin'), r.headers.get('access-control-allow-credentials')])).toEqual([
      [null, null],
      [null, null],
      [Origin, 'true'],
    ]);
  });

  it('the accounts service and the REST API answer preflights too', async () => {
    for (const url of [`${emu.accountsUrl}/couchdb/token/`, `${emu.apiUrl}/api/weixin-service/sign/`]) {
      const pre = await call(url, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.feat.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
      });
      expect(pre.status, url).toBeLessThan(300);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.feat.com');
      expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    }
  });
});

/** Polls `request` until it answers `status` (bounded: 5 s), as a client waits out couch_peruser's delay. */
async function waitForStatus(request: () => Promise<Reply>, status: number): Promise<Reply> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const reply = await request();
    if (reply.status === status || Date.now() > deadline) return reply;
    await sleep(20);
  }
}
