/**
 * A live query that runs again for each change (remote mode; a window in local-first) while another device writes
 * faster than one run takes: every run's result is delivered (then one more run covers the changes that came
 * meanwhile) — never an older result after a newer one, and the runs stay coalesced (one at a time).
 */
import { describe, expect, it } from 'vitest';
import type { QueryResult } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes, settle } from '../store/helpers.js';

const emu = useEmulator();
type V = { n: number };
const FIND_MS = 400;
const WRITING_MS = 3000;
/** Four keys written at once, each with growing values. */
const KEYS = ['k:w0', 'k:w1', 'k:w2', 'k:w3'];

describe.each([
  // Remote: each `_find` answers after 400 ms (a slow link).
  { ...modes[0], query: { prefix: 'k:' }, bulk: 0 },
  { ...modes[0], query: { prefix: 'k:', sort: [{ n: 'desc' as const }], limit: 2 }, bulk: 0 },
  // Local-first: a window over 2,500 values, which takes the replica a while to cut.
  { ...modes[1], query: { prefix: 'k:', limit: 3 }, bulk: 2500 },
])('watchQuery under steady writes: $name $query', ({ query, bulk, ...mode }) => {
  const client = clientsOf(emu, mode);
  const writers = clientsOf(emu, modes[0]);

  it('delivers results while another device writes faster than a run takes, never an older one after a newer one', async () => {
    const user = uniqueUser('steady');
    const b = writers(user);
    await b.ready();
    await Promise.all(KEYS.map((k) => b.store.set(k, { n: 0 })));
    const values: Record<string, V> = {};
    for (let i = 0; i < bulk; i++) values[`x${i}`] = { n: -1 - i };
    if (bulk) await b.store.setParts('k:x', values);
    const a = client(user, {}, (line) => (line.includes('/_find') ? FIND_MS : 0));
    await a.ready();
    const sets: Map<string, number>[] = [];
    const stop = a.store.watchQuery<V>(query, (r: QueryResult<V>[]) => sets.push(new Map(r.map((x) => [x.key, x.value.n]))));
    await waitFor(() => sets.length > 0 && sets.at(-1)!.size === ('limit' in query ? query.limit : KEYS.length), 30_000, 'the first set');
    let writing = true;
    const writer = Promise.all(
      KEYS.map(async (key, w) => {
        for (let i = 1; writing; i++) {
          await b.store.set(key, { n: i * KEYS.length + w });
          await sleep(10);
        }
      }),
    );
    const from = sets.length;
    const finds = a.wire.lines.filter((l) => l.includes('/_find')).length;
    // At least WRITING_MS, and (on a loaded machine, where a local run over 2,500 values takes seconds) until three sets
    // came, at most 60 s: before the fix none came for as long as the writes went on.
    const t0 = Date.now();
    await sleep(WRITING_MS);
    while (sets.length - from < 3 && Date.now() - t0 < 60_000) await sleep(100);
    const writingMs = Date.now() - t0;
    const during = sets.length - from;
    const runs = a.wire.lines.filter((l) => l.includes('/_find')).length - finds;
    writing = false;
    await writer;
    await settle(b);
    // Then the results come to rest on what find() answers.
    const last = JSON.stringify((await b.store.find<V>(query)).map((x) => [x.key, x.value.n]));
    // (A run under way when the writes stopped, then one more: two runs, seconds each on a loaded machine.)
    await waitFor(() => JSON.stringify([...sets.at(-1)!]) === last, 45_000, `the last results (${last})`);
    stop();
    // Before the fix: no set at all while the writes went on (each run's result was dropped for the changes that
    // came while it ran).
    expect(during).toBeGreaterThanOrEqual(3);
    // No key's value ever goes back to an older one.
    for (const key of KEYS) {
      const shown = sets.map((s) => s.get(key)).filter((n) => n !== undefined);
      expect(shown).toEqual([...shown].sort((x, y) => x - y));
    }
    // Coalesced: one run at a time (remote: each run is a `_find` of the query and one of chunked values' manifests).
    if (mode.name === 'remote') expect(runs).toBeLessThanOrEqual(2 * (writingMs / FIND_MS + 2));
  }, 180_000);
});
