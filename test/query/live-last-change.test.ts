/**
 * `watchQuery`: the last change of a burst is never held back until some later change. Changes that come while a run
 * folds what came before it (its matcher loading, its delivery) are folded too, or run the query once more.
 */
import { describe, expect, it } from 'vitest';
import type { QueryResult } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();

type Item = { n: number; on: boolean };
const keysOf = (r: QueryResult<Item>[]) => r.map((x) => x.subkey).join(',');

describe.each(modes)('watchQuery after a burst of writes: $name', (mode) => {
  const client = clientsOf(emu, mode);

  for (const window of [false, true]) {
    it(`the last set equals find() once the writes are done${window ? ' (limit)' : ''}`, async () => {
      const c = client(uniqueUser('burst'));
      await c.ready();
      const query = { prefix: 'it', selector: { on: true }, sort: ['n'], ...(window ? { limit: 50 } : {}) };
      for (let round = 0; round < 4; round++) {
        const sets: QueryResult<Item>[][] = [];
        const stop = c.store.watchQuery<Item>(query, (r) => sets.push(r));
        // Writes while the first run is on its way and while sets are delivered: not awaited one by one.
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 30; i++) {
          writes.push(c.store.set(`it:r${round}-${i}`, { n: round * 100 + i, on: i % 3 !== 0 }));
          if (i % 5 === 0) await sleep(1);
        }
        await Promise.all(writes);
        const expected = keysOf((await c.store.find<Item>(query)) as QueryResult<Item>[]);
        let last = '';
        await waitFor(() => (last = keysOf(sets.at(-1) ?? [])) === expected, 10_000, `the last set to equal find() (round ${round})`).catch(() => undefined);
        expect(last).toBe(expected);
        stop();
      }
      await sleep(50);
    }, 60_000);
  }
});
