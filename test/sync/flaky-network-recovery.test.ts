/**
 * A long-lived client on a network that blips now and then. Live sync's backoff started over only once the live feed
 * had stayed up 30 s: a client that had lived through a few outages close together waited its longest backoff (8 s)
 * after every later one — status `offline` and other devices' writes about 8 s late each time the server came back
 * (README: sync "recovers by itself once the servers answer"). Now a feed that stayed up a few seconds counts as a
 * recovery; one that fails at once still backs off.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);

describe('a client that lived through outages', () => {
  it('is back to idle soon after a later one, and pulls another device’s write at once', async () => {
    const user = uniqueUser('blips');
    const c: FeatClient = emu.track(
      createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, maintenance: { enabled: false }, requestTimeout: 3_000 }),
    );
    const other: FeatClient = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    await c.ready();
    await waitFor(() => c.sync.status === 'idle', 10_000, 'idle');
    /** A 100 ms outage (every connection cut, new ones reset); how long after it until sync is idle again. */
    const outage = async () => {
      const off = proxy.fault(() => true, 'reset');
      proxy.cut();
      await waitFor(() => c.sync.status === 'offline', 5_000, 'offline');
      await sleep(100);
      off();
      const back = performance.now();
      await waitFor(() => c.sync.status === 'idle', 30_000, 'idle again');
      return performance.now() - back;
    };
    // Outages close together: the backoff grows (0.5, 1, 2, 4 s …).
    for (let i = 0; i < 4; i++) await outage();
    // Then the network holds a while (the feed up for 6 s) before the next blip.
    await sleep(6_000);
    const recovered = await outage();
    expect(recovered).toBeLessThan(3_000);
    const t = performance.now();
    await other.store.set('from-other', 1);
    await waitFor(async () => (await c.store.get('from-other')) === 1, 10_000, 'the other device’s write');
    expect(performance.now() - t).toBeLessThan(3_000);
  }, 90_000);
});
