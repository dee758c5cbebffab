/**
 * Safe to expose: no request runs code in the emulator's process, none ends it or wedges a database, a catastrophic
 * `$regex` does not hold other users up, and the request log stays bounded.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { couch, signUp } from './helpers.js';

const NOT_IMPLEMENTED = { error: 'not_implemented', reason: expect.stringContaining('does not run JavaScript') as unknown };

let emu: Emulator;
let db: string;
let dir: string;
let marker: string;
/** A function body that, if ever evaluated (escaping `vm` too), writes the marker file. */
let payload: string;

beforeAll(async () => {
  emu = await startEmulator({ peruserDelayMs: 0 });
  db = await signUp(emu, 'mallory');
  dir = mkdtempSync(join(tmpdir(), 'feat-emu-safety-'));
  marker = join(dir, 'marker');
  const code = `globalThis.constructor.constructor("return process")().getBuiltinModule("child_process").execSync("touch ${marker}")`;
  payload = `function (doc) { ${code}; return true; }`;
});
afterAll(async () => {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
});

const as = (path: string, init: Parameters<typeof couch>[3] = {}) => couch(emu, 'mallory', path, init);

describe('no code execution', () => {
  it('_temp_view → 410 gone, like CouchDB 3, and runs nothing', async () => {
    const reply = await as(`/${db}/_temp_view`, { method: 'POST', body: { map: payload } });
    expect(reply.status).toBe(410);
    expect(reply.json).toEqual({ error: 'gone', reason: 'Temporary views are not supported in CouchDB' });
    expect(existsSync(marker)).toBe(false);
  });

  it('design documents with JavaScript are refused (PUT, POST, _bulk_docs, new_edits:false, COPY)', async () => {
    const ddocs = [
      { views: { v: { map: payload } } },
      { filters: { f: payload } },
      { shows: { s: payload } },
      { lists: { l: payload } },
      { updates: { u: payload } },
      { validate_doc_update: payload },
      { language: 'query', views: { v: { map: payload } } },
    ];
    for (const [i, fields] of ddocs.entries()) {
      const put = await as(`/${db}/_design/d${i}`, { method: 'PUT', body: fields });
      expect(put.status, JSON.stringify(fields)).toBe(501);
      expect(put.json).toEqual(NOT_IMPLEMENTED);
      const post = await as(`/${db}`, { method: 'POST', body: { _id: `_design/p${i}`, ...fields } });
      expect(post.status).toBe(501);
      const bulk = await as(`/${db}/_bulk_docs`, { method: 'POST', body: { docs: [{ _id: `_design/b${i}`, ...fields }] } });
      expect(bulk.status).toBe(501);
      const replicated = await as(`/${db}/_bulk_docs`, {
        method: 'POST',
        body: { new_edits: false, docs: [{ _id: `_design/r${i}`, _rev: '1-abc', ...fields }] },
      });
      expect(replicated.status).toBe(501);
    }
    await as(`/${db}/plain`, { method: 'PUT', body: { filters: { f: payload } } });
    const copy = await as(`/${db}/plain`, { method: 'COPY', headers: { Destination: '_design/copied' } });
    expect(copy.status).toBe(501);
    expect((await as(`/${db}/_design/copied`)).status).toBe(404);
    expect(existsSync(marker)).toBe(false);
  });

  it('Mango index design documents (language "query") are still accepted', async () => {
    const index = await as(`/${db}/_index`, { method: 'POST', body: { index: { fields: ['n'] }, name: 'by-n', ddoc: 'mango' } });
    expect(index.status).toBe(200);
    const ddoc = await as(`/${db}/_design/mango`);
    expect(ddoc.json).toMatchObject({ language: 'query' });
    const { _rev: _dropped, ...copy } = { ...(ddoc.json as Record<string, unknown>) };
    copy._id = '_design/mango2';
    expect((await as(`/${db}/_design/mango2`, { method: 'PUT', body: copy })).status).toBe(201);
  });

  it('view, show, list, update and rewrite routes are refused', async () => {
    for (const path of ['_view/v', '_show/s/x', '_list/l/v', '_update/u', '_rewrite/x']) {
      for (const method of ['GET', 'POST', 'PUT']) {
        const reply = await as(`/${db}/_design/mango/${path}`, { method, ...(method === 'GET' ? {} : { body: {} }) });
        expect(reply.status, `${method} ${path}`).toBe(501);
      }
    }
  });

  it('_changes runs only the built-in filters, in every feed', async () => {
    await as(`/${db}/a`, { method: 'PUT', body: { n: 1 } });
    for (const feed of ['normal', 'longpoll', 'continuous']) {
      const q = `feed=${feed}&timeout=200`;
      expect((await as(`/${db}/_changes?${q}&filter=nope/f`)).status, feed).toBe(404);
      // A design document without that function (a Mango index's has no `filters`, and no view `v`): 404 as in CouchDB.
      expect((await as(`/${db}/_changes?${q}&filter=mango/f`)).status, feed).toBe(404);
      expect((await as(`/${db}/_changes?${q}&filter=_view&view=mango/v`)).status, feed).toBe(404);
      const ids = await as(`/${db}/_changes?${q}&filter=_doc_ids`, { method: 'POST', body: { doc_ids: ['a'] } });
      expect(ids.status, feed).toBe(200);
      expect(ids.text).toContain('"id":"a"');
      const selector = await as(`/${db}/_changes?${q}&filter=_selector`, { method: 'POST', body: { selector: { n: 1 } } });
      expect(selector.status, feed).toBe(200);
      expect(selector.text).toContain('"id":"a"');
      const design = await as(`/${db}/_changes?${q}&filter=_design`);
      expect(design.status, feed).toBe(200);
      expect(design.text).toContain('"id":"_design/mango"');
      expect(design.text).not.toContain('"id":"a"');
    }
    expect(existsSync(marker)).toBe(false);
  });
});

describe('no crash, no wedge', () => {
  it('answers the four requests that used to crash or hang, like CouchDB, and keeps answering', async () => {
    const put = await as(`/${db}/k`, { method: 'PUT', body: { a: 1 } });
    const rev = (put.json as { rev: string }).rev;

    const bulkLatest = await as(`/${db}/_bulk_get?latest=true&revs=true`, { method: 'POST', body: { docs: [{ id: 'k', rev: '2-deadbeef' }] } });
    expect(bulkLatest.status).toBe(200);
    expect(bulkLatest.json).toEqual({
      results: [{ id: 'k', docs: [{ error: { id: 'k', rev: '2-deadbeef', error: 'not_found', reason: 'missing' } }] }],
    });

    const openRevs = await as(`/${db}/k?open_revs=${encodeURIComponent(JSON.stringify([rev, '3-000']))}&latest=true`, {
      headers: { Accept: 'application/json' },
    });
    expect(openRevs.status).toBe(200);
    expect(openRevs.json).toEqual([{ ok: { _id: 'k', _rev: rev, a: 1 } }, { missing: '3-000' }]);

    const empty = await as(`/${db}/_bulk_get`, { method: 'POST', body: { docs: [] } });
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ results: [] });

    const diff = await as(`/${db}/_revs_diff`, { method: 'POST', body: { k: 'not-a-list' } });
    expect(diff.status).toBe(500);
    expect(diff.json).toMatchObject({ error: 'unknown_error' });

    // The database still answers.
    expect((await as(`/${db}/k`)).status).toBe(200);
    expect((await as(`/${db}/_bulk_get`, { method: 'POST', body: { docs: [{ id: 'k', rev }] } })).status).toBe(200);
  });

  it('a catastrophic $regex is refused and a backtracking one is cut short; others are not held up', async () => {
    await as(`/${db}/evil`, { method: 'PUT', body: { s: `${'a'.repeat(31)}!` } });
    const refused = await as(`/${db}/_find`, { method: 'POST', body: { selector: { s: { $regex: '^(a|a){1,40}$' } } } });
    expect(refused.status).toBe(400);
    expect((await as(`/${db}/_find`, { method: 'POST', body: { selector: { s: { $regex: '(' } } } })).status).toBe(400);

    const started = Date.now();
    const slow = as(`/${db}/_find`, { method: 'POST', body: { selector: { s: { $regex: '^(a|a)*$' } } } });
    const other = await as(`/${db}/k`);
    const otherMs = Date.now() - started;
    const answer = await slow;
    expect(other.status).toBe(200);
    expect(otherMs).toBeLessThan(1_000);
    expect(answer.status).toBe(200);
    expect((answer.json as { docs: unknown[] }).docs).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('bounded request log', () => {
  it('keeps at most maxRequestRecords records with cut paths; stats() still counts every request', async () => {
    const small = await startEmulator({ maxRequestRecords: 50 });
    try {
      const long = `/x${'y'.repeat(5_000)}`;
      for (let i = 0; i < 120; i += 1) await fetch(`${small.couchUrl}${long}`).then((r) => r.arrayBuffer());
      expect(small.requests.length).toBeLessThanOrEqual(50);
      expect(small.requests.length).toBeGreaterThan(0);
      expect(Math.max(...small.requests.map((r) => r.path.length))).toBeLessThanOrEqual(1024);
      expect(small.stats().requests).toBe(120);
      small.resetRequests();
      expect(small.requests.length).toBe(0);
      expect(small.stats().requests).toBe(0);
    } finally {
      await small.stop();
    }
    const none = await startEmulator({ maxRequestRecords: 0 });
    try {
      await fetch(`${none.couchUrl}/`).then((r) => r.arrayBuffer());
      expect(none.requests.length).toBe(0);
      expect(none.stats().requests).toBe(1);
    } finally {
      await none.stop();
    }
  });
});
