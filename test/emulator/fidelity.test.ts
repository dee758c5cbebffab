/**
 * The `'couchdb'` fidelity profile: the first eleven differences of COUCHDB-FACTS.md answered like CouchDB 3.4 behind
 * nginx, the measured latencies, and the per-user database's admin-only window after sign-up. The default profile
 * keeps the lenient answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, userDbName } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { call, couch, signUp, tokenFor } from './helpers.js';

const INVALID = { error: 'bad_request', reason: 'invalid UTF-8 JSON' };
const BAD_SINCE = { error: 'bad_request', reason: "Malformed sequence supplied in 'since' parameter." };
const BAD_TYPE = { error: 'bad_content_type', reason: 'Content-Type must be application/json' };
const FORBIDDEN = { error: 'forbidden', reason: 'You are not allowed to access this db.' };

let emu: Emulator;
let db: string;

beforeAll(async () => {
  emu = await startEmulator({ profile: 'couchdb' });
  db = await signUp(emu, 'ann');
});
afterAll(async () => {
  await emu.stop();
});

const as = (path: string, init: Parameters<typeof couch>[3] = {}) => couch(emu, 'ann', path, init);
/** A request with a raw body and exactly the given headers (plus the proxy headers). */
async function raw(path: string, method: string, body: string | Uint8Array<ArrayBuffer> | undefined, headers: Record<string, string> = {}) {
  const auth = (await tokenFor(emu, 'ann')).headers;
  return call(`${emu.couchUrl}${path}`, { method, headers: { ...auth, ...headers }, ...(body === undefined ? {} : { body }) });
}
const json = { 'Content-Type': 'application/json' };

describe("profile 'couchdb': the differences of COUCHDB-FACTS.md", () => {
  it('1. sign-up: 404, then 403 forbidden while the new database is admin-only, then 200', async () => {
    // Fixed windows wide enough to be met on a loaded machine (by default they are drawn from 15–65 ms and 5–60 ms).
    const slow = await startEmulator({ profile: 'couchdb', peruserDelayMs: 400, peruserAdminOnlyMs: 400 });
    try {
      for (const user of ['timeline-1', 'timeline-2']) {
        const created = await couch(slow, user, `/_users/org.couchdb.user:${user}`, { method: 'PUT', body: { name: user } });
        expect(created.status).toBe(201);
        const statuses: number[] = [];
        const deadline = Date.now() + 10_000;
        while (statuses.at(-1) !== 200 && Date.now() < deadline) {
          const reply = await couch(slow, user, `/${userDbName(user)}`);
          if (reply.status === 403) expect(reply.json).toEqual(FORBIDDEN);
          statuses.push(reply.status);
        }
        expect(statuses.filter((s, j) => s !== statuses[j - 1])).toEqual([404, 403, 200]);
      }
      // createUser waits through the window.
      await slow.createUser('timeline-3');
      expect((await couch(slow, 'timeline-3', `/${userDbName('timeline-3')}`)).status).toBe(200);
    } finally {
      await slow.stop();
    }
  });

  it('2. lone surrogates, invalid UTF-8 and empty bodies → 400 invalid UTF-8 JSON; a _bulk_docs with one writes nothing', async () => {
    expect((await raw(`/${db}/sur`, 'PUT', '{"a":"\\ud83d cut"}', json)).json).toEqual(INVALID);
    expect((await raw(`/${db}/sur`, 'PUT', new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), json)).json).toEqual(INVALID);
    expect((await raw(`/${db}/sur`, 'PUT', '', json)).json).toEqual(INVALID);
    const bulk = await raw(`/${db}/_bulk_docs`, 'POST', '{"docs":[{"_id":"ok1"},{"_id":"bad","s":"\\udc00"}]}', json);
    expect(bulk.status).toBe(400);
    expect((await as(`/${db}/ok1`)).status).toBe(404);
    expect((await as(`/${db}/emoji`, { method: 'PUT', body: { s: '😀 whole' } })).status).toBe(201);
  });

  it('3. sequences are opaque strings; since=5 or bogus → 400; seq_interval leaves most seqs null', async () => {
    for (let i = 0; i < 4; i += 1) await as(`/${db}/s${i}`, { method: 'PUT', body: {} });
    const feed = (await as(`/${db}/_changes`)).json as { results: { seq: unknown }[]; last_seq: unknown; pending: number };
    expect(feed.last_seq).toMatch(/^\d+-g1AAAA/);
    for (const r of feed.results) expect(r.seq).toMatch(/^\d+-g1AAAA/);
    expect(feed.pending).toBe(0);
    const info = (await as(`/${db}`)).json as { update_seq: unknown; db_name: string };
    expect(info).toMatchObject({ db_name: db, update_seq: feed.last_seq });
    expect((await as(`/${db}/_changes?since=5`)).json).toEqual(BAD_SINCE);
    expect((await as(`/${db}/_changes?since=bogus`)).json).toEqual(BAD_SINCE);
    expect((await as(`/${db}/_changes?since=${String(feed.results[1]?.seq)}`)).status).toBe(200);
    const interval = (await as(`/${db}/_changes?seq_interval=2`)).json as { results: { seq: unknown }[] };
    expect(interval.results.filter((r) => r.seq === null).length).toBeGreaterThan(0);
  });

  it('3. a sequence names its database: one of another database, or of this one before it was made again, reads from the start; a made-up one → 400', async () => {
    // (Measured on CouchDB 3.4.3: a `since` of a database deleted and made again listed all four changes of the new
    // one. The emulator's integers, and later its sequences naming only the database, let such a position skip them.)
    const other = await signUp(emu, 'seq-other');
    for (let i = 0; i < 3; i += 1) await couch(emu, 'seq-other', `/${other}/o${i}`, { method: 'PUT', body: {} });
    const foreign = ((await couch(emu, 'seq-other', `/${other}/_changes`)).json as { last_seq: string }).last_seq;
    const all = (await as(`/${db}/_changes`)).json as { results: { id: string }[] };
    const fromForeign = (await as(`/${db}/_changes?since=${encodeURIComponent(foreign)}`)).json as { results: { id: string }[] };
    expect(fromForeign.results.map((r) => r.id)).toEqual(all.results.map((r) => r.id));
    // Changed by one character: no sequence CouchDB could have sent.
    const forged = `${foreign.slice(0, -1)}${foreign.endsWith('A') ? 'B' : 'A'}`;
    expect((await as(`/${db}/_changes?since=${encodeURIComponent(forged)}`)).json).toEqual(BAD_SINCE);
  });

  it.each(['couchdb', 'fast'] as const)('3. %s: a position in a database made again (an emulator restarted in memory) lists every change of the new one', async (profile) => {
    const first = await startEmulator({ profile, secret: 'seq-restart' });
    const ports = first.ports;
    let second: Awaited<ReturnType<typeof startEmulator>> | undefined;
    try {
      const name = await signUp(first, 'seq-restart');
      for (let i = 0; i < 3; i += 1) await couch(first, 'seq-restart', `/${name}/old${i}`, { method: 'PUT', body: {} });
      const old = ((await couch(first, 'seq-restart', `/${name}/_changes`)).json as { last_seq: string }).last_seq;
      await first.stop();
      second = await startEmulator({ profile, secret: 'seq-restart', port: ports.couch, accountsPort: ports.accounts, apiPort: ports.api });
      expect(await signUp(second, 'seq-restart')).toBe(name);
      for (let i = 0; i < 4; i += 1) await couch(second, 'seq-restart', `/${name}/new${i}`, { method: 'PUT', body: {} });
      const feed = (await couch(second, 'seq-restart', `/${name}/_changes?since=${encodeURIComponent(old)}`)).json as { results: { id: string }[] };
      expect(feed.results.map((r) => r.id).sort()).toEqual(['new0', 'new1', 'new2', 'new3']);
      const longpoll = (await couch(second, 'seq-restart', `/${name}/_changes?feed=longpoll&timeout=200&since=${encodeURIComponent(old)}`)).json as { results: unknown[] };
      expect(longpoll.results).toHaveLength(4);
    } finally {
      await (second ?? first).stop();
    }
  });

  it('4. POST endpoints with text/plain or no Content-Type → 415 bad_content_type', async () => {
    for (const path of ['', '/_bulk_docs', '/_all_docs', '/_revs_diff', '/_bulk_get']) {
      for (const headers of [{ 'Content-Type': 'text/plain' }, {}]) {
        const reply = await raw(`/${db}${path}`, 'POST', '{"docs":[],"keys":[]}', headers);
        expect(reply.status, `${path} ${JSON.stringify(headers)}`).toBe(415);
        expect(reply.json).toEqual(BAD_TYPE);
      }
    }
    expect((await raw(`/${db}/typed`, 'PUT', '{"a":1}', { 'Content-Type': 'text/plain' })).status).toBe(201);
  });

  it('5. _local documents have no revision checks; _local_docs lists them', async () => {
    expect((await as(`/${db}/_local/cp`, { method: 'PUT', body: { a: 1 } })).status).toBe(201);
    expect((await as(`/${db}/_local/cp`, { method: 'PUT', body: { a: 2 } })).status).toBe(201);
    expect((await as(`/${db}/_local/cp`, { method: 'PUT', body: { a: 3, _rev: '0-9' } })).status).toBe(201);
    expect((await as(`/${db}/_local/cp`)).json).toMatchObject({ a: 3 });
    const list = (await as(`/${db}/_local_docs`)).json as { rows: { id: string }[] };
    expect(list).toMatchObject({ total_rows: null, offset: null });
    expect(list.rows.map((r) => r.id)).toEqual(['_local/cp']);
    expect((await as(`/${db}/_local/cp`, { method: 'DELETE' })).json).toEqual({ ok: true, id: '_local/cp', rev: '0-0' });
    expect((await as(`/${db}/_local/cp`)).status).toBe(404);
  });

  it('6. conflicted documents: open_revs=all ascending; _bulk_get without rev gives every leaf; one result per entry', async () => {
    await as(`/${db}/_bulk_docs`, {
      method: 'POST',
      body: { new_edits: false, docs: [{ _id: 'c', _rev: '1-bbb', v: 2 }, { _id: 'c', _rev: '1-aaa', v: 1 }] },
    });
    const all = (await as(`/${db}/c?open_revs=all`, { headers: { Accept: 'application/json' } })).json as { ok: { _rev: string } }[];
    expect(all.map((r) => r.ok._rev)).toEqual(['1-aaa', '1-bbb']);
    const bulk = (await as(`/${db}/_bulk_get`, { method: 'POST', body: { docs: [{ id: 'c' }, { id: 'c', rev: '1-aaa' }] } })).json as {
      results: { id: string; docs: { ok: { _rev: string } }[] }[];
    };
    expect(bulk.results.map((r) => r.docs.map((d) => d.ok._rev))).toEqual([['1-bbb', '1-aaa'], ['1-aaa']]);
  });

  it('7. DELETE without rev → 409; PUT of a new document with an unknown rev → 201; the URL id wins', async () => {
    await as(`/${db}/d`, { method: 'PUT', body: { a: 1 } });
    expect((await as(`/${db}/d`, { method: 'DELETE' })).status).toBe(409);
    const created = await as(`/${db}/fresh`, { method: 'PUT', body: { _rev: '3-abc', a: 1 } });
    expect(created.status).toBe(201);
    expect((created.json as { rev: string }).rev).toMatch(/^4-/);
    expect((await as(`/${db}/urlid`, { method: 'PUT', body: { _id: 'bodyid', a: 1 } })).json).toMatchObject({ ok: true, id: 'urlid' });
    expect((await as(`/${db}/bodyid`)).status).toBe(404);
    // A deletion written by PUT answers 200 (a value 201).
    const d = (await as(`/${db}/d`)).json as { _rev: string };
    const deleted = await as(`/${db}/d`, { method: 'PUT', body: { _rev: d._rev, _deleted: true } });
    expect(deleted.status).toBe(200);
    expect(deleted.json).toMatchObject({ ok: true, id: 'd', rev: expect.stringMatching(/^2-/) });
  });

  it('8. a raw + in a path is a space', async () => {
    expect((await as(`/${db}/p+q`, { method: 'PUT', body: { a: 1 } })).json).toMatchObject({ id: 'p q' });
    expect((await as(`/${db}/p%20q`)).status).toBe(200);
    expect((await as(`/${db}/p%2Bq`)).status).toBe(404);
  });

  it('9. _bulk_get errors are per entry', async () => {
    const reply = await as(`/${db}/_bulk_get`, { method: 'POST', body: { docs: [{ id: 'nope' }, { id: 'd', rev: '1-abc' }] } });
    expect(reply.json).toEqual({
      results: [
        { id: 'nope', docs: [{ error: { id: 'nope', rev: 'undefined', error: 'not_found', reason: 'missing' } }] },
        { id: 'd', docs: [{ error: { id: 'd', rev: '1-abc', error: 'not_found', reason: 'missing' } }] },
      ],
    });
  });

  it('10. all_or_nothing → 417, nothing written; bad query parameters → 400; _changes?limit=0 → pending', async () => {
    const aon = await as(`/${db}/_bulk_docs`, { method: 'POST', body: { all_or_nothing: true, docs: [{ _id: 'aon' }] } });
    expect(aon.status).toBe(417);
    expect(aon.json).toEqual([{ id: 'aon', rev: '0-', error: 'not_implemented', reason: 'all_or_nothing is not supported' }]);
    expect((await as(`/${db}/aon`)).status).toBe(404);
    expect((await as(`/${db}/_all_docs?limit=-1`)).json).toEqual({ error: 'query_parse_error', reason: 'Invalid value for positive integer: "-1"' });
    expect((await as(`/${db}/_all_docs?skip=-1`)).status).toBe(400);
    expect((await as(`/${db}/_all_docs?include_docs=yes`)).json).toEqual({ error: 'query_parse_error', reason: 'Invalid boolean parameter: "yes"' });
    expect((await as(`/${db}/_changes?feed=bogus`)).status).toBe(400);
    const zero = (await as(`/${db}/_changes?limit=0`)).json as { results: unknown[]; pending: number };
    expect(zero.results).toEqual([]);
    expect(zero.pending).toBeGreaterThan(5);
  });

  it('12–13. nginx line limits (414 / 400 HTML); every 401 challenges for Basic auth', async () => {
    const longUrl = await call(`${emu.couchUrl}/${db}/${'x'.repeat(8_300)}`);
    expect(longUrl.status).toBe(414);
    expect(longUrl.text).toContain('<center>nginx</center>');
    const longHeader = await call(`${emu.couchUrl}/`, { headers: { 'X-Big': 'y'.repeat(9_000) } });
    expect(longHeader.status).toBe(400);
    expect(longHeader.headers.get('content-type')).toBe('text/html');
    const anonymous = await call(`${emu.couchUrl}/${db}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="server"');
  });

  it('11. _changes normal feed with _selector / _design filters → 200, pending counts what follows', async () => {
    const selector = await as(`/${db}/_changes?filter=_selector`, { method: 'POST', body: { selector: { a: 1 } } });
    expect(selector.status).toBe(200);
    expect((selector.json as { results: unknown[] }).results.length).toBeGreaterThan(0);
    const design = (await as(`/${db}/_changes?filter=_design`)).json as { results: unknown[]; pending: number };
    expect(design.results).toEqual([]);
    expect(design.pending).toBeGreaterThan(5);
    const firstOnly = (await as(`/${db}/_changes?limit=1`)).json as { results: unknown[]; pending: number };
    expect(firstOnly.results.length).toBe(1);
    expect(firstOnly.pending).toBeGreaterThan(5);
  });

  it('a deleted document is re-created only by a write naming no revision (PUT and _bulk_docs; DELETE: 404)', async () => {
    const put = await as(`/${db}/tomb`, { method: 'PUT', body: { v: 1 } });
    const rev1 = (put.json as { rev: string }).rev;
    const del = await as(`/${db}/tomb?rev=${rev1}`, { method: 'DELETE' });
    const tomb = (del.json as { rev: string }).rev;
    const CONFLICT = { error: 'conflict', reason: 'Document update conflict.' };
    // Naming the deletion's revision: a conflict, however often (CouchDB 3.4; PouchDB would accept it).
    expect(await as(`/${db}/tomb`, { method: 'PUT', body: { _rev: tomb, v: 2 } })).toMatchObject({ status: 409, json: CONFLICT });
    // A DELETE of a deleted document: 404 "deleted" (measured on CouchDB 3.4; differential-fidelity.test.ts, both backends).
    expect(await as(`/${db}/tomb?rev=${tomb}`, { method: 'DELETE' })).toMatchObject({ status: 404, json: { error: 'not_found', reason: 'deleted' } });
    const bulk = await as(`/${db}/_bulk_docs`, { method: 'POST', body: { docs: [{ _id: 'tomb', _rev: tomb, v: 2 }, { _id: 'other', v: 1 }] } });
    expect(bulk.status).toBe(201);
    expect(bulk.json).toMatchObject([{ id: 'tomb', ...CONFLICT }, { ok: true, id: 'other' }]);
    // Without a revision the deletion is extended; replication's new_edits:false is not checked.
    const again = await as(`/${db}/tomb`, { method: 'PUT', body: { v: 3 } });
    expect(again.status).toBe(201);
    expect((again.json as { rev: string }).rev.startsWith('3-')).toBe(true);
  });
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe("profile 'couchdb': timing", () => {
  it('a PUT takes the real server’s ~6–12 ms and a waiting long-poll hears of it ~10–13 ms after it was sent', async () => {
    const puts: number[] = [];
    for (let i = 0; i < 15; i += 1) {
      const t = performance.now();
      await as(`/${db}/t${i}`, { method: 'PUT', body: { i } });
      puts.push(performance.now() - t);
    }
    expect(median(puts)).toBeGreaterThanOrEqual(5);
    const notices: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const poll = as(`/${db}/_changes?feed=longpoll&since=now&timeout=5000`);
      await new Promise((r) => setTimeout(r, 30));
      const t = performance.now();
      void as(`/${db}/n${i}`, { method: 'PUT', body: { i } });
      await poll;
      notices.push(performance.now() - t);
    }
    expect(median(notices)).toBeGreaterThanOrEqual(7);
  });
});

describe("profile 'emulator' (default): fast and lenient", () => {
  let fast: Emulator;
  let fastDb: string;
  beforeAll(async () => {
    fast = await startEmulator();
    fastDb = await signUp(fast, 'bo');
  });
  afterAll(async () => {
    await fast.stop();
  });

  it("CouchDB's error texts and shapes in both profiles (16, _design_docs, _security)", async () => {
    const as2 = (path: string, init: Parameters<typeof couch>[3] = {}) => couch(fast, 'bo', path, init);
    expect((await as2(`/${fastDb}`, { method: 'POST', body: '"str"' })).json).toEqual({ error: 'bad_request', reason: 'Document must be a JSON object' });
    const member = await as2(`/${fastDb}/m`, { method: 'PUT', body: { _foo: 1 } });
    expect(member.status).toBe(400);
    expect(member.json).toEqual({ error: 'doc_validation', reason: 'Bad special document member: _foo' });
    expect((await as2(`/${fastDb}/_bad`, { method: 'PUT', body: { a: 1 } })).json).toMatchObject({ error: 'illegal_docid' });
    await as2(`/${fastDb}/k`, { method: 'PUT', body: { a: 1 } });
    const bulk = await as2(`/${fastDb}/_bulk_docs`, { method: 'POST', body: { docs: [{ _id: 'k' }] } });
    expect(bulk.status).toBe(201);
    expect(bulk.json).toEqual([{ id: 'k', error: 'conflict', reason: 'Document update conflict.' }]);
    expect((await as2(`/${fastDb}/_design_docs`)).json).toEqual({ total_rows: 0, offset: 0, rows: [] });
    expect((await as2(`/${fastDb}/_security`)).json).toEqual({
      members: { roles: ['_admin'], names: ['bo'] },
      admins: { roles: ['_admin'], names: ['bo'] },
    });
  });

  it('opaque sequences as CouchDB sends them, integer `since` accepted, text/plain accepted, no admin-only window', async () => {
    const feed = (await couch(fast, 'bo', `/${fastDb}/_changes?since=0`)).json as { last_seq: unknown; pending: number };
    expect(feed.last_seq).toMatch(/^\d+-g1AAAA/);
    expect(feed.pending).toBe(0);
    // The database's info in CouchDB's shape, its sequence the feed's.
    expect((await couch(fast, 'bo', `/${fastDb}`)).json).toMatchObject({ db_name: fastDb, update_seq: feed.last_seq, instance_start_time: expect.stringMatching(/^\d+$/) });
    // Lenient: an integer is a position in the database.
    expect((await couch(fast, 'bo', `/${fastDb}/_changes?since=${Number.parseInt(String(feed.last_seq), 10)}`)).json).toMatchObject({ results: [], last_seq: feed.last_seq });
    const auth = (await tokenFor(fast, 'bo')).headers;
    const post = await call(`${fast.couchUrl}/${fastDb}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'text/plain' }, body: '{"a":1}' });
    expect(post.status).toBe(201);
    await couch(fast, 'cy', '/_users/org.couchdb.user:cy', { method: 'PUT', body: {} });
    const statuses = new Set<number>();
    const deadline = Date.now() + 5_000;
    while (!statuses.has(200) && Date.now() < deadline) statuses.add((await couch(fast, 'cy', `/${userDbName('cy')}`)).status);
    expect([...statuses].sort()).toEqual([200, 404]);
  });
});
