/**
 * A fourth batch of raw requests whose answers differed between the emulator (profile 'couchdb', its most faithful)
 * and CouchDB 3.4.3 behind the deployment's nginx, found by a differential probe (same request sequence on both
 * backends). Every assertion states the REAL server's answer and the file runs on both backends (`FEAT_BACKEND=real`),
 * like differential-fidelity-2/3.test.ts; the one difference left (numbers kept as written) is asserted per backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import type { RawAnswer } from '../support/raw-http.js';
import { ON_REAL } from '../support/target.js';
import { rawCapped } from './raw-deadline.js';

const emu = useEmulator({ profile: 'couchdb' });

let userHeaders: Record<string, string>;
let db: string;
const send = (method: string, path: string, body?: string, extra: Record<string, string> = {}) => rawCapped(emu.couchUrl, method, path, body, { ...userHeaders, ...extra });
const at = (path: string) => `/${db}${path}`;
const json = (v: unknown) => JSON.stringify(v);
const q = (v: unknown) => encodeURIComponent(json(v));
const outcome = (a: RawAnswer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};
const revOf = (a: RawAnswer) => (a.body as { rev: string }).rev;
let n = 0;
const fresh = (p: string) => `${p}-${n++}`;

beforeAll(async () => {
  const user = uniqueUser('fidelity');
  await emu.createUser(user);
  userHeaders = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
}, 60_000);

describe('document reads', () => {
  it('open_revs without Accept: application/json is multipart/mixed (JSON only when asked)', async () => {
    const id = fresh('or');
    await send('PUT', at(`/${id}`), '{"v":1}');
    const plain = await send('GET', at(`/${id}?open_revs=all`));
    expect(plain.status).toBe(200);
    expect(String(plain.headers['content-type'])).toMatch(/^multipart\/mixed; boundary=/);
    expect(plain.text).toContain('Content-Type: application/json\r\n\r\n{"_id":');
    const asked = await send('GET', at(`/${id}?open_revs=all`), undefined, { Accept: 'application/json' });
    expect(asked.headers['content-type']).toBe('application/json');
    expect(asked.body).toMatchObject([{ ok: { _id: id, v: 1 } }]);
  });

  it('a _local document read with revs=true carries _revisions {start: 0, ids: ["<n>"]}', async () => {
    await send('PUT', at('/_local/lr'), '{"v":1}');
    expect((await send('GET', at('/_local/lr?revs=true'))).body).toEqual({ _id: '_local/lr', _rev: '0-1', v: 1, _revisions: { start: 0, ids: ['1'] } });
  });
});

describe('document writes', () => {
  it('PUT with If-Match: "<rev>" and no _rev updates the document (201)', async () => {
    const id = fresh('im');
    const first = revOf(await send('PUT', at(`/${id}`), '{"v":1}'));
    const r = await send('PUT', at(`/${id}`), '{"v":2}', { 'If-Match': `"${first}"` });
    expect({ status: r.status, ok: (r.body as { ok?: boolean }).ok }).toEqual({ status: 201, ok: true });
    expect((await send('GET', at(`/${id}`))).body).toMatchObject({ v: 2 });
  });

  it('PUT ?rev=X with a different body _rev → 400 "Document rev from request body and query string have different values"', async () => {
    const id = fresh('rm');
    const first = revOf(await send('PUT', at(`/${id}`), '{"v":1}'));
    const r = await send('PUT', at(`/${id}?rev=${first}`), json({ _rev: '1-00000000000000000000000000000000', v: 2 }));
    expect(outcome(r)).toEqual({ status: 400, error: 'bad_request', reason: 'Document rev from request body and query string have different values' });
  });

  it('PUT /{db}/_design%2F (a design document without a name) → 400 illegal_docid, nothing written', async () => {
    const r = await send('PUT', at('/_design%2F'), '{}');
    expect(outcome(r)).toEqual({ status: 400, error: 'illegal_docid', reason: 'Illegal document id `_design/`' });
    expect(((await send('GET', at('/_design_docs'))).body as { rows: { id: string }[] }).rows.map((row) => row.id)).not.toContain('_design/');
  });

  it('a number beyond double range (1e400) → 400 invalid UTF-8 JSON, not stored as something else', async () => {
    const id = fresh('inf');
    expect(outcome(await send('PUT', at(`/${id}`), '{"n":1e400}'))).toEqual({ status: 400, error: 'bad_request', reason: 'invalid UTF-8 JSON' });
    expect((await send('GET', at(`/${id}`))).status).toBe(404);
  });

  it('numbers are stored as written on CouchDB: 12345678901234567890 keeps its digits, 1.0 stays 1.0 (the emulator: as doubles, a listed difference)', async () => {
    const id = fresh('num');
    await send('PUT', at(`/${id}`), '{"n":12345678901234567890,"f":1.0}');
    const text = (await send('GET', at(`/${id}`))).text;
    if (ON_REAL) {
      expect(text).toContain('"n":12345678901234567890');
      expect(text).toContain('"f":1.0');
    } else {
      // JSON.parse and JSON.stringify (PouchDB's storage) keep a double: docs/emulator.md's list of differences.
      expect(text).toContain('"n":12345678901234567000');
      expect(text).toContain('"f":1,');
    }
  });

  it('POST /{db} without _id: the new id is 32 lowercase hex digits (a CouchDB uuid, no dashes)', async () => {
    const r = await send('POST', at(''), '{"v":1}');
    expect(r.status).toBe(201);
    expect((r.body as { id: string }).id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('write answers carry ETag/Location: DELETE → ETag of the tombstone; _local PUT → Location; COPY → ETag and Location', async () => {
    const id = fresh('hd');
    const first = revOf(await send('PUT', at(`/${id}`), '{"v":1}'));
    const copy = await send('COPY', at(`/${id}`), undefined, { Destination: `${id}-copy` });
    expect({ status: copy.status, etag: copy.headers.etag, location: typeof copy.headers.location }).toEqual({ status: 201, etag: `"${revOf(copy)}"`, location: 'string' });
    const del = await send('DELETE', at(`/${id}?rev=${first}`));
    expect(del.headers.etag).toBe(`"${revOf(del)}"`);
    const local = await send('PUT', at(`/_local/${id}`), '{"v":1}');
    expect(String(local.headers.location)).toMatch(new RegExp(`/${db}/_local%2F${id}$`));
  });
});

describe('_local_docs', () => {
  it('honours limit, startkey, descending and keys', async () => {
    for (const id of ['ld1', 'ld2', 'ld3']) await send('PUT', at(`/_local/${id}`), '{"v":1}');
    const ids = (a: RawAnswer) => (a.body as { rows: { key: string; error?: string }[] }).rows.map((r) => (r.error ? `${r.key}:${r.error}` : r.key)).filter((k) => k.startsWith('_local/ld'));
    expect(ids(await send('GET', at(`/_local_docs?startkey=${q('_local/ld2')}`)))).toEqual(['_local/ld2', '_local/ld3']);
    expect(ids(await send('GET', at(`/_local_docs?startkey=${q('_local/ld')}&limit=1`)))).toEqual(['_local/ld1']);
    expect(ids(await send('GET', at(`/_local_docs?descending=true&endkey=${q('_local/ld')}`)))).toEqual(['_local/ld3', '_local/ld2', '_local/ld1']);
    expect(ids(await send('POST', at('/_local_docs'), json({ keys: ['_local/ld3', '_local/ldx'] })))).toEqual(['_local/ld3', '_local/ldx:not_found']);
  });
});

describe('replication endpoints', () => {
  it('_revs_diff: ancestors known from a replicated history (new_edits: false) are not missing', async () => {
    const id = fresh('rd');
    const written = await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: [{ _id: id, _rev: '3-cc', _revisions: { start: 3, ids: ['cc', 'bb', 'aa'] }, v: 1 }] }));
    expect(written.status).toBe(201);
    const diff = await send('POST', at('/_revs_diff'), json({ [id]: ['1-aa', '2-bb', '3-cc', '4-dd'] }));
    expect(diff.body).toEqual({ [id]: { missing: ['4-dd'], possible_ancestors: ['3-cc'] } });
  });

  it('_all_docs with keys (of an existing document) and a startkey/endkey/key → 400 "`keys` is incompatible with `key`, `start_key` and `end_key`"', async () => {
    const refused = { status: 400, error: 'query_parse_error', reason: '`keys` is incompatible with `key`, `start_key` and `end_key`' };
    // (`keys: []`, or `[K]` with `key=K` or `startkey=endkey=K`, is answered 200: couch_mrview_util:validate_args.)
    await send('PUT', at('/kx'), '{"v":1}');
    for (const param of ['startkey', 'endkey', 'key']) {
      expect(outcome(await send('POST', at(`/_all_docs?${param}=${q('a')}`), json({ keys: ['kx'] }))), param).toEqual(refused);
    }
  });
});

describe('_changes', () => {
  it('filter=_selector matching nothing: pending 0 (nothing is pending once last_seq is the end)', async () => {
    await send('PUT', at(`/${fresh('sel')}`), '{"v":1}');
    const r = await send('POST', at('/_changes?filter=_selector'), json({ selector: { never: 'matches' } }));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ results: [], pending: 0 });
  });

  it('filter=<ddoc>/<name> naming an existing design document without filters → 404 "missing json key: filters"', async () => {
    await send('PUT', at('/_design/nofilters'), '{}');
    expect(outcome(await send('GET', at('/_changes?filter=nofilters/f')))).toEqual({ status: 404, error: 'not_found', reason: 'missing json key: filters' });
  });

  it('doc_ids that is not JSON → 400 invalid UTF-8 JSON; PUT → 405 "Only GET,POST,HEAD allowed" with Allow', async () => {
    expect(outcome(await send('GET', at('/_changes?filter=_doc_ids&doc_ids=x')))).toEqual({ status: 400, error: 'bad_request', reason: 'invalid UTF-8 JSON' });
    const put = await send('PUT', at('/_changes'), '{}');
    expect({ ...outcome(put), allow: put.headers.allow }).toEqual({ status: 405, error: 'method_not_allowed', reason: 'Only GET,POST,HEAD allowed', allow: 'GET,POST,HEAD' });
  });
});

describe('paths, methods and parameters', () => {
  it('nginx merges slashes: GET //{db}//{id} reads the document', async () => {
    const id = fresh('sl');
    await send('PUT', at(`/${id}`), '{"v":1}');
    const r = await send('GET', `//${db}//${id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ _id: id, v: 1 });
  });

  it('a method a document does not take (PATCH, a plain OPTIONS) → 405 with Allow, not 404', async () => {
    const id = fresh('m');
    await send('PUT', at(`/${id}`), '{"v":1}');
    const allowed = { status: 405, error: 'method_not_allowed', reason: 'Only DELETE,GET,HEAD,POST,PUT,COPY allowed', allow: 'DELETE,GET,HEAD,POST,PUT,COPY' };
    for (const method of ['PATCH', 'OPTIONS']) {
      const r = await send(method, at(`/${id}`), method === 'PATCH' ? '{}' : undefined);
      expect({ ...outcome(r), allow: r.headers.allow }, method).toEqual(allowed);
    }
  });

  it('_compact: GET → 405 "Only POST allowed"; POST _compact/<ddoc> → 202', async () => {
    expect(outcome(await send('GET', at('/_compact')))).toEqual({ status: 405, error: 'method_not_allowed', reason: 'Only POST allowed' });
    await send('PUT', at('/_design/cx'), '{}');
    expect(await send('POST', at('/_compact/cx'), undefined, { 'Content-Type': 'application/json' })).toMatchObject({ status: 202, body: { ok: true } });
  });

  it('error texts: _bulk_docs {"docs":{}}, _all_docs limit=abc, _uuids count=5000', async () => {
    expect(outcome(await send('POST', at('/_bulk_docs'), '{"docs":{}}'))).toEqual({ status: 400, error: 'bad_request', reason: '`docs` parameter must be an array.' });
    expect(outcome(await send('GET', at('/_all_docs?limit=abc')))).toEqual({ status: 400, error: 'query_parse_error', reason: 'Invalid value for integer: "abc"' });
    expect(outcome(await send('GET', '/_uuids?count=5000'))).toEqual({ status: 400, error: 'bad_request', reason: 'count parameter too large' });
  });
});
