/**
 * An edit made on a device whose clock runs behind, on top of a value written with `ttl`, against another device's
 * maintenance purging that value (found by the clock attack): the purge's deletion keeps the expired value's stamps,
 * and the edit, stamped earlier than the value it edited, lost to it — the key read as absent on every device (local-
 * first, every run, 2 s or 1 h behind). docs/export.md: "a write made after that value, on any device, wins over the
 * purge": a purge of a revision a live leaf was written on is no side of the conflict (sync/resolve-leaves.ts).
 * One process: "a device's clock" is Date.now() shifted while that device acts; waits on performance.now().
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFeatClient, type ConflictEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator, sleep } from '../support/backend.js';

const emu = useEmulator();
const HOUR = 3_600_000;
let offset = 0;
const realNow = Date.now.bind(Date);
beforeAll(() => {
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
});
afterAll(() => {
  offset = 0;
  vi.restoreAllMocks();
});

/** Runs `fn` with the clock shifted by `by` ms, back to right afterwards. */
async function clock<T>(by: number, fn: () => Promise<T>): Promise<T> {
  offset = by;
  try {
    return await fn();
  } finally {
    offset = 0;
  }
}

type Dev = FeatClient & { conflicts: ConflictEvent[]; errors: unknown[] };
function device(user: string, mode: 'local' | 'remote', extra: Partial<FeatClientOptions> = {}): Dev {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      ...(mode === 'local' ? { mode: 'local-first', local: { adapter: 'memory' } } : { mode: 'remote' }),
      maintenance: { enabled: false },
      ...extra,
    } as FeatClientOptions),
  );
  const conflicts: ConflictEvent[] = [];
  const errors: unknown[] = [];
  c.sync.on('conflict', (e) => conflicts.push(e));
  c.sync.on('error', (e) => errors.push(e));
  return Object.assign(c, { conflicts, errors });
}

/** Polls on the monotonic clock (Date.now is shifted here). */
async function until(pred: () => Promise<boolean> | boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!(await pred())) {
    if (performance.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await sleep(25);
  }
}
const fresh = async (user: string, key: string) => {
  const f = device(user, 'remote');
  const v = await f.store.get(key);
  await f.close();
  return v;
};
const push = (c: FeatClient) => c.sync.waitForPush({ timeout: 10_000 });

describe('a purge against an edit made on a clock running behind', () => {
  it('control, local-first with right clocks: B edits a ttl value offline while it is live; another device purges it later: the edit wins', async () => {
    const user = uniqueUser('purge-purge-ctl');
    const w = device(user, 'local');
    const b = device(user, 'local');
    await Promise.all([w.ready(), b.ready()]);
    await w.store.set('k', 'v1', { ttl: 3_000 });
    const writtenAt = performance.now();
    await push(w);
    await until(async () => (await b.store.get('k')) === 'v1', 10_000, 'B to see v1');
    b.sync.pause();
    await sleep(20);
    await b.store.set('k', 'v2-edit');
    await sleep(Math.max(0, 6_300 - (performance.now() - writtenAt)));
    expect((await w.maintenance.run()).purged).toBe(1);
    await push(w);
    b.sync.resume();
    await push(b);
    await until(async () => (await w.store.get('k')) === 'v2-edit', 10_000, 'W to see the edit');
    expect(await fresh(user, 'k')).toBe('v2-edit');
  });

  for (const [label, skew, ttl, wait] of [
    ['1 h behind', -HOUR, 1_000, 2_300],
    ['2 s behind, edit made while the value is live on every clock', -2_000, 3_000, 0],
  ] as const) {
    it(`local-first: B (clock ${label}) edits a ttl value offline; another device later purges it: "a write made after that value, on any device, wins over the purge" (export.md)`, async () => {
      const user = uniqueUser('purge-purge-edit');
      const w = device(user, 'local'); // right clock: writes v1 with a short ttl, then purges it
      const b = device(user, 'local'); // clock behind
      await Promise.all([w.ready(), b.ready()]);
      await w.store.set('k', 'v1', { ttl });
      const writtenAt = performance.now();
      await push(w);
      await clock(skew, () => until(async () => (await b.store.get('k')) === 'v1', 10_000, 'B to see v1 (live on its clock)'));
      b.sync.pause();
      await sleep(wait);
      // B edits the value it reads, offline.
      await clock(skew, async () => {
        expect(await b.store.get('k')).toBe('v1');
        await b.store.set('k', 'v2-edit');
      });
      const editedAfter = performance.now() - writtenAt;
      // W purges once the value has been expired for as long again as its ttl (on W's right clock).
      await sleep(Math.max(0, 2 * ttl + 300 - (performance.now() - writtenAt)));
      expect((await w.maintenance.run()).purged).toBe(1);
      await push(w);
      await clock(skew, async () => {
        b.sync.resume();
        await push(b);
        await sleep(1_500);
      });
      const seen = { w: await w.store.get('k'), b: await clock(skew, () => b.store.get('k')), server: await fresh(user, 'k') };
      const events = [...w.conflicts, ...b.conflicts].map((e) => ({ key: e.key, source: e.source, resolved: e.resolved }));
      console.log(label, 'edit made', Math.round(editedAfter), 'ms after v1 was written (ttl', ttl, ')', JSON.stringify({ seen, events }));
      expect({ seen, events }).toMatchObject({ seen: { w: 'v2-edit', b: 'v2-edit', server: 'v2-edit' } });
    });
  }

});
