/**
 * A value that is already expired when its change reaches a watcher (written with a short `ttl` by a device whose
 * clock runs behind) was reported as `kind: 'insert'` with `value: undefined`; the README says `value` is undefined
 * only for a delete. It is now reported as a deletion.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

/** Runs `fn` with Date.now() shifted by `offset` ms until it settles (a ttl counts from the write, made in it). */
async function skewed<T>(offset: number, fn: () => Promise<T>): Promise<T> {
  const now = Date.now;
  Date.now = () => now() + offset;
  try {
    return await fn();
  } finally {
    Date.now = now;
  }
}

describe.each([
  { mode: 'local-first', local: { adapter: 'memory' } },
  { mode: 'remote' },
] as const)('a change already expired when it arrives ($mode watcher)', (options) => {
  it('is a delete event, never an insert or update without a value', async () => {
    const user = uniqueUser('watch-expired');
    const device = (extra: object) =>
      emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...extra } as FeatClientOptions));
    const writer = device({ mode: 'local-first', local: { adapter: 'memory' } });
    const watcher = device(options);
    await Promise.all([writer.ready(), watcher.ready()]);
    const events: ChangeEvent[] = [];
    watcher.store.watch('k', (e) => events.push(e));
    await sleep(300);
    // Written 10 minutes "ago" with a one-minute ttl: expired on every other clock.
    await skewed(-10 * 60_000, () => writer.store.set('k', 'short-lived', { ttl: 60_000 }));
    await writer.sync.waitForPush({ timeout: 20_000 });
    await waitFor(() => events.length > 0, 10_000, 'the event');
    expect(events.map((e) => [e.kind, e.value, e.origin])).toEqual([['delete', undefined, 'remote']]);
    expect(await watcher.store.get('k')).toBeUndefined();
  }, 30_000);
});
