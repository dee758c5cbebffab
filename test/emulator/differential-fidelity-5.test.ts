/**
 * A fifth batch of raw requests whose answers differed between the emulator (profile 'couchdb') and CouchDB 3.4.3 behind
 * the deployment's nginx: request bodies with a `Content-Encoding`, `_changes` parameters, document ids CouchDB refuses,
 * reads naming a revision, and `_bulk_get`'s order of leaves. Every assertion states the REAL server's answer and the
 * file runs on both backends (`FEAT_BACKEND=real`); where the emulator's bound on decompressed bodies answers otherwise,
 * the assertion is per backend.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import type { RawAnswer } from '../support/raw-http.js';
import { ON_REAL } from '../support/target.js';
import { rawCapped } from './raw-deadline.js';

const emu = useEmulator({ profile: 'couchdb' });

let userHeaders: Record<string, string>;
let db: string;
const send = (method: string, path: string, body?: string | Buffer, extra: Record<string, string> = {}) =>
  rawCapped(emu.couchUrl, method, path, body, { ...userHeaders, ...extra }, 20_000);
const at = (path: string) => `/${db}${path}`;
const json = (v: unknown) => JSON.stringify(v);
const gz = (v: unknown) => gzipSync(json(v));
const gzip = { 'Content-Encoding': 'gzip' };
const outcome = (a: RawAnswer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};
const h = (c: string) => c.repeat(32);
/** Leaves 2-a and 2-b (live, 2-b the winner) and a deleted 3-e, all below 1-c. */
const conflicted = (id: string) => [
  { _id: id, _rev: `2-${h('a')}`, _revisions: { start: 2, ids: [h('a'), h('c')] }, v: 'a' },
  { _id: id, _rev: `2-${h('b')}`, _revisions: { start: 2, ids: [h('b'), h('c')] }, v: 'b' },
  { _id: id, _rev: `3-${h('e')}`, _revisions: { start: 3, ids: [h('e'), h('d'), h('c')] }, _deleted: true },
];

beforeAll(async () => {
  const user = uniqueUser('fidelity5');
  await emu.createUser(user);
  userHeaders = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
  for (let i = 0; i < 100 && (await send('GET', at(''))).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
}, 60_000);

describe('Content-Encoding of request bodies', () => {
  it('gzip bodies of PUT, _bulk_docs, a _local PUT and a _changes POST are decompressed', async () => {
    const put = await send('PUT', at('/gz-put'), gz({ v: 1 }), gzip);
    expect({ status: put.status, ok: (put.body as { ok?: boolean }).ok }).toEqual({ status: 201, ok: true });
    expect((await send('GET', at('/gz-put'))).body).toMatchObject({ _id: 'gz-put', v: 1 });
    const bulk = await send('POST', at('/_bulk_docs'), gz({ docs: [{ _id: 'gz-bulk', v: 2 }] }), gzip);
    expect(bulk.status).toBe(201);
    expect(bulk.body).toMatchObject([{ ok: true, id: 'gz-bulk' }]);
    const local = await send('PUT', at('/_local/gz'), gz({ v: 3 }), gzip);
    expect({ status: local.status, rev: (local.body as { rev?: string }).rev }).toEqual({ status: 201, rev: '0-1' });
    const changes = await send('POST', at('/_changes?filter=_doc_ids'), gz({ doc_ids: ['gz-bulk'] }), gzip);
    expect(changes.status).toBe(200);
    expect((changes.body as { results: { id: string }[] }).results.map((r) => r.id)).toEqual(['gz-bulk']);
  });

  it("a 3 MiB document sent gzipped (under nginx's 1 MiB limit) is stored whole", async () => {
    const value = 'y'.repeat(3 * 1024 * 1024);
    const body = gz({ v: value });
    expect(body.length).toBeLessThan(1024 * 1024);
    expect((await send('PUT', at('/gz-big'), body, gzip)).status).toBe(201);
    expect(((await send('GET', at('/gz-big'))).body as { v?: string }).v?.length).toBe(value.length);
  });

  it('gzip that is not (or an empty body) → 400 "Request body is not properly gzipped."; gzipped non-JSON → "invalid UTF-8 JSON"', async () => {
    const notGzip = { status: 400, error: 'bad_request', reason: 'Request body is not properly gzipped.' };
    expect(outcome(await send('PUT', at('/gz-not'), '{"v":1}', gzip))).toEqual(notGzip);
    expect(outcome(await send('PUT', at('/gz-not'), '', gzip))).toEqual(notGzip);
    expect(outcome(await send('PUT', at('/gz-not'), gzipSync('nope'), gzip))).toEqual({ status: 400, error: 'bad_request', reason: 'invalid UTF-8 JSON' });
    expect((await send('GET', at('/gz-not'))).status).toBe(404);
  });

  it('another encoding (deflate, br, GZIP) → 415 "<enc> is not a supported content encoding."; identity is plain; the content type is checked first', async () => {
    const unsupported = (enc: string) => ({ status: 415, error: 'bad_content_type', reason: `${enc} is not a supported content encoding.` });
    expect(outcome(await send('PUT', at('/df'), deflateSync('{"v":1}'), { 'Content-Encoding': 'deflate' }))).toEqual(unsupported('deflate'));
    expect(outcome(await send('PUT', at('/br'), '{"v":1}', { 'Content-Encoding': 'br' }))).toEqual(unsupported('br'));
    expect(outcome(await send('PUT', at('/br'), gzipSync('{}'), { 'Content-Encoding': 'GZIP' }))).toEqual(unsupported('GZIP'));
    expect((await send('GET', at('/br'))).status).toBe(404);
    expect((await send('PUT', at('/identity'), '{}', { 'Content-Encoding': 'identity' })).status).toBe(201);
    expect(outcome(await send('POST', at(''), deflateSync('{}'), { 'Content-Encoding': 'deflate', 'Content-Type': 'text/plain' }))).toEqual({
      status: 415,
      error: 'bad_content_type',
      reason: 'Content-Type must be application/json',
    });
  });

  it('a document over max_document_size sent gzipped → 413 document_too_large naming the body\'s _id ("" without one)', async () => {
    const big = 'y'.repeat(8_000_001);
    expect(outcome(await send('PUT', at('/gz-over'), gz({ v: big }), gzip))).toEqual({ status: 413, error: 'document_too_large', reason: '' });
    expect(outcome(await send('POST', at(''), gz({ _id: 'gz-over2', v: big }), gzip))).toEqual({ status: 413, error: 'document_too_large', reason: 'gz-over2' });
    expect(outcome(await send('POST', at('/_bulk_docs'), gz({ docs: [{ v: big }] }), gzip))).toEqual({ status: 413, error: 'document_too_large', reason: '' });
    expect((await send('GET', at('/gz-over'))).status).toBe(404);
  });

  it('a gzip bomb (12 MB of JSON in ~12 kB) → 413, nothing written, the server answers on', async () => {
    const bomb = gz({ v: 'y'.repeat(12_000_000) });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const r = outcome(await send('PUT', at('/gz-bomb'), bomb, gzip));
    // CouchDB decompresses any size and then measures the document; the emulator stops decompressing past
    // max_document_size + the proxy's body limit (docs/emulator.md).
    expect(r).toEqual(ON_REAL ? { status: 413, error: 'document_too_large', reason: '' } : { status: 413, error: 'too_large', reason: 'the request entity is too large' });
    expect((await send('GET', at('/gz-bomb'))).status).toBe(404);
    expect((await send('GET', at(''))).status).toBe(200);
  });
});

describe('_changes parameters', () => {
  it('limit=-5 is no limit (200 with every change), +1 is 1, -0 is 0', async () => {
    await send('PUT', at('/ch-1'), '{"v":1}');
    await send('PUT', at('/ch-2'), '{"v":1}');
    const r = await send('GET', at('/_changes?limit=-5'));
    expect(r.status).toBe(200);
    expect((r.body as { results: { id: string }[] }).results.map((c) => c.id)).toEqual(expect.arrayContaining(['ch-1', 'ch-2']));
    expect(((await send('GET', at('/_changes?limit=%2B1'))).body as { results: unknown[] }).results).toHaveLength(1);
    expect(((await send('GET', at('/_changes?limit=-0'))).body as { results: unknown[] }).results).toHaveLength(0);
  });

  it('heartbeat=0 or -5 → 400 "The heartbeat value should be a positive integer (in milliseconds)."; +5 is 5', async () => {
    const reason = 'The heartbeat value should be a positive integer (in milliseconds).';
    for (const beat of ['0', '-5']) {
      expect(outcome(await send('GET', at(`/_changes?feed=longpoll&since=now&heartbeat=${beat}&timeout=200`)))).toEqual({ status: 400, error: 'bad_request', reason });
    }
    expect(outcome(await send('GET', at('/_changes?feed=longpoll&since=now&heartbeat=abc')))).toEqual({
      status: 400,
      error: 'bad_request',
      reason: 'Invalid heartbeat value. Expecting a positive integer value (in milliseconds).',
    });
    expect((await send('GET', at('/_changes?heartbeat=%2B5'))).status).toBe(200);
  });

  it('filter=_<unknown builtin> (also _x/y) → 400 "unknown builtin filter name"', async () => {
    for (const filter of ['_bogus', '_bogus/x', '_']) {
      expect(outcome(await send('GET', at(`/_changes?filter=${filter}`)))).toEqual({ status: 400, error: 'bad_request', reason: 'unknown builtin filter name' });
    }
  });
});

describe('document ids CouchDB refuses', () => {
  it('an _id that is not a string (POST, _bulk_docs) → 400 illegal_docid "Document id must be a string", nothing written', async () => {
    const refused = { status: 400, error: 'illegal_docid', reason: 'Document id must be a string' };
    for (const id of [5, null, {}]) expect(outcome(await send('POST', at(''), json({ _id: id })))).toEqual(refused);
    expect(outcome(await send('POST', at('/_bulk_docs'), json({ docs: [{ _id: 'nid-ok' }, { _id: 5 }] })))).toEqual(refused);
    expect((await send('GET', at('/nid-ok'))).status).toBe(404);
  });

  it('a path id that is not UTF-8: PUT → 400 illegal_docid "Document id must be valid UTF-8"; GET, DELETE → 404 missing', async () => {
    const refused = { status: 400, error: 'illegal_docid', reason: 'Document id must be valid UTF-8' };
    for (const path of ['/%FF', '/a%C3', '/_local/%FF', '/_design/%FF']) expect(outcome(await send('PUT', at(path), '{}'))).toEqual(refused);
    const missing = { status: 404, error: 'not_found', reason: 'missing' };
    expect(outcome(await send('GET', at('/%FF')))).toEqual(missing);
    expect(outcome(await send('DELETE', at('/%FF?rev=1-abc')))).toEqual(missing);
  });

  it('a revision id of 32 characters that are not hex → 400 "Invalid rev format", in a body and in ?rev= (other lengths are taken as they are)', async () => {
    const invalid = { status: 400, error: 'bad_request', reason: 'Invalid rev format' };
    const odd = `1-${'g'.repeat(32)}`;
    expect(outcome(await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: [{ _id: 'rv-1', _rev: odd, v: 1 }] })))).toEqual(invalid);
    expect((await send('GET', at('/rv-1'))).status).toBe(404);
    expect(outcome(await send('GET', at(`/rv-1?rev=${odd}`)))).toEqual(invalid);
    // 31 characters, or hex in capitals: stored.
    const r = await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: [{ _id: 'rv-2', _rev: `1-${'g'.repeat(31)}`, v: 1 }, { _id: 'rv-3', _rev: `1-${'A'.repeat(32)}`, v: 1 }] }));
    expect(r.status).toBe(201);
    expect((await send('GET', at('/rv-2'))).status).toBe(200);
    expect((await send('GET', at('/rv-3'))).status).toBe(200);
  });
});

describe('document reads', () => {
  beforeAll(async () => {
    const r = await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: [...conflicted('lt-1'), ...conflicted('bg-1')] }));
    expect(r.status).toBe(201);
  });

  it('open_revs that is JSON but not a list → 400 "Invalid list of revisions" (a list of non-revisions: "Invalid rev format")', async () => {
    await send('PUT', at('/or-1'), '{"v":1}');
    const read = (value: string) => send('GET', at(`/or-1?open_revs=${encodeURIComponent(value)}`), undefined, { Accept: 'application/json' });
    for (const value of ['"x"', '5', '{}']) expect(outcome(await read(value))).toEqual({ status: 400, error: 'bad_request', reason: 'Invalid list of revisions' });
    expect(outcome(await read('[5]'))).toEqual({ status: 400, error: 'bad_request', reason: 'Invalid rev format' });
  });

  it('?rev=<rev> with revs_info, conflicts, deleted_conflicts or meta: that revision without meta members', async () => {
    const first = (await send('PUT', at('/ri-1'), '{"v":1}')).body as { rev: string };
    await send('PUT', at('/ri-1'), json({ _rev: first.rev, v: 2 }));
    const r = await send('GET', at(`/ri-1?rev=${first.rev}&revs_info=true`));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ _id: 'ri-1', _rev: first.rev, v: 1 });
    for (const flag of ['conflicts', 'deleted_conflicts', 'meta', 'revs_info']) {
      expect((await send('GET', at(`/lt-1?rev=2-${h('b')}&${flag}=true`))).body).toEqual({ _id: 'lt-1', _rev: `2-${h('b')}`, v: 'b' });
    }
  });

  it('?rev=<any>&latest=true reads the winner, as without rev (a live leaf, not the deleted one)', async () => {
    for (const rev of [`1-${h('c')}`, `2-${h('a')}`, `2-${h('d')}`, `1-${h('f')}`]) {
      const r = await send('GET', at(`/lt-1?rev=${rev}&latest=true`));
      expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: { _id: 'lt-1', _rev: `2-${h('b')}`, v: 'b' } });
    }
    const meta = (await send('GET', at(`/lt-1?rev=1-${h('c')}&latest=true&conflicts=true&deleted_conflicts=true`))).body;
    expect(meta).toEqual({ _id: 'lt-1', _rev: `2-${h('b')}`, v: 'b', _conflicts: [`2-${h('a')}`], _deleted_conflicts: [`3-${h('e')}`] });
    expect(outcome(await send('GET', at(`/lt-missing?rev=1-${h('c')}&latest=true`)))).toEqual({ status: 404, error: 'not_found', reason: 'missing' });
  });

  it('_bulk_get without rev: every leaf in revision-tree order (roots newest first, branches in ascending order), not the winner first', async () => {
    const leavesOf = async (id: string) => {
      const r = await send('POST', at('/_bulk_get'), json({ docs: [{ id }, { id, rev: `2-${h('a')}` }] }));
      expect(r.status).toBe(200);
      return (r.body as { results: { docs: { ok?: { _rev: string } }[] }[] }).results.map((e) => e.docs.map((d) => d.ok?._rev ?? 'missing'));
    };
    // One tree: 1-c with 2-a, 2-b (the winner) and 2-d → 3-e (deleted).
    expect(await leavesOf('bg-1')).toEqual([[`2-${h('a')}`, `2-${h('b')}`, `3-${h('e')}`], [`2-${h('a')}`]]);
    // Roots 1-c (2-a, 2-b), 1-d and 1-e (2-f, 2-0 → 3-1): the newest root first.
    const docs = [
      { _id: 'bg-2', _rev: `2-${h('a')}`, _revisions: { start: 2, ids: [h('a'), h('c')] }, v: 1 },
      { _id: 'bg-2', _rev: `2-${h('b')}`, _revisions: { start: 2, ids: [h('b'), h('c')] }, v: 1 },
      { _id: 'bg-2', _rev: `1-${h('d')}`, v: 1 },
      { _id: 'bg-2', _rev: `2-${h('f')}`, _revisions: { start: 2, ids: [h('f'), h('e')] }, v: 1 },
      { _id: 'bg-2', _rev: `3-${h('1')}`, _revisions: { start: 3, ids: [h('1'), h('0'), h('e')] }, v: 1 },
    ];
    expect((await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs }))).status).toBe(201);
    expect(await leavesOf('bg-2')).toEqual([[`3-${h('1')}`, `2-${h('f')}`, `1-${h('d')}`, `2-${h('a')}`, `2-${h('b')}`], [`2-${h('a')}`]]);
    // Two roots, the winner 1-a (1-b deleted): 1-b still first.
    const pair = [{ _id: 'bg-3', _rev: `1-${h('a')}`, v: 1 }, { _id: 'bg-3', _rev: `1-${h('b')}`, _deleted: true }];
    expect((await send('POST', at('/_bulk_docs'), json({ new_edits: false, docs: pair }))).status).toBe(201);
    expect((await leavesOf('bg-3'))[0]).toEqual([`1-${h('b')}`, `1-${h('a')}`]);
  });
});
