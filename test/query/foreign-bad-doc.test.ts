/**
 * One document whose value cannot be read — another app's (or a damaged) manifest of a chunked value, its chunks
 * missing or not forming JSON — never blocks the other keys of a query: `get()` of it fails alone (a typed error), and
 * `find()`, `watchQuery()` and `watch({ prefix }, …, { current: true })` leave it out and say so (the query's
 * `onWarning`; the watch's, the client's `error` event). Remote and local-first, both backends.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError, type FeatClient, type FeatError, type QueryResult } from '@feat/sdk';
import { clientIn, uniqueUser, useEmulator } from '../support/backend.js';
import { rawDatabase } from '../support/resolver-harness.js';

const emu = useEmulator();

const client = (user: string, mode: 'remote' | 'local-first'): FeatClient => clientIn(emu, user, mode);

/** Documents written straight to the user's database, as another app would (CouchDB `_bulk_docs`). */
const writeForeign = async (user: string, docs: object[]) => (await rawDatabase(emu, user)).bulk({ docs });

/** Good keys `todo:a` and `todo:d`; `todo:b` a manifest of no chunks, `todo:c` one whose chunk is not there. */
async function seeded(mode: 'remote' | 'local-first', missingChunk = false): Promise<FeatClient> {
  const user = uniqueUser(`fbd-${mode}`);
  const writer = client(user, 'remote');
  await writer.ready();
  await writeForeign(user, [
    { _id: 'todo:a', doc: { n: 1 } },
    // (Its `doc` is not its value: get() reads a manifest's chunks.)
    { _id: 'todo:b', doc: { n: 2 }, feat: { chunks: [] } },
    ...(missingChunk ? [{ _id: 'todo:c', feat: { updatedAt: 1, chunks: ['feat~chunk~' + '0'.repeat(64)] } }] : []),
    { _id: 'todo:d', doc: { n: 4 } },
  ]);
  if (mode === 'remote') return writer;
  const device = client(user, 'local-first');
  await device.ready();
  return device;
}

const values = (rows: QueryResult<{ n: number }>[]) => rows.map((r) => r.value.n);

for (const mode of ['remote', 'local-first'] as const) {
  describe(`${mode}: a document whose value cannot be read`, () => {
    it('find() answers the other keys, leaves it out and names it in a warning; get() of it fails alone', async () => {
      const c = await seeded(mode);
      const warnings: string[] = [];
      const onWarning = (w: string) => void warnings.push(w);
      const rows = await c.store.find<{ n: number }>({ prefix: 'todo', selector: { n: { $gte: 0 } } }, { onWarning });
      // (Not `todo:b`'s `doc` either: get() does not read it as its value.)
      expect(values(rows)).toEqual([1, 4]);
      expect(warnings.filter((w) => /"todo:b" is left out: its value cannot be read \(bad_response/.test(w))).toHaveLength(1);
      // Sorted (an index of `n`), and with a window: the same.
      expect(values(await c.store.find<{ n: number }>({ prefix: 'todo', selector: { n: { $gte: 0 } }, sort: [{ n: 'desc' }] }, { onWarning }))).toEqual([4, 1]);
      expect(values(await c.store.find<{ n: number }>({ prefix: 'todo', limit: 1, skip: 1 }, { onWarning }))).toEqual([4]);
      const b = await c.store.get('todo:b').catch((e: unknown) => e);
      expect(isFeatError(b, 'bad_response')).toBe(true);
      expect(await c.store.get('todo:d')).toEqual({ n: 4 });
    }, 60_000);

    it('find() leaves out a value whose chunk is missing (not_found, after the read waited for it)', async () => {
      const c = await seeded(mode, true);
      const warnings: string[] = [];
      const rows = await c.store.find<{ n: number }>({ prefix: 'todo' }, { onWarning: (w) => warnings.push(w) });
      expect(values(rows)).toEqual([1, 4]);
      expect(warnings.filter((w) => /"todo:c" is left out: its value cannot be read \(not_found/.test(w))).toHaveLength(1);
    }, 60_000);

    it('watchQuery() delivers the other keys (the failure a warning, not an error) and follows changes', async () => {
      const c = await seeded(mode);
      const warnings: string[] = [];
      const errors: FeatError[] = [];
      const sets: number[][] = [];
      const stop = c.store.watchQuery<{ n: number }>({ prefix: 'todo', selector: { n: { $gte: 0 } } }, (rows) => sets.push(values(rows)), {
        onWarning: (w) => warnings.push(w),
        onError: (e) => errors.push(e),
      });
      await expect.poll(() => sets.at(-1), { timeout: 20_000 }).toEqual([1, 4]);
      await c.store.set('todo:e', { n: 5 });
      await expect.poll(() => sets.at(-1), { timeout: 20_000 }).toEqual([1, 4, 5]);
      stop();
      expect(errors).toEqual([]);
      expect(warnings.some((w) => w.includes('"todo:b" is left out'))).toBe(true);
    }, 60_000);

    it('watch({ prefix }, …, { current: true }) delivers the other current values and reports the one left out', async () => {
      const c = await seeded(mode);
      const reported: FeatError[] = [];
      c.sync.on('error', (e) => void reported.push(e));
      const events: { key: string; subkey?: string; value: unknown }[] = [];
      const watchErrors: FeatError[] = [];
      let ended = -1;
      const stop = c.store.watch({ prefix: 'todo' }, (e) => void events.push(e), { current: true, onError: (e) => watchErrors.push(e), onCurrent: () => void (ended = events.length) });
      await expect.poll(() => ended, { timeout: 20_000 }).toBeGreaterThanOrEqual(0);
      stop();
      expect(events.map((e) => [e.key, e.subkey, e.value])).toEqual([
        ['todo', 'a', { n: 1 }],
        ['todo', 'd', { n: 4 }],
      ]);
      expect(ended).toBe(2);
      expect(watchErrors).toEqual([]);
      expect(reported.map((e) => [e.code, e.key])).toEqual([['bad_response', 'todo:b']]);
      expect(reported[0]!.message).toMatch(/^watch\(\) left "todo:b" out of the current values: The chunks/);
    }, 60_000);

    it('watch(key, …, { current: true }) of that key itself fails (as get() does), to its onError', async () => {
      const c = await seeded(mode);
      const watchErrors: FeatError[] = [];
      const events: unknown[] = [];
      const stop = c.store.watch('todo:b', (e) => void events.push(e), { current: true, onError: (e) => watchErrors.push(e) });
      await expect.poll(() => watchErrors.length, { timeout: 20_000 }).toBeGreaterThan(0);
      stop();
      expect(watchErrors[0]).toMatchObject({ code: 'bad_response', key: 'todo:b' });
      expect(events).toEqual([]);
    }, 60_000);
  });
}
