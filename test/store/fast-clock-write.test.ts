/**
 * Remote mode: a write (or removal) made now over a value another device stamped with a clock running ahead is not
 * dropped by latest-write-wins — a stamp ahead of this device's clock is not held against it, as on the local replica
 * (store/look-up.ts).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ConflictEvent, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const HOUR = 3_600_000;

const client = (user: string, extra: Partial<FeatClientOptions> = {}) =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', ...extra } as FeatClientOptions));

/** Runs `fn` with Date.now() an hour ahead (the SDK stamps a write synchronously in set()). */
function fastClock<T>(fn: () => T): T {
  const now = Date.now;
  Date.now = () => now.call(Date) + HOUR;
  try {
    return fn();
  } finally {
    Date.now = now;
  }
}

describe('remote mode: writes over a value stamped by a fast clock', () => {
  it('set(), a second set() and remove() over values stamped 1 h ahead take effect', async () => {
    const user = uniqueUser('fastclock');
    const a = client(user);
    await fastClock(() => a.store.set('k', 'A-fast'));
    await fastClock(() => a.store.set('gone', 'A-fast'));
    const b = client(user);
    const events: ConflictEvent[] = [];
    b.sync.on('conflict', (e) => events.push(e));
    await b.store.set('k', 'B-1');
    await b.store.set('k', 'B-2');
    await b.store.remove('gone');
    const fresh = client(user);
    expect({ k: await fresh.store.get('k'), gone: await fresh.store.get('gone') }).toEqual({ k: 'B-2', gone: undefined });
    expect(events.filter((e) => e.resolved === 'A-fast')).toEqual([]);
  });
});
