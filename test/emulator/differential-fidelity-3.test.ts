/**
 * A third batch of raw requests whose answers differed between the emulator (profile 'couchdb') and CouchDB 3.4 behind
 * the deployment's nginx (found by comparing both request by request, test/zz-diff): this file runs on both backends
 * (`FEAT_BACKEND=real`) and states the real server's answers, like differential-fidelity-2.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { rawRequest, type RawAnswer } from '../support/raw-http.js';

const emu = useEmulator({ profile: 'couchdb' });

type Answer = RawAnswer;

let userHeaders: Record<string, string>;
let db: string;
const send = (method: string, path: string, body?: string, extra: Record<string, string> = {}): Promise<Answer> =>
  rawRequest(emu.couchUrl, method, path, body, { ...userHeaders, ...extra });
const at = (path: string) => `/${db}${path}`;
const json = (value: unknown) => JSON.stringify(value);
const outcome = (a: Answer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};
const revOf = (a: Answer) => (a.body as { rev: string }).rev;
/** A revision hash from a number (fixed, so both servers hold the same tree). */
const H = (n: number) => n.toString(16).padStart(32, '0');

beforeAll(async () => {
  const user = uniqueUser('differential3');
  await emu.createUser(user);
  userHeaders = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
  expect((await send('PUT', at('/a'), json({ v: 1 }))).status).toBe(201);
  expect((await send('PUT', at('/_local/cp'), json({ history: [] }))).status).toBe(201);
  // `c`: two live leaves (2-…2, 2-…3: the winner) and a deleted one (3-…4); `k`: also a second deleted leaf.
  const tree = (id: string) => [
    { _id: id, _rev: `2-${H(2)}`, v: 'w', _revisions: { start: 2, ids: [H(2), H(1)] } },
    { _id: id, _rev: `2-${H(3)}`, v: 'l', _revisions: { start: 2, ids: [H(3), H(1)] } },
    { _id: id, _rev: `3-${H(4)}`, _deleted: true, _revisions: { start: 3, ids: [H(4), H(5), H(1)] } },
  ];
  const k = [...tree('k'), { _id: 'k', _rev: `2-${H(6)}`, _deleted: true, _revisions: { start: 2, ids: [H(6), H(1)] } }];
  expect((await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: [...tree('c'), ...k] }))).status).toBe(201);
}, 60_000);

describe('deleted_conflicts', () => {
  it('GET ?deleted_conflicts=true lists the deleted leaves other than the winner (newest first), after the body', async () => {
    const one = await send('GET', at('/c?deleted_conflicts=true'));
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ _id: 'c', _rev: `2-${H(3)}`, v: 'l', _deleted_conflicts: [`3-${H(4)}`] });
    const two = await send('GET', at('/k?deleted_conflicts=true'));
    expect(two.body).toEqual({ _id: 'k', _rev: `2-${H(3)}`, v: 'l', _deleted_conflicts: [`3-${H(4)}`, `2-${H(6)}`] });
    // Meta members make an answer without ETag.
    expect(one.headers.etag).toBeUndefined();
  });

  it('with conflicts=true: _conflicts (live leaves) then _deleted_conflicts; none → no member', async () => {
    const both = await send('GET', at('/k?conflicts=true&deleted_conflicts=true'));
    expect(both.text).toBe(`${json({ _id: 'k', _rev: `2-${H(3)}`, v: 'l', _conflicts: [`2-${H(2)}`], _deleted_conflicts: [`3-${H(4)}`, `2-${H(6)}`] })}\n`);
    const withRevs = (await send('GET', at('/c?deleted_conflicts=true&revs=true'))).body as Record<string, unknown>;
    expect(Object.keys(withRevs)).toEqual(['_id', '_rev', 'v', '_revisions', '_deleted_conflicts']);
    const plain = await send('GET', at('/a?deleted_conflicts=true&conflicts=true'));
    expect(Object.keys(plain.body as object)).toEqual(['_id', '_rev', 'v']);
  });
});

describe('_local documents outside PUT /{db}/_local/{id}', () => {
  it('_revs_diff naming a _local id: every revision missing; _bulk_get: a not_found entry', async () => {
    const diff = await send('POST', at('/_revs_diff'), json({ '_local/cp': ['0-1'], a: [`9-${H(9)}`] }));
    expect(diff.status).toBe(200);
    expect((diff.body as Record<string, unknown>)['_local/cp']).toEqual({ missing: ['0-1'] });
    expect((diff.body as Record<string, { missing: string[] }>).a!.missing).toEqual([`9-${H(9)}`]);
    const got = await send('POST', at('/_bulk_get'), json({ docs: [{ id: '_local/cp' }, { id: '_local/cp', rev: '0-1' }, { id: 'a' }] }));
    expect(got.status).toBe(200);
    const results = (got.body as { results: { id: string; docs: Record<string, unknown>[] }[] }).results;
    expect(results[0]).toEqual({ id: '_local/cp', docs: [{ error: { id: '_local/cp', rev: 'undefined', error: 'not_found', reason: 'missing' } }] });
    expect(results[1]).toEqual({ id: '_local/cp', docs: [{ error: { id: '_local/cp', rev: '0-1', error: 'not_found', reason: 'missing' } }] });
    expect(results[2]!.docs[0]).toHaveProperty('ok');
  });

  it('_bulk_docs: no revision check (0-1 each time without _rev); new_edits=false stores the given rev + 1', async () => {
    for (const v of [1, 2]) {
      expect((await send('POST', at('/_bulk_docs'), json({ docs: [{ _id: '_local/bd', v }] }))).body).toEqual([{ ok: true, id: '_local/bd', rev: '0-1' }]);
    }
    expect((await send('GET', at('/_local/bd'))).body).toEqual({ _id: '_local/bd', _rev: '0-1', v: 2 });
    const replicated = await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: [{ _id: '_local/nn', _rev: '0-5', v: 1 }] }));
    expect(replicated).toMatchObject({ status: 201, body: [] });
    expect((await send('GET', at('/_local/nn'))).body).toEqual({ _id: '_local/nn', _rev: '0-6', v: 1 });
  });

  it('_local%2F{id} (slash encoded) is the same _local document: no revision check, only its own members', async () => {
    expect((await send('PUT', at('/_local%2Fenc'), json({ v: 1 }))).status).toBe(201);
    expect((await send('PUT', at('/_local%2Fenc'), json({ v: 2 }))).status).toBe(201);
    expect((await send('GET', at('/_local%2Fenc'))).body).toEqual({ _id: '_local/enc', _rev: '0-1', v: 2 });
    expect((await send('GET', at('/_local%2Fcp'))).body).toEqual({ _id: '_local/cp', _rev: '0-1', history: [] });
  });

  it('_all_docs by keys answers a _local id with its row', async () => {
    const rows = (await send('POST', at('/_all_docs'), json({ keys: ['_local/cp', '_local/none'] }))).body as { rows: unknown[] };
    expect(rows.rows).toEqual([{ id: '_local/cp', key: '_local/cp', value: { rev: '0-1' } }, { key: '_local/none', error: 'not_found' }]);
  });
});

describe('_changes', () => {
  it('feed=longpoll and continuous with timeout=0 end at once', async () => {
    for (const feed of ['longpoll', 'continuous']) {
      const t0 = Date.now();
      const a = await send('GET', at(`/_changes?feed=${feed}&since=now&timeout=0`));
      expect(a.status, feed).toBe(200);
      expect(Date.now() - t0, feed).toBeLessThan(3_000);
    }
  });

  it('style=all_docs: the winner, then the other live leaves, then the deleted ones; open_revs+latest ascending', async () => {
    const ids = encodeURIComponent(json(['k']));
    const all = (await send('GET', at(`/_changes?style=all_docs&filter=_doc_ids&doc_ids=${ids}`))).body as { results: { changes: { rev: string }[] }[] };
    expect(all.results[0]!.changes.map((c) => c.rev)).toEqual([`2-${H(3)}`, `2-${H(2)}`, `3-${H(4)}`, `2-${H(6)}`]);
    const latest = await send('GET', at(`/k?open_revs=${encodeURIComponent(json([`1-${H(1)}`]))}&latest=true`), undefined, { Accept: 'application/json' });
    expect((latest.body as { ok: { _rev: string } }[]).map((r) => r.ok._rev)).toEqual([`2-${H(2)}`, `2-${H(3)}`, `2-${H(6)}`, `3-${H(4)}`]);
  });
});

describe('conditional requests and headers', () => {
  it('a document GET: ETag "<rev>", application/json, must-revalidate, a request id; If-None-Match by that ETag (weak too), not *', async () => {
    const first = await send('GET', at('/a'));
    const rev = (first.body as { _rev: string })._rev;
    expect(first.headers.etag).toBe(`"${rev}"`);
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['cache-control']).toBe('must-revalidate');
    expect(typeof first.headers['x-couch-request-id']).toBe('string');
    expect((await send('GET', at('/a'), undefined, { 'If-None-Match': '*' })).status).toBe(200);
    // A weak ETag names the same revision (couch_httpd:etag_match strips `W/`).
    expect((await send('GET', at('/a'), undefined, { 'If-None-Match': `W/"${rev}"` })).status).toBe(304);
    const again = await send('GET', at('/a'), undefined, { 'If-None-Match': `"${rev}"` });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect((await send('GET', at('/a?revs=true'), undefined, { 'If-None-Match': `"x", "${rev}"` })).status).toBe(304);
    expect((await send('HEAD', at('/a'))).headers.etag).toBe(`"${rev}"`);
    // Meta members: no ETag.
    expect((await send('GET', at('/a?revs_info=true'))).headers.etag).toBeUndefined();
  });

  it("a _local document's ETag is honoured (304) and changes with its body", async () => {
    const first = await send('GET', at('/_local/cp'));
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[0-9A-Z]+"$/);
    expect((await send('GET', at('/_local/cp'), undefined, { 'If-None-Match': etag })).status).toBe(304);
    expect((await send('PUT', at('/_local/etagged'), json({ v: 1 }))).status).toBe(201);
    const one = (await send('GET', at('/_local/etagged'))).headers.etag;
    expect((await send('PUT', at('/_local/etagged'), json({ v: 2 }))).status).toBe(201);
    expect((await send('GET', at('/_local/etagged'))).headers.etag).not.toBe(one);
  });

  it('a document PUT and an error answer are application/json with must-revalidate', async () => {
    const put = await send('PUT', at('/typed'), json({ v: 1 }));
    expect(put.status).toBe(201);
    expect(put.headers['content-type']).toBe('application/json');
    expect(put.headers.etag).toBe(`"${revOf(put)}"`);
    const missing = await send('GET', at('/nothing-here'));
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/json');
    expect(missing.headers['cache-control']).toBe('must-revalidate');
  });
});

describe('other requests', () => {
  it('POST /{db}/ (trailing slash) writes a document like POST /{db}', async () => {
    expect(outcome(await send('POST', at('/'), json({ _id: 'posted2', v: 1 })))).toEqual({ status: 201, error: undefined, reason: undefined });
    expect((await send('GET', at('/posted2'))).status).toBe(200);
  });

  it('_purge and _purged_infos_limit need a server admin (401)', async () => {
    const refused = { status: 401, error: 'unauthorized', reason: 'You are not a server admin.' };
    expect(outcome(await send('POST', at('/_purge'), json({ a: ['1-abc'] })))).toEqual(refused);
    expect(outcome(await send('GET', at('/_purged_infos_limit')))).toEqual(refused);
  });

  it('POST /{db}/_compact without a JSON Content-Type → 415; with one → 202', async () => {
    expect(outcome(await send('POST', at('/_compact')))).toEqual({ status: 415, error: 'bad_content_type', reason: 'Content-Type must be application/json' });
    expect((await send('POST', at('/_compact'), '{}')).status).toBe(202);
  });

  it('_index of type text → 503 "required index service unavailable"', async () => {
    const text = await send('POST', at('/_index'), json({ index: { fields: ['v'] }, type: 'text', name: 't' }));
    expect(outcome(text)).toEqual({ status: 503, error: 'required index service unavailable', reason: 'text' });
  });

  it('a missing attachment of an existing document → 404 "Document is missing attachment"', async () => {
    expect(outcome(await send('GET', at('/a/nope.txt')))).toEqual({ status: 404, error: 'not_found', reason: 'Document is missing attachment' });
  });

  it('_all_docs by keys: a deleted row has no "doc" member without include_docs', async () => {
    const rev = revOf(await send('PUT', at('/del'), json({ v: 1 })));
    expect((await send('DELETE', at(`/del?rev=${rev}`))).status).toBe(200);
    const rows = ((await send('POST', at('/_all_docs'), json({ keys: ['del'] }))).body as { rows: Record<string, unknown>[] }).rows;
    expect(Object.keys(rows[0]!)).toEqual(['id', 'key', 'value']);
    const withDocs = ((await send('POST', at('/_all_docs?include_docs=true'), json({ keys: ['del'] }))).body as { rows: Record<string, unknown>[] }).rows;
    expect(withDocs[0]!.doc).toBeNull();
  });

  it('?revs=yes is not revs=true', async () => {
    expect('_revisions' in ((await send('GET', at('/a?revs=yes'))).body as object)).toBe(false);
    expect('_revisions' in ((await send('GET', at('/a?revs=true'))).body as object)).toBe(true);
  });

  it('_bulk_get with atts_since: attachments added after the given revision come inline, older ones as stubs', async () => {
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    const r1 = revOf(await send('PUT', at('/att'), json({ _attachments: { 'f.txt': { content_type: 'text/plain', data: b64('hello') } } })));
    const second = await send('PUT', at('/att'), json({ _rev: r1, _attachments: { 'f.txt': { stub: true }, 'g.txt': { content_type: 'text/plain', data: b64('world') } } }));
    expect(second.status).toBe(201);
    const got = (await send('POST', at('/_bulk_get'), json({ docs: [{ id: 'att', atts_since: [r1] }] }))).body as {
      results: { docs: { ok: { _attachments: Record<string, Record<string, unknown>> } }[] }[];
    };
    const atts = got.results[0]!.docs[0]!.ok._attachments;
    expect(atts['f.txt']).toMatchObject({ stub: true, length: 5, revpos: 1 });
    expect(atts['g.txt']).toMatchObject({ data: b64('world'), revpos: 2 });
  });
});
