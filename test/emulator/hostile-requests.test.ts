/**
 * Requests no SDK sends but a user's own code (or an attacker with a user's credentials) can: answered as CouchDB 3.4
 * behind the deployment's nginx answers them — this file runs on both backends — and the database keeps serving.
 * A malformed `_revisions` written with `new_edits: false` was stored by the emulator, and every later read of the
 * database threw inside PouchDB (an uncaught exception: `feat-emulator` exited, for every user).
 */
import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });

/** Raw HTTP (node:http: the path goes out as written). */
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: unknown }> {
  const u = new URL(emu.couchUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // nginx's HTML
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

let headers: Record<string, string>;
let db: string;
let rev: string;
const at = (path: string) => `/${db}${path}`;

beforeAll(async () => {
  const user = uniqueUser('hostile');
  await emu.createUser(user);
  headers = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
  const put = await send('PUT', at('/d1'), headers, '{"a":1}');
  expect(put.status).toBe(201);
  rev = (put.body as { rev: string }).rev;
}, 60_000);

/** The database still answers its ordinary reads, with the document written before. */
async function stillServes(): Promise<void> {
  expect((await send('GET', at('/d1'), headers)).status).toBe(200);
  for (const path of ['/_all_docs?include_docs=true', '/_changes?include_docs=true&style=all_docs']) {
    const answer = await send('GET', at(path), headers);
    expect(answer.status, path).toBe(200);
  }
}

describe('malformed replication writes (new_edits: false)', () => {
  const cases: [string, number, unknown][] = [
    ['{"start":"x","ids":5}', 400, { error: 'doc_validation', reason: "_revisions.start isn't an integer." }],
    ['{"ids":["x"]}', 400, { error: 'doc_validation', reason: "_revisions.start isn't an integer." }],
    ['{"start":1,"ids":"x"}', 400, { error: 'doc_validation', reason: "_revisions.ids isn't a array." }],
    ['{"start":1,"ids":[5]}', 400, { error: 'doc_validation', reason: "RevId isn't a string" }],
    ['5', 400, { error: 'doc_validation', reason: 'Bad special document member: _revisions' }],
  ];
  it.each(cases)('_revisions %s → %i, nothing stored, the database keeps serving', async (revisions, status, body) => {
    const answer = await send('POST', at('/_bulk_docs'), headers, `{"docs":[{"_id":"nr","_rev":"1-x","_revisions":${revisions}}],"new_edits":false}`);
    expect(answer).toEqual({ status, body });
    expect((await send('GET', at('/nr'), headers)).status).toBe(404);
    await stillServes();
  });

  it('an empty ids list: a 500 from _bulk_docs (CouchDB fails on it), a 400 from PUT ?new_edits=false', async () => {
    const bulk = await send('POST', at('/_bulk_docs'), headers, '{"docs":[{"_id":"nr","_rev":"1-x","_revisions":{"start":1,"ids":[]}}],"new_edits":false}');
    expect(bulk).toEqual({ status: 500, body: [{ error: 'error', reason: 'internal_server_error' }] });
    const put = await send('PUT', at('/nr?new_edits=false'), headers, '{"_rev":"1-x","_revisions":{"start":1,"ids":[]}}');
    expect(put).toEqual({ status: 400, body: { error: 'bad_request', reason: 'When `new_edits: false`, the document needs `_rev` or `_revisions` specified' } });
    expect((await send('GET', at('/nr'), headers)).status).toBe(404);
    await stillServes();
  });

  it('a document with neither _rev nor _revisions → 400; a non-boolean new_edits → 400; _deleted "yes" → 400', async () => {
    expect(await send('POST', at('/_bulk_docs'), headers, '{"docs":[{"_id":"nr"}],"new_edits":false}')).toEqual({
      status: 400,
      body: { error: 'bad_request', reason: 'When `new_edits: false`, the document needs `_rev` or `_revisions` specified' },
    });
    expect(await send('POST', at('/_bulk_docs'), headers, '{"docs":[],"new_edits":"no"}')).toEqual({
      status: 400,
      body: { error: 'bad_request', reason: '`new_edits` parameter must be a boolean.' },
    });
    expect(await send('POST', at('/_bulk_docs'), headers, '{"docs":[{"_id":"x","_deleted":"yes"}]}')).toEqual({
      status: 400,
      body: { error: 'doc_validation', reason: 'Bad special document member: _deleted' },
    });
    await stillServes();
  });
});

describe('malformed parameters and paths', () => {
  it('_changes: limit, timeout or style it cannot read → 500 badarg at once (a long poll waited 60 s); a bad heartbeat → 400', async () => {
    for (const query of ['limit=abc', 'style=bogus', 'feed=longpoll&since=now&timeout=abc']) {
      const answer = await send('GET', at(`/_changes?${query}`), headers);
      expect([answer.status, (answer.body as { error?: unknown; reason?: unknown }).reason], query).toEqual([500, 'badarg']);
    }
    expect(await send('GET', at('/_changes?feed=longpoll&heartbeat=abc'), headers)).toEqual({
      status: 400,
      body: { error: 'bad_request', reason: 'Invalid heartbeat value. Expecting a positive integer value (in milliseconds).' },
    });
  });

  it('_find and _index with fields, sort or a partial filter of the wrong type → 400', async () => {
    const post = (path: string, body: unknown) => send('POST', at(path), headers, JSON.stringify(body));
    expect(await post('/_find', { selector: {}, fields: 5 })).toEqual({ status: 400, body: { error: 'invalid_fields', reason: 'Fields must be an array of strings, not: 5' } });
    expect(await post('/_find', { selector: {}, sort: 5 })).toEqual({ status: 400, body: { error: 'invalid_sort_json', reason: 'Sort must be an array of sort specs, not: 5' } });
    expect(await post('/_index', { index: { fields: [5] } })).toEqual({ status: 400, body: { error: 'invalid_sort_field', reason: 'Invalid sort field: 5' } });
    expect(await post('/_index', { index: { fields: ['a'], partial_filter_selector: 5 } })).toEqual({
      status: 400,
      body: { error: 'invalid_selector_json', reason: 'Selector must be a JSON object, not: 5' },
    });
  });

  it('a rev that is not N-hash, a startkey that is not JSON, a design document without a name, a NUL in the path → 400', async () => {
    expect(await send('GET', at('/d1?rev=garbage'), headers)).toEqual({ status: 400, body: { error: 'bad_request', reason: 'Invalid rev format' } });
    expect(await send('GET', at('/_all_docs?startkey=notjson'), headers)).toEqual({ status: 400, body: { error: 'bad_request', reason: 'invalid UTF-8 JSON' } });
    expect(await send('PUT', at('/_design'), headers, '{}')).toEqual({
      status: 400,
      body: { error: 'illegal_docid', reason: 'Only reserved document ids may start with underscore.' },
    });
    expect((await send('PUT', at('/%00'), headers, '{}')).status).toBe(400);
    await stillServes();
  });

  it('DELETE of a missing attachment → 404; COPY answers the new id and rev', async () => {
    expect(await send('DELETE', at(`/d1/none.txt?rev=${rev}`), headers)).toEqual({ status: 404, body: { error: 'not_found', reason: 'Document is missing attachment' } });
    const copy = await send('COPY', at('/d1'), { ...headers, Destination: 'd1-copy' });
    expect(copy).toEqual({ status: 201, body: { ok: true, id: 'd1-copy', rev: expect.stringMatching(/^1-/) } });
    expect((await send('GET', at('/d1-copy'), headers)).body).toMatchObject({ a: 1 });
    expect((await send('COPY', at('/d1'), { ...headers, Destination: 'd1-copy' })).status).toBe(409);
  });
});
