/**
 * Live pull (src/sync/live-pull.ts): documents come straight from the long-poll feed and are written with a revision
 * history only when it is certain; otherwise they are fetched with their history (`_bulk_get`). Neither a false
 * conflict nor a lost one, and a tampered or malformed feed never reaches the replica.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });

type Rewrite = (body: { results?: unknown[] }) => { results?: unknown[] };

/** A device whose requests are counted by kind; `rewrite` (when set) changes the long-poll feed's answers. */
function device(user: string): { c: FeatClient; requests: string[]; feed: { rewrite?: Rewrite | undefined } } {
  const requests: string[] = [];
  const feed: { rewrite?: Rewrite | undefined } = {};
  const fetchFn: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const kind = /\/(_bulk_get|_bulk_docs|_revs_diff|_changes)/.exec(url)?.[1];
    if (kind) requests.push(kind);
    const res = await fetch(input, init);
    const rewrite = feed.rewrite;
    if (!rewrite || kind !== '_changes' || !url.includes('include_docs=true') || !res.ok) return res;
    const body = rewrite((await res.json()) as { results?: unknown[] });
    return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
  };
  const c = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, fetch: fetchFn }),
  );
  return { c, requests, feed };
}

/** The server's documents with their conflicts. */
async function serverConflicts(user: string): Promise<Record<string, string[]>> {
  const res = await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  const token = (await res.json()) as { data: { headers: Record<string, string>; dbname: string } };
  const all = await fetch(`${emu.couchUrl}/${token.data.dbname}/_all_docs?include_docs=true&conflicts=true`, { headers: token.data.headers });
  const rows = ((await all.json()) as { rows: { id: string; doc: { _conflicts?: string[] } }[] }).rows;
  return Object.fromEntries(rows.flatMap((r) => (r.doc._conflicts?.length ? [[r.id, r.doc._conflicts]] : [])));
}

async function pair(prefix: string) {
  const user = uniqueUser(prefix);
  const a = device(user);
  const b = device(user);
  const conflicts: unknown[] = [];
  for (const d of [a, b]) d.c.sync.on('conflict', (e) => conflicts.push(e));
  await Promise.all([a.c.ready(), b.c.ready()]);
  await waitFor(() => a.c.sync.status === 'idle' && b.c.sync.status === 'idle', 10_000, 'both idle');
  return { user, a, b, conflicts };
}

const valueOn = (c: FeatClient, key: string) => c.store.get<{ i: number } | string>(key);

describe('live pull', () => {
  it('edits one at a time arrive from the feed alone (no _bulk_get), with no false conflict on either side', async () => {
    const { user, a, b, conflicts } = await pair('livepull');
    for (let i = 0; i < 6; i++) {
      await a.c.store.set('x', { i });
      await waitFor(async () => (await valueOn(b.c, 'x')) !== undefined && ((await valueOn(b.c, 'x')) as { i: number }).i === i, 10_000, `B has edit ${i}`);
    }
    // B edits on top of what it pulled: a false conflict (a pulled revision not linked to its parent) would show here.
    await b.c.store.set('x', { i: 100 });
    await waitFor(async () => ((await valueOn(a.c, 'x')) as { i: number } | undefined)?.i === 100, 10_000, 'A has B’s edit');
    await Promise.all([a.c.sync.waitForPush({ timeout: 10_000 }), b.c.sync.waitForPush({ timeout: 10_000 })]);
    expect(b.requests.filter((r) => r === '_bulk_get')).toEqual([]);
    expect(conflicts).toEqual([]);
    expect(await serverConflicts(user)).toEqual({});
  }, 60_000);

  it('a true conflict is still detected and resolved the same on both devices', async () => {
    const { user, a, b, conflicts } = await pair('livepull');
    await a.c.store.set('x', 'first');
    await waitFor(async () => (await valueOn(b.c, 'x')) === 'first', 10_000, 'B has x');
    b.c.sync.pause();
    await b.c.store.set('x', 'from b');
    // Stamps are milliseconds and a tie goes to the higher revision: make A's write strictly the later one.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await a.c.store.set('x', 'from a');
    await a.c.sync.waitForPush({ timeout: 10_000 });
    b.c.sync.resume();
    await b.c.sync.waitForPush({ timeout: 10_000 });
    await waitFor(() => conflicts.length > 0, 10_000, 'a conflict event');
    await waitFor(async () => (await valueOn(a.c, 'x')) === (await valueOn(b.c, 'x')), 15_000, 'both devices agree');
    expect(await valueOn(b.c, 'x')).toBe('from a');
    await waitFor(async () => Object.keys(await serverConflicts(user)).length === 0, 15_000, 'no conflict left on the server');
  }, 60_000);

  it('a device that missed revisions gets the history with _bulk_get, and no conflict', async () => {
    const { user, a, b, conflicts } = await pair('livepull');
    await a.c.store.set('x', { i: 0 });
    await waitFor(async () => ((await valueOn(b.c, 'x')) as { i: number } | undefined)?.i === 0, 10_000, 'B has x');
    b.c.sync.pause();
    for (let i = 1; i <= 3; i++) await a.c.store.set('x', { i });
    await a.c.sync.waitForPush({ timeout: 10_000 });
    b.requests.length = 0;
    b.c.sync.resume();
    await waitFor(async () => ((await valueOn(b.c, 'x')) as { i: number } | undefined)?.i === 3, 10_000, 'B has the last edit');
    expect(b.requests).toContain('_bulk_get');
    await b.c.store.set('x', { i: 4 });
    await waitFor(async () => ((await valueOn(a.c, 'x')) as { i: number } | undefined)?.i === 4, 10_000, 'A has B’s edit');
    await b.c.sync.waitForPush({ timeout: 10_000 });
    expect(conflicts).toEqual([]);
    expect(await serverConflicts(user)).toEqual({});
  }, 60_000);

  it('a tampered or malformed feed never reaches the replica: the true documents are fetched, nothing breaks', async () => {
    const { user, a, b, conflicts } = await pair('livepull');
    await a.c.store.set('x', { i: 0 });
    await waitFor(async () => ((await valueOn(b.c, 'x')) as { i: number } | undefined)?.i === 0, 10_000, 'B has x');
    const errors: unknown[] = [];
    b.c.sync.on('error', (e) => errors.push(e));
    b.feed.rewrite = (body) => {
      const results = (body.results ?? []).map((entry) => {
        const e = entry as { doc?: Record<string, unknown> };
        // The body changed, the revision kept: its hash no longer matches, so the history is not taken from it.
        return e.doc ? { ...e, doc: { ...e.doc, doc: 'forged' } } : e;
      });
      const junk: unknown[] = [
        { id: 'x', seq: 'bad-1' },
        { id: '', seq: 1, changes: [{ rev: '1-abc' }] },
        { id: 'y', seq: 2, changes: 'nope' },
        { id: 'y', seq: 3, changes: [{ rev: 'not a rev' }] },
        { id: '_local/sync-pull', seq: 4, changes: [{ rev: '1-abc' }], doc: { _id: '_local/sync-pull', seq: 0 } },
        { id: 'z', seq: 5, changes: [{ rev: '1-abc' }], doc: { _id: 'other', _rev: '1-abc', doc: 'wrong id' } },
        { id: 'w', seq: 6, changes: [{ rev: '1-abc' }], doc: { _id: 'w', _rev: '1-abc', _revisions: { start: 9, ids: ['q'] }, doc: 'hostile history' } },
      ];
      return { ...body, results: [...junk, ...results] };
    };
    for (let i = 1; i <= 3; i++) {
      await a.c.store.set('x', { i });
      await waitFor(async () => ((await valueOn(b.c, 'x')) as { i: number } | undefined)?.i === i, 10_000, `B has the true edit ${i}`);
    }
    b.feed.rewrite = undefined;
    for (const key of ['y', 'z', 'other', 'w']) expect(await b.c.store.get(key)).toBeUndefined();
    await a.c.store.set('x', { i: 4 });
    await waitFor(async () => ((await valueOn(b.c, 'x')) as { i: number } | undefined)?.i === 4, 10_000, 'B back on the plain feed');
    await b.c.store.set('x', { i: 5 });
    await waitFor(async () => ((await valueOn(a.c, 'x')) as { i: number } | undefined)?.i === 5, 10_000, 'A has B’s edit');
    await b.c.sync.waitForPush({ timeout: 10_000 });
    expect(conflicts).toEqual([]);
    expect(errors).toEqual([]);
    expect(await serverConflicts(user)).toEqual({});
  }, 60_000);

  it('under a burst over several keys, every key ends on its last value on the other device, with no conflict', async () => {
    const { user, a, b, conflicts } = await pair('livepull');
    const writes: Promise<void>[] = [];
    for (let n = 0; n < 120; n++) {
      writes.push(a.c.store.set(`k${n % 12}`, { i: n }));
      if (n % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(writes);
    await a.c.sync.waitForPush({ timeout: 20_000 });
    await waitFor(
      async () => (await Promise.all(Array.from({ length: 12 }, async (_, k) => ((await valueOn(b.c, `k${k}`)) as { i: number } | undefined)?.i === 108 + k))).every(Boolean),
      20_000,
      'B has every key’s last value',
    );
    await b.c.store.set('k0', { i: -1 });
    await waitFor(async () => ((await valueOn(a.c, 'k0')) as { i: number } | undefined)?.i === -1, 10_000, 'A has B’s edit');
    await b.c.sync.waitForPush({ timeout: 10_000 });
    expect(conflicts).toEqual([]);
    expect(await serverConflicts(user)).toEqual({});
  }, 60_000);
});

describe('live pull: documents with attachments', () => {
  it('a document another client gave an attachment is pulled with it, and the pull goes on', async () => {
    const user = uniqueUser('pull-att');
    const b = device(user);
    await b.c.ready();
    await waitFor(() => b.c.sync.status === 'idle', 10_000, 'B idle');
    // Another client of the same database (plain HTTP, as any CouchDB client) stores a document with an attachment.
    const res = await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
    const { data } = (await res.json()) as { data: { headers: Record<string, string>; dbname: string } };
    const put = await fetch(`${emu.couchUrl}/${data.dbname}/other-app-doc`, {
      method: 'PUT',
      headers: { ...data.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ note: 'x', _attachments: { 'a.txt': { content_type: 'text/plain', data: Buffer.from('hello').toString('base64') } } }),
    });
    expect(put.status).toBe(201);
    const a = device(user);
    await a.c.ready();
    await a.c.store.set('after', 1);
    // Stuck for good before the fix: _bulk_get answered attachment stubs the replica could not store.
    await waitFor(async () => (await b.c.store.get('after')) === 1, 15_000, 'B pulled past the attachment');
  }, 60_000);
});
