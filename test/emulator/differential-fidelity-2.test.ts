/**
 * More raw requests whose answers differed between the emulator (profile 'couchdb') and CouchDB 3.4 behind the
 * deployment's nginx (measured with both backends, `FEAT_BACKEND=real`): this file runs on both and states the real
 * server's answers, like differential-fidelity.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { rawRequest, type RawAnswer } from '../support/raw-http.js';

const emu = useEmulator({ profile: 'couchdb' });

type Answer = RawAnswer;

/** Raw HTTP as this user (test/support/raw-http.ts). */
const send = (method: string, path: string, body?: string, extra: Record<string, string> = {}): Promise<Answer> =>
  rawRequest(emu.couchUrl, method, path, body, { ...userHeaders, ...extra });

let userHeaders: Record<string, string>;
/** A fresh database of a new user for each describe block that needs an exact history. */
async function freshDb(): Promise<string> {
  const user = uniqueUser('differential2');
  await emu.createUser(user);
  userHeaders = emu.couchHeadersFor(user);
  return `userdb-${Buffer.from(user).toString('hex')}`;
}

let db: string;
const at = (path: string) => `/${db}${path}`;
const json = (value: unknown) => JSON.stringify(value);
/** Status and `{error, reason}` of an answer (CouchDB adds a `ref` to its 500s). */
const outcome = (a: Answer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};
const revOf = (a: Answer) => (a.body as { rev: string }).rev;

beforeAll(async () => {
  db = await freshDb();
}, 60_000);

describe('attachment stubs', () => {
  it('a stub its revision lacks → 412 missing_stub "Invalid attachment stub in <id> for <name>" (PUT, new document, _bulk_docs)', async () => {
    const put = await send('PUT', at('/stubbed'), json({ _attachments: { 'a.txt': { content_type: 'text/plain', data: 'aGVsbG8=' } } }));
    expect(put.status).toBe(201);
    const rev = revOf(put);
    const missing = (id: string, name: string) => ({ status: 412, error: 'missing_stub', reason: `Invalid attachment stub in ${id} for ${name}` });
    expect(outcome(await send('PUT', at('/stubbed'), json({ _rev: rev, _attachments: { 'b.txt': { stub: true } } })))).toEqual(missing('stubbed', 'b.txt'));
    // The first stub the revision lacks is named.
    const two = { _rev: rev, _attachments: { 'a.txt': { stub: true }, 'c.txt': { stub: true } } };
    expect(outcome(await send('PUT', at('/stubbed'), json(two)))).toEqual(missing('stubbed', 'c.txt'));
    expect(outcome(await send('PUT', at('/stubnew'), json({ _attachments: { 'b.txt': { stub: true } } })))).toEqual(missing('stubnew', 'b.txt'));
    const bulk = json({ docs: [{ _id: 'stubbed', _rev: rev, _attachments: { 'b.txt': { stub: true } } }] });
    expect(outcome(await send('POST', at('/_bulk_docs'), bulk))).toEqual(missing('stubbed', 'b.txt'));
    expect(outcome(await send('POST', at(''), json({ _id: 'stubpost', _attachments: { 'z.txt': { stub: true } } })))).toEqual(missing('stubpost', 'z.txt'));
    // A stub the revision has is kept.
    const kept = await send('PUT', at('/stubbed'), json({ _rev: rev, v: 2, _attachments: { 'a.txt': { stub: true } } }));
    expect(kept.status).toBe(201);
    expect((await send('GET', at('/stubbed/a.txt'))).text).toBe('hello');
  });
});

describe('_local documents: the _rev of a PUT', () => {
  it('not a revision ("garbage", "", null, a number) → 400 "Invalid rev format", nothing written', async () => {
    const refused = { status: 400, error: 'bad_request', reason: 'Invalid rev format' };
    for (const rev of ['garbage', '', null, 5]) {
      expect(outcome(await send('PUT', at('/_local/badrev'), json({ _rev: rev, v: 1 }))), json(rev)).toEqual(refused);
    }
    expect(outcome(await send('PUT', at('/_local/badrev?rev=garbage'), json({ v: 1 })))).toEqual(refused);
    expect((await send('GET', at('/_local/badrev'))).status).toBe(404);
  });

  it('a revision not of the form 0-<integer> ("1-abc", "0-x") → 500 "Invalid rev format", nothing written', async () => {
    const failed = { status: 500, error: 'error', reason: 'Invalid rev format' };
    expect(outcome(await send('PUT', at('/_local/wrongrev'), json({ _rev: '1-abc', v: 1 })))).toEqual(failed);
    expect((await send('GET', at('/_local/wrongrev'))).status).toBe(404);
    expect(await send('PUT', at('/_local/wrongrev'), json({ v: 1 }))).toMatchObject({ status: 201, body: { rev: '0-1' } });
    for (const rev of ['3-abc', '0-x']) expect(outcome(await send('PUT', at('/_local/wrongrev'), json({ _rev: rev, v: 2 }))), rev).toEqual(failed);
    expect((await send('GET', at('/_local/wrongrev'))).body).toEqual({ _id: '_local/wrongrev', _rev: '0-1', v: 1 });
  });

  it('the new revision is the sent one + 1 (no _rev: 0-1), whatever is stored', async () => {
    expect(await send('PUT', at('/_local/counted'), json({ v: 1 }))).toMatchObject({ status: 201, body: { ok: true, id: '_local/counted', rev: '0-1' } });
    expect(await send('PUT', at('/_local/counted'), json({ _rev: '0-9', v: 2 }))).toMatchObject({ status: 201, body: { rev: '0-10' } });
    expect((await send('GET', at('/_local/counted'))).body).toEqual({ _id: '_local/counted', _rev: '0-10', v: 2 });
    expect(await send('PUT', at('/_local/counted?rev=0-1'), json({ v: 3 }))).toMatchObject({ status: 201, body: { rev: '0-2' } });
    expect(await send('PUT', at('/_local/counted'), json({ v: 4 }))).toMatchObject({ status: 201, body: { rev: '0-1' } });
    expect((await send('GET', at('/_local/counted'))).body).toEqual({ _id: '_local/counted', _rev: '0-1', v: 4 });
    const listed = (await send('GET', at('/_local_docs'))).body as { rows: { id: string; value: { rev: string } }[] };
    expect(listed.rows.find((r) => r.id === '_local/counted')?.value).toEqual({ rev: '0-1' });
  });
});

describe('_find: an empty field name below a field', () => {
  it('→ 400 invalid_field_name once a document is examined; with no document, 200', async () => {
    db = await freshDb();
    const find = (body: unknown) => send('POST', at('/_find'), json(body));
    expect(await find({ selector: { a: { '': 1 } } })).toMatchObject({ status: 200, body: { docs: [] } });
    expect((await send('PUT', at('/fa'), json({ a: { x: 1 } }))).status).toBe(201);
    expect((await send('PUT', at('/fb'), json({ b: 1 }))).status).toBe(201);
    const invalid = (name: string) => ({ status: 400, error: 'invalid_field_name', reason: `Invalid field name: ${name}` });
    expect(outcome(await find({ selector: { a: { '': 1 } } }))).toEqual(invalid('a.'));
    expect(outcome(await find({ selector: { a: { b: { '': 1 } } } }))).toEqual(invalid('a.b.'));
    expect(outcome(await find({ selector: { 'a.': 1 } }))).toEqual(invalid('a.'));
    expect(outcome(await find({ selector: { '.a': 1 } }))).toEqual(invalid('.a'));
    expect(outcome(await find({ selector: { 'a..b': 1 } }))).toEqual(invalid('a..b'));
    expect(outcome(await find({ selector: { $or: [{ b: 1 }, { a: { '': 1 } }] } }))).toEqual(invalid('a.'));
    expect(outcome(await find({ selector: { _id: { $gt: null } }, fields: ['a.'] }))).toEqual(invalid('a.'));
    // Conditions are tried in order: one that fails first on every document leaves the bad name unread.
    expect(await find({ selector: { zz: 1, a: { '': 1 } } })).toMatchObject({ status: 200, body: { docs: [] } });
    expect(await find({ selector: { a: { $elemMatch: { '': 1 } } } })).toMatchObject({ status: 200, body: { docs: [] } });
    // An empty name as a value, not a field, is fine.
    expect(await find({ selector: { a: { $eq: { '': 1 } } } })).toMatchObject({ status: 200, body: { docs: [] } });
  });
});

describe('_revs_limit', () => {
  it('is applied: later edits prune the history to that many revisions (replicated ones too), and it stays pruned', async () => {
    db = await freshDb();
    expect(await send('PUT', at('/_revs_limit'), '3')).toMatchObject({ status: 200, body: { ok: true } });
    let rev = revOf(await send('PUT', at('/r'), json({ v: 1 })));
    for (let v = 2; v <= 5; v++) rev = revOf(await send('PUT', at('/r'), json({ _rev: rev, v })));
    const revisions = async (id: string) => ((await send('GET', at(`/${id}?revs=true`))).body as { _revisions: { start: number; ids: string[] } })._revisions;
    expect(await revisions('r')).toMatchObject({ start: 5, ids: [expect.any(String), expect.any(String), expect.any(String)] });
    const info = (await send('GET', at('/r?revs_info=true'))).body as { _revs_info: { rev: string }[] };
    expect(info._revs_info.map((r) => r.rev.split('-')[0])).toEqual(['5', '4', '3']);
    const bulkGet = (await send('POST', at('/_bulk_get?revs=true'), json({ docs: [{ id: 'r' }] }))).body as { results: { docs: { ok: { _revisions: { ids: string[] } } }[] }[] };
    expect(bulkGet.results[0]?.docs[0]?.ok._revisions.ids).toHaveLength(3);
    const openRevs = (await send('GET', at('/r?open_revs=all&revs=true'), undefined, { Accept: 'application/json' })).body as { ok: { _revisions: { ids: string[] } } }[];
    expect(openRevs[0]?.ok._revisions.ids).toHaveLength(3);
    // A replicated history is stemmed too.
    const ids = ['f', 'e', 'd', 'c', 'b', 'a', '9'].map((c) => c.repeat(32));
    const replicated = json({ docs: [{ _id: 's', _rev: `7-${ids[0]}`, _revisions: { start: 7, ids } }], new_edits: false });
    expect((await send('POST', at('/_bulk_docs'), replicated)).status).toBe(201);
    expect(await revisions('s')).toEqual({ start: 7, ids: ids.slice(0, 3) });
    // Lowered to 1, then raised again: what was pruned stays pruned.
    expect((await send('PUT', at('/_revs_limit'), '1')).status).toBe(200);
    rev = revOf(await send('PUT', at('/r'), json({ _rev: rev, v: 6 })));
    expect((await revisions('r')).ids).toHaveLength(1);
    expect((await send('PUT', at('/_revs_limit'), '1000')).status).toBe(200);
    rev = revOf(await send('PUT', at('/r'), json({ _rev: rev, v: 7 })));
    expect(await revisions('r')).toMatchObject({ start: 7, ids: [rev.split('-')[1], expect.any(String)] });
    expect(await send('GET', at('/_revs_limit'))).toMatchObject({ status: 200, body: 1000 });
  });
});

describe('_changes', () => {
  it('pending with limit: the changes not yet sent, in either direction; since=now: none', async () => {
    db = await freshDb();
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) expect((await send('PUT', at(`/${id}`), '{}')).status).toBe(201);
    const feed = async (query: string) => {
      const body = (await send('GET', at(`/_changes?${query}`))).body as { results: { id: string }[]; pending: number };
      return { ids: body.results.map((r) => r.id), pending: body.pending };
    };
    expect(await feed('limit=1')).toEqual({ ids: ['c1'], pending: 4 });
    expect(await feed('limit=2')).toEqual({ ids: ['c1', 'c2'], pending: 3 });
    expect(await feed('limit=0')).toEqual({ ids: [], pending: 5 });
    expect(await feed('limit=5')).toEqual({ ids: ['c1', 'c2', 'c3', 'c4', 'c5'], pending: 0 });
    expect(await feed('feed=longpoll&limit=2')).toEqual({ ids: ['c1', 'c2'], pending: 3 });
    expect(await feed('descending=true&limit=2')).toEqual({ ids: ['c5', 'c4'], pending: 3 });
    expect(await feed('descending=true&limit=5')).toEqual({ ids: ['c5', 'c4', 'c3', 'c2', 'c1'], pending: 0 });
    expect(await feed('descending=true')).toEqual({ ids: ['c5', 'c4', 'c3', 'c2', 'c1'], pending: 0 });
    expect(await feed('since=now&limit=1')).toEqual({ ids: [], pending: 0 });
    expect(await feed('feed=longpoll&since=now&timeout=100')).toEqual({ ids: [], pending: 0 });
  });

  it('filter=_selector: a POST body without a selector object → 400 "Selector error: expected a JSON object"; a GET → "…specified in POST payload"', async () => {
    expect(outcome(await send('POST', at('/_changes?filter=_selector'), '{}'))).toEqual({ status: 400, error: 'bad_request', reason: 'Selector error: expected a JSON object' });
    expect(outcome(await send('POST', at('/_changes?filter=_selector'), '{"selector":[]}'))).toEqual({ status: 400, error: 'bad_request', reason: 'Selector error: expected a JSON object' });
    expect(outcome(await send('GET', at('/_changes?filter=_selector')))).toEqual({ status: 400, error: 'bad_request', reason: 'Selector must be specified in POST payload' });
  });
});

describe('other requests', () => {
  it('_revs_diff lists possible_ancestors: the leaves older than a missing revision', async () => {
    const put = await send('PUT', at('/anc'), json({ v: 1 }));
    const rev = revOf(put);
    const zero = '0'.repeat(32);
    expect((await send('POST', at('/_revs_diff'), json({ anc: [`1-${zero}`, `9-${zero}`, rev] }))).body).toEqual({
      anc: { missing: [`1-${zero}`, `9-${zero}`], possible_ancestors: [rev] },
    });
    expect((await send('POST', at('/_revs_diff'), json({ anc: [`1-${zero}`] }))).body).toEqual({ anc: { missing: [`1-${zero}`] } });
  });

  it('DELETE with If-Match: the revision to delete (a stale one → 409, nothing deleted); not a revision → 400', async () => {
    const first = revOf(await send('PUT', at('/im'), json({ v: 1 })));
    const second = revOf(await send('PUT', at('/im'), json({ _rev: first, v: 2 })));
    expect(outcome(await send('DELETE', at('/im'), undefined, { 'If-Match': 'garbage' }))).toEqual({ status: 400, error: 'bad_request', reason: 'Invalid rev format' });
    expect(outcome(await send('DELETE', at('/im'), undefined, { 'If-Match': `"${first}"` }))).toEqual({ status: 409, error: 'conflict', reason: 'Document update conflict.' });
    expect(outcome(await send('DELETE', at(`/im?rev=${first}`), undefined, { 'If-Match': second }))).toEqual({
      status: 400,
      error: 'bad_request',
      reason: 'Document rev and etag have different values',
    });
    expect((await send('GET', at('/im'))).body).toMatchObject({ _rev: second, v: 2 });
    expect(await send('DELETE', at('/im'), undefined, { 'If-Match': `"${second}"` })).toMatchObject({ status: 200, body: { ok: true, id: 'im' } });
    expect(outcome(await send('GET', at('/im')))).toEqual({ status: 404, error: 'not_found', reason: 'deleted' });
  });

  it('PUT ?new_edits=false → 201 {ok, id, rev}', async () => {
    const zero = '0'.repeat(32);
    expect(await send('PUT', at('/ne?new_edits=false'), json({ _rev: `3-${zero}`, v: 1 }))).toMatchObject({ status: 201, body: { ok: true, id: 'ne', rev: `3-${zero}` } });
    expect((await send('GET', at('/ne'))).body).toEqual({ _id: 'ne', _rev: `3-${zero}`, v: 1 });
  });

  it('_session: DELETE → 200 {ok: true}; POST with a name and password → 401 "Name or password is incorrect."', async () => {
    expect(await send('DELETE', '/_session')).toMatchObject({ status: 200, body: { ok: true } });
    expect(outcome(await send('POST', '/_session', json({ name: 'nobody-at-all', password: 'x' })))).toEqual({
      status: 401,
      error: 'unauthorized',
      reason: 'Name or password is incorrect.',
    });
    expect(outcome(await send('POST', '/_session', '{}'))).toEqual({ status: 400, error: 'bad_request', reason: 'request body must contain a username' });
    expect(outcome(await send('POST', '/_session', 'name=x&password=y', { 'Content-Type': 'application/x-www-form-urlencoded' }))).toMatchObject({ status: 401 });
    expect(outcome(await send('POST', '/_session', 'x', { 'Content-Type': 'text/plain' }))).toEqual({
      status: 415,
      error: 'bad_content_type',
      reason: "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'",
    });
    const put = await send('PUT', '/_session', '{}');
    expect({ ...outcome(put), allow: put.headers.allow }).toEqual({ status: 405, error: 'method_not_allowed', reason: 'Only GET,HEAD,POST,DELETE allowed', allow: 'GET,HEAD,POST,DELETE' });
    expect((await send('HEAD', '/_session')).status).toBe(200);
    expect((await send('GET', '/_session')).status).toBe(200);
  });

  it('_all_docs: update_seq is the opaque sequence; keys → offset null', async () => {
    const seq = ((await send('GET', at(''))).body as { update_seq: unknown }).update_seq;
    const page = (await send('GET', at('/_all_docs?update_seq=true&limit=1'))).body as { update_seq: unknown };
    expect(typeof page.update_seq).toBe('string');
    expect(String(page.update_seq).split('-')[0]).toBe(String(seq).split('-')[0]);
    expect((await send('POST', at('/_all_docs'), json({ keys: ['anc'] }))).body).toMatchObject({ offset: null });
    expect((await send('GET', at(`/_all_docs?keys=${encodeURIComponent('["anc"]')}`))).body).toMatchObject({ offset: null });
  });
});
