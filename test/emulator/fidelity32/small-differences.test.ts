/**
 * Small differences from CouchDB 3.4.3 behind the deployment's nginx, measured on the real stack: the `Location` of a
 * document write, a login without credentials, `_changes` with a negative `timeout`, nginx's page for a header line
 * over its buffer, malformed `_bulk_get` entries, and design documents `_bulk_docs` refuses one by one.
 */
import { describe, expect, it } from 'vitest';
import { rawCapped } from '../raw-deadline.js';
import { h32, j, ownDatabase } from '../fidelity31/setup.js';
import { ON_REAL } from '../../support/target.js';

const { emu, state, send } = ownDatabase('f32sd');
const JSON_TYPE = { 'Content-Type': 'application/json' };
const tag = Math.random().toString(36).slice(2, 8);
const outcome = (r: { status: number; body: unknown }) => ({ status: r.status, body: r.body });

describe('Location of a document write: chttpd_db:absolute_uri behind nginx', () => {
  it('no port, and the `/` of an id escaped (`_design%2F…`, `a%2Fb`), by PUT and by POST', async () => {
    const base = `http://${new URL(emu.couchUrl).hostname}/${state.db}`;
    const ddoc = await send('PUT', `/{db}/_design/loc${tag}`, j({ language: 'query' }), JSON_TYPE);
    expect({ status: ddoc.status, location: ddoc.headers.location }).toEqual({ status: 201, location: `${base}/_design%2Floc${tag}` });
    const slash = await send('PUT', `/{db}/a%2Fb${tag}`, j({ v: 1 }), JSON_TYPE);
    expect({ status: slash.status, location: slash.headers.location }).toEqual({ status: 201, location: `${base}/a%2Fb${tag}` });
    const plain = await send('PUT', `/{db}/plain${tag}`, j({ v: 1 }), JSON_TYPE);
    expect(plain.headers.location).toBe(`${base}/plain${tag}`);
    const posted = await send('POST', '/{db}', j({ _id: `_design/post${tag}`, language: 'query' }), JSON_TYPE);
    expect({ status: posted.status, location: posted.headers.location }).toEqual({ status: 201, location: `${base}/_design%2Fpost${tag}` });
  });
});

describe('POST /_session without credentials (no proxy headers): the login handler answers', () => {
  const login = (body: string | undefined, headers: Record<string, string>) => rawCapped(emu.couchUrl, 'POST', '/_session', body, headers, 8000);
  it('a JSON or form body without a name → 400 "request body must contain a username"', async () => {
    expect(outcome(await login(j({}), JSON_TYPE))).toEqual({ status: 400, body: { error: 'bad_request', reason: 'request body must contain a username' } });
    expect(outcome(await login('', { 'Content-Type': 'application/x-www-form-urlencoded' }))).toEqual({ status: 400, body: { error: 'bad_request', reason: 'request body must contain a username' } });
  });
  it('no body and no Content-Type → 415 bad_content_type', async () => {
    expect(outcome(await login(undefined, {}))).toEqual({ status: 415, body: { error: 'bad_content_type', reason: "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'" } });
  });
  it('an unknown name → 401 "Name or password is incorrect.", no Basic challenge', async () => {
    const r = await login(j({ name: `nobody-${tag}`, password: 'x' }), JSON_TYPE);
    expect({ ...outcome(r), challenge: r.headers['www-authenticate'] }).toEqual({ status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' }, challenge: undefined });
  });
});

describe('_changes with a negative timeout', () => {
  it('a normal feed ignores it → 200', async () => {
    const r = await send('GET', '/{db}/_changes?timeout=-1');
    expect({ status: r.status, results: Array.isArray((r.body as { results?: unknown }).results) }).toEqual({ status: 200, results: true });
  });
  // CouchDB's feed process fails on it: mostly the connection closes (nginx's 502 page, what the emulator answers);
  // now and then (1 of 6 runs on the real stack) chttpd answers a 500 first.
  it.each(['feed=longpoll&since=now', 'feed=longpoll&since=0', 'feed=continuous&since=0'])('%s&timeout=-1 → nginx 502 page (CouchDB closes the connection), or a 500', async (q) => {
    const r = await send('GET', `/{db}/_changes?${q}&timeout=-1`, undefined, {}, 8000);
    if (ON_REAL && r.status === 500) return;
    expect({ status: r.status, title: /<title>502 Bad Gateway<\/title>/.test(r.text) }).toEqual({ status: 502, title: true });
  });
  it('with a heartbeat the timeout is not used: a long poll opens (200) and waits', async () => {
    const r = await send('GET', '/{db}/_changes?feed=longpoll&since=now&heartbeat=1000&timeout=-1', undefined, {}, 1500);
    expect({ status: r.status, cut: r.cut }).toEqual({ status: 200, cut: true });
  });
  it('timeout=%2B5 (an explicit sign) is an integer → 200', async () => {
    const r = await send('GET', '/{db}/_changes?feed=longpoll&since=now&timeout=%2B5', undefined, {}, 8000);
    expect(r.status).toBe(200);
  });
});

it('a header line over nginx\'s 8 KB buffer → 400 "Request Header Or Cookie Too Large" page', async () => {
  const r = await send('GET', '/{db}', undefined, { Cookie: `a=${'x'.repeat(9000)}` });
  expect(r.status).toBe(400);
  expect(r.text).toContain('<title>400 Request Header Or Cookie Too Large</title>');
  expect(r.text).toContain('<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>');
});

describe('_bulk_get with malformed entries', () => {
  const bulkGet = (body: unknown) => send('POST', '/{db}/_bulk_get', j(body), JSON_TYPE);
  const one = (id: unknown, rev: unknown, error: string, reason: string) => ({ status: 200, body: { results: [{ id, docs: [{ error: { id, rev, error, reason } }] }] } });
  it.each([
    ['an id that is a number', { docs: [{ id: 5 }] }],
    ['an id that is null', { docs: [{ id: null }] }],
    ['a number id after a good entry', { docs: [{ id: 'x' }, { id: 7 }] }],
    ['docs that is an object', { docs: {} }],
  ])('%s → 500 function_clause for the whole request', async (_name, body) => {
    const r = await bulkGet(body);
    expect({ status: r.status, error: (r.body as { error?: unknown }).error, reason: (r.body as { reason?: unknown }).reason }).toEqual({ status: 500, error: 'unknown_error', reason: 'function_clause' });
  });
  it('an empty entry → "document must be a JSON object"; no id → "document id missed" with rev null', async () => {
    expect(outcome(await bulkGet({ docs: [{}] }))).toEqual(one(null, null, 'bad_request', 'document must be a JSON object'));
    expect(outcome(await bulkGet({ docs: [{ rev: `1-${h32('a')}` }] }))).toEqual(one(null, null, 'bad_request', 'document id missed'));
  });
  it('ids couch_doc:validate_docid refuses → illegal_docid with its reason, rev null', async () => {
    expect(outcome(await bulkGet({ docs: [{ id: '', rev: `1-${h32('a')}` }] }))).toEqual(one('', null, 'illegal_docid', 'Document id must not be empty'));
    expect(outcome(await bulkGet({ docs: [{ id: '_foo' }] }))).toEqual(one('_foo', null, 'illegal_docid', 'Only reserved document ids may start with underscore.'));
    expect(outcome(await bulkGet({ docs: [{ id: '_design/' }] }))).toEqual(one('_design/', null, 'illegal_docid', 'Illegal document id `_design/`'));
  });
  it('atts_since that is not a list → "att_since value must be array of revs." with the value as rev; a bad revision in it → "Invalid rev format"', async () => {
    expect(outcome(await bulkGet({ docs: [{ id: 'x', atts_since: 'no' }] }))).toEqual(one('x', 'no', 'bad_request', 'att_since value must be array of revs.'));
    expect(outcome(await bulkGet({ docs: [{ id: 'x', atts_since: [`1-${h32('a')}`, 'bad'] }] }))).toEqual(one('x', 'bad', 'bad_request', 'Invalid rev format'));
  });
});

describe('design documents in _bulk_docs: couch_mrview:validate, document by document', () => {
  it.each([
    ['language', { language: 5 }, '`language` field must have string type'],
    ['options', { options: 'x' }, '`options` field must have object type'],
    ['options.partitioned', { options: { partitioned: 'yes' } }, '`options.partitioned` field must have boolean type'],
  ])('%s of the wrong type → that entry invalid_design_doc, the others written', async (_name, members, reason) => {
    const [okId, ddoc] = [`ok-${tag}-${_name}`, `_design/bad-${tag}-${_name}`];
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: okId }, { _id: ddoc, ...members }] }), JSON_TYPE);
    expect(r.status).toBe(201);
    const [first, second] = r.body as unknown[];
    expect(first).toMatchObject({ id: okId, ok: true });
    expect(second).toEqual({ id: ddoc, error: 'invalid_design_doc', reason });
    expect((await send('GET', `/{db}/${ddoc}`)).status).toBe(404);
  });
});
