/**
 * watchQuery with `skip`: a match before the window (skipped, so not among the results) that stops matching or is
 * removed moves the window, in both modes (local-first kept the old window: the change touched no result).
 */
import { describe, expect, it } from 'vitest';
import type { QueryResult } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();
type V = { on: boolean; prio: number };
const keys = (r: QueryResult<V>[]) => r.map((x) => x.key);

describe.each(modes)('watchQuery, a skipped match leaving: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it.each([
    { how: 'stops matching', window: 'skip 1, limit 2, by key', query: { prefix: 'w:', selector: { on: true }, skip: 1, limit: 2 } },
    { how: 'is removed', window: 'skip 1, limit 2, by key', query: { prefix: 'w:', selector: { on: true }, skip: 1, limit: 2 } },
    { how: 'stops matching', window: 'skip 1, sorted', query: { prefix: 'w:', selector: { on: true }, sort: ['prio'], skip: 1 } },
    { how: 'is removed', window: 'skip 1, sorted', query: { prefix: 'w:', selector: { on: true }, sort: ['prio'], skip: 1 } },
  ])('$window: the skipped match $how → the window moves', async ({ how, query }) => {
    const c = client(uniqueUser('skip'));
    await c.ready();
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) await c.store.set(`w:${k}`, { on: true, prio: i });
    const seen: QueryResult<V>[][] = [];
    const stop = c.store.watchQuery<V>(query, (r) => seen.push(r));
    await waitFor(() => seen.length > 0, 10_000, 'the first set');
    expect(keys(seen[0]!)).toEqual(query.limit ? ['w:b', 'w:c'] : ['w:b', 'w:c', 'w:d']);
    if (how === 'is removed') await c.store.remove('w:a');
    else await c.store.set('w:a', { on: false, prio: 0 });
    const fresh = keys(await c.store.find<V>(query));
    expect(fresh).toEqual(['w:c', 'w:d']);
    await waitFor(() => keys(seen.at(-1)!).join() === fresh.join(), 5_000, `the window moved (${keys(seen.at(-1)!).join()})`);
    stop();
  });
});
