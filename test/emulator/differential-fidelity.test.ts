/**
 * Raw requests whose answers differed between the emulator (profile 'couchdb') and CouchDB 3.4 behind the deployment's
 * nginx, found by a differential tester: this file runs on both backends and states the real server's answers. The
 * first ones crashed the emulator (an inline attachment marked `follows` threw inside PouchDB, asynchronously: the
 * database took no more writes and `feat-emulator` exited).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { rawRequest, type RawAnswer } from '../support/raw-http.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator({ profile: 'couchdb' });

type Answer = RawAnswer;

/** Raw HTTP as this user (test/support/raw-http.ts). */
const send = (method: string, path: string, body?: string, extra: Record<string, string> = {}): Promise<Answer> =>
  rawRequest(emu.couchUrl, method, path, body, { ...userHeaders, ...extra });

let userHeaders: Record<string, string>;
let db: string;
const at = (path: string) => `/${db}${path}`;
const json = (value: unknown) => JSON.stringify(value);
/** Status and `{error, reason}` of an answer (CouchDB adds a `ref` to its 500s). */
const outcome = (a: Answer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};

beforeAll(async () => {
  const user = uniqueUser('differential');
  await emu.createUser(user);
  userHeaders = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
  expect((await send('PUT', at('/d1'), '{"a":1}')).status).toBe(201);
}, 60_000);

/** The database still takes writes and answers reads. */
async function stillServes(): Promise<void> {
  const put = await send('PUT', at(`/alive-${Math.random().toString(36).slice(2)}`), '{"v":1}');
  expect(put.status).toBe(201);
  expect((await send('GET', at('/d1'))).status).toBe(200);
  expect((await send('GET', at('/_all_docs'))).status).toBe(200);
}

describe('inline attachments (JSON bodies)', () => {
  const follows = { a: { follows: true, content_type: 'text/plain', length: 3 } };
  const functionClause = { status: 500, error: 'unknown_error', reason: 'function_clause' };

  it('an entry marked follows: 500 function_clause from PUT, POST and _bulk_docs (also new_edits: false); nothing stored, writes go on', async () => {
    expect(outcome(await send('PUT', at('/follows1'), json({ _attachments: follows })))).toEqual(functionClause);
    await stillServes();
    expect(outcome(await send('POST', at(''), json({ _id: 'follows2', _attachments: follows })))).toEqual(functionClause);
    expect(outcome(await send('POST', at('/_bulk_docs'), json({ docs: [{ _id: 'follows3', _attachments: follows }] })))).toEqual(functionClause);
    const replicated = json({ docs: [{ _id: 'follows4', _rev: '1-abc', _attachments: follows }], new_edits: false });
    expect(outcome(await send('POST', at('/_bulk_docs'), replicated))).toEqual(functionClause);
    for (const id of ['follows1', 'follows2', 'follows3', 'follows4']) expect((await send('GET', at(`/${id}`))).status, id).toBe(404);
    await stillServes();
  });

  it('_attachments that is not an object → 400 doc_validation; an entry that is not an object is dropped', async () => {
    const bad = { status: 400, error: 'doc_validation', reason: 'Bad special document member: _attachments' };
    expect(outcome(await send('PUT', at('/attnull'), json({ _attachments: null })))).toEqual(bad);
    expect(outcome(await send('PUT', at('/attlist'), json({ _attachments: [] })))).toEqual(bad);
    expect(outcome(await send('POST', at('/_bulk_docs'), json({ docs: [{ _id: 'attnull', _attachments: null }] })))).toEqual(bad);
    expect((await send('PUT', at('/attstring'), json({ _attachments: { 'a.txt': 'x' }, v: 1 }))).status).toBe(201);
    expect((await send('GET', at('/attstring'))).body).not.toHaveProperty('_attachments');
    await stillServes();
  });

  it('data that is not padded base64, or none → 400 "Invalid attachment data for <name>"; whitespace in it is skipped', async () => {
    const invalid = { status: 400, error: 'bad_request', reason: 'Invalid attachment data for a.txt' };
    for (const att of [{ content_type: 'text/plain', data: '!!!notbase64' }, { data: 'aGVsbG8' }, { content_type: 'text/plain' }, { data: 5 }]) {
      expect(outcome(await send('PUT', at('/badb64'), json({ _attachments: { 'a.txt': att } }))), json(att)).toEqual(invalid);
    }
    expect(outcome(await send('POST', at('/_bulk_docs'), json({ docs: [{ _id: 'badb64', _attachments: { 'a.txt': { data: '!!' } } }] })))).toEqual(invalid);
    expect((await send('GET', at('/badb64'))).status).toBe(404);
    expect((await send('PUT', at('/spaced'), json({ _attachments: { 'a.txt': { content_type: 'text/plain', data: 'aGVs\nbG8 =' } } }))).status).toBe(201);
    expect((await send('GET', at('/spaced/a.txt'))).text).toBe('hello');
  });

  it('no content_type: stored and served as application/octet-stream; a name starting with _ → 400', async () => {
    expect((await send('PUT', at('/noct'), json({ _attachments: { 'a.txt': { data: 'aGVsbG8=' } } }))).status).toBe(201);
    const read = await send('GET', at('/noct/a.txt'));
    expect([read.status, read.text, read.headers['content-type']]).toEqual([200, 'hello', 'application/octet-stream']);
    expect(((await send('GET', at('/noct'))).body as { _attachments: Record<string, unknown> })._attachments['a.txt']).toMatchObject({ content_type: 'application/octet-stream', stub: true });
    expect(outcome(await send('PUT', at('/under'), json({ _attachments: { _x: { content_type: 'text/plain', data: 'aGVsbG8=' } } })))).toEqual({
      status: 400,
      error: 'bad_request',
      reason: "Attachment name '_x' starts with prohibited character '_'",
    });
  });

  it('a _local document with attachments is stored without them', async () => {
    expect((await send('PUT', at('/_local/withatt'), json({ v: 1, _attachments: { 'a.txt': { content_type: 'text/plain', data: 'aGVsbG8=' } } }))).status).toBe(201);
    const read = await send('GET', at('/_local/withatt'));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ v: 1 });
    expect(read.body).not.toHaveProperty('_attachments');
  });
});

describe('_local documents', () => {
  it('a path with more than one name → 400 "_local documents do not accept attachments.", nothing written', async () => {
    const refused = { status: 400, error: 'bad_request', reason: '_local documents do not accept attachments.' };
    expect(outcome(await send('PUT', at('/_local/a/b'), '{"v":1}'))).toEqual(refused);
    expect(outcome(await send('PUT', at('/_local/l/a.txt'), 'x', { 'Content-Type': 'text/plain' }))).toEqual(refused);
    expect(outcome(await send('GET', at('/_local/a/b')))).toEqual(refused);
    expect((await send('GET', at('/_local/a'))).status).toBe(404);
  });

  it('no name → 400 "Invalid _local document id."', async () => {
    const refused = { status: 400, error: 'bad_request', reason: 'Invalid _local document id.' };
    expect(outcome(await send('PUT', at('/_local/'), '{"v":1}'))).toEqual(refused);
    expect(outcome(await send('DELETE', at('/_local/')))).toEqual(refused);
  });

  it('a PUT with _deleted: true → 200 rev 0-0, whether the document existed or not', async () => {
    expect(await send('PUT', at('/_local/del-new'), '{"_deleted":true}')).toMatchObject({ status: 200, body: { ok: true, id: '_local/del-new', rev: '0-0' } });
    expect((await send('PUT', at('/_local/del-old'), '{"v":1}')).status).toBe(201);
    expect(await send('PUT', at('/_local/del-old'), '{"_deleted":true}')).toMatchObject({ status: 200, body: { ok: true, id: '_local/del-old', rev: '0-0' } });
    expect(outcome(await send('GET', at('/_local/del-old')))).toEqual({ status: 404, error: 'not_found', reason: 'missing' });
  });

  it('GET with ?rev= → 404 missing, even its own revision', async () => {
    expect(await send('PUT', at('/_local/rv'), '{"v":1}')).toMatchObject({ status: 201, body: { rev: '0-1' } });
    for (const rev of ['0-1', '0-7']) expect(outcome(await send('GET', at(`/_local/rv?rev=${rev}`))), rev).toEqual({ status: 404, error: 'not_found', reason: 'missing' });
    expect((await send('GET', at('/_local/rv'))).status).toBe(200);
  });
});

describe('deleted and missing documents', () => {
  it('DELETE of a deleted document → 404 deleted (any rev); of a missing one → 404 missing', async () => {
    const put = await send('PUT', at('/gone'), '{"v":1}');
    const first = (put.body as { rev: string }).rev;
    const del = await send('DELETE', at(`/gone?rev=${first}`));
    expect(del.status).toBe(200);
    const second = (del.body as { rev: string }).rev;
    const deleted = { status: 404, error: 'not_found', reason: 'deleted' };
    expect(outcome(await send('DELETE', at(`/gone?rev=${first}`)))).toEqual(deleted);
    expect(outcome(await send('DELETE', at(`/gone?rev=${second}`)))).toEqual(deleted);
    expect(outcome(await send('DELETE', at('/gone')))).toEqual(deleted);
    const missing = { status: 404, error: 'not_found', reason: 'missing' };
    expect(outcome(await send('DELETE', at('/never-was')))).toEqual(missing);
    expect(outcome(await send('DELETE', at('/never-was?rev=1-abc')))).toEqual(missing);
  });

  it('_bulk_docs deleting a document that never existed, with a rev: a tombstone is written', async () => {
    const r = await send('POST', at('/_bulk_docs'), json({ docs: [{ _id: 'never', _rev: '1-00000000000000000000000000000000', _deleted: true }, { _id: 'plain' }] }));
    expect(r.status).toBe(201);
    expect(r.body).toEqual([
      { ok: true, id: 'never', rev: expect.stringMatching(/^2-/) },
      { ok: true, id: 'plain', rev: expect.stringMatching(/^1-/) },
    ]);
    expect(outcome(await send('GET', at('/never')))).toEqual({ status: 404, error: 'not_found', reason: 'deleted' });
  });

  it('GET ?deleted=true of a deleted document → 200 with the tombstone', async () => {
    const put = await send('PUT', at('/tomb'), '{"v":1}');
    const del = await send('DELETE', at(`/tomb?rev=${(put.body as { rev: string }).rev}`));
    const r = await send('GET', at('/tomb?deleted=true'));
    expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: { _id: 'tomb', _rev: (del.body as { rev: string }).rev, _deleted: true } });
  });
});

describe('other requests', () => {
  it('an empty _id → 400 illegal_docid from POST /{db} and _bulk_docs', async () => {
    const refused = { status: 400, error: 'illegal_docid', reason: 'Document id must not be empty' };
    expect(outcome(await send('POST', at(''), '{"_id":"","a":1}'))).toEqual(refused);
    expect(outcome(await send('POST', at('/_bulk_docs'), '{"docs":[{"_id":""}]}'))).toEqual(refused);
  });

  it('?batch=ok → 202 {ok, id} without a revision; the document is written', async () => {
    for (const [method, path, body] of [['PUT', '/batched?batch=ok', '{"x":1}'], ['POST', '?batch=ok', '{"_id":"batched2"}']] as const) {
      const r = await send(method, at(path), body);
      const id = path.startsWith('/batched') ? 'batched' : 'batched2';
      expect({ status: r.status, body: r.body, etag: r.headers.etag }, path).toEqual({ status: 202, body: { ok: true, id }, etag: undefined });
    }
    expect(await send('PUT', at('/bdel?batch=ok'), '{"_deleted":true}')).toMatchObject({ status: 202, body: { ok: true, id: 'bdel' } });
    // A refused write is answered as such.
    expect(outcome(await send('PUT', at('/bbad?batch=ok'), json({ _attachments: { a: { data: '!!' } } })))).toEqual({ status: 400, error: 'bad_request', reason: 'Invalid attachment data for a' });
    for (const id of ['batched', 'batched2']) {
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await send('GET', at(`/${id}`))).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status, id).toBe(200);
    }
  });

  it('a document nested 5,000 arrays deep: CouchDB stores it; the emulator refuses it with a 400 (its documented limit)', async () => {
    const r = await send('POST', at(''), '{"_id":"deep","v":' + '['.repeat(5000) + ']'.repeat(5000) + '}');
    if (ON_REAL) expect(r).toMatchObject({ status: 201, body: { ok: true, id: 'deep' } });
    else expect(outcome(r)).toMatchObject({ status: 400, error: 'bad_request' });
    // 1,000 levels: stored and read back on both.
    expect((await send('POST', at(''), '{"_id":"deep1000","v":' + '['.repeat(999) + ']'.repeat(999) + '}')).status).toBe(201);
    expect((await send('GET', at('/deep1000'))).status).toBe(200);
    expect((await send('GET', at('/_all_docs?include_docs=true'))).status).toBe(200);
    await stillServes();
  });

  it('Content-Type is compared exactly: "APPLICATION/JSON" and "application/json ;…" → 415', async () => {
    const refused = { status: 415, error: 'bad_content_type', reason: 'Content-Type must be application/json' };
    expect(outcome(await send('POST', at(''), '{"_id":"ctu"}', { 'Content-Type': 'APPLICATION/JSON' }))).toEqual(refused);
    expect(outcome(await send('POST', at(''), '{"_id":"ctu"}', { 'Content-Type': 'application/json ; charset=utf-8' }))).toEqual(refused);
    expect((await send('POST', at(''), '{"_id":"ctu"}', { 'Content-Type': 'application/json;charset=utf-8' })).status).toBe(201);
  });

  it('_all_docs with keys that are not strings: a not_found row each', async () => {
    const rows = (a: Answer) => (a.body as { rows: unknown[] }).rows;
    const d1 = expect.objectContaining({ id: 'd1', key: 'd1' });
    expect(rows(await send('GET', at(`/_all_docs?keys=${encodeURIComponent('[null,5,"d1"]')}`)))).toEqual([
      { key: null, error: 'not_found' },
      { key: 5, error: 'not_found' },
      d1,
    ]);
    expect(rows(await send('POST', at('/_all_docs'), '{"keys":[null,"d1"]}'))).toEqual([{ key: null, error: 'not_found' }, d1]);
    expect(outcome(await send('GET', at(`/_all_docs?keys=${encodeURIComponent('"a"')}`)))).toEqual({ status: 400, error: 'bad_request', reason: '`keys` parameter must be an array.' });
    expect(outcome(await send('POST', at('/_all_docs'), '{"keys":"a"}'))).toEqual({ status: 400, error: 'bad_request', reason: '`keys` body member must be an array.' });
  });

  it('_revs_limit, _view_cleanup, _missing_revs and _all_docs/queries', async () => {
    expect(await send('GET', at('/_revs_limit'))).toMatchObject({ status: 200, body: 1000 });
    expect(await send('PUT', at('/_revs_limit'), '500')).toMatchObject({ status: 200, body: { ok: true } });
    expect(await send('GET', at('/_revs_limit'))).toMatchObject({ status: 200, body: 500 });
    expect(outcome(await send('PUT', at('/_revs_limit'), '0'))).toEqual({ status: 500, error: 'unknown_error', reason: 'function_clause' });
    expect(outcome(await send('PATCH', at('/_revs_limit')))).toEqual({ status: 405, error: 'method_not_allowed', reason: 'Only PUT,GET allowed' });
    expect(await send('POST', at('/_view_cleanup'), undefined, { 'Content-Type': 'application/json' })).toMatchObject({ status: 202, body: { ok: true } });
    expect(outcome(await send('GET', at('/_view_cleanup')))).toEqual({ status: 405, error: 'method_not_allowed', reason: 'Only POST allowed' });
    const d1 = (await send('GET', at('/d1'))).body as { _rev: string };
    expect(await send('POST', at('/_missing_revs'), json({ d1: ['1-abc', d1._rev], x: ['1-00000000000000000000000000000000'] }))).toMatchObject({
      status: 200,
      body: { missing_revs: { d1: ['1-abc'], x: ['1-00000000000000000000000000000000'] } },
    });
    const queries = await send('POST', at('/_all_docs/queries'), json({ queries: [{ keys: [null, 'd1'] }, { limit: 1 }] }));
    expect(queries.status).toBe(200);
    const results = (queries.body as { results: { rows: unknown[] }[] }).results;
    expect(results.map((r) => r.rows.length)).toEqual([2, 1]);
    expect(results[0]?.rows[0]).toEqual({ key: null, error: 'not_found' });
  });

  it('_find: an unknown request member → 400 invalid_key; an empty field name → 400 invalid_selector; an unknown $type matches nothing', async () => {
    const find = (body: unknown) => send('POST', at('/_find'), json(body));
    expect(outcome(await find({ selector: { _id: 'd1' }, foo: 1 }))).toEqual({ status: 400, error: 'invalid_key', reason: 'Invalid key foo for this request.' });
    expect(outcome(await send('POST', at('/_explain'), json({ selector: {}, foo: 1 })))).toEqual({ status: 400, error: 'invalid_key', reason: 'Invalid key foo for this request.' });
    expect(outcome(await find({ selector: { '': 1 } }))).toEqual({ status: 400, error: 'invalid_selector', reason: 'One or more conditions is missing a field name.' });
    expect(await find({ selector: { $and: [{ '': 1 }] } })).toMatchObject({ status: 200, body: { docs: [] } });
    expect(await find({ selector: { a: { $type: 'strang' } } })).toMatchObject({ status: 200, body: { docs: [] } });
  });
});

describe("nginx's 4 KB buffer for CouchDB's response headers", () => {
  it('a PUT with a 5,000-character id: nginx answers an HTML 502, and the document is stored; 3,000 characters: 201', async () => {
    const id = 'L'.repeat(5000);
    const r = await send('PUT', at(`/${id}`), '{"v":1}');
    expect({ status: r.status, type: r.headers['content-type'], page: r.text.includes('502 Bad Gateway') }).toEqual({ status: 502, type: 'text/html', page: true });
    const stored = await send('POST', at('/_all_docs'), json({ keys: [id] }));
    expect((stored.body as { rows: { id?: string }[] }).rows[0]?.id === id).toBe(true);
    // POST /{db} carries the same Location; a 202 (batch=ok) carries none.
    expect((await send('POST', at(''), json({ _id: 'P'.repeat(5000) }))).status).toBe(502);
    expect((await send('PUT', at(`/${'B'.repeat(5000)}?batch=ok`), '{"v":1}')).status).toBe(202);
    expect((await send('PUT', at(`/${'S'.repeat(3000)}`), '{"v":1}')).status).toBe(201);
  });
});
