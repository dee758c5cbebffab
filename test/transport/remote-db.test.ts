/**
 * The SDK's remote database (src/transport/remote-db.ts) against PouchDB's http adapter, which it replaces: the same
 * calls on the same server database answer alike — results, PouchDB's error shapes (status, name, message, error,
 * reason), the changes feed's events and its cancellation, and `id()` (the replication's checkpoint id derives from
 * it: a different answer would make every existing replica pull everything again).
 */
import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@feat/emulator';
import { remoteDb, type RemoteDb } from '../../src/transport/remote-db.js';
import type { Change, ChangesFeed, Db } from '../../src/store/db.js';
import { signUp, tokenFor, unique } from '../emulator/helpers.js';

if (!(PouchDB as unknown as { adapters: Any }).adapters.http) PouchDB.plugin(HttpAdapter);

type Any = Record<string, unknown>;
const ERROR_FIELDS = ['status', 'name', 'message', 'error', 'reason', 'docId'];
const pick = (value: unknown, fields = ERROR_FIELDS): Any =>
  Object.fromEntries(fields.filter((f) => (value as Any)[f] !== undefined).map((f) => [f, (value as Any)[f]]));
const failure = (promise: Promise<unknown>): Promise<Any> =>
  promise.then(
    (): Any => ({ resolved: true }),
    (error: unknown) => pick(error),
  );
/** PouchDB gives the entries of an array answer that are errors a `stack` (where it made them): not compared. */
const noStack = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (k, v: unknown) => (k === 'stack' ? undefined : v)));
/** Revisions differ between two writes of the same content only by what was written before: compared as shapes. */
const errorsOf = (rows: unknown[]) => rows.map((r) => ((r as Any).error ? pick(r, ['id', ...ERROR_FIELDS]) : { ok: (r as Any).ok, id: (r as Any).id }));

let emu: Emulator;
let ours: RemoteDb;
let theirs: Db & Any;
let url: string;

beforeAll(async () => {
  emu = await startEmulator({ peruserDelayMs: 0 });
  const user = unique('remote-db');
  const db = await signUp(emu, user);
  const { headers } = await tokenFor(emu, user);
  const withHeaders: typeof fetch = (input, init = {}) => {
    const h = new Headers(init.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return fetch(input, { ...init, headers: h, credentials: 'omit' });
  };
  url = `${emu.couchUrl}/${db}`;
  ours = remoteDb(url, withHeaders);
  theirs = new PouchDB(url, { adapter: 'http', fetch: withHeaders, skip_setup: true } as object) as unknown as Db & Any;
  await ours.bulkDocs([{ _id: 'a', n: 1 }, { _id: 'b', n: 2 }, { _id: 'c', n: 3 }, { _id: '_design/x', views: {} }] as never);
});

afterAll(async () => {
  await emu?.stop();
});

describe('the remote database answers as PouchDB http adapter did', () => {
  it('id() and info()', async () => {
    expect(await ours.id()).toBe(await (theirs.id as () => Promise<string>)());
    const [a, b] = await Promise.all([ours.info(), theirs.info()]);
    expect(pick(a, ['db_name', 'doc_count', 'update_seq', 'host', 'adapter'])).toEqual(pick(b, ['db_name', 'doc_count', 'update_seq', 'host', 'adapter']));
  });

  it('get: documents, revisions, open_revs, and the errors of a missing document or revision', async () => {
    const a = await ours.get('a');
    for (const options of [{}, { revs: true }, { rev: a._rev }, { conflicts: true }, { open_revs: 'all' }, { open_revs: [a._rev, '1-0000'] }, { rev: a._rev, revs: true }]) {
      expect(noStack(await ours.get('a', options))).toEqual(noStack(await theirs.get('a', options)));
    }
    expect(await ours.get('_design/x')).toEqual(await theirs.get('_design/x'));
    for (const [id, options] of [['nope', {}], ['a', { rev: '9-0000' }], ['_local/nope', {}]] as const) {
      const mine = await failure(ours.get(id, options));
      expect(mine).toEqual(await failure(theirs.get(id, options)));
      expect(mine.status).toBe(404);
    }
  });

  it('put, and the conflict error', async () => {
    const id = unique('put');
    const first = await ours.put({ _id: id, v: 1 } as never);
    expect(first).toMatchObject({ ok: true, id });
    const mine = await failure(ours.put({ _id: id, v: 2 } as never));
    expect(mine).toEqual(await failure(theirs.put({ _id: id, v: 2 } as never)));
    expect(mine).toMatchObject({ status: 409, name: 'conflict' });
    // _local documents (the replication's checkpoints) too.
    const local = await ours.put({ _id: `_local/${id}`, last_seq: 1 } as never);
    expect(local).toEqual({ ok: true, id: `_local/${id}`, rev: '0-1' });
  });

  it('bulkDocs: per-document results and errors; with new_edits: false only the failures', async () => {
    const [x, y] = [unique('bx'), unique('by')];
    const mine = await ours.bulkDocs([{ _id: x }, { _id: 'a' }] as never);
    const theirsRows = (await theirs.bulkDocs([{ _id: y }, { _id: 'a' }] as never)) as unknown[];
    expect(errorsOf(mine).map((r) => ({ ...r, id: r.id === x ? 'new' : r.id }))).toEqual(errorsOf(theirsRows).map((r) => ({ ...r, id: r.id === y ? 'new' : r.id })));
    expect(mine[1]).toMatchObject({ id: 'a', error: 'conflict', status: 409, name: 'conflict' });
    const replicated = { docs: [{ _id: unique('r'), _rev: '3-abc', _revisions: { start: 3, ids: ['abc', 'def', 'fed'] } }], new_edits: false };
    expect(await ours.bulkDocs(replicated as never)).toEqual([]);
    expect(await ours.bulkDocs([{ _id: unique('r'), _rev: '1-abc' }] as never, { new_edits: false })).toEqual([]);
  });

  it('allDocs: ranges, keys, include_docs, limit, skip, descending', async () => {
    for (const options of [
      {},
      { include_docs: true },
      { keys: ['b', 'nope', 'a'], include_docs: true },
      { startkey: 'a', endkey: 'c', inclusive_end: false, limit: 5 },
      { start_key: 'b', skip: 1, limit: 1 },
      { descending: true, limit: 2 },
      { key: 'c', include_docs: true },
    ]) {
      const [mine, theirsAnswer] = await Promise.all([ours.allDocs(options), theirs.allDocs(options)]);
      expect(mine).toEqual(theirsAnswer);
    }
  });

  it('revsDiff and bulkGet', async () => {
    const a = await ours.get('a');
    const diff = { a: [a._rev!, '2-0000'], nope: ['1-0000'] };
    expect(await ours.revsDiff(diff)).toEqual(await (theirs.revsDiff as (d: unknown) => Promise<unknown>)(diff));
    const request = { docs: [{ id: 'a', rev: a._rev! }, { id: 'nope', rev: '1-0000' }], revs: true, latest: true };
    expect(await ours.bulkGet(request)).toEqual(await (theirs.bulkGet as (r: unknown) => Promise<unknown>)(request));
  });

  it('changes, one-shot: pages of limit, style all_docs, include_docs, and its change events', async () => {
    const run = async (db: Db, options: Any) => {
      const seen: unknown[] = [];
      const feed = db.changes(options).on('change', (change: Change) => seen.push(change));
      const result = (await feed) as { results: Change[]; last_seq: unknown };
      return { seen, result };
    };
    for (const options of [
      { since: 0, limit: 2, batch_size: 2, style: 'all_docs', return_docs: true, heartbeat: 10_000 },
      { since: 0, include_docs: true },
      { since: 0, limit: 3, batch_size: 1 },
    ]) {
      const [mine, theirsAnswer] = await Promise.all([run(ours, options), run(theirs, options)]);
      expect(mine).toEqual(theirsAnswer);
    }
    // Where the first page ended, the next one starts.
    const first = (await ours.changes({ since: 0, limit: 2 })) as { last_seq: unknown };
    const next = (await ours.changes({ since: first.last_seq, limit: 2 })) as { results: Change[] };
    const theirsNext = (await theirs.changes({ since: first.last_seq, limit: 2 })) as { results: Change[] };
    expect(next.results).toEqual(theirsNext.results);
  });

  it('changes, live: a long-poll delivers new changes; cancel() settles with { status: cancelled } and emits complete', async () => {
    const live = (db: Db) => {
      const changes: Change[] = [];
      const completed: unknown[] = [];
      const feed: ChangesFeed = db
        .changes({ since: 'now', live: true, include_docs: true, heartbeat: 1_000 })
        .on('change', (c) => changes.push(c))
        .on('complete', (info) => completed.push(info));
      return { feed, changes, completed };
    };
    const [mine, theirsFeed] = [live(ours), live(theirs)];
    await new Promise((resolve) => setTimeout(resolve, 300));
    const id = unique('live');
    await ours.put({ _id: id, v: 1 } as never);
    const deadline = Date.now() + 5_000;
    while ((mine.changes.length === 0 || theirsFeed.changes.length === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(mine.changes.map((c) => c.id)).toEqual([id]);
    expect(mine.changes).toEqual(theirsFeed.changes);
    mine.feed.cancel();
    theirsFeed.feed.cancel();
    expect(await mine.feed).toEqual({ status: 'cancelled' });
    expect(await theirsFeed.feed).toEqual({ status: 'cancelled' });
    expect(mine.completed).toEqual(theirsFeed.completed);
  });

  it('changes of a database that does not exist: rejected, with an error event, alike', async () => {
    const gone = remoteDb(`${emu.couchUrl}/userdb-6e6f6e65`, fetch);
    const errors: unknown[] = [];
    const feed = gone.changes({ since: 0 }).on('error', (e) => errors.push(pick(e)));
    const mine = await failure(Promise.resolve(feed));
    expect(mine.status).toBeGreaterThanOrEqual(400);
    expect(errors).toEqual([mine]);
  });

  it('fetch(path) goes below the database, or below the server with a leading slash', async () => {
    expect((await (await ours.fetch('_all_docs?limit=0')).json()) as Any).toMatchObject({ rows: [] });
    expect(((await (await ours.fetch('/')).json()) as Any).couchdb).toBe('Welcome');
    expect(url.endsWith('/')).toBe(false);
  });
});

describe('remote database: an error answer to the database info', () => {
  it('info() rejects with it, and a changes feed from "now" fails instead of reading from 0', async () => {
    const requests: string[] = [];
    // A server that refuses the database info once (401), and answers every _changes.
    const stub: typeof fetch = async (input) => {
      const url = String(input instanceof Request ? input.url : input);
      requests.push(url);
      if (url.endsWith('/db/')) return new Response(JSON.stringify({ error: 'unauthorized', reason: 'Authentication required.' }), { status: 401 });
      return new Response(JSON.stringify({ results: [{ seq: 1, id: 'x', changes: [{ rev: '1-a' }] }], last_seq: 1, pending: 0 }), { status: 200 });
    };
    const db = remoteDb('http://couch.test/db', stub);
    expect(await failure(db.info())).toMatchObject({ status: 401, error: 'unauthorized' });
    const seen: Change[] = [];
    const feed = db.changes({ since: 'now' }).on('change', (c) => seen.push(c));
    expect(await failure(Promise.resolve(feed))).toMatchObject({ status: 401 });
    expect(seen).toEqual([]);
    expect(requests.filter((u) => u.includes('/_changes'))).toEqual([]);
  });
});

describe('remote database: the streamed live feed (feed: continuous), as the live pull reads it', () => {
  it('delivers each change as its line arrives, the same changes as the long-poll feed; cancel() settles it', async () => {
    const follow = (feed: 'continuous' | undefined) => {
      const changes: Change[] = [];
      const handle = ours
        .changes({ since: 'now', live: true, include_docs: true, style: 'all_docs', heartbeat: 1_000, ...(feed ? { feed } : {}) })
        .on('change', (c) => changes.push(c));
      return { handle, changes };
    };
    const streamed = follow('continuous');
    const polled = follow(undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ids = [unique('s1'), unique('s2'), unique('s3')];
    for (const id of ids) await ours.put({ _id: id, v: id } as never);
    const deadline = Date.now() + 5_000;
    while ((streamed.changes.length < 3 || polled.changes.length < 3) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(streamed.changes.map((c) => c.id)).toEqual(ids);
    expect(streamed.changes).toEqual(polled.changes);
    expect(streamed.changes.every((c) => (c.doc as { v?: string } | undefined)?.v === c.id)).toBe(true);
    streamed.handle.cancel();
    polled.handle.cancel();
    expect(await streamed.handle).toEqual({ status: 'cancelled' });
  });

  /** A server whose `_changes` answers with `chunks`, one per tick, then ends (or stays open with `open`). */
  const streamStub = (chunks: string[], requests: string[] = []): typeof fetch =>
    (async (input: RequestInfo | URL) => {
      requests.push(String(input));
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          for (const chunk of chunks) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            controller.enqueue(encoder.encode(chunk));
          }
          controller.close();
        },
      });
      return new Response(body, { status: 200, headers: { 'Content-Type': 'application/json' } });
    }) as typeof fetch;

  /** A server whose `_changes` answers with `chunks`, one per tick, then fails the body with `error`. */
  const failingStub = (chunks: string[], error: unknown): typeof fetch =>
    (async () => {
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
          await new Promise((resolve) => setTimeout(resolve, 5));
          controller.error(error);
        },
      });
      return new Response(body, { status: 200 });
    }) as typeof fetch;

  it('a stream silent from its start is marked silentFromStart (a buffering proxy); one that sent a heartbeat first is not', async () => {
    const timeout = () => Object.assign(new Error('went silent'), { code: 'timeout' });
    const never = remoteDb('http://couch.test/db', failingStub([], timeout()));
    const neverError = await Promise.resolve(never.changes({ since: 0, live: true, feed: 'continuous' })).then(() => undefined, (e: unknown) => e);
    expect(neverError).toMatchObject({ code: 'timeout', silentFromStart: true });
    const beat = remoteDb('http://couch.test/db', failingStub(['\n'], timeout()));
    const beatError = await Promise.resolve(beat.changes({ since: 0, live: true, feed: 'continuous' })).then(() => undefined, (e: unknown) => e);
    expect(beatError).toMatchObject({ code: 'timeout' });
    expect((beatError as { silentFromStart?: unknown }).silentFromStart).toBeUndefined();
    // No answer at all (the request itself timed out) counts as silent from the start too.
    const held = remoteDb('http://couch.test/db', (() => Promise.reject(timeout())) as typeof fetch);
    const heldError = await Promise.resolve(held.changes({ since: 0, live: true, feed: 'continuous' })).then(() => undefined, (e: unknown) => e);
    expect(heldError).toMatchObject({ code: 'timeout', silentFromStart: true });
  });

  it('a listener that throws on error or complete does not leave the feed pending', async () => {
    const db = remoteDb('http://couch.test/db', streamStub(['{"seq":"1-a","id":"x","changes":[{"rev":"1-a"}]}\n']));
    const feed = db.changes({ since: 0, live: true, feed: 'continuous' }).on('error', () => {
      throw new Error('listener bug');
    });
    const errors = console.error;
    console.error = () => undefined;
    try {
      expect(await failure(Promise.resolve(feed))).toMatchObject({ reason: 'The changes feed stopped' });
    } finally {
      console.error = errors;
    }
  });

  it('lines split across chunks and heartbeats between them; a stream that ends at once fails the feed (its owner retries)', async () => {
    const requests: string[] = [];
    const db = remoteDb('http://couch.test/db', streamStub(['{"seq":"1-a","id":"x","chan', 'ges":[{"rev":"1-a"}]}\n\n', '\n{"seq":"2-b","id":"y","changes":[{"rev":"1-b"}]}\n'], requests));
    const seen: Change[] = [];
    const errors: unknown[] = [];
    const feed = db.changes({ since: 0, live: true, feed: 'continuous', heartbeat: 10_000 }).on('change', (c) => seen.push(c)).on('error', (e) => errors.push(e));
    expect(await failure(Promise.resolve(feed))).toMatchObject({ status: 502, error: 'bad_response', reason: 'The changes feed stopped' });
    expect(seen.map((c) => [c.id, c.seq])).toEqual([
      ['x', '1-a'],
      ['y', '2-b'],
    ]);
    expect(errors).toHaveLength(1);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/_changes\?.*feed=continuous/);
    expect(requests[0]).toMatch(/heartbeat=10000/);
    expect(requests[0]).not.toMatch(/limit=/);
  });

  it('an error line ends the feed with that error; a line that is not JSON fails it; nothing after reaches the listeners', async () => {
    const errorLine = remoteDb('http://couch.test/db', streamStub(['{"seq":"1-a","id":"x","changes":[{"rev":"1-a"}]}\n', '{"error":"unauthorized","reason":"gone"}\n', '{"seq":"2-b","id":"y","changes":[{"rev":"1-b"}]}\n']));
    const seen: string[] = [];
    const feed = errorLine.changes({ since: 0, live: true, feed: 'continuous' }).on('change', (c) => seen.push(c.id));
    expect(await failure(Promise.resolve(feed))).toMatchObject({ error: 'unauthorized', reason: 'gone' });
    expect(seen).toEqual(['x']);
    const garbage = remoteDb('http://couch.test/db', streamStub(['<html>proxy error</html>\n']));
    const failed = await failure(Promise.resolve(garbage.changes({ since: 0, live: true, feed: 'continuous' })));
    expect(failed).toMatchObject({ status: 502, error: 'bad_response', reason: 'The changes feed sent a line that is not JSON' });
    const number = remoteDb('http://couch.test/db', streamStub(['5\n']));
    expect(await failure(Promise.resolve(number.changes({ since: 0, live: true, feed: 'continuous' })))).toMatchObject({
      error: 'bad_response',
      reason: 'The changes feed sent a line that is not an object',
    });
  });

  it('many lines in one chunk, and one line over many chunks, arrive whole and in order', async () => {
    const many = Array.from({ length: 300 }, (_, i) => `{"seq":"${i + 1}-x","id":"d${i}","changes":[{"rev":"1-a"}]}\n`).join('');
    const big = 'x'.repeat(200_000);
    const bigLine = `{"seq":"301-x","id":"big","changes":[{"rev":"1-a"}],"doc":{"_id":"big","_rev":"1-a","v":"${big}"}}\n`;
    const pieces = [many, ...Array.from({ length: 20 }, (_, i) => bigLine.slice(i * 10_001, (i + 1) * 10_001)), bigLine.slice(20 * 10_001)];
    const db = remoteDb('http://couch.test/db', streamStub(pieces));
    const seen: Change[] = [];
    await failure(Promise.resolve(db.changes({ since: 0, live: true, feed: 'continuous', include_docs: true }).on('change', (c) => seen.push(c))));
    expect(seen.map((c) => c.id)).toEqual([...Array.from({ length: 300 }, (_, i) => `d${i}`), 'big']);
    expect((seen.at(-1)!.doc as unknown as { v: string }).v).toHaveLength(200_000);
  });
});
