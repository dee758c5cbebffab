/**
 * `client.sync.on('pending')` follows the count with no polling; `client.sync.on('initialSync')` reports a new
 * device's first pull (what `ready()` waits for).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type InitialSyncEvent } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra }),
  );
}

describe('sync pending event', () => {
  it('local-first: rises while offline, falls back to 0 by itself once pushed', async () => {
    const c = client(uniqueUser('pending'));
    await c.ready();
    await c.sync.waitForPush({ timeout: 10_000 });
    const counts: number[] = [];
    c.sync.on('pending', (n) => counts.push(n));
    await waitFor(() => counts.at(-1) === 0, 10_000, 'the first count');
    await emu.suspend();
    try {
      await Promise.all([c.store.set('a', 1), c.store.set('b', 2), c.store.set('c', 3)]);
      await waitFor(() => counts.at(-1) === 3, 10_000, 'pending 3');
      expect(await c.sync.pending()).toBe(3);
    } finally {
      await emu.resume();
    }
    await waitFor(() => counts.at(-1) === 0, 30_000, 'pending back to 0 without any call');
    // Only changes are emitted.
    expect(counts.every((n, i) => i === 0 || n !== counts[i - 1])).toBe(true);
  }, 60_000);

  it('remote: the queued writes', async () => {
    const c = client(uniqueUser('pending'), { mode: 'remote' });
    await c.ready();
    const counts: number[] = [];
    c.sync.on('pending', (n) => counts.push(n));
    await c.store.set('a', 1);
    await waitFor(() => counts.at(-1) === 0, 10_000, 'pending 0');
    expect(counts).toContain(1);
  });

  it('an unknown event name is refused', () => {
    const c = client(uniqueUser('pending'));
    expect(() => c.sync.on('pendings' as never, () => undefined)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });
});

describe('sync initialSync event', () => {
  it('a new device reports its first pull: start, progress with the documents so far, done', async () => {
    const user = uniqueUser('first');
    const a = client(user);
    await a.ready();
    await Promise.all(Array.from({ length: 30 }, (_, i) => a.store.set(`k${i}`, { i })));
    await a.sync.waitForPush({ timeout: 10_000 });

    const b = client(user);
    const events: InitialSyncEvent[] = [];
    b.sync.on('initialSync', (e) => events.push(e));
    await b.ready();
    expect(events[0]).toMatchObject({ phase: 'start', docs: 0, timeoutMs: 10_000, complete: false });
    expect(events.at(-1)).toMatchObject({ phase: 'done', complete: true, pending: 0 });
    expect(events.at(-1)!.docs).toBeGreaterThanOrEqual(30);
    const progress = events.filter((e) => e.phase === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.map((e) => e.docs)).toEqual([...progress.map((e) => e.docs)].sort((x, y) => x - y));
    expect(await b.store.get('k29')).toEqual({ i: 29 });

    // The device has synced now: another start of its replica would not wait (nothing to report for remote mode).
    const remote = client(user, { mode: 'remote' });
    const none: InitialSyncEvent[] = [];
    remote.sync.on('initialSync', (e) => none.push(e));
    await remote.ready();
    expect(none).toEqual([]);
  });
});
