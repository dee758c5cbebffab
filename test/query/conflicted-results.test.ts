/**
 * A key with unresolved conflicting leaves on the server (another app's, or a local-first device's not resolved yet),
 * in remote mode: a query returns what get() returns — the resolver's choice, not CouchDB's winning leaf — and a live
 * query never goes back to the older value once it showed the newer one.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { userDbName } from '@feat/emulator';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';
import { couch } from '../emulator/helpers.js';

const emu = useEmulator();
type V = { kind: string; n: number };

/**
 * Leaves of `id` written as replication writes them: the newer value (by time) on the revision CouchDB lets lose
 * (`1-aaa…` < `1-fff…`), the older one on the revision it lets win.
 */
async function leaves(user: string, id: string, which: ('newer' | 'older')[]): Promise<void> {
  const now = Date.now();
  const all = {
    newer: { _id: id, _rev: `1-${'a'.repeat(32)}`, doc: { kind: 'newer', n: 1 }, feat: { updatedAt: now } },
    older: { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: { kind: 'older', n: 2 }, feat: { updatedAt: now - 60_000 } },
  };
  const put = await couch(emu, user, `/${userDbName(user)}/_bulk_docs`, { method: 'POST', body: { docs: which.map((w) => all[w]), new_edits: false } });
  expect(put.status).toBe(201);
}

const kinds = async (c: FeatClient, query: object) => (await c.store.find<V>({ prefix: 'c:', ...query })).map((r) => r.value.kind);

describe('conflicted values in query results: remote', () => {
  const client = clientsOf(emu, modes[0]);

  it.each([
    { name: 'by key', query: {} },
    { name: 'sorted', query: { sort: ['n'] } },
    { name: 'a window', query: { limit: 1 } },
    { name: 'a selector the winning leaf matches', query: { selector: { n: { $gte: 2 } } } },
  ])('find ($name) returns what get() returns, before any get()', async ({ query }) => {
    const user = uniqueUser('cf');
    const c = client(user);
    await c.ready();
    await leaves(user, 'c:1', ['newer', 'older']);
    const found = await kinds(c, query);
    // The winning leaf ('older') matched the last selector; the resolved value does not (it is not shown).
    expect(found).toEqual('selector' in query ? [] : ['newer']);
    expect((await c.store.get<V>('c:1'))?.kind).toBe('newer');
    expect(await kinds(c, { selector: { kind: 'newer' } })).toEqual(['newer']);
    expect(await kinds(c, { selector: { kind: 'older' } })).toEqual([]);
  });

  it('watchQuery shows the resolved value, and never goes back to an older leaf that arrives later', async () => {
    const user = uniqueUser('cw');
    const c = client(user);
    await c.ready();
    const sets: string[][] = [];
    const stop = c.store.watchQuery<V>({ prefix: 'c:' }, (r) => sets.push(r.map((x) => x.value.kind)));
    await waitFor(() => sets.length === 1, 10_000, 'the first set');
    await leaves(user, 'c:1', ['newer']);
    await waitFor(() => sets.length === 2, 10_000, 'the newer value');
    // Another device's older edit of the same key, replicated in: CouchDB lets it win.
    await leaves(user, 'c:1', ['older']);
    await sleep(1500);
    expect((await c.store.get<V>('c:1'))?.kind).toBe('newer');
    await sleep(500);
    stop();
    expect(sets).toEqual([[], ['newer']]);
  });
});
