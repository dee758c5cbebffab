/**
 * An equality and a range on one field: CouchDB 3.4 narrows an index's range by the conditions in their order and
 * fails (500 `function_clause`: to the app a retryable `server` error, retried by a live query) on a `$gt` after an
 * equality at its own value (`{ $eq: 'a', $gt: 'a' }`, which matches nothing). In remote mode the selector reaches the
 * server in an order it answers, with the same meaning; both modes answer as CouchDB would.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

const CASES: [selector: Record<string, unknown>, keys: string[]][] = [
  [{ x: { $eq: 'a', $gt: 'a' } }, []],
  [{ x: { $eq: null, $gt: null } }, []],
  [{ x: { $eq: 'b', $gt: 'a' } }, ['b']],
  [{ x: { $eq: 1, $gt: 1 } }, []],
  [{ x: { $gte: 'a', $lte: 'a', $gt: 'a' } }, []],
  [{ x: { $gte: 'b', $lte: 'b', $gt: 'a' } }, ['b']],
  [{ x: { $eq: 'a', $not: { $lte: 'a' } } }, []],
  [{ x: { $eq: 'b', $not: { $lte: 'a' } } }, ['b']],
  [{ $and: [{ x: 'a' }, { x: { $gt: 'a' } }] }, []],
  [{ x: 'b', $and: [{ x: { $gt: 'a' } }] }, ['b']],
  [{ x: { $eq: 'a', $gt: 'a' }, y: 1 }, []],
  [{ x: { $eq: 'a', $gte: 'a' } }, ['a']],
  [{ x: { $gt: 'a', $lt: 'c' } }, ['b']],
  // A `$gt` spelled as a `$nor` of a `$lte` (CouchDB reads it so), alone or beside another.
  [{ x: 'a', $nor: [{ x: { $lte: 'a' } }] }, []],
  [{ x: { $eq: 'a', $nor: [{ $lte: 'a' }] } }, []],
  [{ x: 'b', $nor: [{ x: { $lte: 'a' } }, { y: 2 }] }, ['b']],
];

describe.each([
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { local: { adapter: 'memory' } } },
] as const)('an equality and a range on one field: $name', ({ options }) => {
  it('answers what CouchDB means (nothing for a $gt at the equality), sorted or not, never a server error', async () => {
    const c = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('eqrange')), ...options } as FeatClientOptions),
    );
    await c.store.setParts('t', { a: { x: 'a', y: 1 }, b: { x: 'b', y: 1 }, c: { x: 'c' }, n: { x: null }, one: { x: 1 } });
    const keys = async (query: Record<string, unknown>) => (await c.store.find({ prefix: 't', ...query })).map((r) => r.subkey).sort();
    for (const [selector, expected] of CASES) {
      expect(await keys({ selector, sort: ['x'] }), `sorted ${JSON.stringify(selector)}`).toEqual(expected);
      expect(await keys({ selector, sort: [{ x: 'desc' }], limit: 5 }), `desc ${JSON.stringify(selector)}`).toEqual(expected);
      expect(await keys({ selector }), JSON.stringify(selector)).toEqual(expected);
    }
  }, 60_000);
});
