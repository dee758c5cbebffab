/**
 * A selector value that is (or holds) an array with `null` in it: CouchDB 3.4 fails on it with HTTP 500
 * `function_clause` on any database with a json index (every SDK database has one), which reached the app as
 * `server` — "the call may be retried", and a live query retried it forever. Such a selector is refused up front in
 * both modes (`invalid_argument`, nothing sent); `null` itself, and `null` in an `$in`/`$nin`/`$all` list, still work.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

const REFUSED: Record<string, unknown>[] = [
  { x: [null] },
  { x: { $eq: [null] } },
  { x: { $ne: [1, null] } },
  { x: { $gt: [null] } },
  { x: { $in: [[null]] } },
  { x: { $nin: [['a', [null]]] } },
  { x: { $all: [[null]] } },
  { x: { $eq: { y: [null] } } },
  { x: { y: [null] } },
  { x: { $elemMatch: { $eq: [null] } } },
  { $or: [{ x: 1 }, { x: [null] }] },
];

describe.each([
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { local: { adapter: 'memory' } } },
] as const)('a selector value holding an array with null: $name', ({ options }) => {
  it('is refused up front with invalid_argument; null itself and null in a list answer', async () => {
    let finds = 0;
    const c = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(uniqueUser('nullarr')),
        fetch: (input: RequestInfo | URL, init?: RequestInit) => {
          if (String(input instanceof Request ? input.url : input).includes('_find')) finds++;
          return fetch(input, init);
        },
        ...options,
      } as FeatClientOptions),
    );
    await c.store.setParts('t', { n: { x: null }, an: { x: [null] }, s: { x: 1 }, a: { x: [1] } });
    for (const selector of REFUSED) {
      const error = await expectCode(c.store.find({ prefix: 't', selector }), 'invalid_argument');
      expect(error.message).toMatch(/array with null in it/);
    }
    expect(finds).toBe(0);
    const keys = async (selector: Record<string, unknown>) => (await c.store.find({ prefix: 't', selector })).map((r) => r.subkey).sort();
    expect(await keys({ x: null })).toEqual(['n']);
    expect(await keys({ x: { $in: [null, 1] } })).toEqual(['a', 'an', 'n', 's']);
    expect(await keys({ x: { $elemMatch: { $eq: null } } })).toEqual(['an']);
  });
});
